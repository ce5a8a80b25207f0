"""One LAME stream: a segment's encode (LAME in this process: lamelib.py), ffmpeg's arguments
for the same encoder settings (bench/ compares against them), where a sample lands in its
decode (LEAD), and the count and log of every encoder and decoder run (`Stats`;
$AUDIOROUTINE_ENCODE_LOG for bench/)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from . import lamelib
from .mp3frames import DECODER_DELAY, ENCODER_DELAY

LEAD = ENCODER_DELAY + DECODER_DELAY     # a sample's place in a LAME stream's decode, less its place in the input
LOG_VAR = "AUDIOROUTINE_ENCODE_LOG"      # a file: one line per encoder/decoder run (bench/)


@dataclass
class Stats:
    """What encoding one session took: samples handed to the encoder, encoder and decoder runs,
    segments in all and from the cache."""

    segments: int = 0
    cached: int = 0
    encoded_samples: int = 0
    encodes: int = 0
    decodes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def merge(self, other: Stats) -> None:
        """Add `other`'s counts (a Dask task's, segments.encode_misses)."""
        self.add(**{f.name: getattr(other, f.name) for f in fields(other) if f.compare})

    def __getstate__(self) -> dict[str, Any]:     # pickled without its lock (returned by a Dask task)
        return {f.name: getattr(self, f.name) for f in fields(self) if f.compare}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, lock=threading.Lock())


def encoder_args(rate: int, bitrate: str) -> list[str]:
    """ffmpeg's arguments up to the MP3 output: PCM from stdin, its LAME at the same settings
    (CBR, quality 3, no tag frame): the single-stream encode bench/ compares builds against."""
    return ["-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0", "-map", "0:a", "-map_metadata", "-1",
            "-fflags", "+bitexact", "-flags:a", "+bitexact", "-codec:a", "libmp3lame", "-b:a", bitrate,
            "-id3v2_version", "0", "-write_xing", "0"]


def encode_segment(pcm: bytes, rate: int, bitrate: str, stats: Stats | None = None) -> bytes:
    """int16 mono PCM as a bare CBR MP3 stream (LAME in this process: lamelib.py, no tag frame)."""
    started = time.monotonic()
    out = lamelib.encode(pcm, rate, bitrate)
    if stats is not None:
        stats.add(encodes=1, encoded_samples=len(pcm) // 2)
    log_run("encode", len(pcm) // 2, started)
    return out


def window(chunks: Iterator[bytes], skip: int, size: int, first: bytes) -> Iterator[bytes]:
    """`first`, then bytes [skip, skip + size) of the stream (short streams padded with zeros)."""
    yield first
    seen = 0
    for chunk in chunks:
        a, b = max(skip - seen, 0), min(skip + size - seen, len(chunk))
        if a < b:
            yield chunk[a:b]
        seen += len(chunk)
    if seen < skip + size:
        yield bytes(skip + size - max(seen, skip))


def log_run(kind: str, samples: int, started: float) -> None:
    """One line per encoder or decoder run to $AUDIOROUTINE_ENCODE_LOG, when set (bench/)."""
    target = os.environ.get(LOG_VAR)
    if target:
        line = f"{kind} {samples} {time.monotonic() - started:.4f} {os.getpid()}\n"
        with open(target, "a", encoding="utf-8") as log:
            log.write(line)
