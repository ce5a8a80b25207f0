"""Which files in an output folder are audioroutine's, and which of them `--prune` removes.

The record the guard keeps in the folder (`core/guard.py`, `.audioroutine-files.json`) is
the proof: `--prune` removes a file only when the record lists it, unchanged since it was
written, at the top level of the folder, with the script(s) it was made from (`sources`),
when it is not an output of the inputs now given (any level of any of their scripts, and
their playlist), and when each of its scripts is either among the inputs (a routine or
level they no longer have) or gone from disk; a playlist, only when every MP3 it lists is
removed too or gone. The outputs of scripts that still exist but
were not given (another build's) are kept, so builds of different routines into one folder
never prune each other. A user's own files (a playlist, an MP3 copied in under another
name, any file edited since) are never listed: they are not in the record, or not as they
are now.

Files written before the record existed are never pruned. They may be *overwritten* when
`legacy_ours` says audioroutine wrote them: an MP3 whose tags carry audioroutine's
provenance, a `.vtt`/`.lrc` beside such an MP3, and a playlist whose every entry is such
an MP3. Once overwritten (or found up to date) they are recorded like any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..core.guard import Guard
from .tags import read_provenance


def has_provenance(mp3: Path) -> bool:
    """True when `mp3` carries audioroutine's build provenance."""
    try:
        provenance = read_provenance(mp3)
    except Exception:   # not an MP3 mutagen can read: not ours
        return False
    return isinstance(provenance, dict) and str(provenance.get("tool", "")).startswith("audioroutine ")


def legacy_ours(path: Path) -> bool:
    """A file at one of a build's names, unrecorded, that an earlier version wrote (see the
    module docstring): it may be overwritten."""
    suffix = path.suffix.lower()
    if suffix == ".mp3":
        return has_provenance(path)
    if suffix in (".vtt", ".lrc"):
        return has_provenance(path.with_suffix(".mp3"))
    if suffix == ".m3u8":
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return False
        entries = [line for line in lines[1:] if line and not line.startswith("#")]
        return bool(lines) and lines[0] == "#EXTM3U" and all(
            "/" not in entry and entry.lower().endswith(".mp3") and has_provenance(path.parent / entry)
            for entry in entries)
    return False


def _lists_only(playlist: Path, gone: set[Path]) -> bool:
    """True for a playlist whose every entry is an MP3 being removed or already absent (a
    playlist of routines still here is kept, whichever build wrote it)."""
    try:
        lines = playlist.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    entries = [playlist.parent / line for line in lines[1:] if line and not line.startswith("#")]
    return all(entry in gone or not entry.exists() for entry in entries)


def source_of(script: str | None) -> list[str]:
    """The script a routine was loaded from, as recorded for `--prune` (none for a routine
    made in code)."""
    if not script:
        return []
    path = Path(script)
    return [str(path.resolve())] if path.is_file() else []


def stale_outputs(guard: Guard, inputs: Iterable[str], keep: Iterable[Path]) -> list[Path]:
    """The files `--prune` removes from `guard`'s folder (see the module docstring), in
    order: MP3s first, then their transcripts, then playlists."""
    given = set(inputs)
    kept = {Path(path).absolute() for path in keep}
    found = []
    for path, entry in guard.recorded():
        sources = entry.get("sources") or []
        if path.parent != guard.root or path.absolute() in kept or not sources:
            continue
        if all(source in given or not Path(source).is_file() for source in sources) and guard.ours(path):
            found.append(path)
    gone = {path for path in found if path.suffix.lower() == ".mp3"}
    found = [path for path in found if path.suffix.lower() != ".m3u8" or _lists_only(path, gone)]
    order = {".mp3": (0, 0), ".vtt": (1, 0), ".lrc": (1, 1), ".m3u8": (2, 0)}

    def key(path: Path) -> tuple[int, str, int]:
        group, within = order.get(path.suffix.lower(), (3, 0))
        return group, path.stem, within
    return sorted(found, key=key)
