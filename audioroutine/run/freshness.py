"""What a session's files depend on: one definition, used by the build manifest's fast path
(manifest.py, before any audio library or engine is loaded) and by the provenance every MP3
carries (tagging.py, compared with the file's own by `is_up_to_date`).

`OPTIONS` says, for every `BuildOptions` field, whether it changes the bytes a build writes
and, if it changes the MP3's, which provenance entry carries it; importing this module fails
when a field is missing from it, so an option cannot be added to one check and not the other.
`session_inputs` names every input of one session (script text, library exercises, settings,
cover, the byte-changing options, engine, package and dependencies, track, year); the
manifest records them and `changes` says which ones differ (`build --explain`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..engines import VoiceOptions, engine_class
from ..model.script import Routine
from ..model.settings import Settings
from .options import BuildOptions, bitrate, chosen_levels, engine_name, music_for, voice_name, year_tag

if TYPE_CHECKING:
    from ..output.tags import Provenance

PACKAGE = Path(__file__).resolve().parent.parent   # the audioroutine package
FFMPEG_ENV = "AUDIOROUTINE_FFMPEG"


@dataclass(frozen=True)
class Option:
    """What one BuildOptions field does to the files a build writes. `provenance`: the entry
    of the MP3's provenance tag that changes with it (None: it does not change the MP3)."""

    changes_bytes: bool
    provenance: str | None
    why: str


OPTIONS: dict[str, Option] = {
    "out_dir": Option(False, None, "where the files go, not what they hold"),
    "cache_dir": Option(False, None, "where phrases are cached: every cache gives the same bytes"),
    "force": Option(False, None, "rewrites files, with the same bytes"),
    "levels": Option(True, "tags", "which sessions, so their track numbers (tags)"),
    "engine": Option(True, "engine", "the engine's identity"),
    "voice": Option(True, "engine", "the engine's identity"),
    "bitrate": Option(True, "bitrate", "the MP3's bitrate"),
    "sample_rate": Option(True, "sample_rate", "the session's sample rate"),
    "id3_version": Option(True, "id3", "the ID3 version of the tags"),
    "settings": Option(True, "tags", "tags, cover and spoken lines (their values are a part of their own)"),
    "sidecars": Option(True, None, "whether the .vtt and .lrc are written (not the MP3)"),
    "album": Option(True, "tags", "the album tag"),
    "album_artist": Option(True, "tags", "the album artist tag"),
    "music": Option(True, "music", "the bed under every session (a file by its sha256; absent without a bed)"),
}


def _check_options() -> None:
    names = {f.name for f in fields(BuildOptions)}
    if names != set(OPTIONS):   # a new option must say what it changes: here, once, for both checks
        raise ImportError(f"freshness.OPTIONS does not classify BuildOptions fields {sorted(names ^ set(OPTIONS))}")


_check_options()


# The parts of a session's inputs, in the order `changes` reports them, with what to call each.
LABELS: dict[str, str] = {
    "script": "script text",
    "library": "a library exercise",
    "settings": "settings",
    "cover": "cover",
    "options": "options",
    "engine": "engine or voice",
    "package": "audioroutine version or code",
    "dependencies": "Python or a dependency's version",
    "ffmpeg": f"${FFMPEG_ENV}",
    "music": "music bed or file",
    "track": "track number (the sessions built together)",
    "album": "the album tags (the batch's first script and its settings)",
    "year": "year (SOURCE_DATE_EPOCH)",
}


@dataclass(frozen=True)
class Inputs:
    """One session's inputs, each part digested; `key` is their digest."""

    parts: dict[str, Any]

    @property
    def key(self) -> str:
        return digest(self.parts)


class Environment:
    """What every session of a build depends on beyond its own inputs, computed once per build:
    this package's version and files (a source edit counts), Python, the versions of the
    package's dependencies, the ffmpeg asked for. Raises PackageNotFoundError when the
    package's metadata is missing."""

    def __init__(self) -> None:
        code = sorted([str(path.relative_to(PACKAGE)), *_file_info(path)] for path in PACKAGE.rglob("*")
                      if path.is_file() and "__pycache__" not in path.parts)
        self.package = digest([__version__, digest(code)])
        self.dependencies = digest([sys.version, dependencies()])
        self.ffmpeg = digest(os.environ.get(FFMPEG_ENV))
        self._settings: dict[int, tuple[str, str]] = {}
        self._scripts: dict[str, str | None] = {}

    def settings(self, found: Settings) -> tuple[str, str]:
        """(every settings value, the cover image's bytes), digested; read once per build."""
        if id(found) not in self._settings:
            values = {f.name: str(getattr(found, f.name)) for f in fields(found) if f.name != "lines"}
            cover = hashlib.sha256(found.cover.read_bytes()).hexdigest() if found.cover else None
            self._settings[id(found)] = (digest(values), digest(cover))
        return self._settings[id(found)]

    def script(self, routine: Routine) -> str | None:
        """The script file's own text, digested (the routine's sha256 also covers the library
        exercises it uses); None for a routine parsed from a string."""
        if routine.path not in self._scripts:
            try:
                self._scripts[routine.path] = hashlib.sha256(Path(routine.path).read_bytes()).hexdigest()
            except (OSError, ValueError):
                self._scripts[routine.path] = None
        return self._scripts[routine.path]


def session_inputs(environment: Environment, routine: Routine, options: BuildOptions, level: str,
                   track: tuple[int, int], album: Any) -> Inputs | None:
    """Every input of one session's files (see the module docstring), named; None when the
    engine's identity cannot be known without loading it (no `fingerprint`). `options` has
    its settings decided (BuildOptions.for_script); `album` is the batch's album source."""
    engine = engine_fingerprint(routine, options)
    if engine is None:
        return None
    settings, cover = environment.settings(options.settings)
    chosen = {"levels": list(chosen_levels(routine, options)), "settings": None}
    values = {name: chosen.get(name, getattr(options, name)) for name, option in OPTIONS.items()
              if option.changes_bytes and name not in ("settings", "music")}
    parts: dict[str, Any] = {
        "script": environment.script(routine), "library": routine.sha256,
        "settings": settings, "cover": cover,
        "options": {name: digest(value) for name, value in values.items()},
        "engine": digest(engine),
        "package": environment.package, "dependencies": environment.dependencies, "ffmpeg": environment.ffmpeg,
        "track": digest([level, *track]), "album": digest(album), "year": digest(year_tag()),
    }
    music = music_for(routine, options)
    if music is not None:     # the bed that --music, the script or the settings chose; a file by its content
        parts["music"] = digest(music.identity())
    return Inputs(parts)


def album_source(routines: list[Routine], options: list[BuildOptions], environment: Environment) -> Any:
    """What the album tags of a batch of several scripts come from: its first script and its
    settings and options (None for one script)."""
    if len(routines) < 2:
        return None
    first = options[0]
    return [routines[0].sha256, environment.settings(first.settings), first.album, first.album_artist]


def changes(recorded: dict[str, Any], now: Inputs) -> list[str]:
    """What differs between the inputs a manifest recorded and `now`, in words, in LABELS'
    order: a changed option by name ("options (bitrate)"); a library exercise only when the
    script's own text is the same."""
    found = []
    for part, label in LABELS.items():
        before, after = recorded.get(part), now.parts.get(part)
        if before == after or (part == "library" and recorded.get("script") != now.parts.get("script")):
            continue
        if part == "options" and isinstance(before, dict) and isinstance(after, dict):
            names = sorted(name for name in {*before, *after} if before.get(name) != after.get(name))
            label = f"options ({', '.join(name.replace('_', '-') for name in names)})"
        found.append(label)
    return found


def engine_fingerprint(routine: Routine, options: BuildOptions) -> list[Any] | None:
    """The engine, the voice asked for and the engine's fingerprint; None when the engine
    has no fingerprint (its identity needs the engine loaded)."""
    name = engine_name(routine, options)
    fingerprint: Callable[[VoiceOptions], Any] | None = getattr(engine_class(name), "fingerprint", None)
    if fingerprint is None:
        return None
    voice = voice_name(routine, options)
    return [name, voice, fingerprint(VoiceOptions(voice=voice, language=routine.language))]


def provenance(routine: Routine, level: str, options: BuildOptions, engine_identity: dict[str, Any],
               timeline: str, samples: int, sample_rate: int, tags: str, trim: list[float]) -> Provenance:
    """The provenance an MP3 made from these inputs carries (TXXX:audioroutine): a rebuild
    rewrites a file only when its own differs. Every option that changes an MP3's bytes
    (OPTIONS) changes one of its entries: `tags` is the digest of every tag written."""
    made: Provenance = {
        "tool": f"audioroutine {__version__}",
        "script_sha256": routine.sha256,
        "level": level,
        "engine": engine_identity,
        "trim": trim,
        "timeline": timeline,
        "samples": samples,
        "sample_rate": sample_rate,
        "bitrate": bitrate(options),
        "loudness": [routine.loudness.target, routine.loudness.true_peak, routine.loudness.enabled],
        "id3": options.id3_version,
        "tags": tags,
    }
    music = music_for(routine, options)
    if music is not None:     # only with a bed: a session without one keeps its provenance
        made["music"] = music.identity()
    return made


PROVENANCE_ENTRIES = {option.provenance for option in OPTIONS.values() if option.provenance}


def is_up_to_date(path: Path, made: Provenance | None) -> bool:
    """Whether the MP3 at `path` carries the provenance `made` (a file that cannot be read is
    not up to date)."""
    if not path.exists():
        return False
    from ..output.tags import read_provenance  # mutagen: only once a session is checked

    try:
        return bool(read_provenance(path) == json.loads(json.dumps(made)))
    except Exception:   # unreadable file: rebuild it
        return False


def digest(blob: object) -> str:
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def _file_info(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


def dependencies() -> dict[str, str | None]:
    """The installed version of every runtime dependency of audioroutine."""
    found: dict[str, str | None] = {}
    for requirement in requires("audioroutine") or []:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        if name and "extra ==" not in requirement:
            try:
                found[name.group()] = version(name.group())
            except PackageNotFoundError:
                found[name.group()] = None
    return found
