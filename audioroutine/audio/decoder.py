"""A bare MP3 stream decoded for the peak check: in this process by libsndfile (mpg123 inside,
shipped in the `soundfile` wheel), or by ffmpeg where that library reads no MP3.

In the process, a decode costs no process start and no pipe, and lets the GIL go (cffi), so
the encoder threads check side by side: the seed's progressed session (15 minutes) decodes
in 0.27 s of CPU this way, 1.5 s through ffmpeg and its pipe. Both decoders give every frame's samples
of a stream without a tag frame (no gapless trim: the peak check drops LEAD itself), at the
same places; their samples differ by at most 1 (int16) on the seed, inside the check's
PEAK_MARGIN_DB (tests/audio/test_decoder.py). `identity` names the decoder in the segment
cache's key: another decoder may fix another peak, so its entries are its own."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any, BinaryIO, TypeVar

from ..core.errors import BuildError
from ..core.ffmpeg import ffmpeg_through
from .mp3frames import DECODER_DELAY, xing_frame

R = TypeVar("R")
_open_lock = threading.Lock()


@lru_cache(maxsize=1)
def _soundfile() -> Any | None:
    """The soundfile module when its libsndfile reads MP3 (1.1 and later), else None."""
    try:
        import soundfile
    except (ImportError, OSError):      # no wheel, or no libsndfile it can load
        return None
    return soundfile if "MP3" in soundfile.available_formats() else None


def identity() -> str:
    """Which decoder checks peaks: libsndfile's version, or ffmpeg."""
    found = _soundfile()
    return f"libsndfile {found.__libsndfile_version__}" if found is not None else "ffmpeg"


def decode(frames: Sequence[bytes], rate: int, consume: Callable[[Iterator[bytes]], R]) -> R:
    """What `consume` returns from the int16 mono PCM of the bare MP3 `frames` at `rate`,
    handed over in pieces as they are decoded: every frame's samples, the first
    DECODER_DELAY of them (the synthesis filterbank's delay) as zeros."""
    found = _soundfile()
    if not frames:
        return consume(iter(()))
    if found is None:
        out = ffmpeg_through(["-f", "mp3", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", str(rate), "pipe:1"],
                             [b"".join(frames)], lambda pieces: consume(_delay_zeroed(pieces)))
        assert out is not None
        return out
    # A Xing frame first: libsndfile reads exactly the frames it counts (without it, it reads
    # as many samples as it guesses from the stream's size), and mpg123 leaves out the
    # filterbank's delay, given back here as zeros.
    tagged = xing_frame(int.from_bytes(frames[0][:4], "big"), len(frames))
    try:
        with _file(b"".join((tagged, *frames))) as file, _opened(found, file) as decoded:
            if decoded.samplerate != rate or decoded.channels != 1:
                raise BuildError(f"the MP3 decoder read {decoded.channels} channel(s) at {decoded.samplerate} Hz "
                                 f"where {rate} Hz mono was encoded")
            return consume(_pieces(decoded))
    except found.LibsndfileError as err:
        raise BuildError(f"the MP3 decoder failed on an encoded segment: {err}") from None


def _file(data: bytes) -> BinaryIO:
    """`data` in an anonymous file in memory (memfd; elsewhere a temporary file): libsndfile
    reads its descriptor itself. From a Python file object it would call back into Python
    for each read, and each call waits for the GIL while other threads hold it (the seed's
    edit: a check's decode took 20-80 ms that way, beside sessions being joined)."""
    try:
        file: BinaryIO = os.fdopen(os.memfd_create("audioroutine-decode"), "w+b")
    except (AttributeError, OSError):          # no memfd here
        file = tempfile.TemporaryFile()
    file.write(data)
    file.seek(0)
    return file


def _opened(found: Any, file: BinaryIO) -> Any:
    """libsndfile's handle on `file`, opened one thread at a time (the first open sets up
    mpg123, whose setup older releases did not guard); decoding runs in parallel."""
    with _open_lock:
        return found.SoundFile(file.fileno(), closefd=False)


def _pieces(decoded: Any) -> Iterator[bytes]:
    """The decode in one read: soundfile seeks after every read, and a seek makes mpg123
    start again a few frames back, from a bit reservoir it does not have."""
    yield bytes(2 * DECODER_DELAY)
    yield decoded.read(dtype="int16").tobytes()


def _delay_zeroed(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """ffmpeg's decode with its first DECODER_DELAY samples zeroed, as libsndfile's."""
    left = 2 * DECODER_DELAY
    for piece in pieces:
        if left:
            cut = min(left, len(piece))
            piece, left = bytes(cut) + piece[cut:], left - cut
        yield piece
