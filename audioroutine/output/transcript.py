"""Transcript: every spoken line with its time, from the timeline; WebVTT and LRC sidecars.

Times are the timeline's speech events in whole milliseconds (rounded down, like chapters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..compile.timeline import Timeline
from ..core.guard import Legacy, write_file


@dataclass(frozen=True)
class Line:
    start_ms: int
    end_ms: int
    text: str
    chapter: int          # index into timeline.chapters


def lines(timeline: Timeline) -> list[Line]:
    """One line per speech event, in time order."""
    return [Line(timeline.ms(event.start), timeline.ms(event.end), event.text, chapter)
            for chapter, event in timeline.events_by_chapter() if event.kind == "speech"]


def plain_text(spoken: list[Line]) -> str:
    """The whole spoken text for USLT: one line per cue, a blank line between chapters."""
    parts: list[str] = []
    for i, line in enumerate(spoken):
        if i and line.chapter != spoken[i - 1].chapter:
            parts.append("")
        parts.append(line.text)
    return "\n".join(parts) + "\n"


def vtt_time(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def to_vtt(spoken: list[Line], chapter_titles: list[str] | None = None) -> str:
    """WebVTT: one cue per spoken line; the cue id names the chapter."""
    out = ["WEBVTT", ""]
    for n, line in enumerate(spoken, 1):
        title = chapter_titles[line.chapter] if chapter_titles else ""
        cue_id, text = (f"{n} {title}".rstrip(), line.text)
        out += [cue_id.replace("-->", "->"), f"{vtt_time(line.start_ms)} --> {vtt_time(line.end_ms)}",
                text.replace("-->", "->"), ""]
    return "\n".join(out)


def lrc_time(ms: int) -> str:
    minutes, rest = divmod(ms, 60_000)
    return f"{minutes:02d}:{rest // 1000:02d}.{rest % 1000 // 10:02d}"


def to_lrc(spoken: list[Line], title: str, artist: str, album: str, length_ms: int) -> str:
    """LRC with hundredths of a second (rounded down, so a line never shows late)."""
    minutes, rest = divmod(length_ms, 60_000)
    out = [f"[ti:{title}]", f"[ar:{artist}]", f"[al:{album}]", f"[length:{minutes:02d}:{rest // 1000:02d}]"]
    out += [f"[{lrc_time(line.start_ms)}]{line.text}" for line in spoken]
    return "\n".join(out) + "\n"


def sidecar_paths(mp3: Path) -> tuple[Path, Path]:
    return mp3.with_suffix(".vtt"), mp3.with_suffix(".lrc")


def write_sidecars(mp3: Path, timeline: Timeline, title: str, artist: str, album: str,
                   sources: Sequence[str] = (), legacy: Legacy | None = None) -> list[Path]:
    """Write `<name>.vtt` and `<name>.lrc` beside `mp3` (atomically, through the folder's
    guard, core/guard.py; untouched if unchanged). `sources`: the script, for `--prune`."""
    spoken = lines(timeline)
    vtt_path, lrc_path = sidecar_paths(mp3)
    contents = {
        vtt_path: to_vtt(spoken, [c.title for c in timeline.chapters]),
        lrc_path: to_lrc(spoken, title, artist, album, timeline.ms(timeline.total)),
    }
    for path, text in contents.items():
        write_file(path, text.encode("utf-8"), sources=sources, legacy=legacy)
    return list(contents)
