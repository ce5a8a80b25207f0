"""`audioroutine watch`: rebuild when a script or settings file is saved. Plain polling of
modification times (once a second), so it works the same on every system and network drive
and needs no dependency."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ..core.errors import ScriptError
from ..model.inputs import expand
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
    return [*found.scripts, *found.skipped, *sorted(beside), *([settings_file] if settings_file else [])]


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
