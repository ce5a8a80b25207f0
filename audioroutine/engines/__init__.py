"""Speech engines: load once, then turn text into 16-bit mono PCM.

Each engine lives in its own module and is imported only when asked for, so a missing
optional dependency costs nothing until it is used, and then names its install command.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import EngineError


@dataclass(frozen=True)
class Clip:
    """Synthesized speech: little-endian int16 mono PCM at `sample_rate`."""

    pcm: bytes
    sample_rate: int

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2


@dataclass(frozen=True)
class VoiceOptions:
    """What a routine (or the command line) asks of an engine."""

    voice: str | None = None      # engine-specific voice name or model path
    language: str = "en"
    rate: float = 1.0             # speaking rate: 1.0 normal, 0.8 slower, 1.2 faster
    extra: tuple[tuple[str, Any], ...] = field(default_factory=tuple)


class Engine(Protocol):
    """The interface every engine implements."""

    name: str
    online: bool                  # True when text leaves the machine

    def identity(self) -> dict[str, Any]:
        """Everything that changes the audio (engine, voice, settings), for the cache key."""

    def synthesize(self, text: str) -> Clip:
        """Speak `text`; the same text and identity must give the same samples."""


ENGINES: dict[str, tuple[str, str]] = {
    # name: (module, class)
    "piper": ("audioroutine.engines.piper", "PiperEngine"),
    "fake": ("audioroutine.engines.fake", "FakeEngine"),
}


def engine_names() -> list[str]:
    return sorted(ENGINES)


def get_engine(name: str, options: VoiceOptions | None = None) -> Engine:
    """Create engine `name`; it loads its model lazily on the first phrase."""
    try:
        module_name, class_name = ENGINES[name]
    except KeyError:
        raise EngineError(
            f"unknown engine '{name}': choose one of {', '.join(engine_names())}"
        ) from None
    module = importlib.import_module(module_name)
    return getattr(module, class_name)(options or VoiceOptions())


def identity_hash(identity: dict[str, Any]) -> str:
    """A short stable hash of an engine identity."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
