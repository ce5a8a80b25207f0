"""Music bed: a background under the voice, ducked from the timeline (issue 23).

A bed is either one of a few beds pads.py generates (deterministic pads and chords, no
audio assets) or an audio file (anything ffmpeg reads), looped with a crossfade and resampled
to the session rate. It is streamed in the session's chunks and never held whole: a built-in
bed is rendered once per process into a temporary file and read from there, a file decoded
once into one; memory holds a block and, for a file, the crossfade.

Its level is relative to the voice: undocked, the bed reads `level` LU against the session's
target loudness (default -20 LU); under every cue and sound it goes down a further `duck` dB
(default 12), starting LEAD_MS before the cue (look-ahead: the timeline says where every cue
starts) and coming back up over RELEASE_MS after it, on raised-cosine ramps. The loudness
model counts the bed (`block_power`), so the whole mix reads the target; the timeline is
untouched: the bed only adds to samples that are there anyway.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from ..core.errors import BuildError
from ..core.ffmpeg import ffmpeg_through
from ..model.music_settings import Music
from .loudness import Model, block_size, gated_loudness, k_weighted_power
from .pads import pad_stream

if TYPE_CHECKING:
    from ..compile.timeline import Timeline
    from ..model.loudness_settings import LoudnessSettings
    from .render import Mix

LEAD_MS = 400                 # the ramp down starts this long before a cue, so it is down when the cue starts
HOLD_MS = 150                 # stays down this long after a cue ends
RELEASE_MS = 900              # then comes back up over this long
START_FADE_MS = 2000          # the bed fades in at the session's start ...
END_FADE_MS = 3000            # ... and out at its end
CROSSFADE_MS = 3000           # a file's end crossfades into its start when it loops
MIX_STEP = 1 << 14            # samples of bed computed at a time when mixing
K_PREROLL_MS = 200            # the K filter's history carried across chunks when measuring


# ---------------------------------------------------------------------------------------
# A file: decoded by ffmpeg to float mono at the session rate, pass after pass, the last
# CROSSFADE_MS of each pass crossfading into the first of the next.

def _decode_into(store: IO[bytes], path: Path, sample_rate: int) -> int:
    """Decode `path` into `store` as float32 mono samples at `sample_rate` (one ffmpeg run,
    core/ffmpeg.py); the number of samples written."""

    def write(chunks: Iterator[bytes]) -> int:
        total, rest = 0, b""
        for data in chunks:
            data = rest + data
            whole = len(data) // 4 * 4
            store.write(data[:whole])
            total, rest = total + whole // 4, data[whole:]
        return total

    try:
        found = ffmpeg_through(["-i", str(path), "-vn", "-f", "f32le", "-ac", "1", "-ar", str(sample_rate), "pipe:1"],
                               (), write)
    except BuildError as err:
        why = str(err).removeprefix("ffmpeg failed: ")
        raise BuildError(f"music file {path}: ffmpeg could not decode it: {why}") from None
    return found or 0


def _file_stream(path: Path, sample_rate: int) -> Iterator[np.ndarray]:
    """The file looped for ever, crossfaded at each seam. It is decoded once, into a
    temporary file of float samples at the session rate (a 3-minute song: 16 MB on disk at
    22,050 Hz), and read from there a block at a time: memory holds a block and the seam."""
    with tempfile.TemporaryFile() as store:
        total = _decode_into(store, path, sample_rate)
        if total == 0:
            raise BuildError(f"music file {path}: no audio in it")
        fade = min(sample_rate * CROSSFADE_MS // 1000, total // 4)
        body = total - fade                       # each pass: [0, body); its [body, total) crossfades into the next
        rise = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / max(fade, 1)) ** 2

        def read(start: int, count: int) -> np.ndarray:
            store.seek(4 * start)
            return np.frombuffer(store.read(4 * count), dtype="<f4").astype(np.float64)

        step = 1 << 16
        first = True
        while True:
            start = 0
            if not first and fade:
                yield read(0, fade) * rise + read(body, fade) * rise[::-1]
                start = fade
            first = False
            for lo in range(start, body, step):
                yield read(lo, min(step, body - lo))


def _samples(stream: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Drop empty parts."""
    for part in stream:
        if len(part):
            yield part


# ---------------------------------------------------------------------------------------
# The bed in a session.

def duck_spans(events: Sequence[tuple[int, int]], sample_rate: int) -> list[tuple[int, int]]:
    """Merged (start, end) spans where the bed is fully down: each cue from LEAD_MS before
    its start (the ramp ends at its start) to HOLD_MS after its end."""
    hold = sample_rate * HOLD_MS // 1000
    merged: list[tuple[int, int]] = []
    for start, end in sorted(events):
        end += hold
        if merged and start <= merged[-1][1] + sample_rate * (LEAD_MS + RELEASE_MS) // 1000:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass
class Bed:
    """A music bed under one session of `total` samples: `samples(start, n)` gives its
    float samples (ducked and faded, before `gain`) in order, chunk by chunk."""

    music: Music
    sample_rate: int
    total: int
    spans: list[tuple[int, int]]
    gain: float = 1.0
    _stream: Iterator[np.ndarray] | None = field(default=None, repr=False)
    _buffer: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32), repr=False)
    _position: int = 0
    _ends: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def under(cls, music: Music, events: Sequence[tuple[int, int]], sample_rate: int, total: int) -> Bed:
        return cls(music, sample_rate, total, duck_spans(events, sample_rate))

    def fresh(self) -> Bed:
        """The same bed from its start (a bed is read once, in order)."""
        return Bed(self.music, self.sample_rate, self.total, self.spans, self.gain)

    def _raw(self, n: int) -> np.ndarray:
        if self._stream is None:
            self._stream = _samples(_file_stream(self.music.path, self.sample_rate) if self.music.is_file
                                    else pad_stream(self.music.source, self.sample_rate))
        parts, have = [self._buffer], len(self._buffer)
        while have < n:
            part = next(self._stream)
            parts.append(part)
            have += len(part)
        joined = np.concatenate(parts) if len(parts) > 1 else self._buffer
        self._buffer = joined[n:]
        return joined[:n].astype(np.float64)

    def envelope(self, start: int, n: int) -> np.ndarray:
        """The bed's gain (linear, before `gain`) over samples [start, start + n)."""
        i = np.arange(start, start + n, dtype=np.float64)
        rate = self.sample_rate
        lead, release = rate * LEAD_MS / 1000, rate * RELEASE_MS / 1000
        down = np.zeros(n)                   # 0: up, 1: fully ducked
        if self._ends is None:
            self._ends = np.array([e for _, e in self.spans], dtype=np.int64)
        lo = np.searchsorted(self._ends, start - release)
        for s, e in self.spans[lo:]:
            if s - lead > start + n:
                break
            x = np.clip(np.minimum((i - (s - lead)) / lead, ((e + release) - i) / release), 0.0, 1.0)
            down = np.maximum(down, np.sin(0.5 * np.pi * x) ** 2)
        gain = 10 ** (-self.music.duck * down / 20)
        fade_in, fade_out = rate * START_FADE_MS / 1000, rate * END_FADE_MS / 1000
        edges = np.clip(np.minimum((i + 0.5) / fade_in, (self.total - i - 0.5) / fade_out), 0.0, 1.0)
        result: np.ndarray = gain * np.sin(0.5 * np.pi * edges) ** 2
        return result

    def samples(self, n: int) -> np.ndarray:
        """The next `n` samples of the bed as it sounds in the session (float, full scale 1)."""
        start = self._position
        self._position += n
        out: np.ndarray = self._raw(n) * self.envelope(start, n) * self.gain
        return out

    def mixed(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """`chunks` (int16 mono PCM) with this bed added from its start, sample for sample;
        same lengths (what `Mix.chunks` plays when the session has a bed)."""
        return mixed(chunks, self)

    def level_for(self, session: Mix, settings: LoudnessSettings, later_gain_db: float) -> np.ndarray:
        """Set `gain` so that the undocked bed reads `music.level` LU against the session's
        target (with loudness off: against the voice's own loudness) once `later_gain_db` is
        applied; return the ducked bed's K-weighted power per 10 ms block at that gain, for
        the loudness model."""
        block = block_size(self.sample_rate)
        ducked, undocked = self.block_power(block)
        own = gated_loudness(undocked, self.sample_rate, 10 * block)
        if settings.enabled:
            voice = settings.target - later_gain_db
        else:
            voice = Model(session.pieces, session.places, self.sample_rate, session.analyses).loudness(0.0, np.inf)
        self.gain = float(10 ** ((voice + self.music.level - own) / 20)) if own > -70 else 0.0
        ducked *= np.float32(self.gain ** 2)
        return ducked

    def block_power(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        """(ducked per `block` samples, undocked per 10 blocks): the bed's K-weighted mean
        square over the session at gain 1, streamed in 1 s chunks (the K filter's
        history carried over K_PREROLL_MS); memory: the ducked array and one chunk."""
        bed = self.fresh()
        chunk = block * 100
        pre = self.sample_rate * K_PREROLL_MS // 1000 // block * block
        ducked = np.zeros(-(-self.total // block), dtype=np.float32)   # 3 MB for 2 hours
        undocked = np.zeros(-(-self.total // (10 * block)))
        history_d, history_u = np.zeros(pre), np.zeros(pre)
        for start in range(0, self.total, chunk):
            n = min(chunk, self.total - start)
            raw = bed._raw(n)
            shaped = raw * bed.envelope(start, n)
            blocks = -(-n // block)
            first = start // block
            ducked[first:first + blocks] = k_weighted_power(np.concatenate((history_d, shaped)), self.sample_rate,
                                                            block)[pre // block:pre // block + blocks]
            own = k_weighted_power(np.concatenate((history_u, raw)), self.sample_rate, block)[pre // block:
                                                                                               pre // block + blocks]
            own = np.concatenate((own, np.zeros(-len(own) % 10)))
            undocked[first // 10:first // 10 + len(own) // 10] = own.reshape(-1, 10).mean(axis=1)
            history_d, history_u = shaped[-pre:], raw[-pre:]
        return ducked, undocked


def with_bed(session: Mix, timeline: Timeline, music: Music | None) -> Mix:
    """`session` with `music` under it, ducked under every cue and sound of `timeline`."""
    if music is None:
        return session
    cues = [(e.start, e.end) for e in timeline.events if e.kind != "silence"]
    return replace(session, bed=Bed.under(music, cues, timeline.sample_rate, timeline.total))


def mixed(chunks: Iterator[bytes], bed: Bed) -> Iterator[bytes]:
    """`chunks` (int16 mono PCM) with `bed` added, sample for sample; same lengths."""
    bed = bed.fresh()
    for chunk in chunks:
        x = np.frombuffer(chunk, dtype="<i2")
        out = bytearray()
        for lo in range(0, len(x), MIX_STEP):     # small steps: the bed's arithmetic stays a few hundred KB
            part = x[lo:lo + MIX_STEP].astype(np.float64) + bed.samples(min(MIX_STEP, len(x) - lo)) * 32768.0
            out += np.clip(np.round(part), -32768, 32767).astype("<i2").tobytes()
        yield bytes(out)
