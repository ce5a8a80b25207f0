"""Tags: ID3 (v2.3 by default) with chapters that match the timeline, written with mutagen."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from mutagen.id3 import (
    APIC,
    CHAP,
    COMM,
    CTOC,
    ID3,
    SYLT,
    TALB,
    TCON,
    TCOP,
    TDRC,
    TIT2,
    TIT3,
    TLAN,
    TPE1,
    TPE2,
    TPOS,
    TPUB,
    TRCK,
    TXXX,
    TYER,
    USLT,
    CTOCFlags,
    Encoding,
    Frames,
    ID3NoHeaderError,
    PictureType,
)
from mutagen.id3._tags import save_frame

PROVENANCE = "audioroutine"   # TXXX description holding build provenance as JSON


@dataclass(frozen=True)
class ChapterTag:
    title: str
    start_ms: int
    end_ms: int
    subtitle: str | None = None       # TIT3, e.g. the dosage sentence


class Provenance(TypedDict):
    """What made a session (stored as JSON in TXXX:audioroutine): a rebuild rewrites the
    file only when this differs."""

    tool: str                        # "audioroutine 0.1.0"
    script_sha256: str
    level: str
    engine: dict[str, Any]           # the engine's identity()
    trim: list[float]                # how phrases are trimmed and their cuts faded (speech.TRIM)
    timeline: str                    # short hash of the events
    samples: int
    sample_rate: int
    bitrate: str
    loudness: list[float | bool]     # [target, true_peak, enabled]
    id3: int
    tags: str                        # tags_digest of everything else written
    music: NotRequired[dict[str, Any]]   # the bed under it (music.Music.identity()), when there is one


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
    album_artist: str | None = None   # default: artist
    disc: int = 1
    disc_total: int = 1
    publisher: str | None = None      # TPUB: the clinic
    copyright: str | None = None      # TCOP
    cover: bytes | None = None        # APIC front cover, PNG or JPEG
    cover_mime: str = "image/png"
    lyrics: str = ""                  # USLT: the whole spoken text
    synced: list[tuple[str, int]] = field(default_factory=list)   # SYLT: (line, start ms)
    chapters: list[ChapterTag] = field(default_factory=list)
    toc_title: str = "Chapters"       # TIT2 of the table of contents (CTOC)
    provenance: Provenance | None = None


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
    id3.add(TPE2(encoding=enc, text=tags.album_artist or tags.artist))
    id3.add(TALB(encoding=enc, text=tags.album))
    id3.add(TRCK(encoding=enc, text=f"{tags.track}/{tags.track_total}"))
    id3.add(TPOS(encoding=enc, text=f"{tags.disc}/{tags.disc_total}"))
    id3.add(TCON(encoding=enc, text=tags.genre))
    id3.add(TLAN(encoding=enc, text=tags.language))
    if tags.year:
        # mutagen saves a TDRC frame as TDRC even in v2.3, where it does not exist (readers
        # that follow v2.3 show no year): write the frame of the version being written.
        id3.add(TYER(encoding=enc, text=tags.year[:4]) if v2_version == 3 else TDRC(encoding=enc, text=tags.year))
    if tags.comment:
        id3.add(COMM(encoding=enc, lang=tags.language, desc="", text=tags.comment))
    if tags.publisher:
        id3.add(TPUB(encoding=enc, text=tags.publisher))
    if tags.copyright:
        id3.add(TCOP(encoding=enc, text=tags.copyright))
    if tags.cover:
        id3.add(APIC(encoding=Encoding.LATIN1, mime=tags.cover_mime, type=PictureType.COVER_FRONT,
                     desc="", data=tags.cover))
    if tags.lyrics:
        id3.add(USLT(encoding=enc, lang=tags.language, desc="", text=tags.lyrics))
    if tags.synced:
        id3.add(SYLT(encoding=enc, lang=tags.language, format=2, type=1, desc="", text=tags.synced))
    ids = [f"ch{i:03d}" for i in range(len(tags.chapters))]
    if ids:
        id3.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                     child_element_ids=ids, sub_frames=[TIT2(encoding=enc, text=tags.toc_title)]))
    for element_id, chapter in zip(ids, tags.chapters):
        id3.add(CHAP(element_id=element_id, start_time=chapter.start_ms, end_time=chapter.end_ms,
                     start_offset=0xFFFFFFFF, end_offset=0xFFFFFFFF,
                     sub_frames=_chapter_frames(chapter, enc)))
    if tags.provenance:
        id3.add(TXXX(encoding=enc, desc=PROVENANCE,
                     text=json.dumps(tags.provenance, sort_keys=True, separators=(",", ":"))))
    id3.save(str(path), v2_version=v2_version, padding=lambda info: 0)


def _chapter_frames(chapter: ChapterTag, enc: int) -> list[Any]:
    frames: list[Any] = [TIT2(encoding=enc, text=chapter.title)]
    if chapter.subtitle:
        frames.append(TIT3(encoding=enc, text=chapter.subtitle))
    return frames


def read_provenance(path: Path) -> Any:
    """The provenance tag alone (None without one), for up-to-date checks: every other frame
    is skipped unparsed (a session's synced lyrics took 0.2 s of a rebuild's 1.5 s to decode)."""
    try:
        id3 = ID3(str(path), known_frames={"TXXX": TXXX}, load_v1=False)
    except ID3NoHeaderError:
        return None
    return _provenance(id3)


def _provenance(id3: ID3) -> Any:
    frame = id3.get(f"TXXX:{PROVENANCE}")
    return json.loads(str(frame.text[0])) if frame else None


_NO_LYRICS = {name: frame for name, frame in Frames.items() if name not in ("USLT", "SYLT")}


def load_tags(path: Path, lyrics: bool = True) -> ID3 | None:
    """The MP3's ID3 tag (None without one). Without `lyrics` the transcript frames are
    skipped unparsed: decoding the synced lyrics was two thirds of reading a session's tag."""
    try:
        return ID3(str(path), known_frames=None if lyrics else _NO_LYRICS)
    except ID3NoHeaderError:
        return None


def read_tags(path: Path) -> dict[str, Any]:
    """Tags as plain data (for `inspect`, tests and up-to-date checks)."""
    return tags_of(load_tags(path))


def tags_of(id3: ID3 | None) -> dict[str, Any]:
    """`read_tags` of a tag already read (`load_tags`)."""
    if id3 is None:
        return {}

    def text(frame_id: str) -> str | None:
        frame = id3.get(frame_id)
        return str(frame.text[0]) if frame else None

    def first(frame_id: str) -> Any:
        frames = id3.getall(frame_id)
        return frames[0] if frames else None

    def sub(chapter: CHAP, frame_id: str) -> str | None:
        frames = chapter.sub_frames  # type: ignore[attr-defined]  # mutagen's CHAP lacks the stub
        return str(frames[frame_id].text[0]) if frame_id in frames else None

    comment, lyrics, synced, cover = first("COMM"), first("USLT"), first("SYLT"), first("APIC")
    chapters = sorted(id3.getall("CHAP"), key=lambda f: f.start_time)
    tocs = id3.getall("CTOC")
    return {
        "version": f"2.{id3.version[1]}",
        "title": text("TIT2"),
        "artist": text("TPE1"),
        "album_artist": text("TPE2"),
        "album": text("TALB"),
        "track": text("TRCK"),
        "disc": text("TPOS"),
        "genre": text("TCON"),
        "year": text("TDRC"),
        "language": text("TLAN"),
        "publisher": text("TPUB"),
        "copyright": text("TCOP"),
        "comment": str(comment.text[0]) if comment else None,
        "cover": {"mime": cover.mime, "type": int(cover.type), "bytes": len(cover.data)} if cover else None,
        "lyrics": str(lyrics.text) if lyrics else None,
        "synced_lines": len(synced.text) if synced else 0,
        "toc": list(tocs[0].child_element_ids) if tocs else [],
        "chapters": [
            {"id": c.element_id, "title": sub(c, "TIT2") or "", "subtitle": sub(c, "TIT3"),
             "start_ms": c.start_time, "end_ms": c.end_time}
            for c in chapters
        ],
        "provenance": _provenance(id3),
    }


def tags_digest(tags: SessionTags) -> str:
    """A short hash of everything written except the provenance: a settings or cover change
    makes a file out of date even when its audio is not."""
    blob = json.dumps({
        name: (hashlib.sha256(value).hexdigest() if isinstance(value, bytes) else value)
        for name, value in sorted(vars(tags).items()) if name != "provenance"
    }, default=vars, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
