"""Phrase cache: content-addressed clips on disk, so unchanged phrases are never synthesized twice.

Key = sha256 of (engine identity, text); the entry is `phrases/KEY[:2]/KEY.wav` under the cache
location: a folder (written to a temp file and renamed into place) or an fsspec URL shared by
several machines (`s3://bucket/prefix`; see cache_stores.py).

Entry format (version 2): a plain 16-bit mono PCM WAV that any player opens, with one extra
RIFF chunk `arck` between `fmt ` and `data`, holding compact JSON:

    {"format": 2, "key": KEY, "rate": 22050, "width": 2, "channels": 1,
     "frames": N, "sha256": SHA256_OF_THE_PCM}

An entry is used only when all of it verifies: RIFF size equals the file size, `fmt ` is
PCM mono 16-bit with consistent byte rate and block align, the `arck` fields equal `fmt `
and the data chunk (frames > 0), the key is the one asked for, and the PCM's sha256
matches. Anything else (bit flip, zeroed or swapped audio, edited header, empty or
truncated file, a directory in its place) raises `Damaged`, after the entry is removed so
the next write replaces it. Version 1 entries (plain WAVs, no `arck`) raise `Outdated`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
import wave
from pathlib import Path
from typing import Any

import platformdirs

from ..core.files import Parted, StrPath
from ..engines import Clip
from .stores import CacheLocation, FolderStore, cache_location, open_store

ENV_VAR = "AUDIOROUTINE_CACHE_DIR"
FORMAT = 2
CHUNK = b"arck"
ENTRY_NAME = re.compile(r"^[0-9a-f]{64}\.wav$")
DERIVED_NAME = re.compile(r"^[0-9a-f]{64}-[0-9]+-(v[0-9]+|t[0-9a-f]{8})\.npz$")
SEGMENT_NAME = re.compile(r"^[0-9a-f]{64}\.mp3$")
NOTE_NAME = re.compile(r"^[0-9a-f]{64}\.json$")
COVER_NAME = re.compile(r"^[0-9a-f]{64}\.png$")
FRONT_BYTES = 16 << 10   # what is read of a derived entry for its front (a piece's holds its analysis)


class Damaged(Exception):
    """A cache entry that does not verify; `str()` says why."""


class Outdated(Damaged):
    """An entry written by an older cache format: not wrong, just not verifiable."""


def default_cache_location() -> CacheLocation:
    """$AUDIOROUTINE_CACHE_DIR (a folder or a URL), else the user's cache directory."""
    return cache_location(os.environ.get(ENV_VAR) or platformdirs.user_cache_dir("audioroutine"))


def entry_name(key: str) -> str:
    """Where the entry for `key` is, relative to the cache location."""
    return f"phrases/{key[:2]}/{key}.wav"


def phrase_key(identity: dict[str, Any], text: str) -> str:
    blob = json.dumps({"identity": identity, "text": text}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class PhraseCache:
    """The cache at `root`: a folder, or an fsspec URL string (`s3://bucket/prefix`); None or
    "" for the default location."""

    def __init__(self, root: StrPath | None = None) -> None:
        self.root = cache_location(root) if root else default_cache_location()
        self.store = open_store(self.root)

    def location(self, key: str) -> str:
        """The entry's path or URL."""
        return f"{str(self.root).rstrip('/')}/{entry_name(key)}"

    @property
    def is_local(self) -> bool:
        """True for a cache in a folder (a read costs a file's read, not a request)."""
        return isinstance(self.store, FolderStore)

    def path(self, key: str) -> Path:
        """The entry's file, for a cache in a folder."""
        if not isinstance(self.store, FolderStore):
            raise TypeError(f"the cache at {self.root} is not a folder")
        return self.store.root / entry_name(key)

    def load(self, key: str) -> Clip | None:
        """The verified clip; None when there is no entry. A damaged entry is removed and
        raises Damaged (Outdated for the older format)."""
        name = entry_name(key)
        try:
            data = self.store.read(name)
        except IsADirectoryError:
            self.store.remove(name)
            raise Damaged("a directory is in its place") from None
        if data is None:
            return None
        try:
            return read_entry(data, key)
        except Damaged:
            self.store.remove(name)
            raise

    def get(self, key: str) -> Clip | None:
        """`load`, with a damaged entry counting as a miss."""
        try:
            return self.load(key)
        except Damaged:
            return None

    def put(self, key: str, clip: Clip) -> None:
        """Store the clip (atomically; writers of one key write the same bytes)."""
        if clip.samples:   # an empty clip would never verify: leave it uncached
            self.store.write(entry_name(key), entry_bytes(key, clip))

    def derived_name(self, name: str) -> str:
        """Where an entry derived from a phrase (pieces.py, a trimmed clip: clips.py) is,
        relative to the cache location."""
        return f"pieces/{name[:2]}/{name}.npz"

    def _read(self, name: str) -> bytes | None:
        """An entry's bytes (its reader verifies them); None when there is none."""
        try:
            return self.store.read(name)
        except (IsADirectoryError, NotADirectoryError):
            return None

    def load_derived_front(self, name: str, magic: bytes) -> Parted | None:
        """A two-part entry derived from a phrase (files.sealed_in_two: a trimmed clip, a
        piece) read for its front alone, its body read and checked when asked for; None when
        there is none, or its front does not check (then it is removed)."""
        where = self.derived_name(name)
        try:
            data = self.store.read_head(where, FRONT_BYTES)
        except (IsADirectoryError, NotADirectoryError):
            data = b""
        if data is None:
            return None
        if Parted.front_size(magic, data) > len(data) == FRONT_BYTES:   # a long front: the whole entry
            data = self._read(where) or b""
            found = Parted.read(magic, data)
        else:
            found = Parted.front(magic, data, lambda: self._read(where))
        if found is None:
            self.drop_derived(name)
        return found

    def put_derived(self, name: str, data: bytes) -> None:
        self.store.write(self.derived_name(name), data)

    def drop_derived(self, name: str) -> None:
        self.store.remove(self.derived_name(name))

    def segment_name(self, key: str) -> str:
        """Where an encoded segment (segments.py: MP3 frames, checksummed) is, relative to the cache location."""
        return f"segments/{key[:2]}/{key}.mp3"

    def load_segment(self, key: str) -> bytes | None:
        """An encoded segment's entry (segments.py verifies it); None when there is none."""
        return self._read(self.segment_name(key))

    def put_segment(self, key: str, data: bytes) -> None:
        self.store.write(self.segment_name(key), data)

    def drop_segment(self, key: str) -> None:
        self.store.remove(self.segment_name(key))

    def note_name(self, key: str) -> str:
        """Where a note about a session (mp3.py: the gain its last build used) is."""
        return f"sessions/{key[:2]}/{key}.json"

    def load_note(self, key: str) -> bytes | None:
        return self._read(self.note_name(key))

    def put_note(self, key: str, data: bytes) -> None:
        self.store.write(self.note_name(key), data)

    def cover_name(self, key: str) -> str:
        """Where a generated cover (tagging.py: a PNG, checksummed) is."""
        return f"covers/{key[:2]}/{key}.png"

    def load_cover(self, key: str) -> bytes | None:
        return self._read(self.cover_name(key))

    def put_cover(self, key: str, data: bytes) -> None:
        self.store.write(self.cover_name(key), data)

    def drop_cover(self, key: str) -> None:
        self.store.remove(self.cover_name(key))

    def remove_stale_temps(self) -> list[str]:
        """Remove temp files of entries whose writer was killed before renaming them."""
        return self.store.remove_stale_temps(lambda name: _is_entry_name(name) or _is_derived_name(name)
                                             or SEGMENT_NAME.match(name) is not None
                                             or NOTE_NAME.match(name) is not None
                                             or COVER_NAME.match(name) is not None)


def entry_bytes(key: str, clip: Clip) -> bytes:
    """`clip` as a version-2 cache entry (see the module docstring)."""
    meta = {"format": FORMAT, "key": key, "rate": clip.sample_rate, "width": 2, "channels": 1,
            "frames": clip.samples, "sha256": hashlib.sha256(clip.pcm).hexdigest()}
    info = json.dumps(meta, separators=(",", ":")).encode()
    info += b" " * (len(info) % 2)   # RIFF chunks are word-aligned
    fmt = struct.pack("<HHIIHH", 1, 1, clip.sample_rate, clip.sample_rate * 2, 2, 16)
    body = b"WAVE" + _chunk(b"fmt ", fmt) + _chunk(CHUNK, info) + _chunk(b"data", clip.pcm)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def read_entry(data: bytes, key: str) -> Clip:
    """The clip in entry bytes `data` for `key`, or Damaged/Outdated saying what is wrong."""
    chunks = _chunks(data)
    if b"fmt " not in chunks or b"data" not in chunks:
        raise Damaged("not a complete WAV file")
    fmt = chunks[b"fmt "]
    if len(fmt) < 16:
        raise Damaged("broken format header")
    tag, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if CHUNK not in chunks:
        raise Outdated("written by an older version")
    try:
        meta = json.loads(chunks[CHUNK])
        expected = {"format": FORMAT, "key": key, "rate": rate, "width": 2, "channels": 1,
                    "frames": len(chunks[b"data"]) // 2}
        if not isinstance(meta, dict) or any(meta.get(name) != value for name, value in expected.items()):
            raise Damaged("header and checksum record disagree")
        if (tag, channels, byte_rate, align, bits) != (1, 1, rate * 2, 2, 16) or len(chunks[b"data"]) % 2:
            raise Damaged("format header altered")
        if not meta["frames"]:
            raise Damaged("no audio")
        digest = hashlib.sha256(chunks[b"data"]).digest()
        if digest.hex() != meta.get("sha256"):
            raise Damaged("audio checksum mismatch")
    except (ValueError, TypeError, AttributeError):
        raise Damaged("unreadable checksum record") from None
    return Clip(pcm=chunks[b"data"], sample_rate=rate, digest=digest)


def _is_entry_name(name: str) -> bool:
    return ENTRY_NAME.match(name) is not None


def _is_derived_name(name: str) -> bool:
    return DERIVED_NAME.match(name) is not None


def _chunk(tag: bytes, payload: bytes) -> bytes:
    return tag + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) % 2)


def _chunks(data: bytes) -> dict[bytes, bytes]:
    """The chunks of a RIFF/WAVE file; Damaged unless its sizes add up exactly."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise Damaged("not a WAV file" if data else "empty file")
    if struct.unpack("<I", data[4:8])[0] != len(data) - 8:
        raise Damaged("truncated or extended")
    chunks, at = {}, 12
    while at < len(data):
        if at + 8 > len(data):
            raise Damaged("truncated chunk header")
        tag, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        end = at + 8 + size
        if end > len(data) or tag in chunks:
            raise Damaged("broken chunk structure")
        chunks[tag] = data[at + 8:end]
        at = end + size % 2
    return chunks


def wav_bytes(clip: Clip) -> bytes:
    """`clip` as a 16-bit mono WAV file."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(clip.sample_rate)
        wav.writeframes(clip.pcm)
    return buf.getvalue()
