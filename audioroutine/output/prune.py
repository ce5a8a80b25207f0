"""`build --prune`: remove what earlier builds wrote for routines or levels the inputs no
longer have. Only audioroutine's own files are touched: an MP3 whose tags carry
audioroutine's provenance, the .vtt and .lrc of the same name beside it, and a playlist
(M3U8) whose every entry is such an MP3 being removed. Only the top level of the
output folder is looked at; anything else is never deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .tags import read_tags
from .transcript import sidecar_paths


def ours(mp3: Path) -> bool:
    """True when `mp3` carries audioroutine's build provenance."""
    try:
        provenance = read_tags(mp3).get("provenance")
    except Exception:   # not an MP3 mutagen can read: not ours
        return False
    return isinstance(provenance, dict) and str(provenance.get("tool", "")).startswith("audioroutine ")


def stale_outputs(out_dir: Path, keep: Iterable[Path]) -> list[Path]:
    """The files to remove from `out_dir`: every MP3 of ours not in `keep` (the sessions
    the inputs make, and the playlist), its sidecars, and playlists that list only those."""
    kept = {path.resolve() for path in keep}
    if not out_dir.is_dir():
        return []
    mp3s = sorted(p for p in out_dir.iterdir() if p.suffix.lower() == ".mp3" and p.is_file()
                  and p.resolve() not in kept and ours(p))
    stale = [*mp3s]
    for mp3 in mp3s:
        stale += [sidecar for sidecar in sidecar_paths(mp3) if sidecar.is_file()]
    gone = {p.resolve() for p in mp3s}
    for playlist in sorted(out_dir.glob("*.m3u8")):
        if playlist.resolve() not in kept and _lists_only(playlist, gone):
            stale.append(playlist)
    return stale


def _lists_only(playlist: Path, gone: set[Path]) -> bool:
    """True for a playlist in our format whose entries are all MP3s being removed."""
    try:
        lines = playlist.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    entries = [line for line in lines[1:] if line and not line.startswith("#")]
    if not lines or lines[0] != "#EXTM3U" or not entries:
        return False
    targets = [(playlist.parent / entry).resolve() for entry in entries]
    return all(target in gone for target in targets)


def prune(paths: Iterable[Path]) -> list[Path]:
    """Remove `paths` (what `stale_outputs` found); returns those removed."""
    removed = []
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed
