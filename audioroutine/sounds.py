"""Sound cues: short tones made with numpy (no audio files, no licences) that mark the start
and end of a hold and the change to a new exercise, so a listener with eyes closed knows
where they are without waiting for words.

Each sound has a fixed length in milliseconds; the timeline places it like a cue, so the
timing contract (a hold lasts exactly its seconds) does not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass

EVENTS = ("hold_start", "hold_end", "exercise")


@dataclass(frozen=True)
class Tone:
    """A sum of decaying sine partials: (frequency Hz, relative amplitude)."""

    partials: tuple[tuple[float, float], ...]
    ms: int                       # length of the cue in the timeline
    decay_ms: float               # time for the envelope to fall by 1/e
    level: float = 0.25           # peak amplitude, full scale = 1.0 (speech peaks near 1.0)


SOUNDS: dict[str, Tone] = {
    "chime": Tone(((1318.5, 1.0), (2637.0, 0.25)), ms=300, decay_ms=70),          # E6, bright and short
    "bell": Tone(((880.0, 1.0), (2217.5, 0.35), (3520.0, 0.15)), ms=450, decay_ms=110),   # A5 with bell partials
    "gong": Tone(((392.0, 1.0), (587.3, 0.5), (784.0, 0.3)), ms=700, decay_ms=180),  # G4 chord, lower and longer
}
DEFAULTS = {"hold_start": "chime", "hold_end": "bell", "exercise": "gong"}
ATTACK_MS = 4


@dataclass(frozen=True)
class SoundSettings:
    """Which sound (by name) plays for each event; None plays nothing. Off by default."""

    hold_start: str | None = None
    hold_end: str | None = None
    exercise: str | None = None

    @classmethod
    def all_defaults(cls) -> SoundSettings:
        return cls(**DEFAULTS)

    def as_dict(self) -> dict[str, str | None]:
        return {event: getattr(self, event) for event in EVENTS}


def sound_ms(name: str) -> int:
    return SOUNDS[name].ms


def synthesize(name: str, sample_rate: int, samples: int) -> bytes:
    """`samples` of sound `name` as int16 mono PCM: a short linear attack, an exponential
    decay, and a fade to exact zero at the end so nothing clicks."""
    import numpy as np  # only when rendering: loading a script imports no numpy

    tone = SOUNDS[name]
    t = np.arange(samples) / sample_rate
    wave: np.ndarray = np.zeros(samples)
    for freq, amp in tone.partials:
        wave = wave + amp * np.sin(2 * np.pi * freq * t)
    wave = wave / sum(amp for _, amp in tone.partials)
    envelope = np.exp(-t * 1000 / tone.decay_ms)
    attack = max(1, sample_rate * ATTACK_MS // 1000)
    envelope[:attack] *= np.arange(min(attack, samples)) / attack
    tail = min(samples, max(1, samples // 5))
    envelope[samples - tail:] *= np.linspace(1.0, 0.0, tail)
    pcm = np.round(wave * envelope * tone.level * 32767)
    return pcm.astype("<i2").tobytes()
