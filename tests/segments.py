"""Find speech and quiet in decoded audio, and pair them with what the script says.

The measuring never reads the timeline: sound runs come from RMS in 5 ms frames of the
decoded samples. The compiled program (what is said, in which order, and which window each
cue opens; no times) tells which run is which cue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audioroutine.compile.timeline import Pause, Program, Say, Sound, Window

FRAME_MS = 5
RMS_FLOOR = 10 ** (-45 / 20)      # a 5 ms frame above -45 dBFS RMS is sound
# A run's edges: where its level (RMS over 5 ms around each sample) last rises above, and
# first falls under, EDGE_DB under the run's loudest 5 ms frame (and EDGE_FLOOR_DB): the soft
# start of a word like "four" and the release of a final stop belong to it (docs/timing.md).
EDGE_DB = 50.0
EDGE_FLOOR_DB = -75.0
# Over a music bed with only the session's decode (the listener's cut, tests/listener.py; the
# timing is measured subtracted, RESIDUAL_DB): a frame is speech when it is OVER_BED_DB over
# the bed (the quietest frame within BED_WINDOW_MS: the bed is ducked under every cue and its
# level moves slowly), and a run's edges are where it falls to BED_EDGE_DB over the bed.
OVER_BED_DB = 20.0
BED_EDGE_DB = 6.0
BED_WINDOW_MS = 1000
BED_SMOOTH_MS = 50
# Over a bed only sound OVER_BED_DB over it starts a run: a phrase's soft ends, and a breath
# inside a pause (which count in a quiet session, over -45 dBFS), do not, so the quiet between
# two runs reads longer: measured with Piper over `calm` on the seed, 507-536 ms inside a cue
# (a comma) and between two phrases 300 ms apart; where the script separates cues (its
# shortest such pause is 600 ms) at least 626 ms with Piper and 574 ms with the test engine.
# Runs closer than this are one run.
BED_MIN_QUIET_MS = 555
# Over a bed, subtracted (`bed`: the decode of the same session's bed alone, same gain and
# ducking, through the same encoder, the voice silenced): the session's decode less it is the
# voice plus what MP3 coding did differently to the bed in the two encodes. That noise,
# measured with Piper on the seed (the difference less the quiet session's decode; 5 ms
# frames; each built-in bed, a file of tones and a broadband one; docs/music.md): in holds
# most frames are exactly nil (both encodes code the same samples alike), the loudest -58
# dBFS; within 50 ms of a cue's edge 99 % of frames are 14-17 dB under the bed alone there
# (9 dB for the broadband file). The quiet session's rule finds the voice in the difference,
# a frame counted as sound only over the bed alone's level too, and a run's edge floor raised
# to RESIDUAL_DB under the bed alone's loudest level within the edge's search where that is
# higher: 12 dB finds the edges where the quiet session's decode has them (mean 0.6-1.2 ms
# apart; with no raise 0.5-1.7 ms, a start up to 22 ms early in the broadband file's noise;
# with 6 dB 3.0-3.4 ms, ends up to 25 ms early).
RESIDUAL_DB = 12.0
EDGE_SEARCH_MS = 200              # how far outside its -45 dBFS frames a run's edge is looked for
MIN_QUIET_MS = 480                # quiet shorter than this stays inside one run (Piper pauses up to ~400 ms inside a cue)


def bed_floor(x: np.ndarray, rate: int) -> np.ndarray:
    """Per FRAME_MS frame: the level (dBFS RMS) of what sounds under the speech (a music
    bed): the quietest BED_SMOOTH_MS within BED_WINDOW_MS either side, where no cue sounds."""
    n = rate * FRAME_MS // 1000
    frames = x[: len(x) // n * n].reshape(-1, n)
    smooth = BED_SMOOTH_MS // FRAME_MS         # a bed's low notes are longer than a frame
    power = np.convolve(np.mean(frames ** 2, axis=1), np.ones(smooth) / smooth, mode="same")
    level = 10 * np.log10(np.maximum(power, 1e-12))
    half = BED_WINDOW_MS // FRAME_MS
    padded = np.concatenate((np.full(half, level.max()), level, np.full(half, level.max())))
    floor: np.ndarray = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).min(axis=1)
    return floor


def bed_level(bed: np.ndarray, rate: int) -> np.ndarray:
    """Per FRAME_MS frame: the level (dBFS RMS over BED_SMOOTH_MS) of a bed alone."""
    n = rate * FRAME_MS // 1000
    smooth = BED_SMOOTH_MS // FRAME_MS
    power = np.mean(bed[: len(bed) // n * n].reshape(-1, n) ** 2, axis=1)
    level: np.ndarray = 10 * np.log10(np.maximum(np.convolve(power, np.ones(smooth) / smooth, mode="same"), 1e-12))
    return level


def sound_runs(x: np.ndarray, rate: int, edge_db: float = EDGE_DB, over_bed: bool = False,
               bed: np.ndarray | None = None) -> list[tuple[int, int]]:
    """(start, end) sample of every stretch of sound separated by at least MIN_QUIET_MS.
    `over_bed`: the session has a music bed: speech is what rises OVER_BED_DB over it.
    `bed`: the decode of the session's bed alone: speech is found in `x` less it (RESIDUAL_DB)."""
    n = rate * FRAME_MS // 1000
    noise = np.full(len(x) // n, -np.inf)           # per frame: the level the voice's edges must be over
    if bed is not None:
        assert len(bed) == len(x), (len(bed), len(x))
        x = x - bed
        noise = bed_level(bed, rate)
    frames = x[: len(x) // n * n].reshape(-1, n)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    if bed is not None:
        floor_db, frame_db = noise, 20 * np.log10(np.maximum(rms, 1e-12))
        noise = noise - RESIDUAL_DB
    elif over_bed:   # smoothed like the floor: a bed's low notes swing a 5 ms frame's level
        floor_db = bed_floor(x, rate) + OVER_BED_DB
        smooth = BED_SMOOTH_MS // FRAME_MS
        frame_db = 10 * np.log10(np.maximum(np.convolve(rms ** 2, np.ones(smooth) / smooth, mode="same"), 1e-12))
    else:
        floor_db, frame_db = np.full(len(rms), -np.inf), 20 * np.log10(np.maximum(rms, 1e-12))
    loud = np.flatnonzero((rms > RMS_FLOOR) & (frame_db > floor_db))
    if not len(loud):
        return []
    breaks = np.flatnonzero(np.diff(loud) * FRAME_MS > MIN_QUIET_MS)
    firsts = np.concatenate((loud[:1], loud[breaks + 1]))
    lasts = np.concatenate((loud[breaks], loud[-1:]))
    runs: list[tuple[int, int]] = []
    width = rate * FRAME_MS // 1000
    power = np.concatenate(([0.0], np.cumsum(x.astype(np.float64) ** 2)))
    search = rate * EDGE_SEARCH_MS // 1000

    def level(lo: int, hi: int) -> np.ndarray:
        """dBFS RMS over `width` samples centred on each sample of [lo, hi)."""
        i = np.arange(lo, hi)
        a, b = np.clip(i - width // 2, 0, len(x)), np.clip(i - width // 2 + width, 0, len(x))
        levels: np.ndarray = 10 * np.log10(np.maximum((power[b] - power[a]) / np.maximum(b - a, 1), 1e-12))
        return levels

    previous_end = 0
    for first, last in zip(firsts, lasts):
        top = 20 * np.log10(np.sqrt(np.mean(frames[first:last + 1] ** 2, axis=1)).max())
        floor = max(top - edge_db, EDGE_FLOOR_DB)
        if over_bed and bed is None:
            floor = max(floor, float(floor_db[first]) - OVER_BED_DB + BED_EDGE_DB,
                        float(floor_db[last]) - OVER_BED_DB + BED_EDGE_DB)
        lo = max(previous_end, first * n - search)
        head = level(lo, first * n) <= max(floor, float(noise[lo // n:first + 1].max()))
        start = lo + (int(np.flatnonzero(head)[-1]) + 1 if head.any() else 0)
        hi = min(len(x), (last + 1) * n + search)
        tail = level((last + 1) * n, hi) <= max(floor, float(noise[last:-(-hi // n)].max()))
        end = (last + 1) * n + (int(np.flatnonzero(tail)[0]) if tail.any() else hi - (last + 1) * n)
        if over_bed and bed is None and runs and start - runs[-1][1] < rate * BED_MIN_QUIET_MS // 1000:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
        previous_end = end
    return runs


@dataclass
class Group:
    """Cues heard as one run of sound (nothing quiet for MIN_QUIET_MS between them)."""

    texts: list[str] = field(default_factory=list)


@dataclass
class WindowPlan:
    role: str
    ms: int
    lead_ms: int
    opener: int                         # index of the group holding the opening cue
    starter: int | None                 # group that starts the window (hold-start sound), if any
    timed: list[tuple[int, int]]        # (offset_ms, group index)
    after: int                          # group that ends the window


def expected(program: Program) -> tuple[list[Group], list[WindowPlan]]:
    """The runs of sound a listener should hear, and each window's place among them."""
    groups: list[Group] = [Group()]
    windows: list[WindowPlan] = []
    pending: list[WindowPlan] = []        # windows waiting for the group that ends them

    def close() -> None:
        if groups[-1].texts:
            groups.append(Group())

    def add(cue: Say | Sound) -> int:
        for window in pending:
            window.after = len(groups) - 1
        pending.clear()
        groups[-1].texts.append(cue.text)
        return len(groups) - 1

    for chapter in program.chapters:
        for step in chapter.steps:
            if isinstance(step, (Say, Sound)):
                add(step)
            elif isinstance(step, Pause):
                if step.ms >= MIN_QUIET_MS:
                    close()
            else:
                assert isinstance(step, Window)
                opener = -1
                for cue in step.cues:
                    opener = add(cue)
                if step.lead_ms:
                    close()
                plan = WindowPlan(step.role, step.ms, step.lead_ms, opener, None, [], -1)
                for offset, cue in step.timed:
                    if offset:
                        close()
                    index = add(cue)
                    if offset == 0:
                        plan.starter = index
                    else:
                        plan.timed.append((offset, index))
                close()
                windows.append(plan)
                pending.append(plan)
    if not groups[-1].texts:
        groups.pop()
    return groups, windows


@dataclass
class Measured:
    role: str
    prescribed_ms: int
    start: int                          # sample where the window starts, as heard
    end: int                            # sample where the next cue starts, as heard
    timed: list[tuple[int, int]]        # (offset_ms, onset sample) of countdown numbers etc.
    lead: int | None = None             # measured movement time (cue end to hold-start sound)


def measure_windows(x: np.ndarray, rate: int, program: Program, edge_db: float = EDGE_DB,
                    over_bed: bool = False, bed: np.ndarray | None = None) -> list[Measured]:
    """Every window of `program` as heard in the decoded session `x` (edges `edge_db` under
    each run's loudest frame; `over_bed`: speech found over a music bed; `bed`: found in `x`
    less the decode of its bed alone)."""
    runs = sound_runs(x, rate, edge_db, over_bed, bed)
    groups, windows = expected(program)
    assert len(runs) == len(groups), (
        f"heard {len(runs)} runs of sound, the script says {len(groups)}: "
        f"a cue is silent, missing, or runs into the next")
    out = []
    for w in windows:
        cue_end = runs[w.opener][1]
        if w.starter is not None:
            start = runs[w.starter][0]
            lead = start - cue_end if w.lead_ms else None
        else:
            start = cue_end + w.lead_ms * rate // 1000
            lead = None
        end = runs[w.after][0]
        out.append(Measured(w.role, w.ms, start, end, [(o, runs[g][0]) for o, g in w.timed], lead))
    return out


def check_windows(found: list[Measured], rate: int, tolerance_ms: float = 50, mark_ms: float = 20) -> dict[str, int]:
    """Assert every window's measured length and every timed cue's onset; count windows by role."""
    roles: dict[str, int] = {}
    for m in found:
        length_ms = (m.end - m.start) * 1000 / rate
        assert abs(length_ms - m.prescribed_ms) <= tolerance_ms, (m.role, length_ms, m.prescribed_ms)
        for offset, onset in m.timed:
            off_ms = (onset - m.start) * 1000 / rate
            assert abs(off_ms - offset) <= mark_ms, (m.role, offset, off_ms)
        roles[m.role] = roles.get(m.role, 0) + 1
    return roles
