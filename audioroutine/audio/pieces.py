"""Pieces: a phrase as a session plays it — trimmed, phase-rotated when the session is
loudness-levelled, edge-faded — with its loudness analysis (loudness.Analysis). Made once and
kept in the phrase cache beside the phrase's clip, so a rebuild neither rotates nor analyses
a phrase it has seen; an entry is used only if it verifies and was made from this very clip."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import cast

import numpy as np

from ..core.errors import BuildError
from ..core.files import Parted, sealed_in_two
from ..speech.clips import Speech, share, shared
from .loudness import Analysis, analyse, rotate_phase

EDGE_FADE_MS = 5          # clip edges fade in/out to avoid clicks; lengths do not change
VERSION = 2               # of the rotation, fades, analysis and entry: a change makes new entries
MAGIC = b"ARPIECE3"       # 3: the analysis in a head checked apart from the samples (2: one seal; 1: npz)


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


class SpeechPiece:
    """One phrase as a session plays it: its length and loudness analysis at once, its
    samples when first played (`pcm`): read from its cache entry and checked then, so a
    segment found in the MP3 cache reads none of its phrases' samples."""

    __slots__ = ("samples", "analysis", "_pcm", "_make", "_lock")

    def __init__(self, samples: int, analysis: Analysis | None, pcm: bytes | None = None,
                 make: Callable[[], bytes] | None = None) -> None:
        self.samples, self.analysis, self._pcm, self._make = samples, analysis, pcm, make
        self._lock = threading.Lock()          # the sessions of a build share it

    def pcm(self) -> bytes:
        with self._lock:
            if self._pcm is None:
                assert self._make is not None
                self._pcm, self._make = self._make(), None
            return self._pcm


def speech_piece(speech: Speech, text: str, rotate: bool) -> SpeechPiece:
    """One phrase as the session plays it; with its analysis only when `rotate` (the
    session is levelled), from the cache when it holds this clip's."""
    rate = speech.sample_rate
    if not rotate:
        fade = rate * EDGE_FADE_MS // 1000
        return SpeechPiece(speech.trimmed(text).samples, None, make=lambda: fade_edges(speech.clip(text), fade))
    memo = speech.shared_name(text, f"piece-v{VERSION}")   # the sessions of a build share it
    kept = shared(memo)
    if kept is not None:
        return cast(SpeechPiece, kept)
    source = speech.trimmed(text).digest
    name = _entry_name(speech, text)
    entry = speech.cache.load_derived_front(name, MAGIC)
    analysis = _analysis(entry, source) if entry is not None else None
    if entry is None or analysis is None or entry.body_size % 2:
        if entry is not None:
            speech.cache.drop_derived(name)   # made from another clip
        pcm, analysis, data = _made(speech, text, source)
        speech.cache.put_derived(name, data)
        piece = SpeechPiece(len(pcm) // 2, analysis, pcm=pcm)
    else:
        read = entry
        piece = SpeechPiece(entry.body_size // 2, analysis, make=lambda: _played(read, speech, text, source, analysis))
    share(memo, piece, 2 * piece.samples)
    return piece


def _entry_name(speech: Speech, text: str) -> str:
    return f"{speech.key(text)}-{speech.sample_rate}-v{VERSION}"


def _played(entry: Parted, speech: Speech, text: str, source: bytes, analysis: Analysis) -> bytes:
    """The samples of a piece read for its front (`entry`), read and checked now; made
    again if they are not what the front says."""
    pcm = entry.body()
    return pcm if pcm is not None else _made_again(speech, text, source, analysis)


def _made(speech: Speech, text: str, source: bytes) -> tuple[bytes, Analysis, bytes]:
    """(PCM, analysis named by its entry, the entry) of the phrase as the session plays it:
    its trimmed clip phase-rotated, edge-faded and analysed."""
    rate = speech.sample_rate
    pcm = fade_edges(rotate_phase(speech.clip(text), rate), rate * EDGE_FADE_MS // 1000)
    analysis = analyse(pcm, rate)
    for array in (analysis.power, analysis.peaks):
        array.setflags(write=False)            # shared by every session of the build: read only
    entry = _encode(pcm, analysis, source)
    return pcm, replace(analysis, name=cast(Parted, Parted.read(MAGIC, entry)).seal), entry


def _made_again(speech: Speech, text: str, source: bytes, analysis: Analysis) -> bytes:
    """The samples of a piece whose entry was damaged after its head was read: made again
    and stored; they must be what the head named."""
    pcm, again, data = _made(speech, text, source)
    if again.name != analysis.name:
        raise BuildError(f"the phrase {text!r} no longer makes the piece its cache entry named: "
                         f"remove the cache's 'pieces' folder ({speech.cache.root}) and build again")
    speech.cache.put_derived(_entry_name(speech, text), data)
    return pcm


def _encode(pcm: bytes, analysis: Analysis, source: bytes) -> bytes:
    """The entry (files.sealed_in_two): a head of the trimmed clip's sha256 (`source`), a
    JSON line naming each analysis array's dtype and length, and the arrays' bytes; the
    piece's samples behind it, checked only when played."""
    arrays = [np.asarray(analysis.power), np.asarray(analysis.peaks)]
    layout = json.dumps([[a.dtype.str, len(a)] for a in arrays]).encode() + b"\n"
    return sealed_in_two(MAGIC, source + layout + b"".join(a.tobytes() for a in arrays), pcm)


def _analysis(entry: Parted, source: bytes) -> Analysis | None:
    """The analysis in an entry's head, named by the entry's seal; None unless it was made
    from `source` and its layout adds up."""
    head = bytes(entry.head)
    at = head.find(b"\n", 32)
    if head[:32] != source or at < 0:
        return None
    try:
        arrays, at = [], at + 1
        for dtype, count in json.loads(head[32:at]):
            arrays.append(np.frombuffer(head, dtype=dtype, count=int(count), offset=at))   # read only
            at += np.dtype(dtype).itemsize * int(count)
        power, peaks = arrays
    except (ValueError, TypeError):
        return None
    if at != len(head) or not len(peaks) <= len(power):
        return None
    return Analysis(power, peaks, entry.seal)
