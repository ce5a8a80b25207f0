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
