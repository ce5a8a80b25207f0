"""Which script files a command works on: files, folders (recursive) and glob patterns.

A file named on the command line is always loaded (and is an error if it is not a valid
script). In a folder or a glob match, hidden files and folders (a name starting with `.`) are
skipped, and so is a YAML file that is not a routine: a routine has a top-level `exercises:`
key, which programme and prescription files (audioroutine/prescribe/) do not have, and no
top-level `library:` key, which marks an exercise library (docs/script-format.md). The same
file reached twice (named, and again in its folder) is used once.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import ScriptError

SUFFIXES = (".yaml", ".yml")
GLOB_CHARS = re.compile(r"[*?\[]")
# A top-level key in block style, quoted or not: what every routine script has.
ROUTINE_KEY = re.compile(rb"^[\"']?exercises[\"']?[ \t]*:", re.MULTILINE)
LIBRARY_KEY = re.compile(rb"^[\"']?library[\"']?[ \t]*:", re.MULTILINE)
SNIFF_BYTES = 1 << 20   # enough to find the key; a larger file is left to the loader


@dataclass
class Inputs:
    scripts: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)   # YAML in a folder or glob that is not a routine


def is_routine(path: Path) -> bool:
    """True when `path` looks like a routine script: a line starting with `exercises:` and
    none starting with `library:` (an exercise library). An unreadable file counts as one,
    so that loading it reports why."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return True
    return bool(ROUTINE_KEY.search(head)) and not LIBRARY_KEY.search(head)


def _hidden(path: Path, base: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(base).parts)


def _in_folder(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()
                  and not _hidden(p, folder))


def _matching(pattern: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(pattern, recursive=True)
                  if Path(p).suffix.lower() in SUFFIXES and Path(p).is_file())


def expand(paths: Iterable[Path]) -> Inputs:
    """The script files `paths` name, in order (a folder's and a pattern's sorted), each once.
    A folder or pattern without any script is a ScriptError."""
    found = Inputs()
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.scripts.append(path)

    for path in paths:
        if path.is_dir():
            candidates, what = _in_folder(path), "in this folder"
        elif not path.exists() and GLOB_CHARS.search(str(path)):
            candidates, what = _matching(str(path)), "matching this pattern"
        else:
            add(path)
            continue
        routines = [p for p in candidates if is_routine(p)]
        found.skipped += [p for p in candidates if p not in routines]
        if not routines:
            others = f" ({len(candidates)} YAML file(s) without a top-level 'exercises:')" if candidates else ""
            raise ScriptError(f"no .yaml scripts {what}{others}", file=str(path))
        for routine in routines:
            add(routine)
    return found
