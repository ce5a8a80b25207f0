"""Encode: a rendered session to MP3 with ffmpeg's LAME (gapless header included), loudness
normalized, peaks checked after encoding; and decoding back. A new output format would sit
beside `encode_normalized` (see docs/architecture.md)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
from pydub import AudioSegment

from .bitrates import DEFAULT_BITRATE
from .ffmpeg import ffmpeg_through, run_ffmpeg
from .loudness import PEAK_MARGIN_DB, PEAK_PASSES, Envelope, level, peak_fix, stream_true_peaks
from .loudness_settings import LoudnessSettings
from .render import Mix

# ffmpeg's libmp3lame scales every sample by 0.95 (measured: -0.446 dB at any level, pitch and
# bitrate); loudness normalization makes up for it so the MP3 itself meets the target.
ENCODER_GAIN_DB = -0.446
R = TypeVar("R")


def encode_mp3(chunks: Iterable[bytes], path: Path, sample_rate: int, bitrate: str = DEFAULT_BITRATE,
               decoded: Callable[[Iterator[bytes]], R] | None = None) -> R | None:
    """Write int16 mono PCM arriving in `chunks` to `path` as CBR MP3, streaming it into the
    encoder. The Xing/LAME header records encoder delay and padding, so decoders that
    honour it return exactly the samples that went in. With `decoded`, the file is then
    decoded as a player would, streaming, and that PCM handed to `decoded`, whose result is
    returned. (ffmpeg 7.1+ can decode what it encodes in the same run, a loopback decoder:
    measured, that run took longer than encoding and decoding one after the other once two
    sessions encode side by side, which is how builds run.)"""
    ffmpeg_through(["-f", "s16le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0", "-map", "0:a",
                    "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
                    "-codec:a", "libmp3lame", "-b:a", bitrate, "-id3v2_version", "0", "-write_xing", "1",
                    "-f", "mp3", "-y", str(path)], chunks)
    if decoded is None:
        return None
    return ffmpeg_through(["-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(sample_rate), "pipe:1"], (),
                          decoded)


def decode_mp3(path: Path, sample_rate: int | None = None) -> AudioSegment:
    """Decode to int16 mono PCM (at `sample_rate` if given) with ffmpeg; no ffprobe needed."""
    args = ["-i", str(path), "-f", "s16le", "-ac", "1"]
    if sample_rate:
        args += ["-ar", str(sample_rate)]
    pcm = run_ffmpeg(args + ["pipe:1"])
    rate = sample_rate or _probe_rate(path)
    return AudioSegment(data=pcm, sample_width=2, frame_rate=rate, channels=1)


def _probe_rate(path: Path) -> int:
    from mutagen.mp3 import MP3

    info = MP3(str(path)).info
    assert info is not None   # MP3() raises when there is no audio frame
    return int(info.sample_rate)


def mp3_to_pcm(data: bytes, sample_rate: int) -> bytes:
    """Decode MP3 bytes (an online engine's answer) to int16 mono PCM at `sample_rate`.
    Through a file, not a pipe: only then does ffmpeg trim the padding a LAME header records."""
    with tempfile.TemporaryDirectory(prefix="audioroutine-") as tmp:
        path = Path(tmp) / "clip.mp3"
        path.write_bytes(data)
        return bytes(decode_mp3(path, sample_rate).raw_data)


def encode_normalized(session: Mix, path: Path, bitrate: str, settings: LoudnessSettings) -> None:
    """Level `session` (loudness.level: one gain, a limiter per piece) and encode it to
    `path` as MP3, streaming. Lossy coding can lift a limited peak over the ceiling
    (measured: up to +1.5 dB in a few 10 ms blocks of a seed session), so the MP3 is
    decoded and its true peaks checked as it streams back; where a block went over, the
    gain is lowered there alone and the session encoded again (checked at most PEAK_PASSES
    times; with HEADROOM_DB, 1.5 dB, the seed sessions pass at the first encode)."""
    rate = session.sample_rate
    if not settings.enabled:
        if session.bed:
            session.bed.level_for(session, settings, 0.0)
        encode_mp3(session.chunks(), path, rate, bitrate)
        return
    background = session.bed.level_for(session, settings, ENCODER_GAIN_DB) if session.bed else None
    levelled = session.with_pieces(level(session.pieces, session.places, rate, settings, ENCODER_GAIN_DB,
                                         session.analyses, background))

    def peaks(decoded: Iterator[bytes]) -> np.ndarray:
        return stream_true_peaks(decoded, rate, settings.true_peak - PEAK_MARGIN_DB - 3.0)

    found = encode_mp3(levelled.chunks(), path, rate, bitrate, peaks)
    fix: np.ndarray | None = None
    for _ in range(1, PEAK_PASSES):
        assert found is not None
        more = peak_fix(found, settings)
        if more is None:
            return
        fix = more if fix is None else fix * more
        found = encode_mp3(Envelope(fix, rate).apply(levelled.chunks()), path, rate, bitrate, peaks)
