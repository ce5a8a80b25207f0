"""Names that become file names (routine ids, level names), checked in one place, and the
one guard that every file written stays inside the output folder."""

from __future__ import annotations

import re
from pathlib import Path

from ..core.errors import BuildError

# ASCII letters and digits, then also '-' and '_'; at most 64 characters. No '.', '/', NUL or
# space can appear, so `<id>-<level>.mp3` is always a plain file name well under 255 bytes.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
NAME_RULE = "use 1 to 64 ASCII letters, digits, '-' and '_', starting with a letter or digit"


def name_problem(value: object) -> str | None:
    """Why `value` cannot name a file, or None when it can."""
    if isinstance(value, str) and NAME.fullmatch(value):
        return None
    shown = repr(value[:70]) + "…" if isinstance(value, str) and len(value) > 70 else repr(value)
    return f"{NAME_RULE}, got {shown}"


def inside(folder: Path, name: str) -> Path:
    """`folder / name`, refusing a name that is not one plain file name (`/`, `..`). A
    symlink already at that name is refused where the file is written (core/guard.py)."""
    path = folder / name
    if Path(name).name != name or name in (".", "..") or path.parent != folder:
        raise BuildError(f"refusing to write outside {folder}: {name!r}")
    return path
