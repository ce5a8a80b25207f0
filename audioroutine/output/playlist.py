"""Playlists: the order a patient plays the sessions in, track numbers, and one M3U8 per build.

Order across a build: levels outer, scripts inner — every script's first level (in the order
the scripts were given), then every script's second level, and so on. Track numbers follow it.
A build of one script numbers its levels among all of its levels, and its playlist keeps the
sessions of its other levels built earlier (weeks released one at a time).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.guard import Legacy, write_file
from ..model.names import inside
from ..model.script import Routine


@dataclass(frozen=True)
class Track:
    routine: int          # index into the routines given
    level: str
    number: int           # 1-based, across the whole build
    total: int


def track_order(routines: Sequence[Routine], levels: Sequence[Sequence[str]]) -> list[Track]:
    """Tracks for `routines[i]` built at `levels[i]` (level ids in the routine's own order).
    One routine: a level keeps its place among all the routine's levels (week 4 of 6 is track
    4/6), so levels built one at a time (a programme released week by week) make one album."""
    if len(routines) == 1:
        every = [lv.id for lv in routines[0].levels]
        return [Track(0, level, every.index(level) + 1, len(every)) for level in every if level in levels[0]]
    slots: list[tuple[int, int, str]] = []
    for index, (routine, chosen) in enumerate(zip(routines, levels)):
        ordered = [lv.id for lv in routine.levels if lv.id in chosen]
        slots += [(position, index, level) for position, level in enumerate(ordered)]
    slots.sort(key=lambda slot: (slot[0], slot[1]))
    return [Track(index, level, n, len(slots)) for n, (_, index, level) in enumerate(slots, 1)]


@dataclass(frozen=True)
class Entry:
    path: Path
    seconds: float
    title: str
    artist: str


def playlist_path(routines: Sequence[Routine], out_dir: Path) -> Path:
    """`<routine id>.m3u8` for one script, `programme.m3u8` for several."""
    name = routines[0].id if len(routines) == 1 else "programme"
    return inside(out_dir, f"{name}.m3u8")


def to_m3u8(entries: Sequence[Entry], base: Path) -> str:
    """Extended M3U, UTF-8: whole seconds (rounded) in #EXTINF, paths relative to `base`."""
    out = ["#EXTM3U"]
    for entry in entries:
        relative = Path(os.path.relpath(entry.path, base)).as_posix()
        out += [f"#EXTINF:{round(entry.seconds)},{entry.artist} - {entry.title}", relative]
    return "\n".join(out) + "\n"


def write_playlist(path: Path, entries: Sequence[Entry], sources: Sequence[str] = (),
                   legacy: Legacy | None = None) -> None:
    """Write the playlist through the folder's guard (core/guard.py); `sources`: its scripts."""
    write_file(path, to_m3u8(entries, path.parent).encode("utf-8"), sources=sources, legacy=legacy)
