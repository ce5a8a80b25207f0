"""Tags: ID3 (v2.3 by default) with chapters that match the timeline, written with mutagen."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mutagen.id3 import (
    CHAP, COMM, CTOC, ID3, TALB, TCON, TDRC, TIT2, TLAN, TPE1, TPE2, TRCK, TXXX, CTOCFlags,
    ID3NoHeaderError,
)
from mutagen.id3._tags import save_frame

PROVENANCE = "audioroutine"   # TXXX description holding build provenance as JSON


@dataclass(frozen=True)
class ChapterTag:
    title: str
    start_ms: int
    end_ms: int


@dataclass
class SessionTags:
    title: str
    artist: str
    album: str
    track: int
    track_total: int
    genre: str = "Fitness"
    year: str | None = None
    comment: str = ""
    language: str = "eng"
    chapters: list[ChapterTag] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)


class _ChapterOrderedID3(ID3):
    """mutagen orders frames by size, which scrambles CHAP frames; players (and ffprobe)
    number chapters in file order, so write them last, in time order."""

    def _write(self, config: Any) -> bytes:
        chapters = sorted(self.getall("CHAP"), key=lambda frame: frame.start_time)
        self.delall("CHAP")
        try:
            head = super()._write(config)
            return bytes(head) + b"".join(save_frame(frame, config=config) for frame in chapters)
        finally:
            for frame in chapters:
                self.add(frame)


def write_tags(path: Path, tags: SessionTags, v2_version: int = 3) -> None:
    id3 = _ChapterOrderedID3()
    enc = 1 if v2_version == 3 else 3   # UTF-16 for v2.3 readers, UTF-8 for v2.4
    id3.add(TIT2(encoding=enc, text=tags.title))
    id3.add(TPE1(encoding=enc, text=tags.artist))
    id3.add(TPE2(encoding=enc, text=tags.artist))
    id3.add(TALB(encoding=enc, text=tags.album))
    id3.add(TRCK(encoding=enc, text=f"{tags.track}/{tags.track_total}"))
    id3.add(TCON(encoding=enc, text=tags.genre))
    id3.add(TLAN(encoding=enc, text=tags.language))
    if tags.year:
        id3.add(TDRC(encoding=enc, text=tags.year))
    if tags.comment:
        id3.add(COMM(encoding=enc, lang=tags.language, desc="", text=tags.comment))
    ids = [f"ch{i:03d}" for i in range(len(tags.chapters))]
    if ids:
        id3.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                     child_element_ids=ids, sub_frames=[TIT2(encoding=enc, text="Chapters")]))
    for element_id, chapter in zip(ids, tags.chapters):
        id3.add(CHAP(element_id=element_id, start_time=chapter.start_ms, end_time=chapter.end_ms,
                     start_offset=0xFFFFFFFF, end_offset=0xFFFFFFFF,
                     sub_frames=[TIT2(encoding=enc, text=chapter.title)]))
    if tags.provenance:
        id3.add(TXXX(encoding=enc, desc=PROVENANCE,
                     text=json.dumps(tags.provenance, sort_keys=True, separators=(",", ":"))))
    id3.save(str(path), v2_version=v2_version, padding=lambda info: 0)


def read_tags(path: Path) -> dict[str, Any]:
    """Tags as plain data (for `inspect`, tests and up-to-date checks)."""
    try:
        id3 = ID3(str(path))
    except ID3NoHeaderError:
        return {}

    def text(frame_id: str) -> str | None:
        frame = id3.get(frame_id)
        return str(frame.text[0]) if frame else None

    comments = id3.getall("COMM")
    provenance = id3.get(f"TXXX:{PROVENANCE}")
    chapters = sorted(id3.getall("CHAP"), key=lambda f: f.start_time)
    return {
        "version": f"2.{id3.version[1]}",
        "title": text("TIT2"),
        "artist": text("TPE1"),
        "album_artist": text("TPE2"),
        "album": text("TALB"),
        "track": text("TRCK"),
        "genre": text("TCON"),
        "year": text("TDRC"),
        "language": text("TLAN"),
        "comment": str(comments[0].text[0]) if comments else None,
        "chapters": [
            {"id": c.element_id, "title": str(c.sub_frames["TIT2"].text[0]) if "TIT2" in c.sub_frames else "",
             "start_ms": c.start_time, "end_ms": c.end_time}
            for c in chapters
        ],
        "provenance": json.loads(str(provenance.text[0])) if provenance else None,
    }
