"""Inspect a built MP3: tags, chapters, duration and loudness (one ffmpeg decode), provenance.

The duration comes from decoding (exact with the gapless header), not mutagen's
`info.length`, which runs ~68 ms long for ffmpeg-made files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from mutagen import MutagenError
from mutagen.mp3 import MP3, HeaderNotFoundError

from .durations import format_ms
from .errors import AudioRoutineError
from .ffmpeg import ffmpeg_exe
from .loudness import parse_ebur128
from .tags import read_tags


class InspectError(AudioRoutineError):
    """The file is missing or not an MP3."""

    exit_code = 2


def probe(path: Path) -> dict[str, Any]:
    """Everything `inspect` shows, as plain data."""
    rate = mp3_rate(path)
    samples, loudness = measure(path, rate)
    tags = read_tags(path)
    return {
        "file": str(path),
        "sample_rate": rate,
        "samples": samples,
        "duration_ms": samples * 1000 // rate,
        "loudness": loudness,
        "tags": {k: v for k, v in tags.items() if k not in ("chapters", "provenance", "lyrics")},
        "chapters": tags.get("chapters", []),
        "transcript_lines": sum(1 for line in (tags.get("lyrics") or "").splitlines() if line.strip()),
        "provenance": tags.get("provenance"),
    }


def mp3_rate(path: Path) -> int:
    """The sample rate of an MP3 file; a missing file or one with no MP3 frame is an InspectError."""
    if not path.is_file():
        raise InspectError(f"{path}: no such file")
    try:
        info = MP3(str(path)).info
    except (HeaderNotFoundError, MutagenError, OSError):
        info = None
    if info is None:
        raise InspectError(f"{path}: not an MP3 file")
    return int(info.sample_rate)


def measure(path: Path, rate: int) -> tuple[int, dict[str, float | None]]:
    """(decoded sample count, {integrated_lufs, true_peak_dbtp}) from one ffmpeg run."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-i", str(path), "-map", "0:a:0",
           "-af", "ebur128=peak=true", "-ac", "1", "-ar", str(rate), "-f", "s16le", "pipe:1"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        last = proc.stderr.decode(errors="replace").strip().splitlines()
        raise InspectError(f"{path}: cannot decode ({last[-1] if last else 'ffmpeg failed'})")
    return len(proc.stdout) // 2, parse_ebur128(proc.stderr.decode(errors="replace"))


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
