"""An independent reader for tests: ffmpeg's own ID3 demuxer, printed as ffmetadata and parsed
here without mutagen. `-copyts` keeps chapter times as stored (without it ffmpeg shifts them
by the stream's start time, the encoder delay of ~50 ms)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from audioroutine.core.ffmpeg import ffmpeg_exe


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value, flags=re.S)


def ffmetadata(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """(global tags, chapters) as ffmpeg reads them."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-copyts", "-i", str(path),
                          "-f", "ffmetadata", "-"], capture_output=True, check=True).stdout.decode()
    assert out.startswith(";FFMETADATA1\n")
    sections: list[dict[str, str]] = [{}]
    # A value continues on the next line after an unescaped backslash at the end of a line.
    for entry in re.findall(r"((?:[^\\\n]|\\.)*)\n", out[len(";FFMETADATA1\n"):], flags=re.S):
        if not entry:
            continue
        if entry == "[CHAPTER]":
            sections.append({})
            continue
        key, _, value = entry.partition("=")
        sections[-1][_unescape(key)] = _unescape(value)
    return sections[0], sections[1:]


def ffmpeg_streams(path: Path) -> list[str]:
    """The 'Stream #0:n' lines of `ffmpeg -i`."""
    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True).stderr.decode()
    return [line.strip() for line in err.splitlines() if line.strip().startswith("Stream #")]


def attached_picture(path: Path) -> bytes:
    """The cover as ffmpeg extracts it (stream copy)."""
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:v:0",
                           "-c", "copy", "-f", "image2pipe", "-"], capture_output=True, check=True).stdout


def decoded_samples(path: Path) -> int:
    pcm = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "s16le",
                          "-ac", "1", "-"], capture_output=True, check=True).stdout
    return len(pcm) // 2
