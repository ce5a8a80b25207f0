"""The MP3 bitrates LAME really writes: plain data, checked when a script or settings file
is read (no audio library imported)."""

from __future__ import annotations

DEFAULT_BITRATE = "64k"   # mono speech: about 0.48 MB per minute
# What libmp3lame really writes for mono at each sample rate (read back from the frame
# headers of the bundled ffmpeg's output). Any other value is silently changed by the
# encoder (320k at 22050 Hz becomes 160k; "64" means 64 bit/s and becomes 8k), so only
# these are accepted.
_MPEG1 = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)    # 32000, 44100, 48000 Hz
_MPEG2 = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)        # 16000, 22050, 24000 Hz
BITRATES = {rate: tuple(f"{kbps}k" for kbps in (_MPEG1 if rate >= 32000 else _MPEG2))
            for rate in (16000, 22050, 24000, 32000, 44100, 48000)}
ALL_BITRATES = frozenset(b for rates in BITRATES.values() for b in rates)


def bitrate_problem(bitrate: str, sample_rate: int) -> str | None:
    """Why LAME would not write `bitrate` for mono MP3 at `sample_rate`, or None."""
    if sample_rate not in BITRATES:
        return f"sample rate {sample_rate} Hz is not an MP3 rate: use one of {', '.join(map(str, BITRATES))}"
    if bitrate not in BITRATES[sample_rate]:
        return (f"bitrate {bitrate!r} is not available for mono MP3 at {sample_rate} Hz: "
                f"use one of {', '.join(BITRATES[sample_rate])}")
    return None
