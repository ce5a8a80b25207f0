"""Phrase cache: content-addressed clips on disk, so unchanged phrases are never synthesized twice.

Key = sha256 of (engine identity, text). Each clip is a WAV written to a temp file and
renamed into place; an unreadable entry counts as a miss and is replaced.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import wave
from pathlib import Path
from typing import Any

import platformdirs

from .engines import Clip
from .files import write_atomic

ENV_VAR = "AUDIOROUTINE_CACHE_DIR"


def default_cache_dir() -> Path:
    """$AUDIOROUTINE_CACHE_DIR, else the user's cache directory."""
    return Path(os.environ.get(ENV_VAR) or platformdirs.user_cache_dir("audioroutine"))


def phrase_key(identity: dict[str, Any], text: str) -> str:
    blob = json.dumps({"identity": identity, "text": text}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class PhraseCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir()

    def path(self, key: str) -> Path:
        return self.root / "phrases" / key[:2] / f"{key}.wav"

    def get(self, key: str) -> Clip | None:
        path = self.path(key)
        try:
            with wave.open(str(path), "rb") as wav:
                if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
                    return None
                frames = wav.getnframes()
                pcm = wav.readframes(frames)
                if len(pcm) != frames * 2:
                    return None
                return Clip(pcm=pcm, sample_rate=wav.getframerate())
        except (FileNotFoundError, EOFError, wave.Error):
            return None

    def put(self, key: str, clip: Clip) -> None:
        write_atomic(self.path(key), wav_bytes(clip))


def wav_bytes(clip: Clip) -> bytes:
    """`clip` as a 16-bit mono WAV file."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(clip.sample_rate)
        wav.writeframes(clip.pcm)
    return buf.getvalue()
