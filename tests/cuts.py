"""Cut words: sounds that start or end by jumping between loud and silence, heard as clicks
and clipped words (issue 23). Measured on decoded audio, without the timeline.

The level is the RMS of 1 ms frames. A stretch of *silence* is at least SILENCE_MS of frames
under SILENCE_DB; a sound *ends abruptly* when a frame within CUT_MS before such a stretch
is above LOUD_DB, and *starts abruptly* when a frame within CUT_MS after one is. A voice that
fades out (or in) takes longer than that to cross the 45 dB between the two levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_MS = 1
LOUD_DB = -15.0       # above this a frame is loud
SILENCE_DB = -60.0    # under this a frame is quiet
SILENCE_MS = 20       # quiet this long is silence (a pause between sounds, not a gap in a word)
CUT_MS = 6            # loud this close to silence is a cut


@dataclass(frozen=True)
class Cut:
    at: float          # seconds: where the silence starts (an end) or ends (a start)
    edge: str          # "end" or "start"
    level_db: float    # the loudest frame within CUT_MS of the silence


def frame_levels(x: np.ndarray, rate: int) -> np.ndarray:
    """dBFS RMS of consecutive FRAME_MS frames of int16 (or float in [-1, 1]) samples."""
    n = max(1, rate * FRAME_MS // 1000)
    samples = x.astype(np.float64)
    if x.dtype == np.int16:
        samples /= 32768.0
    frames = samples[: len(samples) // n * n].reshape(-1, n)
    return 20 * np.log10(np.maximum(np.sqrt(np.mean(frames ** 2, axis=1)), 1e-10))


def abrupt_edges(x: np.ndarray, rate: int) -> list[Cut]:
    """Every sound in `x` that ends or starts by falling from (rising to) above LOUD_DB
    from (to) silence within CUT_MS."""
    levels = frame_levels(x, rate)
    n = max(1, rate * FRAME_MS // 1000)
    quiet = levels < SILENCE_DB
    cuts: list[Cut] = []
    # runs of quiet frames: (first, last+1)
    edges = np.diff(np.concatenate(([0], quiet.astype(np.int8), [0])))
    firsts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    n_frames = len(levels)
    for first, end in zip(firsts, ends):
        if end - first < SILENCE_MS // FRAME_MS:
            continue
        if first > 0:
            before = levels[max(0, first - CUT_MS // FRAME_MS):first]
            if before.max() > LOUD_DB:
                cuts.append(Cut(first * n / rate, "end", float(before.max())))
        if end < n_frames:
            after = levels[end:end + CUT_MS // FRAME_MS]
            if after.max() > LOUD_DB:
                cuts.append(Cut(end * n / rate, "start", float(after.max())))
    return cuts
