"""Pieces: a phrase as a session plays it — trimmed, phase-rotated when the session is
loudness-levelled, edge-faded — with its loudness analysis (loudness.Analysis). Made once and
kept in the phrase cache beside the phrase's clip, so a rebuild neither rotates nor analyses
a phrase it has seen; an entry is used only if it verifies and was made from this very clip."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import cast

import numpy as np

from ..core.files import sealed, unsealed
from ..speech.clips import Speech, share, shared
from .loudness import Analysis, analyse, rotate_phase

EDGE_FADE_MS = 5          # clip edges fade in/out to avoid clicks; lengths do not change
VERSION = 1               # of the rotation, fades and analysis: a change makes new entries
MAGIC = b"ARPIECE2"                  # 2: raw arrays behind a JSON line (1: npz)


def fade_edges(pcm: bytes, n: int) -> bytes:
    """Linear fade over the first and last `n` samples. (pydub's fades slice in whole
    milliseconds and can drop samples, which would shift every later cue.)"""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    n = min(n, len(samples) // 2)
    if n:
        ramp = np.arange(n, dtype=np.float32) / n
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return np.round(samples).astype("<i2").tobytes()


def clip_pcm(speech: Speech, text: str, rotate: bool) -> bytes:
    """One phrase as it sounds in the session, before the edge fades."""
    pcm = speech.clip(text)
    return rotate_phase(pcm, speech.sample_rate) if rotate else pcm


def speech_piece(speech: Speech, text: str, rotate: bool) -> tuple[bytes, Analysis | None]:
    """(PCM, analysis) of one phrase as the session plays it; the analysis only when
    `rotate` (the session is levelled), from the cache when it holds this clip's."""
    rate = speech.sample_rate
    fade = rate * EDGE_FADE_MS // 1000
    if not rotate:
        return fade_edges(speech.clip(text), fade), None
    clip = speech.clip(text)
    memo = speech.shared_name(text, f"piece-v{VERSION}")   # the sessions of a build share it
    kept = shared(memo)
    if kept is not None:
        return cast(tuple[bytes, Analysis], kept)
    source = hashlib.sha256(clip).digest()
    name = f"{speech.key(text)}-{rate}-v{VERSION}"
    data = speech.cache.load_derived(name)
    found = _decode(data, source) if data is not None else None
    if found is None:
        if data is not None:
            speech.cache.drop_derived(name)
        pcm = fade_edges(clip_pcm(speech, text, rotate), fade)
        analysis = analyse(pcm, rate)
        entry = _encode(pcm, analysis, source)
        found = pcm, replace(analysis, name=_entry_digest(entry))    # named as when read back
        speech.cache.put_derived(name, entry)
    for array in (found[1].power, found[1].peaks):
        array.setflags(write=False)              # shared by every session of the build: read only
    share(memo, found, 2 * len(found[0]))
    return found


def _encode(pcm: bytes, analysis: Analysis, source: bytes) -> bytes:
    """MAGIC, the sha256 of the rest, then the clip's sha256 (`source`), a JSON line naming
    each array's dtype and length, and the arrays' bytes: read back without a copy or a zip
    (an npz entry took about as long to open as the rest of a phrase's read)."""
    arrays = [np.frombuffer(pcm, dtype="<i2"), np.asarray(analysis.power), np.asarray(analysis.peaks)]
    head = json.dumps([[a.dtype.str, len(a)] for a in arrays]).encode() + b"\n"
    return sealed(MAGIC, source + head + b"".join(a.tobytes() for a in arrays))


def _decode(data: bytes, source: bytes) -> tuple[bytes, Analysis] | None:
    """The entry's (PCM, analysis); None unless it verifies and was made from `source`."""
    head = len(MAGIC) + 32                     # the payload's offset in `data`
    if unsealed(MAGIC, data) is None or data[head:head + 32] != source:
        return None
    at = data.find(b"\n", head + 32)
    try:
        layout = json.loads(data[head + 32:at])
        arrays, at = [], at + 1
        for dtype, count in layout:
            size = np.dtype(dtype).itemsize * int(count)
            arrays.append(np.frombuffer(data, dtype=dtype, count=int(count), offset=at))
            at += size
        pcm, power, peaks = arrays
    except (ValueError, TypeError):
        return None
    if at != len(data) or pcm.dtype != np.dtype("<i2") or not len(peaks) <= len(power):
        return None
    return pcm.tobytes(), Analysis(power.copy(), peaks.copy(), _entry_digest(data))


def _entry_digest(data: bytes) -> bytes:
    """The sha256 a sealed entry carries (of its payload: the piece's samples, analysis and
    source), which names the piece in segment keys (loudness.Levelled.digest)."""
    return bytes(data[len(MAGIC):len(MAGIC) + 32])
