"""The ffmpeg executable, taken from the `imageio-ffmpeg` wheel so no system package is needed."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from typing import NamedTuple

from .errors import BuildError

ENV_VAR = "AUDIOROUTINE_FFMPEG"


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """$AUDIOROUTINE_FFMPEG, else imageio-ffmpeg's bundled binary, else ffmpeg on PATH."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found:
            return found
    raise BuildError("no ffmpeg found: pip install imageio-ffmpeg (or set AUDIOROUTINE_FFMPEG)")


def run_ffmpeg(args: list[str], data: bytes | None = None) -> bytes:
    """Run ffmpeg quietly; return stdout or raise BuildError with its last error line."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
    proc = subprocess.run(cmd, input=data, capture_output=True, check=False)
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise BuildError(f"ffmpeg failed: {lines[-1] if lines else 'exit ' + str(proc.returncode)}")
    return proc.stdout


class Report(NamedTuple):
    returncode: int
    stdout: bytes
    log: str              # stderr at the info level


def run_ffmpeg_log(args: list[str], data: bytes | None = None) -> Report:
    """Run ffmpeg for what it reports on stderr at the info level (filters such as ebur128
    print their results there). Callers decide what a failure means."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", *args]
    proc = subprocess.run(cmd, input=data, capture_output=True, check=False)
    return Report(proc.returncode, proc.stdout, proc.stderr.decode(errors="replace"))


def configure_pydub() -> None:
    """Point pydub at our ffmpeg; without this it warns and looks on PATH."""
    from pydub import AudioSegment

    AudioSegment.converter = ffmpeg_exe()
