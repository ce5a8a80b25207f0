"""The ffmpeg executable, taken from the `imageio-ffmpeg` wheel so no system package is needed."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import NamedTuple, TypeVar

from .errors import BuildError

ENV_VAR = "AUDIOROUTINE_FFMPEG"
R = TypeVar("R")


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
        raise _failed(proc.stderr, proc.returncode)
    return proc.stdout


def ffmpeg_through(args: list[str], chunks: Iterable[bytes], consume: Callable[[Iterator[bytes]], R] | None = None,
                   size: int = 1 << 18) -> R | None:
    """Run ffmpeg quietly with `args`, streaming `chunks` into its stdin while `consume`
    (if given) reads its stdout, in a thread, `size` bytes at a time; return what `consume`
    returns. ffmpeg failing raises BuildError with its last error line; an exception here
    or in `consume` (Ctrl-C included) stops ffmpeg first."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args],
                                stdin=subprocess.PIPE, stderr=log,
                                stdout=subprocess.PIPE if consume else subprocess.DEVNULL)
        assert proc.stdin is not None
        outcome: list[R] = []
        failure: list[BaseException] = []

        def read() -> None:
            assert proc.stdout is not None and consume is not None
            out = proc.stdout
            try:
                outcome.append(consume(iter(lambda: out.read(size), b"")))
            except BaseException as err:    # handed to the caller's thread
                failure.append(err)
                proc.kill()

        reader = threading.Thread(target=read, daemon=True) if consume else None
        try:
            if reader:
                reader.start()
            try:
                for chunk in chunks:
                    proc.stdin.write(chunk)
                proc.stdin.close()
            except BrokenPipeError:      # ffmpeg stopped reading: its log (or the reader) says why
                pass
            returncode = proc.wait()
            if reader:
                reader.join()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if failure:
            raise failure[0]
        if returncode != 0:
            log.seek(0)
            raise _failed(log.read(), returncode)
        return outcome[0] if outcome else None


def _failed(stderr: bytes, returncode: int) -> BuildError:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return BuildError(f"ffmpeg failed: {lines[-1] if lines else 'exit ' + str(returncode)}")


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


def mp3_to_pcm(data: bytes, sample_rate: int) -> bytes:
    """Decode MP3 bytes (an online engine's answer) to int16 mono PCM at `sample_rate`.
    Through a file, not a pipe: only then does ffmpeg trim the padding a LAME header records."""
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="audioroutine-") as tmp:
        path = Path(tmp) / "clip.mp3"
        path.write_bytes(data)
        return run_ffmpeg(["-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(sample_rate), "pipe:1"])
