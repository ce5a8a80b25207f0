"""LAME in this process: the library inside the `lameenc` wheel (PyPI, every platform), called
through ctypes, which lets go of the GIL for each call, so segments encode on every core from
threads, with no process to start (an ffmpeg run costs about 20 ms of CPU before its first
frame, and its LAME about 1.5x this one's CPU for the same frames: bench/README.md).

Where the library's C functions are not exported (a build that hides them), lameenc's own
`Encoder` is used: the same library and settings, the same bytes, but holding the GIL.
Settings: CBR at the given bitrate, mono, the input rate out (no resampling), quality 3
(ffmpeg's default for libmp3lame, and LAME's), no Xing/Info frame (segments.py writes one
for the joined stream)."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from ..core.errors import BuildError

QUALITY = 3          # LAME's -q: ffmpeg's default for libmp3lame
MONO = 3             # MPEG_mode MONO
_init_lock = threading.Lock()   # lame_init_params fills tables shared by every encoder


def kbps(bitrate: str) -> int:
    """`64k` -> 64 (bitrates are checked where read: model/bitrates.py)."""
    try:
        return int(bitrate.removesuffix("k"))
    except ValueError:
        raise BuildError(f"LAME cannot encode at bitrate {bitrate!r}: give kbit/s, such as 64k") from None


def _lameenc() -> Any:
    """The lameenc module; a clear error when it is not installed."""
    try:
        import lameenc
    except ImportError:
        raise BuildError("the MP3 encoder is missing: pip install lameenc (audioroutine depends on it)") from None
    return lameenc


@cache
def _library() -> Any:
    """The LAME library's functions (ctypes), or None when they are not exported."""
    lameenc = _lameenc()
    try:
        lib = ctypes.CDLL(lameenc.__file__)
        lib.lame_init.restype = ctypes.c_void_p
        for name in ("lame_set_num_channels", "lame_set_in_samplerate", "lame_set_out_samplerate",
                     "lame_set_brate", "lame_set_quality", "lame_set_bWriteVbrTag", "lame_set_mode"):
            getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.lame_init_params.argtypes = [ctypes.c_void_p]
        lib.lame_encode_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                                           ctypes.c_char_p, ctypes.c_int]
        lib.lame_encode_flush.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        lib.lame_close.argtypes = [ctypes.c_void_p]
        lib.get_lame_version.restype = ctypes.c_char_p
    except (OSError, AttributeError):
        return None
    return lib


@cache
def identity() -> str:
    """What names this encoder in a segment's cache key: LAME's version and a digest of the
    library file itself (any other build of it may make other frames; reading the wheel's
    metadata would cost more than hashing the file)."""
    import hashlib

    lameenc = _lameenc()
    lib = _library()
    library = lib.get_lame_version().decode() if lib is not None else "?"
    with open(lameenc.__file__, "rb") as file:
        digest = hashlib.sha256(file.read()).hexdigest()[:16]
    return f"lameenc {digest} LAME {library} q{QUALITY} cbr"


class Stream:
    """One LAME stream: `feed` int16 mono PCM, then `flush` once; each returns the MP3 bytes
    ready so far (bare frames)."""

    def __init__(self, rate: int, bitrate: str) -> None:
        self.lib = _library()
        if self.lib is None:
            self.encoder: Any = _lameenc().Encoder()
            self.encoder.set_bit_rate(kbps(bitrate))
            self.encoder.set_in_sample_rate(rate)
            self.encoder.set_out_sample_rate(rate)
            self.encoder.set_channels(1)
            self.encoder.set_quality(QUALITY)
            return
        lib = self.lib
        with _init_lock:
            self.flags: Any = lib.lame_init()
            if not self.flags:
                raise MemoryError("LAME could not start an encoder")
            for setting, value in (("num_channels", 1), ("in_samplerate", rate), ("out_samplerate", rate),
                                   ("brate", kbps(bitrate)), ("quality", QUALITY), ("bWriteVbrTag", 0),
                                   ("mode", MONO)):
                getattr(lib, f"lame_set_{setting}")(self.flags, value)
            if lib.lame_init_params(self.flags) < 0:
                lib.lame_close(self.flags)
                raise BuildError(f"LAME refused {bitrate} at {rate} Hz (model/bitrates.py lists what works)")

    def feed(self, pcm: bytes) -> bytes:
        if self.lib is None:
            return bytes(self.encoder.encode(pcm))
        samples = len(pcm) // 2
        size = samples + samples // 4 + 7200        # LAME's worst case for a buffer's output
        out = ctypes.create_string_buffer(size)
        made = self.lib.lame_encode_buffer(self.flags, pcm, None, samples, out, size)
        if made < 0:
            raise RuntimeError(f"LAME failed to encode ({made})")
        return out.raw[:made]

    def flush(self) -> bytes:
        """The last frames; the encoder is closed."""
        if self.lib is None:
            return bytes(self.encoder.flush())
        out = ctypes.create_string_buffer(7200)
        try:
            made = self.lib.lame_encode_flush(self.flags, out, len(out))
        finally:
            self.close()
        if made < 0:
            raise RuntimeError(f"LAME failed to flush ({made})")
        return out.raw[:made]

    def close(self) -> None:
        """Free the encoder (once; flush does it)."""
        if self.lib is not None and self.flags:
            self.lib.lame_close(self.flags)
            self.flags = None


def encode(pcm: bytes, rate: int, bitrate: str) -> bytes:
    """int16 mono PCM as one bare CBR MP3 stream."""
    stream = Stream(rate, bitrate)
    try:
        return stream.feed(pcm) + stream.flush()
    finally:
        stream.close()


def encode_chunks(chunks: Iterable[bytes], rate: int, bitrate: str) -> Iterator[bytes]:
    """PCM arriving in chunks as one stream's MP3 bytes, as they are ready."""
    stream = Stream(rate, bitrate)
    try:
        pending = b""
        for chunk in chunks:
            pending += chunk
            whole = len(pending) // 2 * 2
            if whole:
                yield stream.feed(pending[:whole])
                pending = pending[whole:]
        yield stream.flush()
    finally:
        stream.close()
