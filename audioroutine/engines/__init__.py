"""Speech engines: load once, then turn text into 16-bit mono PCM.

Each engine lives in its own module and is imported only when asked for, so a missing
optional dependency costs nothing until it is used, and then names its install command.
Other packages add engines through the `audioroutine.engines` entry point group.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..core.errors import EngineError
from ..core.files import StrPath


@dataclass(frozen=True)
class Clip:
    """Synthesized speech: little-endian int16 mono PCM at `sample_rate`."""

    pcm: bytes
    sample_rate: int
    digest: bytes | None = field(default=None, compare=False, repr=False)   # sha256 of pcm, when known

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


# An upper bound, measured on the bundled Piper voice (trimmed clips, digits read as words):
# every phrase of the seed routine at rates 0.95 and 1.0 is at most 0.96 of this estimate,
# so a fit check on estimated lengths does not pass what the measured lengths then refuse.
# Engines without a calibration of their own use it (see `estimate_seconds`).
EST_BASE_S = 0.4
EST_PER_CHAR_S = 0.066


def estimate_seconds(text: str, rate: float = 1.0,
                     base_s: float = EST_BASE_S, per_char_s: float = EST_PER_CHAR_S) -> float:
    """A spoken length on the long side: edges plus a time per character (numbers counted as
    the words they are read as, "10" as "ten"), divided by the speaking rate."""
    spoken = re.sub(r"\d+", lambda m: "x" * _number_chars(m.group()), text)
    return (base_s + per_char_s * len(spoken)) / rate


@functools.cache
def _small_number_chars(n: int) -> int:
    from num2words import num2words

    return len(str(num2words(n)))


def _number_chars(digits: str) -> int:
    """Letters of a number as read in English: exact up to 99, else 9 per digit (an upper
    bound: "one thousand two hundred thirty-four" is 35 letters for 4 digits)."""
    return _small_number_chars(int(digits)) if len(digits) <= 2 else 9 * len(digits)


@runtime_checkable
class Engine(Protocol):
    """The interface every engine implements (built in or from another package).

    An engine class is constructed with the routine's `VoiceOptions` and must not load its
    model or touch the network until asked for audio. It keeps no state outside the instance,
    so two engines with different options can be used side by side."""

    name: str
    online: bool                  # True when text leaves the machine
    privacy: str                  # where the text goes when `online` ("" when offline): shown before a build
    options: VoiceOptions

    def __init__(self, options: VoiceOptions) -> None: ...

    @property
    def sample_rate(self) -> int:
        """The rate of the clips `synthesize` returns (may load the model)."""

    def identity(self) -> dict[str, Any]:
        """Everything that changes the audio (engine, voice, settings), for the cache key."""

    def synthesize(self, text: str) -> Clip:
        """Speak `text`; the same text and identity must give the same samples."""

    def estimate_seconds(self, text: str) -> float:
        """How long `text` will roughly last, without synthesizing it (for `plan`)."""

    @staticmethod
    def info() -> EngineInfo:
        """Status, voices and languages, found without loading a model or using the network."""

    # Optional: `fingerprint(options) -> dict` (a static method), found without loading the
    # engine or its library: everything besides `options` that `identity()` depends on
    # (package versions, model files: `package_versions`, `file_stamp`). With it, a rebuild
    # that would change nothing is answered before any engine is loaded (manifest.py); an
    # engine without it is always checked the slower way.


ENTRY_POINT_GROUP = "audioroutine.engines"

BUILTIN: dict[str, tuple[str, str]] = {
    # name: (module, class), the default first. Also declared as entry points in
    # pyproject.toml; this table keeps them working from a source tree or an install made
    # before an engine was added (see docs/architecture.md, "Adding an engine").
    "piper": ("audioroutine.engines.piper", "PiperEngine"),
    "espeak": ("audioroutine.engines.espeak", "EspeakEngine"),
    "gtts": ("audioroutine.engines.gtts", "GTTSEngine"),
    "fake": ("audioroutine.engines.fake", "FakeEngine"),
}
ENGINES = BUILTIN   # the former name


def _entry_points() -> dict[str, EntryPoint]:
    """Engines other packages declare (group `audioroutine.engines`); a built-in name is
    never taken over. Read on each call: installing a package needs no restart of a library user."""
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in BUILTIN:
            found.setdefault(point.name, point)
    return found


def engine_names() -> list[str]:
    """Every engine that can be asked for: built-in and installed third-party ones, sorted."""
    return sorted({*BUILTIN, *_entry_points()})


def registry_order() -> list[str]:
    """Engine names in the order `voices` lists them: built-in ones (the default first), then others."""
    return [*BUILTIN, *sorted(_entry_points())]


def engine_class(name: str) -> type[Engine]:
    """The class of engine `name`; importing it imports no engine library yet."""
    if name in BUILTIN:
        module_name, class_name = BUILTIN[name]
        cls: type[Engine] = getattr(importlib.import_module(module_name), class_name)
        return cls
    point = _entry_points().get(name)
    if point is None:
        raise EngineError(f"unknown engine '{name}': choose one of {', '.join(engine_names())}")
    try:
        loaded = point.load()
    except Exception as err:   # a broken third-party package: say which one
        raise EngineError(f"engine '{name}' ({point.value}) could not be loaded: {err}") from None
    if not isinstance(loaded, type) or not all(hasattr(loaded, member) for member in _MEMBERS):
        raise EngineError(f"engine '{name}' ({point.value}) is not an engine class: "
                          f"it needs {', '.join(_MEMBERS)} (see docs/architecture.md)")
    third_party: type[Engine] = loaded
    return third_party


_MEMBERS = ("name", "online", "privacy", "identity", "synthesize", "estimate_seconds", "info")


def get_engine(name: str, options: VoiceOptions | None = None) -> Engine:
    """Create engine `name`; it loads its model lazily on the first phrase."""
    return engine_class(name)(options or VoiceOptions())


def engine_info(name: str) -> EngineInfo:
    return engine_class(name).info()


def package_versions(*names: str) -> dict[str, str | None]:
    """The installed version of each distribution (None: not installed), read from its
    metadata without importing it: for an engine's `fingerprint`."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def file_stamp(path: StrPath) -> list[object]:
    """A file's resolved path, size and modification time in ns (raises OSError if it is
    missing): for an engine's `fingerprint`, a model file that changes changes it."""
    resolved = Path(path).resolve()
    info = resolved.stat()
    return [str(resolved), info.st_size, info.st_mtime_ns]


def installed(*modules: str) -> bool:
    """True when every module can be imported (checked without importing it)."""
    return all(importlib.util.find_spec(module) is not None for module in modules)
