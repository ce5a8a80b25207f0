"""`audioroutine watch`: rebuild when a script or settings file is saved, or the music file one
of them names (`music:`). Plain polling of modification times (once a second), so it works
the same on every system and network drive and needs no dependency."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

import yaml

from ..core.errors import ScriptError
from ..model.inputs import expand
from ..model.music_settings import BEDS, NONE
from ..model.settings import FILE_NAME

Stamps = dict[Path, int]


def watched_files(paths: Iterable[Path], settings_file: Path | None = None) -> list[Path]:
    """The scripts `paths` name now, the other YAML files of their folders and globs (exercise
    libraries among them: an edit rebuilds the routines using the exercise), the settings file
    beside each script (whether it exists yet or not) and `settings_file`. A folder without
    scripts yet watches nothing (no error)."""
    try:
        found = expand(paths)
    except ScriptError:
        return [settings_file] if settings_file else []
    beside = {script.parent / FILE_NAME for script in found.scripts}
    files = [*found.scripts, *found.skipped, *sorted(beside), *([settings_file] if settings_file else [])]
    return files + [music for music in dict.fromkeys(music_files(files)) if music not in files]


def music_files(files: Iterable[Path]) -> list[Path]:
    """The audio files that `music:` in these scripts and settings files names (whether they
    exist yet or not): editing one rebuilds the sessions over it."""
    found = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        named = _music_named(path, stat.st_mtime_ns, stat.st_size)
        if named is not None:
            found.append(named)
    return found


@lru_cache(maxsize=256)
def _music_named(path: Path, mtime_ns: int, size: int) -> Path | None:
    """The music file `path` (a script or a settings file) names, read leniently (a file that
    does not parse names none: the build reports it); remembered while the file is unchanged."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.name == FILE_NAME else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError):
        return None
    value = data.get("music") if isinstance(data, dict) else None
    if isinstance(value, dict):
        value = value.get("source")
    if not isinstance(value, str) or value.strip().lower() in (*NONE, *BEDS) or not value.strip():
        return None
    named = Path(value.strip()).expanduser()
    return named if named.is_absolute() else path.parent / named


def stamps(files: Iterable[Path]) -> Stamps:
    """Modification time (ns) of each file that exists."""
    found: Stamps = {}
    for path in files:
        try:
            found[path] = path.stat().st_mtime_ns
        except OSError:
            continue
    return found


def watch(files: Callable[[], Iterable[Path]], rebuild: Callable[[list[Path]], None], *,
          interval: float = 1.0, stop: Callable[[], bool] = lambda: False,
          sleep: Callable[[float], None] = time.sleep) -> int:
    """`rebuild(every file)` once, then `rebuild(changed)` each time a file of `files()` is
    saved, created or removed, checking every `interval` seconds until `stop()`. Returns how
    many times it rebuilt."""
    seen = stamps(files())
    rebuild(sorted(seen))
    rebuilds = 1
    while not stop():
        sleep(interval)
        now = stamps(files())
        if now != seen:
            changed = sorted(path for path in now.keys() | seen.keys() if now.get(path) != seen.get(path))
            seen = now
            rebuild(changed)
            rebuilds += 1
    return rebuilds
