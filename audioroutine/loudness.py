"""Loudness: bring a rendered session to a target integrated loudness (ITU-R BS.1770, LUFS)
with a true-peak ceiling (dBTP), without moving a single sample boundary.

Piper's speech has a high peak-to-loudness ratio, so gain alone would clip. Clips are
phase-rotated first (`rotate_phase`, applied by render.py when loudness is on). The session
is measured with ffmpeg's `ebur128` filter, amplified, and passed through an offline
look-ahead limiter that works on true (4x oversampled) peaks, then measured again and
trimmed. The encoder (mp3.encode_normalized) checks the decoded peaks and fixes them here
(`lower_peaks`) where they went over. All of it is multiplication per sample: silence stays
digital zero, lengths never change, the same input gives the same bytes.
"""

from __future__ import annotations

import re

import numpy as np

from .errors import BuildError
from .ffmpeg import run_ffmpeg_log
from .loudness_settings import DEFAULT_LOUDNESS, DEFAULT_TARGET, DEFAULT_TRUE_PEAK, LoudnessSettings

__all__ = ["DEFAULT_TARGET", "DEFAULT_TRUE_PEAK", "LoudnessSettings", "integrated", "limit", "lower_peaks",
           "normalize", "parse_ebur128", "rotate_phase", "true_peak"]

MAX_GAIN_DB = 30.0            # never amplify a near-silent session further than this
HEADROOM_DB = 1.0             # the limiter aims this far under the ceiling; the MP3 check catches the rest
TOLERANCE_LU = 0.1            # close enough to the target (ffmpeg reports tenths of a LU)
MAX_PASSES = 6
PEAK_MARGIN_DB = 0.2          # the MP3 check aims this far under the ceiling (meters differ by ~0.1 dB)
FIX_MARGIN_DB = 1.0           # where the MP3 went over, the gain drops this much more
PEAK_PASSES = 4               # encode/check rounds at most (the last one is only checked)
BLOCK_MS = 10                 # limiter resolution: gain moves over about 50 ms
ROTATOR = ((200.0, 0.5),) * 6  # all-pass sections (Hz, Q) that even out speech peaks
OVERSAMPLE = 4
TAPS_PER_PHASE = 16
CHUNK_SAMPLES = 1 << 18        # oversample this many samples at a time (bounded memory)


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
    """`pcm` (int16 mono) at `settings.target` LUFS (within TOLERANCE_LU) with true peaks
    at or under `settings.true_peak` dBTP, once a later stage has applied `later_gain_db`
    (the MP3 encoder's own level change). Same length, same silences; deterministic."""
    if not settings.enabled or not pcm:
        return pcm
    loudness, _ = integrated(pcm, sample_rate)
    if loudness <= -70.0:                   # silence: nothing to normalize
        return pcm
    target = settings.target - later_gain_db
    x = _to_float(pcm)
    ceiling = 10 ** ((settings.true_peak - later_gain_db - HEADROOM_DB) / 20)
    gain_db = min(target - loudness, MAX_GAIN_DB)
    most = min(gain_db + 12, MAX_GAIN_DB)  # peaks below are exact for gains up to this
    block = max(1, sample_rate * BLOCK_MS // 1000)
    # Block peaks do not depend on the gain: find them once, oversampling only the blocks
    # that could reach the ceiling with up to 12 dB more gain than this first estimate.
    peaks = _block_true_peaks(x, block, ceiling / 10 ** (most / 20))
    # Finding the gain: a cheap model (block powers without K-weighting, gated like
    # BS.1770) predicts the loudness the limiter leaves at a given gain; ffmpeg measures
    # the result, and the model is re-anchored on each measurement. One or two passes.
    power = np.zeros(len(peaks))
    full = len(x) // block * block
    power[:full // block] = np.square(x[:full]).reshape(-1, block).mean(axis=1, dtype=np.float64)
    if full < len(x):
        power[-1] = float(np.square(x[full:], dtype=np.float64).sum()) / block
    offset = loudness - _model(power, peaks, 0.0, np.inf, block, sample_rate)
    out = pcm
    for _ in range(MAX_PASSES):
        low, high = gain_db - 6.0, most
        for _ in range(30):                 # bisection: modelled loudness grows with gain
            middle = (low + high) / 2
            if _model(power, peaks, middle, ceiling, block, sample_rate) + offset < target:
                low = middle
            else:
                high = middle
        gain_db = (low + high) / 2
        out = _to_pcm(_apply(x, peaks, block, 10 ** (gain_db / 20), ceiling))
        before, (loudness, _) = loudness, integrated(out, sample_rate)
        if abs(target - loudness) <= TOLERANCE_LU or gain_db >= most or loudness == before:
            break                           # on target, or the limiter gives no more
        offset = loudness - _model(power, peaks, gain_db, ceiling, block, sample_rate)
    return out


def _model(power: np.ndarray, peaks: np.ndarray, gain_db: float, ceiling: float, block: int, rate: int) -> float:
    """Gated loudness (unweighted) of the limited signal, from block powers and block gains."""
    gain = 10 ** (gain_db / 20)
    gains = _smoothed(np.minimum(gain, ceiling / np.maximum(peaks, 1e-12)), gain)
    weighted = np.concatenate(([0.0], np.cumsum(power * gains ** 2)))
    size, hop = max(1, rate * 400 // 1000 // block), max(1, rate * 100 // 1000 // block)
    starts = np.arange(0, max(1, len(power) - size + 1), hop)
    z = (weighted[np.minimum(starts + size, len(power))] - weighted[starts]) / size
    z = z[z > 10 ** ((-70 + 0.691) / 10)]
    if not len(z):
        return -70.0
    z = z[z > z.mean() * 0.1]
    return float(-0.691 + 10 * np.log10(z.mean()))


def limit(x: np.ndarray, sample_rate: int, ceiling: float) -> np.ndarray:
    """An offline look-ahead limiter: true peaks of the result stay under `ceiling`
    (linear full scale)."""
    block = max(1, sample_rate * BLOCK_MS // 1000)
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


def lower_peaks(pcm: bytes, decoded: bytes, sample_rate: int, settings: LoudnessSettings) -> bytes | None:
    """After lossy coding: `pcm` with the gain lowered (by FIX_MARGIN_DB more than needed)
    in the blocks where `decoded` (the encoded `pcm`, decoded) has true peaks over the
    ceiling less PEAK_MARGIN_DB; None when no block went over."""
    ceiling = 10 ** ((settings.true_peak - PEAK_MARGIN_DB) / 20)
    block = max(1, sample_rate * BLOCK_MS // 1000)
    peaks = _block_true_peaks(_to_float(decoded), block, ceiling / 2 ** 0.5)
    if peaks.max() <= ceiling:
        return None
    allowed = np.where(peaks > ceiling, ceiling / np.maximum(peaks, 1e-12) * 10 ** (-FIX_MARGIN_DB / 20), 1.0)
    return _to_pcm(_times_envelope(_to_float(pcm), allowed, block, 1.0))


def rotate_phase(pcm: bytes, sample_rate: int) -> bytes:
    """`pcm` through a cascade of all-pass filters (ROTATOR): every frequency keeps its
    level, only phases move, which evens out the lopsided peaks of a voice. Speech then
    needs much less limiting to reach the target (seed routine: 90th-percentile gain
    reduction 9.4 dB -> 2.4 dB). Causal, same length, deterministic."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if not len(x):
        return pcm
    size = 1 << int(np.ceil(np.log2(len(x) + sample_rate // 10)))   # room for the filter's tail
    spectrum = np.fft.rfft(x, size)
    z = np.exp(-1j * np.linspace(0.0, np.pi, len(spectrum)))
    for freq, q in ROTATOR:
        k = np.tan(np.pi * freq / sample_rate)
        norm = 1 + k / q + k * k
        a1, a2 = 2 * (k * k - 1) / norm, (1 - k / q + k * k) / norm
        spectrum *= (a2 + a1 * z + z * z) / (1 + a1 * z + a2 * z * z)
    y = np.fft.irfft(spectrum, size)[:len(x)]
    return np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes()


def true_peak(x: np.ndarray) -> float:
    """The 4x-oversampled peak of `x` (linear full scale)."""
    return float(_block_true_peaks(x, 4096, 0.0).max()) if len(x) else 0.0


def _block_true_peaks(x: np.ndarray, block: int, threshold: float) -> np.ndarray:
    """Per block, the larger of the sample peak and the interpolated (oversampled) peak.
    Interpolation runs only on blocks whose sample peak exceeds `threshold`: callers pass
    a threshold 3 dB or more under the level they care about (inter-sample peaks of real
    audio stay well within that)."""
    n = len(x)
    blocks = -(-n // block)
    padded = np.zeros(blocks * block, dtype=x.dtype)
    padded[:n] = np.abs(x)
    peaks: np.ndarray = padded.reshape(blocks, block).max(axis=1)
    candidates = np.flatnonzero(peaks > threshold)
    if not len(candidates):
        return peaks
    half = TAPS_PER_PHASE // 2
    src = np.zeros(blocks * block + 2 * half, dtype=x.dtype)
    src[half:half + n] = x
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
