"""Music bed: a background under the voice, ducked from the timeline (issue 23).

A bed is either one of a few beds this module generates (deterministic pads and chords, no
audio assets) or an audio file (anything ffmpeg reads), looped with a crossfade and resampled
to the session rate. It is streamed in the session's chunks and never held whole: a file is
decoded pass by pass through ffmpeg, keeping only the crossfade's head and tail in memory.

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
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from ..core.errors import BuildError
from ..core.ffmpeg import ffmpeg_through
from ..model.music_settings import Music
from .loudness import Model, block_size, gated_loudness, k_weighted_power

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
LOOP_SECONDS = 64             # a built-in bed's cycle (8 chords of 8 s); it plays two, voiced differently
MIX_STEP = 1 << 14            # samples of bed computed at a time when mixing
K_PREROLL_MS = 200            # the K filter's history carried across chunks when measuring


# ---------------------------------------------------------------------------------------
# Built-in beds: slow pads, one chord every 8 s, crossfading; every frequency is a whole
# number of cycles per LOOP_SECONDS, so the cycle loops without a seam.

_NOTES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _hz(name: str) -> float:
    """'A4' -> 440.0; sharps as 'F#3'."""
    pitch = _NOTES[name[0]] + (1 if "#" in name else 0) - (1 if name[1] == "b" else 0)
    octave = int(name[-1])
    return float(440.0 * 2 ** ((pitch - 9) / 12 + octave - 4))


# mood: (chords as note lists, the first note is the bass; brightness of the partials; the
# upper notes sound this many times higher: a phone's speaker plays little under 300 Hz)
_MOODS: dict[str, tuple[list[list[str]], float, int]] = {
    # D major, open voicings: Dmaj9, Bm7, Gmaj7, Asus4 ... a slow, airy loop
    "calm": ([["D2", "A3", "C#4", "E4", "F#4"], ["B1", "F#3", "A3", "D4", "E4"],
              ["G1", "D3", "F#3", "B3", "E4"], ["A1", "E3", "A3", "D4", "E4"],
              ["D2", "A3", "D4", "E4", "F#4"], ["F#1", "C#3", "A3", "E4", "F#4"],
              ["G1", "D3", "B3", "D4", "F#4"], ["A1", "E3", "G3", "C#4", "E4"]], 0.35, 1),
    # F major, low and round: Fadd9, Dm7, Bbmaj7, C6 ...
    "warm": ([["F1", "C3", "F3", "G3", "A3"], ["D2", "A2", "C3", "F3", "A3"],
              ["Bb1", "F2", "A2", "D3", "F3"], ["C2", "G2", "A2", "E3", "G3"],
              ["F1", "C3", "E3", "G3", "A3"], ["A1", "E2", "C3", "E3", "A3"],
              ["Bb1", "F2", "D3", "F3", "A3"], ["C2", "G2", "Bb2", "E3", "G3"]], 0.3, 2),
    # A minor, dusky: Am9, Fmaj7, Cmaj7, G6 ...
    "dusk": ([["A1", "E3", "G3", "B3", "C4"], ["F1", "C3", "E3", "A3", "C4"],
              ["C2", "G2", "B2", "E3", "G3"], ["G1", "D3", "E3", "B3", "D4"],
              ["A1", "E3", "A3", "C4", "E4"], ["D2", "A2", "C3", "F3", "A3"],
              ["E2", "B2", "D3", "G#3", "B3"], ["A1", "E3", "G3", "C4", "E4"]], 0.3, 2),
}


# each upper note: a centre voice and two voices 0.12 % sharp and flat at a quarter of its
# level (a slow chorus whose beats move a note's level by 3 dB either way, not in and out);
# the bass is one voice (its beats, a few seconds long, were heard as the bed breathing)
_CHORUS = ((0.0, 1.0), (-0.0012, 0.25), (0.0012, 0.25))


def _voicing(chords: list[list[str]], variant: int) -> list[list[str]]:
    """The chords of one cycle. The second cycle (variant 1) voices the middle six chords
    anew, the lowest upper note an octave up (the top line moves: the melody of the pads
    differs), and keeps the first and last chord as they are, so both cycles sound the same
    around the seams between them."""
    if not variant:
        return chords
    revoiced = [[chord[0], *chord[2:], chord[1][:-1] + str(int(chord[1][-1]) + 1)] for chord in chords[1:-1]]
    return [chords[0], *revoiced, chords[-1]]


def _cycle(mood: str, sample_rate: int, variant: int) -> np.ndarray:
    """One LOOP_SECONDS cycle, not yet scaled; periodic: every frequency is a whole number of
    cycles per LOOP_SECONDS."""
    chords, bright, lift = _MOODS[mood]
    chords = _voicing(chords, variant)
    n = LOOP_SECONDS * sample_rate
    out = np.zeros(n, dtype=np.float32)
    span = LOOP_SECONDS / len(chords)
    reach = int((span / 2 + 2.0) * sample_rate) + 1      # a chord sounds within this of its centre
    for index, chord in enumerate(chords):
        # the chord itself is stationary and every partial sits on a bin of the loop: one inverse FFT
        spectrum = np.zeros(n // 2 + 1, dtype=np.complex64)     # float32 arithmetic: a cycle's transient memory halves
        for k, note in enumerate(chord):
            base = _hz(note) * (lift if k else 1)
            loud = 1.0 if k else 0.8
            for partial, amp in ((1, 1.0), (2, bright), (3, bright * 0.35)):
                for detune, share in _CHORUS if k else ((0.0, 1.0),):
                    cycles = round(base * partial * (1 + detune) * LOOP_SECONDS)
                    phase = 2 * np.pi * ((k * 0.37 + partial * 0.11 + detune * 100) % 1)
                    spectrum[cycles] += loud * amp * share * np.exp(1j * phase) * n / 2
        voice = np.fft.irfft(spectrum, n)
        del spectrum
        # its weight: 1 in its 8 s, crossfades of 4 s into its neighbours (wrapping round the loop)
        centre = int((index + 0.5) * span * sample_rate)
        where = np.arange(centre - reach, centre + reach) % n
        distance = np.abs(np.arange(-reach, reach)) / sample_rate
        weight = np.sin(0.5 * np.pi * np.clip((span / 2 + 2.0 - distance) / 4.0, 0.0, 1.0)).astype(np.float32)
        out[where] += weight * voice[where]                        # weights power-complementary
        del voice
    # a slow swell over the whole loop: 2 and 3 cycles per loop
    for lo in range(0, n, sample_rate):
        t = np.arange(lo, min(lo + sample_rate, n)) / sample_rate
        out[lo:lo + len(t)] *= (0.85 + 0.1 * np.sin(2 * np.pi * 2 * t / LOOP_SECONDS)
                                + 0.05 * np.sin(2 * np.pi * 3 * t / LOOP_SECONDS + 1)).astype(np.float32)
    return out


@lru_cache(maxsize=2)
def bed_loops(mood: str, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The two LOOP_SECONDS cycles of a built-in bed (float32, RMS about -24 dBFS together),
    played in turn: the bed repeats every 2 x LOOP_SECONDS, and each joins the other (and
    itself) without a seam. Deterministic: pure arithmetic."""
    cycles = [_cycle(mood, sample_rate, variant) for variant in (0, 1)]
    power = np.mean([np.mean(c.astype(np.float64) ** 2) for c in cycles])
    scale = np.float32(10 ** (-24 / 20) / max(float(np.sqrt(power)), 1e-9))
    for cycle in cycles:
        cycle *= scale
        cycle.setflags(write=False)
    return cycles[0], cycles[1]


def _bed_stream(mood: str, sample_rate: int) -> Iterator[np.ndarray]:
    """The two cycles in turn, for ever, in views of 1 << 16 samples (no copy of a cycle)."""
    loops = bed_loops(mood, sample_rate)
    step = 1 << 16
    while True:
        for loop in loops:
            for lo in range(0, len(loop), step):
                yield loop[lo:lo + step]


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
                                    else _bed_stream(self.music.source, self.sample_rate))
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
