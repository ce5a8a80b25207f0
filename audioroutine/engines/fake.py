"""A deterministic engine for tests: known lengths, audible tones, and a log of calls."""

from __future__ import annotations

import math
import os
import time
import zlib
from typing import Any

from ..core.errors import EngineError
from . import Clip, EngineInfo, VoiceOptions, estimate_seconds

RATE = 22050
FAIL_ENV = "AUDIOROUTINE_FAKE_FAIL_ON"   # phrases that fail, one per line: reaches worker processes too
DELAY_ENV = "AUDIOROUTINE_FAKE_DELAY"   # seconds each phrase takes (a slow engine), in workers too
MS_PER_CHAR = 40
BASE_MS = 100


def fake_samples(text: str, rate: int = RATE, speed: float = 1.0) -> int:
    """The exact clip length FakeEngine gives `text`: 100 ms + 40 ms per character, divided
    by the speaking rate (like Piper's length scale: the engine speaks slower, no stretching)."""
    return int((BASE_MS + MS_PER_CHAR * len(text)) * rate / speed) // 1000


class FakeEngine:
    """Speaks a steady tone whose pitch depends on the text and whose length is `fake_samples`."""

    name = "fake"
    online = False
    privacy = ""
    # Every phrase synthesized in this process, in order, and the phrases that fail: the
    # class-level state among the engines, kept on purpose: tests read `calls` and set
    # `fail_on` (with monkeypatch) around a build that makes its own engine.
    calls: list[str] = []
    fail_on: frozenset[str] = frozenset()

    def __init__(self, options: VoiceOptions) -> None:
        self.options = options
        self.sample_rate = int(dict(options.extra).get("rate", RATE))

    def identity(self) -> dict[str, Any]:
        return {"engine": "fake", "rate": self.sample_rate, "speed": self.options.rate}

    @staticmethod
    def fingerprint(options: VoiceOptions) -> dict[str, Any]:
        """Nothing outside the options and this code changes the tones."""
        return {"extra": [list(pair) for pair in options.extra]}

    def estimate_seconds(self, text: str) -> float:
        # Piper's calibration, not the tones' exact length: plans look like the real engine's.
        return estimate_seconds(text, self.options.rate)

    @staticmethod
    def info() -> EngineInfo:
        return EngineInfo("fake", False, True, "tones of known length, for tests (not speech)")

    def synthesize(self, text: str) -> Clip:
        FakeEngine.calls.append(text)
        if os.environ.get(DELAY_ENV):
            time.sleep(float(os.environ[DELAY_ENV]))
        if text in FakeEngine.fail_on or text in os.environ.get(FAIL_ENV, "").split("\n"):
            raise EngineError(f"fake engine failed on '{text}' (as a test asked)")
        n = fake_samples(text, self.sample_rate, self.options.rate)
        freq = 200 + zlib.crc32(text.encode()) % 400
        step = 2 * math.pi * freq / self.sample_rate
        import numpy as np  # here: a no-op build that reads the engine's fingerprint loads no numpy

        tone = 8000 * np.sin(np.arange(n, dtype=np.float64) * step)
        return Clip(pcm=np.trunc(tone).astype("<i2").tobytes(), sample_rate=self.sample_rate)
