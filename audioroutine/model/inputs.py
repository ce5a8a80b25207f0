"""Which script files a command works on: files, folders (recursive) and glob patterns.

A file named on the command line is always loaded (and is an error if it is not a valid
script). In a folder or a glob match, hidden files and folders (a name starting with `.`) are
skipped. Every other YAML file is read (with the one reader's limits) and told apart by its
top-level keys: `library:` marks an exercise library, `patients:` a prescription file,
`script:`/`weeks:` a programme; these are not routines and are skipped, counted and named
(`skipped`, `kinds`). Anything else, a routine or a file that fails to load or only looks
like one (`exercices:`), is loaded, so its errors are reported: nothing is skipped in
silence. The same file reached twice (named, and again in its folder) is used once.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import ScriptError
from ..core.reader import top_keys

SUFFIXES = (".yaml", ".yml")
GLOB_CHARS = re.compile(r"[*?\[]")
PROGRAMME_SIGNS = ("script", "weeks", "plateau", "switch")
KIND_ORDER = ("library", "programme", "prescription")
PLURAL = {"library": "libraries", "programme": "programmes", "prescription": "prescriptions"}


@dataclass
class Inputs:
    scripts: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)   # YAML in a folder or glob that is not a routine
    kinds: dict[Path, str] = field(default_factory=dict)   # skipped file -> library, programme or prescription

    def skipped_summary(self) -> str | None:
        """"2 files skipped: 1 library, 1 programme", or None when none was skipped."""
        return skipped_summary([self.kinds[path] for path in self.skipped])


def skipped_summary(kinds: list[str]) -> str | None:
    if not kinds:
        return None
    counts = ", ".join(f"{n} {kind if n == 1 else PLURAL[kind]}" for kind in KIND_ORDER if (n := kinds.count(kind)))
    return f"{len(kinds)} file{'s' if len(kinds) > 1 else ''} skipped: {counts}"


def kind_of(path: Path) -> str:
    """routine, library, programme or prescription, by the file's top-level keys. A file that
    cannot be read or parsed, or that none of these describes, is a routine: loading it
    reports why it is not one."""
    keys = top_keys(path)
    if keys is None or "exercises" in keys and "library" not in keys:
        return "routine"
    if "library" in keys:
        return "library"
    if "patients" in keys:
        return "prescription"
    if any(key in keys for key in PROGRAMME_SIGNS):
        return "programme"
    return "routine"


def is_routine(path: Path) -> bool:
    """True when `path` is to be loaded as a routine script (see `kind_of`)."""
    return kind_of(path) == "routine"


def _hidden(path: Path, base: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(base).parts)


def _in_folder(folder: Path) -> list[Path]:
    """Every YAML file in `folder` and below, hidden ones aside; a pipe, socket or device
    named like one is kept too, so that loading it says what it is."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and not p.is_dir()
                  and not _hidden(p, folder))


def _matching(pattern: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(pattern, recursive=True)
                  if Path(p).suffix.lower() in SUFFIXES and not Path(p).is_dir())


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
        kinds = {p: kind_of(p) for p in candidates}
        routines = [p for p in candidates if kinds[p] == "routine"]
        others = [p for p in candidates if kinds[p] != "routine"]
        found.skipped += others
        found.kinds.update((p, kinds[p]) for p in others)
        if not routines:
            summary = skipped_summary([kinds[p] for p in others])
            raise ScriptError(f"no .yaml scripts {what}" + (f" ({summary})" if summary else ""), file=str(path))
        for routine in routines:
            add(routine)
    return found
