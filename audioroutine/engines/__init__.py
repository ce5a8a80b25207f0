"""Speech engines: load once, then turn text into 16-bit mono PCM.

Each engine lives in its own module and is imported only when asked for, so a missing
optional dependency costs nothing until it is used, and then names its install command.
"""

from __future__ import annotations

import importlib
import importlib.util
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


@dataclass(frozen=True)
class EngineInfo:
    """What `audioroutine voices` shows about an engine, found without using the network."""

    name: str
    online: bool
    installed: bool
    summary: str                   # voices and languages in one line
    voices: tuple[str, ...] = ()   # every voice or language, for `voices --engine NAME`
    install_hint: str = ""         # the command that installs it


class Engine(Protocol):
    """The interface every engine implements."""

    name: str
    online: bool                  # True when text leaves the machine; then `privacy` says where to

    def identity(self) -> dict[str, Any]:
        """Everything that changes the audio (engine, voice, settings), for the cache key."""

    def synthesize(self, text: str) -> Clip:
        """Speak `text`; the same text and identity must give the same samples."""

    @staticmethod
    def info() -> EngineInfo:
        """Status, voices and languages, found without loading a model or using the network."""


ENGINES: dict[str, tuple[str, str]] = {
    # name: (module, class)
    "piper": ("audioroutine.engines.piper", "PiperEngine"),
    "espeak": ("audioroutine.engines.espeak", "EspeakEngine"),
    "gtts": ("audioroutine.engines.gtts", "GTTSEngine"),
    "fake": ("audioroutine.engines.fake", "FakeEngine"),
}


def engine_names() -> list[str]:
    return sorted(ENGINES)


def engine_class(name: str) -> Any:
    """The class of engine `name`; importing it imports no engine library yet."""
    try:
        module_name, class_name = ENGINES[name]
    except KeyError:
        raise EngineError(
            f"unknown engine '{name}': choose one of {', '.join(engine_names())}"
        ) from None
    return getattr(importlib.import_module(module_name), class_name)


def get_engine(name: str, options: VoiceOptions | None = None) -> Engine:
    """Create engine `name`; it loads its model lazily on the first phrase."""
    return engine_class(name)(options or VoiceOptions())  # type: ignore[no-any-return]


def engine_info(name: str) -> EngineInfo:
    return engine_class(name).info()  # type: ignore[no-any-return]


def installed(*modules: str) -> bool:
    """True when every module can be imported (checked without importing it)."""
    return all(importlib.util.find_spec(module) is not None for module in modules)
