"""Reading a built output folder back: sessions (MP3 tags, exact length, chapters, cover),
their .vtt transcripts and the play order from the .m3u8 playlists. Only the files are read,
never the build's internals, so any folder audioroutine wrote (or copied) can be published."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mutagen.id3 import ID3

from .. import lang
from ..audio.mp3 import decode_mp3
from ..core.errors import AudioRoutineError
from ..core.reader import control_problem, read_text
from ..output.probe import InspectError, mp3_rate
from ..output.tags import load_tags, tags_of

MAX_TAG_CHARS = 20_000   # a tag's text on a page (a comment holds every safety note and the disclaimer)


class PublishError(AudioRoutineError):
    """Bad input to `publish`: no MP3s, a bad URL, an unreadable file."""

    exit_code = 2


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class Chapter:
    title: str
    start_ms: int
    end_ms: int
    subtitle: str | None = None       # the dosage sentence


@dataclass
class Session:
    mp3: Path                         # in the output folder
    title: str
    artist: str
    album: str
    samples: int                      # exact, as decoded
    sample_rate: int
    size: int                         # bytes
    mtime: float
    notes: str = ""                   # safety notes, disclaimer, description (the COMM tag)
    publisher: str | None = None
    copyright: str | None = None
    language: str = "en"
    track: int | None = None          # n of the TRCK tag n/N: a programme's week
    chapters: list[Chapter] = field(default_factory=list)
    cues: list[Cue] = field(default_factory=list)
    vtt: Path | None = None
    cover: bytes | None = None
    cover_mime: str = "image/png"

    @property
    def stem(self) -> str:
        return self.mp3.stem

    @property
    def duration_ms(self) -> int:
        return self.samples * 1000 // self.sample_rate

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    @property
    def cover_name(self) -> str | None:
        if not self.cover:
            return None
        return f"{self.stem}.cover.{'jpg' if self.cover_mime == 'image/jpeg' else 'png'}"


@dataclass
class Folder:
    """One folder of sessions (a routine, a programme, a patient): one index page and one feed."""

    rel: PurePosixPath                # relative to the output folder; "." for the top
    sessions: list[Session]
    children: list[PurePosixPath] = field(default_factory=list)   # sub-folders that hold sessions
    language: str | None = None       # of a folder without sessions: the one its sub-folders share

    @property
    def title(self) -> str:
        if self.sessions:
            return self.sessions[0].album
        return self.rel.name or lang.labels_for(self.language or "en").label("sessions")

    @property
    def depth(self) -> int:
        return 0 if str(self.rel) == "." else len(self.rel.parts)


def read_output(out_dir: Path, skip: Path | None = None) -> list[Folder]:
    """Every folder under `out_dir` holding MP3s (the top one always, for the site's front
    page), sessions in play order. `skip` (the site, when it lies inside) is not read."""
    if not out_dir.is_dir():
        raise PublishError(f"{out_dir}: no such folder")
    found = _sessions_by_folder(out_dir, skip)
    if not found:
        raise PublishError(f"{out_dir}: no MP3 files to publish "
                           f"(build first: audioroutine build SCRIPT --out {out_dir})")
    folders = {rel: Folder(rel, sessions) for rel, sessions in found.items()}
    folders.setdefault(PurePosixPath("."), Folder(PurePosixPath("."), []))
    for rel in folders:
        if str(rel) != ".":
            folders[rel.parent if rel.parent in folders else _nearest(rel, folders)].children.append(rel)
    spoken = {session.language for sessions in found.values() for session in sessions}
    if len(spoken) == 1:          # a folder of folders speaks its sessions' one language
        for folder in folders.values():
            if not folder.sessions:
                folder.language = next(iter(spoken))
    return [folders[rel] for rel in sorted(folders, key=lambda r: (r != PurePosixPath("."), str(r)))]


def _sessions_by_folder(out_dir: Path, skip: Path | None) -> dict[PurePosixPath, list[Session]]:
    """The sessions of each folder below `out_dir` that holds MP3s, hidden folders and `skip` left out."""
    found: dict[PurePosixPath, list[Session]] = {}
    for root, dirs, files in os.walk(out_dir):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _same(here / d, skip))
        mp3s = [here / name for name in files if name.lower().endswith(".mp3") and not name.startswith(".")]
        if mp3s:
            found[PurePosixPath(here.relative_to(out_dir).as_posix())] = [
                read_session(path) for path in play_order(here, mp3s)]
    return found


def _same(path: Path, other: Path | None) -> bool:
    return other is not None and path.resolve() == other.resolve()


def _nearest(rel: PurePosixPath, folders: dict[PurePosixPath, Folder]) -> PurePosixPath:
    for parent in rel.parents:
        if parent in folders:
            return parent
    return PurePosixPath(".")


def play_order(folder: Path, mp3s: list[Path]) -> list[Path]:
    """The order of the folder's .m3u8 playlists (sorted by name), then any MP3 they miss, by name."""
    names = {path.name: path for path in mp3s}
    ordered: list[Path] = []
    for playlist in sorted(folder.glob("*.m3u8")):
        for line in playlist.read_text(encoding="utf-8", errors="replace").splitlines():
            name = line.strip()
            if name and not name.startswith("#") and name in names and names[name] not in ordered:
                ordered.append(names[name])
    return ordered + sorted((p for p in mp3s if p not in ordered), key=lambda p: p.name)


def read_session(path: Path) -> Session:
    try:
        rate = mp3_rate(path)
    except InspectError as err:
        raise PublishError(str(err)) from None
    id3 = load_tags(path, lyrics=False)   # read once; the transcript comes from the .vtt
    tags = tags_of(id3)
    _check_texts(path, tags)
    samples = exact_samples(path, rate, tags.get("provenance"))
    stat = path.stat()
    cover, mime = _cover(id3)
    vtt = path.with_suffix(".vtt")
    return Session(
        mp3=path, title=tags.get("title") or path.stem, artist=tags.get("artist") or "",
        album=tags.get("album") or tags.get("title") or path.stem,
        samples=samples, sample_rate=rate, size=stat.st_size, mtime=stat.st_mtime,
        notes=tags.get("comment") or "", publisher=tags.get("publisher"), copyright=tags.get("copyright"),
        language=lang.from_iso639_2(tags.get("language") or "") or "en", track=_track(tags.get("track")),
        chapters=[Chapter(c["title"], c["start_ms"], c["end_ms"], c.get("subtitle")) for c in tags.get("chapters", [])],
        cues=parse_vtt(read_text(vtt, "transcript")[0]) if vtt.is_file() else [],   # the one reader
        vtt=vtt if vtt.is_file() else None, cover=cover, cover_mime=mime,
    )


def _check_texts(path: Path, tags: dict[str, Any]) -> None:
    """The tags' texts go into pages and a feed: each must be text (core.reader's check: no
    control character, noncharacter or surrogate; a length limit), else one line naming the MP3."""
    texts = [(key, tags.get(key)) for key in ("title", "artist", "album", "comment", "publisher", "copyright")]
    texts += [(f"chapter {n}", chapter.get(part)) for n, chapter in enumerate(tags.get("chapters", []), 1)
              for part in ("title", "subtitle")]
    for key, value in texts:
        problem = control_problem(value, MAX_TAG_CHARS) if isinstance(value, str) else None
        if problem:
            raise PublishError(f"{path}: {key}: {problem}")


def _track(value: str | None) -> int | None:
    number = (value or "").split("/")[0]
    return int(number) if number.isdigit() and int(number) > 0 else None


def exact_samples(path: Path, rate: int, provenance: dict[str, object] | None) -> int:
    """The decoded sample count: the build's provenance records it (a build checks that the MP3
    decodes to exactly that many samples); a file without provenance is decoded."""
    samples = provenance.get("samples") if provenance else None
    if provenance and provenance.get("sample_rate") == rate and isinstance(samples, int):
        return samples
    try:
        return len(decode_mp3(path, rate).raw_data) // 2
    except AudioRoutineError as err:
        raise PublishError(f"{path}: cannot decode ({err})") from None


def _cover(id3: ID3 | None) -> tuple[bytes | None, str]:
    pictures = id3.getall("APIC") if id3 is not None else []
    if not pictures or pictures[0].mime not in ("image/png", "image/jpeg"):
        return None, "image/png"
    return bytes(pictures[0].data), str(pictures[0].mime)


_TIME = re.compile(r"(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})")


def vtt_ms(text: str) -> int:
    match = _TIME.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a WebVTT time: {text!r}")
    hours, minutes, seconds, ms = (int(g or 0) for g in match.groups())
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + ms


def parse_vtt(text: str) -> list[Cue]:
    """The cues of a WebVTT file (times and text; ids, settings and NOTE blocks dropped)."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = block.split("\n")
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue
        start, _, end = lines[timing].partition("-->")
        try:
            cues.append(Cue(vtt_ms(start), vtt_ms(end.split()[0]), "\n".join(lines[timing + 1:]).strip()))
        except (ValueError, IndexError):
            continue
    return cues
