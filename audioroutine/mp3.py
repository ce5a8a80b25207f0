"""Encode: a rendered session to MP3 with ffmpeg's LAME (gapless header included), loudness
normalized, peaks checked after encoding; and decoding back. A new output format would sit
beside `encode_normalized` (see docs/architecture.md)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydub import AudioSegment

from .bitrates import DEFAULT_BITRATE
from .ffmpeg import run_ffmpeg
from .loudness import PEAK_PASSES, lower_peaks, normalize
from .loudness_settings import LoudnessSettings

# ffmpeg's libmp3lame scales every sample by 0.95 (measured: -0.446 dB at any level, pitch and
# bitrate); loudness normalization makes up for it so the MP3 itself meets the target.
ENCODER_GAIN_DB = -0.446


def encode_mp3(session: AudioSegment, path: Path, bitrate: str = DEFAULT_BITRATE) -> None:
    """Write `session` to `path` as CBR MP3. The Xing/LAME header records encoder delay and
    padding, so decoders that honour it return exactly the samples that went in."""
    run_ffmpeg([
        "-f", "s16le", "-ar", str(session.frame_rate), "-ac", "1", "-i", "pipe:0",
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
        "-codec:a", "libmp3lame", "-b:a", bitrate, "-id3v2_version", "0", "-write_xing", "1",
        "-f", "mp3", "-y", str(path),
    ], data=session.raw_data)


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


def encode_normalized(session: AudioSegment, path: Path, bitrate: str, settings: LoudnessSettings) -> None:
    """Normalize `session` and encode it to `path` as MP3. Lossy coding can lift a limited
    peak over the ceiling (measured: up to +1.4 dB in a few 10 ms blocks of a 7-minute
    session), so the MP3 is decoded and checked; where a block went over, the gain is
    lowered there alone and the session encoded again (checked at most PEAK_PASSES times;
    with 1 dB of headroom the seed sessions pass at the first encode)."""
    rate = int(session.frame_rate)
    pcm = normalize(session.raw_data, rate, settings, ENCODER_GAIN_DB)
    encode_mp3(session._spawn(pcm), path, bitrate)
    if not settings.enabled:
        return
    for attempt in range(PEAK_PASSES):
        if attempt == PEAK_PASSES - 1:
            return
        fixed = lower_peaks(pcm, decode_mp3(path, rate).raw_data, rate, settings)
        if fixed is None:
            return
        pcm = fixed
        encode_mp3(session._spawn(pcm), path, bitrate)
