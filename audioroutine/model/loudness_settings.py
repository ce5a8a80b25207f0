"""What a script asks of the session's loudness: plain data, no numpy, so that loading a
script imports no audio library. `loudness.py` does the work."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TARGET = -16.0        # LUFS integrated: the usual level for spoken word on phones
DEFAULT_TRUE_PEAK = -1.0      # dBTP ceiling


@dataclass(frozen=True)
class LoudnessSettings:
    """What a routine asks for: `enabled: false` leaves the voice at the engine's own level
    (and its samples untouched: no phase rotation, no gain)."""

    target: float = DEFAULT_TARGET
    true_peak: float = DEFAULT_TRUE_PEAK
    enabled: bool = True


DEFAULT_LOUDNESS = LoudnessSettings()
