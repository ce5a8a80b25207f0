"""Inspect a built MP3: tags, chapters, duration and loudness (one ffmpeg decode), provenance.

The duration comes from decoding (exact with the gapless header), not mutagen's
`info.length`, which runs ~68 ms long for ffmpeg-made files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mutagen import MutagenError
from mutagen.mp3 import MP3, HeaderNotFoundError

from ..audio.loudness import parse_ebur128
from ..core.errors import AudioRoutineError
from ..core.ffmpeg import run_ffmpeg_log
from ..core.files import StrPath
from ..model.durations import format_ms
from .tags import Provenance, read_tags


class InspectError(AudioRoutineError):
    """The file is missing or not an MP3."""

    exit_code = 2


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float | None     # None: silence (-inf) or not measurable
    true_peak_dbtp: float | None


@dataclass(frozen=True)
class Probe:
    """What `inspect` finds in an MP3. `to_dict()` is the `inspect --json` form."""

    file: str
    sample_rate: int
    samples: int                      # decoded: exact with the gapless header
    loudness: Loudness
    tags: dict[str, Any]              # read_tags() without chapters, provenance and lyrics
    chapters: list[dict[str, Any]]    # id, title, subtitle, start_ms, end_ms
    transcript_lines: int
    provenance: Provenance | None     # None: not built by audioroutine

    @property
    def duration_ms(self) -> int:
        return self.samples * 1000 // self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sample_rate": self.sample_rate,
            "samples": self.samples,
            "duration_ms": self.duration_ms,
            "loudness": asdict(self.loudness),
            "tags": self.tags,
            "chapters": self.chapters,
            "transcript_lines": self.transcript_lines,
            "provenance": self.provenance,
        }


def probe(path: StrPath) -> dict[str, Any]:
    """Everything `inspect` shows, as plain data (`inspect(path).to_dict()`)."""
    return inspect(path).to_dict()


def inspect(path: StrPath) -> Probe:
    """Tags, chapters, exact duration, loudness and provenance of a built MP3."""
    path = Path(path)
    rate = mp3_rate(path)
    samples, loudness = measure(path, rate)
    tags = read_tags(path)
    return Probe(
        file=str(path),
        sample_rate=rate,
        samples=samples,
        loudness=Loudness(loudness["integrated_lufs"], loudness["true_peak_dbtp"]),
        tags={k: v for k, v in tags.items() if k not in ("chapters", "provenance", "lyrics")},
        chapters=tags.get("chapters", []),
        transcript_lines=sum(1 for line in (tags.get("lyrics") or "").splitlines() if line.strip()),
        provenance=tags.get("provenance"),
    )


def mp3_rate(path: Path) -> int:
    """The sample rate of an MP3 file; a missing file or one with no MP3 frame is an InspectError."""
    if not path.is_file():
        raise InspectError(f"{path}: no such file")
    try:
        info = MP3(str(path), known_frames={}).info   # the frames' header: the tag's frames skipped
    except (HeaderNotFoundError, MutagenError, OSError):
        info = None
    if info is None:
        raise InspectError(f"{path}: not an MP3 file")
    return int(info.sample_rate)


def measure(path: Path, rate: int) -> tuple[int, dict[str, float | None]]:
    """(decoded sample count, {integrated_lufs, true_peak_dbtp}) from one ffmpeg run."""
    run = run_ffmpeg_log(["-i", str(path), "-map", "0:a:0", "-af", "ebur128=peak=true",
                          "-ac", "1", "-ar", str(rate), "-f", "s16le", "pipe:1"])
    if run.returncode != 0:
        last = run.log.strip().splitlines()
        raise InspectError(f"{path}: cannot decode ({last[-1] if last else 'ffmpeg failed'})")
    return len(run.stdout) // 2, parse_ebur128(run.log)


def format_report(info: dict[str, Any]) -> str:
    """The human-readable `inspect` output."""
    tags, prov, loud = info["tags"], info["provenance"] or {}, info["loudness"]
    rows: list[tuple[str, Any]] = [
        ("file", info["file"]),
        ("duration", f"{format_ms(info['duration_ms'])} ({info['samples']} samples at {info['sample_rate']} Hz)"),
        ("loudness", f"{_num(loud['integrated_lufs'])} LUFS integrated, true peak {_num(loud['true_peak_dbtp'])} dBTP"),
        ("id3", f"v{tags.get('version')}"),
    ]
    for key in ("title", "artist", "album_artist", "album", "track", "disc", "genre", "year", "language",
                "publisher", "copyright", "comment"):
        if tags.get(key):
            rows.append((key.replace("_", " "), tags[key]))
    cover = tags.get("cover")
    rows.append(("cover", f"{cover['mime']}, {cover['bytes']} bytes (front)" if cover else "none"))
    rows.append(("transcript", f"{info['transcript_lines']} lines (USLT), {tags.get('synced_lines', 0)} timed (SYLT)"))
    if prov:
        engine = prov.get("engine") or {}
        rows += [
            ("tool", prov.get("tool")),
            ("script sha256", prov.get("script_sha256")),
            ("level", prov.get("level")),
            ("engine", engine.get("engine")),
            ("voice", engine.get("voice", "-")),
        ]
    else:
        rows.append(("provenance", "none (not built by audioroutine)"))
    out = [f"{name:<14}{value}" for name, value in rows]
    out.append(f"chapters      {len(info['chapters'])}")
    for chapter in info["chapters"]:
        line = f"  {format_ms(chapter['start_ms'])}  {chapter['title']}"
        out.append(line + (f"  ({chapter['subtitle']})" if chapter.get("subtitle") else ""))
    return "\n".join(out)


def _num(value: float | None) -> str:
    return "-inf" if value is None else f"{value:.1f}"
