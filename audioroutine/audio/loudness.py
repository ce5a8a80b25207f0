"""Loudness: bring a session to a target integrated loudness (ITU-R BS.1770, LUFS) with a
true-peak ceiling (dBTP), without moving a single sample boundary or holding the session.

Piper's speech has a high peak-to-loudness ratio, so gain alone would clip. Clips are
phase-rotated first (`rotate_phase`, applied by pieces.py when loudness is on). Each piece
(phrase or sound) is analysed once (`analyse`: K-weighted power and true peak per 10 ms
block); a model places those blocks on the timeline and finds the gain that reaches the
target (`Model`, `level`), and every piece gets that gain and its own offline look-ahead
limiter on true (4x oversampled) peaks. The encoder (mp3.encode_normalized) checks the
decoded MP3's peaks as they stream (`stream_true_peaks`) and lowers the gain where they went
over (`peak_fix`, `Envelope`). All of it is multiplication per sample: silence stays digital
zero, lengths never change, the same input gives the same bytes. `integrated` (ffmpeg's
ebur128 meter) is for `inspect` and the tests.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

import numpy as np

from ..core.errors import BuildError
from ..core.ffmpeg import run_ffmpeg_log
from ..model.loudness_settings import DEFAULT_LOUDNESS, DEFAULT_TARGET, DEFAULT_TRUE_PEAK, LoudnessSettings

__all__ = ["DEFAULT_TARGET", "DEFAULT_TRUE_PEAK", "LoudnessSettings", "integrated", "level", "limit", "peak_fix",
           "normalize", "parse_ebur128", "rotate_phase", "true_peak"]

MAX_GAIN_DB = 30.0            # never amplify a near-silent session further than this
HEADROOM_DB = 1.5             # the limiter aims this far under the ceiling; the MP3 check catches the rest
LEVEL_VERSION = 1             # of how a piece is levelled (_apply, _to_pcm): it names cached MP3 segments
K_TAIL_MS = 100               # the K-weighting filter's ring after a piece, counted in its power
SEPARATE = 3                  # empty blocks between pieces: the limiter's smoothing reaches 3 blocks
PEAK_FLOOR_DB = -50.0         # blocks under this never reach a ceiling (>= -10 dBTP) within MAX_GAIN_DB
PEAK_MARGIN_DB = 0.2          # the MP3 check aims this far under the ceiling (meters differ by ~0.1 dB)
FIX_MARGIN_DB = 1.0           # where the MP3 went over, the gain drops this much more
PEAK_PASSES = 4               # encode/check rounds at most (the last one is only checked)
BLOCK_MS = 10                 # limiter resolution: gain moves over about 50 ms
ROTATOR = ((200.0, 0.5),) * 6  # all-pass sections (Hz, Q) that even out speech peaks
OVERSAMPLE = 4
TAPS_PER_PHASE = 16
CHUNK_SAMPLES = 1 << 18        # oversample this many samples at a time (bounded memory)

K = TypeVar("K", bound=Hashable)


def block_size(sample_rate: int) -> int:
    """Samples in one BLOCK_MS block: the grid of the limiter, the model and the peak check."""
    return max(1, sample_rate * BLOCK_MS // 1000)


def integrated(pcm: bytes, sample_rate: int, peak: bool = False) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP or nan) of int16 mono PCM, by ffmpeg's ebur128
    filter. ffmpeg reports -70.0 LUFS for silence."""
    options = "framelog=quiet" + (":peak=true" if peak else "")
    returncode, _, log = run_ffmpeg_log(["-f", "s16le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0",
                                      "-af", f"ebur128={options}", "-f", "null", "-"], data=pcm)
    lufs, tp = _summary(log)
    if returncode != 0 or lufs is None:
        raise BuildError("ffmpeg could not measure the session's loudness (ebur128)")
    return lufs, float("nan") if tp is None else tp


def parse_ebur128(log: str) -> dict[str, float | None]:
    """Integrated loudness and true peak from the ebur128 filter's summary (None where
    missing or -inf), for `inspect`."""
    lufs, tp = _summary(log)
    return {name: None if value is None or value == float("-inf") else value
            for name, value in (("integrated_lufs", lufs), ("true_peak_dbtp", tp))}


def _summary(log: str) -> tuple[float | None, float | None]:
    """(I in LUFS, true peak in dBFS) from the last ebur128 summary in `log`; None if absent."""
    summary = log[log.rfind("Summary:"):] if "Summary:" in log else ""
    found = re.search(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf)\s*LUFS", summary, re.S)
    peak = re.search(r"True peak:\s*Peak:\s*(-?[\d.]+|-inf)\s*dBFS", summary, re.S)
    return (float(found.group(1)) if found else None, float(peak.group(1)) if peak else None)


def normalize(pcm: bytes, sample_rate: int, settings: LoudnessSettings = DEFAULT_LOUDNESS,
              later_gain_db: float = 0.0) -> bytes:
    """One clip (int16 mono) levelled like a session of that clip alone (see `level`)."""
    return level({0: pcm}, [(0, 0)], sample_rate, settings, later_gain_db)[0]


def level(pieces: Mapping[K, bytes], places: Sequence[tuple[int, K]], sample_rate: int,
          settings: LoudnessSettings = DEFAULT_LOUDNESS, later_gain_db: float = 0.0,
          analyses: Mapping[K, Analysis] | None = None, gain_db: float | None = None,
          model: Model[K] | None = None, background: np.ndarray | None = None) -> Mapping[K, bytes]:
    """The pieces of a session (int16 mono clips, each placed at the sample offsets in
    `places`, silence elsewhere) levelled so that the session reads `settings.target` LUFS
    with true peaks at or under `settings.true_peak` dBTP once a later stage has applied
    `later_gain_db` (the MP3 encoder's own level change). Every piece gets the same gain and
    its own look-ahead limiter, so a piece said forty times is processed once and the session
    is never held whole: its loudness is computed from per-piece block powers placed on the
    timeline (`Model`), not measured. `analyses`: pieces already analysed (`analyse`), for
    instance kept in the phrase cache. `gain_db`: the gain to use (`choose_gain`), instead of
    the one the model finds; `model`: this session's, if already made. `background`: the
    K-weighted power per 10 ms block of what sounds under the pieces at its final level (a
    music bed, music.py), counted in the loudness and never changed (with `model`: given to
    it). Same lengths, silence stays zero; deterministic."""
    if not settings.enabled:
        return dict(pieces)
    model = model or Model(pieces, places, sample_rate, analyses, background)
    if gain_db is None:
        found = model.gain(settings, later_gain_db)
        if found is None:                   # silence: nothing to level
            return dict(pieces)
        gain_db = found[0]
    return Levelled(pieces, model, 10 ** (gain_db / 20), model.ceiling(settings, later_gain_db))


def piece_bytes(pieces: Mapping[K, bytes], key: K) -> int:
    """Bytes in `key`'s piece, without making it where `pieces` can say (a `size` method:
    render.Pieces, Levelled)."""
    size = getattr(pieces, "size", None)
    return int(size(key)) if size is not None else len(pieces[key])


class Levelled(Mapping[K, bytes]):
    """The pieces `level` returns: each levelled (the session's gain, its own limiter) when it
    is first read, so a segment found in the MP3 cache levels none of its pieces; and what
    each will sound like, as a digest (`digest`), without levelling it."""

    def __init__(self, pieces: Mapping[K, bytes], model: Model[K], gain: float, ceiling: float) -> None:
        self._pieces, self._model, self._gain, self._ceiling = pieces, model, gain, ceiling
        self._peaks = dict(zip(model.keys, (analysis.peaks for analysis in model.analyses)))
        self._names = {key: analysis.name for key, analysis in zip(model.keys, model.analyses)
                       if analysis.name is not None}
        self._made: dict[K, bytes] = {}
        self._digests: dict[K, bytes] = {}

    def __getitem__(self, key: K) -> bytes:
        made = self._made.get(key)
        if made is None:          # two threads may both make it: the same bytes
            made = _to_pcm(_apply(_to_float(self._pieces[key]), self._peaks[key], self._model.block, self._gain,
                                  self._ceiling))
            self._made[key] = made
        return made

    def __iter__(self) -> Iterator[K]:
        return iter(self._pieces)

    def __len__(self) -> int:
        return len(self._pieces)

    def size(self, key: K) -> int:
        """Bytes in `key`'s piece, levelled or not (the same)."""
        return piece_bytes(self._pieces, key)

    def digest(self, key: K) -> bytes:
        """sha256 of what the levelled piece is made from: its samples (its peaks come from
        them), the gain, the ceiling, the block and LEVEL_VERSION. The samples are named by
        their analysis's `name` where it has one (a phrase's piece: the digest its cache
        entry was checked against), else hashed here."""
        found = self._digests.get(key)
        if found is None:
            named = hashlib.sha256(f"{LEVEL_VERSION}|{self._gain!r}|{self._ceiling!r}|{self._model.block}|".encode())
            name = self._names.get(key)
            named.update(b"entry|" + name if name is not None else self._pieces[key])  # no copy of the piece
            found = self._digests[key] = named.digest()
        return found


def choose_gain(model: Model[K], settings: LoudnessSettings, later_gain_db: float = 0.0,
                previous_db: float | None = None, keep_within: float = 0.0) -> float | None:
    """The session's gain (dB): `previous_db` (the gain an earlier build of this session
    used) while the model says it still reaches the target within `keep_within` LU, so a
    small edit leaves every other sample as it was; else the gain the model finds. None for
    silence."""
    if previous_db is not None:
        level_then = model.loudness(previous_db, model.ceiling(settings, later_gain_db)) + later_gain_db
        if abs(level_then - settings.target) <= keep_within:
            return previous_db
    found = model.gain(settings, later_gain_db)
    return None if found is None else found[0]


@dataclass(frozen=True)
class Analysis:
    """What the loudness model needs of one piece, per 10 ms block: its K-weighted mean
    square (`power`, running K_TAIL_MS past the piece) and its true peak (`peaks`)."""

    power: np.ndarray
    peaks: np.ndarray
    name: bytes | None = None    # sha256 naming the piece's samples (its phrase-cache entry's), when known


def analyse(pcm: bytes, sample_rate: int) -> Analysis:
    """The Analysis of one piece (int16 mono). Peaks are oversampled in every block whose
    sample peak is over PEAK_FLOOR_DB, whatever the gain turns out to be, so the result is
    the same whenever and wherever it is computed."""
    x, block = _to_float(pcm), block_size(sample_rate)
    return Analysis(k_weighted_power(x, sample_rate, block), _block_true_peaks(x, block, 10 ** (PEAK_FLOOR_DB / 20)))


class Model(Generic[K]):
    """The integrated loudness (BS.1770: K-weighted, 400 ms blocks every 100 ms, gated at
    -70 LUFS and -10 LU) a session of placed pieces would have at a given gain and limiter
    ceiling, from each piece's K-weighted power and true peak per 10 ms block. The limited
    power of a block is its power times its smoothed limiter gain squared; blocks land on the
    session's 10 ms grid by their centres. tests/audio/test_stream.py compares it with two meters."""

    def __init__(self, pieces: Mapping[K, bytes], places: Sequence[tuple[int, K]], sample_rate: int,
                 analyses: Mapping[K, Analysis] | None = None, background: np.ndarray | None = None) -> None:
        self.rate, self.block = sample_rate, block_size(sample_rate)
        self.keys = list(pieces)
        known = analyses or {}
        self.analyses = [known[key] if key in known else analyse(pieces[key], sample_rate) for key in self.keys]
        powers = [a.power for a in self.analyses]
        # Every placed power block: its power, where it lands, and which piece block it is.
        first = np.cumsum([0] + [len(p) for p in powers])
        index = {key: i for i, key in enumerate(self.keys)}
        rows, lands = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for start, key in places:
            i = index[key]
            j = np.arange(len(powers[i]))
            rows.append(first[i] + j)
            lands.append((start + j * self.block + self.block // 2) // self.block)
        self._rows, self._lands = np.concatenate(rows), np.concatenate(lands)
        self._power = np.concatenate([np.zeros(0), *powers])[self._rows]
        self._blocks = int(self._lands.max()) + 1 if len(self._lands) else 0
        # What sounds under the pieces at its final level (a music bed, music.py): its K-weighted
        # power per 10 ms block, counted in the loudness and never changed by the gain.
        self._background: np.ndarray = np.zeros(0) if background is None else np.asarray(background)
        self._blocks = max(self._blocks, len(self._background))
        # The pieces' peaks end to end, SEPARATE empty blocks between them, so that one pass
        # of the limiter's smoothing over them is each piece's own; and the index there of
        # every placed power block (past a piece's end, the K filter's tail, the last index,
        # which `loudness` sets to the full gain).
        gap = np.zeros(SEPARATE)
        self._peaks = np.concatenate([gap, *(part for a in self.analyses for part in (a.peaks, gap))])
        free = len(self._peaks)
        offsets = np.cumsum([SEPARATE] + [len(a.peaks) + SEPARATE for a in self.analyses])
        where = [np.where(np.arange(len(a.power)) < len(a.peaks), offset + np.arange(len(a.power)), free)
                 for a, offset in zip(self.analyses, offsets)]
        self._gain_of = np.concatenate([np.zeros(0, dtype=np.int64), *where])[self._rows]

    @staticmethod
    def ceiling(settings: LoudnessSettings, later_gain_db: float = 0.0) -> float:
        """The limiter's ceiling (linear): the true-peak limit less HEADROOM_DB, before a
        later stage's gain."""
        return float(10 ** ((settings.true_peak - later_gain_db - HEADROOM_DB) / 20))

    def gain(self, settings: LoudnessSettings, later_gain_db: float = 0.0) -> tuple[float, float] | None:
        """(gain dB, modelled LUFS after it and the limiter) that brings the session to
        `settings.target` once `later_gain_db` is applied; None for silence."""
        loudness = self.loudness(0.0, np.inf)
        if loudness <= -70.0:
            return None
        target, ceiling = settings.target - later_gain_db, self.ceiling(settings, later_gain_db)
        estimate = min(target - loudness, MAX_GAIN_DB)
        low, high = estimate - 6.0, min(estimate + 12, MAX_GAIN_DB)
        for _ in range(30):                      # bisection: modelled loudness grows with gain
            middle = (low + high) / 2
            if self.loudness(middle, ceiling) < target:
                low = middle
            else:
                high = middle
        gain = (low + high) / 2
        return gain, self.loudness(gain, ceiling) + later_gain_db

    def loudness(self, gain_db: float, ceiling: float) -> float:
        """Modelled integrated loudness (LUFS) at `gain_db`, limited at `ceiling` (linear;
        inf: no limiter, peaks not needed)."""
        gain = 10 ** (gain_db / 20)
        if np.isinf(ceiling):
            weights = self._power * gain ** 2
        else:
            gains = np.append(_smoothed(np.minimum(gain, ceiling / np.maximum(self._peaks, 1e-12)), gain), gain)
            weights = self._power * gains[self._gain_of] ** 2
        session: np.ndarray = np.asarray(np.bincount(self._lands, weights=weights, minlength=self._blocks),
                                         dtype=np.float64)
        if len(self._background):
            session[:len(self._background)] += self._background
        return gated_loudness(session, self.rate, self.block)


def k_weighted_power(x: np.ndarray, sample_rate: int, block: int) -> np.ndarray:
    """Mean square per `block` of `x` through the BS.1770 K-weighting filter (its tail
    included: K_TAIL_MS past the end). By FFT, the way rotate_phase filters."""
    n = len(x) + sample_rate * K_TAIL_MS // 1000
    size = 1 << int(np.ceil(np.log2(max(n, 2))))
    spectrum = np.fft.rfft(x.astype(np.float64), size) * _k_response(size, sample_rate)
    y = np.fft.irfft(spectrum, size)[:n]
    blocks = -(-n // block)
    padded = np.zeros(blocks * block)
    padded[:n] = y * y
    power: np.ndarray = padded.reshape(blocks, block).mean(axis=1)
    return power


@lru_cache(maxsize=64)
def _k_response(size: int, sample_rate: int) -> np.ndarray:
    """The K-weighting filter (high shelf + high pass, BS.1770 / libebur128 for any rate)
    at the rfft bins of `size` (read-only, shared)."""
    z = np.exp(-1j * np.linspace(0.0, np.pi, size // 2 + 1))   # z^-1 on the unit circle
    k = np.tan(np.pi * 1681.974450955533 / sample_rate)
    q, vh = 0.7071752369554196, 10 ** (3.999843853973347 / 20)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = (((vh + vb * k / q + k * k) + 2 * (k * k - vh) * z + (vh - vb * k / q + k * k) * z * z) / a0
             / (1 + 2 * (k * k - 1) / a0 * z + (1 - k / q + k * k) / a0 * z * z))
    k, q = np.tan(np.pi * 38.13547087602444 / sample_rate), 0.5003270373238773
    a0 = 1 + k / q + k * k
    high_pass = (1 - 2 * z + z * z) / (1 + 2 * (k * k - 1) / a0 * z + (1 - k / q + k * k) / a0 * z * z)
    response: np.ndarray = shelf * high_pass
    response.setflags(write=False)
    return response


def gated_loudness(power: np.ndarray, sample_rate: int, block: int) -> float:
    """Integrated loudness (LUFS) from K-weighted mean squares per `block`: 400 ms windows
    every 100 ms, absolute gate -70 LUFS, relative gate -10 LU (BS.1770-4)."""
    size, hop = max(1, sample_rate * 400 // 1000 // block), max(1, sample_rate * 100 // 1000 // block)
    summed = np.empty(len(power) + 1)        # running sums, made in place (no second 5 MB copy for 2 hours)
    summed[0] = 0.0
    np.cumsum(power, out=summed[1:])
    starts = np.arange(0, max(1, len(power) - size + 1), hop)
    z = (summed[np.minimum(starts + size, len(power))] - summed[starts]) / size
    z = z[z > 10 ** ((-70 + 0.691) / 10)]
    if not len(z):
        return -70.0
    z = z[z > z.mean() * 0.1]
    return float(-0.691 + 10 * np.log10(z.mean()))


def limit(x: np.ndarray, sample_rate: int, ceiling: float) -> np.ndarray:
    """An offline look-ahead limiter: true peaks of the result stay under `ceiling`
    (linear full scale)."""
    block = block_size(sample_rate)
    return _apply(x, _block_true_peaks(x, block, ceiling / 2), block, 1.0, ceiling)


def _apply(x: np.ndarray, peaks: np.ndarray, block: int, gain: float, ceiling: float) -> np.ndarray:
    """`x` times `gain`, limited so that no block's true peak exceeds `ceiling`; the block
    gains are interpolated linearly between block centres (look-ahead without delay)."""
    need = np.minimum(gain, ceiling / np.maximum(peaks, 1e-12))
    if need.min() >= gain:
        return x * gain
    return _times_envelope(x, need, block, gain)


def _smoothed(need: np.ndarray, top: float) -> np.ndarray:
    """Per block, the least gain allowed within two blocks either side, averaged over one
    block either side (`top` beyond the ends): never more than the block itself allows.
    The limiter applies it; the loudness model predicts with it."""
    padded = np.concatenate(([top] * 3, need, [top] * 3))
    mins = np.lib.stride_tricks.sliding_window_view(padded, 5).min(axis=1)
    result: np.ndarray = (mins[:-2] + mins[1:-1] + mins[2:]) / 3
    return result


def _times_envelope(x: np.ndarray, need: np.ndarray, block: int, top: float) -> np.ndarray:
    """`x` times a gain per sample made from the gain each block may have at most (`top`
    elsewhere). Each block gets the least allowed within two blocks either side, averaged
    over one block either side, interpolated between block centres: every value so averaged
    is at most what the block itself allows, so the limit holds at every sample while the
    gain moves smoothly (over about five blocks). Works in chunks: memory stays bounded."""
    gains = _smoothed(need, top)
    centres = np.arange(len(need)) * block + (block - 1) / 2
    out = np.empty(len(x), dtype=x.dtype)
    for start in range(0, len(x), CHUNK_SAMPLES):
        end = min(start + CHUNK_SAMPLES, len(x))
        out[start:end] = x[start:end] * np.interp(np.arange(start, end), centres, gains)
    return out


def peak_fix(peaks: np.ndarray, settings: LoudnessSettings) -> np.ndarray | None:
    """After lossy coding: per 10 ms block of the session, the gain that brings a block whose
    decoded true peak (`peaks`, see `stream_true_peaks`) is over the ceiling less
    PEAK_MARGIN_DB under it by FIX_MARGIN_DB more (1.0 elsewhere); None when none went over."""
    ceiling = fix_ceiling(settings)
    if not len(peaks) or peaks.max() <= ceiling:
        return None
    fix: np.ndarray = np.where(peaks > ceiling, ceiling / np.maximum(peaks, 1e-12) * 10 ** (-FIX_MARGIN_DB / 20), 1.0)
    return fix


def fix_ceiling(settings: LoudnessSettings) -> float:
    """The decoded true peak (linear) over which `peak_fix` lowers a block."""
    return float(10 ** ((settings.true_peak - PEAK_MARGIN_DB) / 20))


def stream_true_peaks(chunks: Iterable[bytes], sample_rate: int, threshold_db: float,
                      known_db: float | None = None) -> np.ndarray:
    """True peak per 10 ms block of int16 PCM arriving in chunks (oversampled where a block's
    sample peak is over `threshold_db` dBFS), holding a chunk at a time. With `known_db`, a
    block whose sample peak is already over it keeps that (for a caller that only asks
    whether a block's true peak is over `known_db`: it is)."""
    found = list(iter_true_peaks(chunks, sample_rate, threshold_db, known_db))
    return np.concatenate(found) if found else np.zeros(0)


def stream_peak_fix(chunks: Iterable[bytes], sample_rate: int, threshold_db: float,
                    settings: LoudnessSettings) -> np.ndarray | None:
    """`peak_fix` of `stream_true_peaks(chunks, ...)`, keeping only the blocks that went over
    as they stream: the per-block array of the whole session (5.5 MB for 2 hours, and as
    much again to join it) is made only when a block went over."""
    ceiling = fix_ceiling(settings)
    total, where, values = 0, [], []
    for part in iter_true_peaks(chunks, sample_rate, threshold_db):
        over = np.flatnonzero(part > ceiling)
        if len(over):
            where.append(over + total)
            values.append(part[over])
        total += len(part)
    if not where:
        return None
    peaks = np.zeros(total, dtype=values[0].dtype)              # the dtype stream_true_peaks gives
    peaks[np.concatenate(where)] = np.concatenate(values)
    return peak_fix(peaks, settings)


def iter_true_peaks(chunks: Iterable[bytes], sample_rate: int, threshold_db: float,
                    known_db: float | None = None) -> Iterator[np.ndarray]:
    """`stream_true_peaks`, the blocks of each chunk as they are ready."""
    block = block_size(sample_rate)
    half = TAPS_PER_PHASE // 2
    threshold = 10 ** (threshold_db / 20)
    known = np.inf if known_db is None else 10 ** (known_db / 20)
    before = np.zeros(half, dtype=np.float32)       # the samples preceding `pending`
    pending = np.zeros(0, dtype=np.float32)
    for chunk in chunks:
        pending = np.concatenate((pending, _to_float(chunk)))
        ready = (len(pending) - half) // block     # blocks whose look-ahead has arrived
        if ready > 0:
            yield _true_peaks(np.concatenate((before, pending[:ready * block + half])), ready, block, threshold, known)
            before, pending = pending[ready * block - half:ready * block], pending[ready * block:]
    if len(pending):
        blocks = -(-len(pending) // block)
        tail = np.zeros(blocks * block + half, dtype=np.float32)
        tail[:len(pending)] = pending
        yield _true_peaks(np.concatenate((before, tail)), blocks, block, threshold, known)


class Envelope:
    """A gain per 10 ms block (at most 1.0), smoothed like the limiter's and applied to
    int16 PCM chunk by chunk: sample i gets the same gain however the stream is cut."""

    def __init__(self, gains: np.ndarray, sample_rate: int) -> None:
        self.block = block_size(sample_rate)
        self.gains = _smoothed(gains, 1.0)
        self.centres = np.arange(len(gains)) * self.block + (self.block - 1) / 2

    def apply(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        position = 0
        for chunk in chunks:
            end = position + len(chunk) // 2
            first, last = position // self.block, -(-end // self.block) + 1
            if self.gains[max(0, first - 1):last + 1].min(initial=1.0) < 1.0:
                gain = np.interp(np.arange(position, end), self.centres, self.gains).astype(np.float32)
                chunk = _to_pcm(_to_float(chunk) * gain)
            yield chunk
            position = end


def rotate_phase(pcm: bytes, sample_rate: int) -> bytes:
    """`pcm` through a cascade of all-pass filters (ROTATOR): every frequency keeps its
    level, only phases move, which evens out the lopsided peaks of a voice. Speech then
    needs much less limiting to reach the target (seed routine: 90th-percentile gain
    reduction 9.4 dB -> 2.4 dB). Causal, same length, deterministic."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if not len(x):
        return pcm
    size = 1 << int(np.ceil(np.log2(len(x) + sample_rate // 10)))   # room for the filter's tail
    y = np.fft.irfft(np.fft.rfft(x, size) * _rotator_response(size, sample_rate), size)[:len(x)]
    return np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes()


@lru_cache(maxsize=64)
def _rotator_response(size: int, sample_rate: int) -> np.ndarray:
    """ROTATOR's all-pass cascade at the rfft bins of `size` (read-only, shared)."""
    z = np.exp(-1j * np.linspace(0.0, np.pi, size // 2 + 1))   # z^-1 on the unit circle
    response = np.ones(len(z), dtype=complex)
    for freq, q in ROTATOR:
        k = np.tan(np.pi * freq / sample_rate)
        norm = 1 + k / q + k * k
        a1, a2 = 2 * (k * k - 1) / norm, (1 - k / q + k * k) / norm
        response *= (a2 + a1 * z + z * z) / (1 + a1 * z + a2 * z * z)
    response.setflags(write=False)
    return response


def true_peak(x: np.ndarray) -> float:
    """The 4x-oversampled peak of `x` (linear full scale)."""
    return float(_block_true_peaks(x, 4096, 0.0).max()) if len(x) else 0.0


def _block_true_peaks(x: np.ndarray, block: int, threshold: float) -> np.ndarray:
    """Per block, the larger of the sample peak and the interpolated (oversampled) peak.
    Interpolation runs only on blocks whose sample peak exceeds `threshold`: callers pass
    a threshold 3 dB or more under the level they care about (inter-sample peaks of real
    audio stay well within that)."""
    n, half = len(x), TAPS_PER_PHASE // 2
    blocks = -(-n // block)
    src = np.zeros(blocks * block + 2 * half, dtype=x.dtype)
    src[half:half + n] = x
    return _true_peaks(src, blocks, block, threshold)


def _true_peaks(src: np.ndarray, blocks: int, block: int, threshold: float, known: float = np.inf) -> np.ndarray:
    """`_block_true_peaks` of `src` less TAPS_PER_PHASE // 2 samples of context at each end
    (not oversampled where the sample peak is over `known`: see stream_true_peaks)."""
    half = TAPS_PER_PHASE // 2
    peaks: np.ndarray = np.abs(src[half:half + blocks * block]).reshape(blocks, block).max(axis=1)
    candidates = np.flatnonzero((peaks > threshold) & (peaks <= known))
    span = np.arange(block + 2 * half)[None, :]
    chunk = max(1, CHUNK_SAMPLES // block)
    for first in range(0, len(candidates), chunk):
        part = candidates[first:first + chunk]
        segments = src[part[:, None] * block + span]             # (blocks, block + taps)
        windows = np.lib.stride_tricks.sliding_window_view(segments, TAPS_PER_PHASE, axis=1)[:, 1:block + 1]
        interpolated = np.abs(windows @ _polyphase())            # (blocks, block, phases)
        peaks[part] = np.maximum(peaks[part], interpolated.max(axis=(1, 2)))
    return peaks


_FILTER: np.ndarray | None = None


def _polyphase() -> np.ndarray:
    """(taps, phases) matrix: windowed-sinc interpolation at fractions 1/4, 2/4, 3/4 of a
    sample (phase 0 is the sample itself, already counted)."""
    global _FILTER
    if _FILTER is None:
        half = TAPS_PER_PHASE // 2
        k = np.arange(-half + 1, half + 1)                       # tap offsets, sample before is 0
        columns = []
        for phase in range(1, OVERSAMPLE):
            t = phase / OVERSAMPLE - k                           # distance from each tap
            window = 0.5 + 0.5 * np.cos(np.pi * t / (half + 1))  # Hann
            columns.append(np.sinc(t) * window)
        _FILTER = np.stack(columns, axis=1)
    return _FILTER


def _to_float(pcm: bytes) -> np.ndarray:
    """int16 PCM as float32 full scale: exact, and half the memory of float64 (a 60-minute
    session is 80M samples)."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / np.float32(32768.0)


def _to_pcm(y: np.ndarray) -> bytes:
    scaled = y * np.float32(32768.0)   # one temporary, rounded and clipped in place
    np.round(scaled, out=scaled)
    np.clip(scaled, -32768, 32767, out=scaled)
    return scaled.astype("<i2").tobytes()
