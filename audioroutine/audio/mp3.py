"""Encode: a rendered session to MP3 with ffmpeg's LAME (gapless header included), loudness
normalized, peaks checked after encoding; and decoding back. A new output format would sit
beside `encode_normalized` (see docs/architecture.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from pydub import AudioSegment

from ..core.ffmpeg import ffmpeg_through, run_ffmpeg
from ..model.bitrates import DEFAULT_BITRATE
from ..model.loudness_settings import LoudnessSettings
from . import segments
from .loudness import Model, choose_gain, level
from .render import Mix

# LAME scales every sample by 0.95 (measured: -0.446 dB at any level, pitch and bitrate, in
# ffmpeg's libmp3lame and in lamelib's, -0.450); loudness normalization makes up for it so
# the MP3 itself meets the target.
ENCODER_GAIN_DB = -0.446
# A rebuild keeps the session's previous gain while the model puts it this close to the
# target (LU): a small edit then changes only the samples it touches (segments.py).
KEEP_GAIN_LU = 0.1
R = TypeVar("R")


def encode_mp3(chunks: Iterable[bytes], path: Path, sample_rate: int, bitrate: str = DEFAULT_BITRATE,
               decoded: Callable[[Iterator[bytes]], R] | None = None) -> R | None:
    """Write int16 mono PCM arriving in `chunks` to `path` as CBR MP3, one LAME stream (the
    encoder of every session: lamelib.py) behind an Info/LAME tag frame that records delay
    and padding, so decoders that honour it return exactly the samples that went in: a
    whole-file encode, no segments, no peak check (tests and bench/ compare against it).
    With `decoded`, the file is then decoded by ffmpeg as a player would, streaming, and
    that PCM handed to `decoded`, whose result is returned."""
    segments.encode_whole(chunks, path, sample_rate, bitrate)
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


def encode_normalized(session: Mix, path: Path, bitrate: str, settings: LoudnessSettings,
                      cache: segments.Cache | None = None, stats: segments.Stats | None = None,
                      session_key: str | None = None) -> segments.Stats:
    """Level `session` (loudness.level: one gain, a limiter per piece) and encode it to
    `path` as MP3 in segments (segments.py: cut in silence, encoded side by side, each read
    from `cache` when its samples were encoded before, joined into one gapless file).
    With `cache` and `session_key` (what names this session across edits), the gain of the
    last build of the session is kept while the model says it still reaches the target
    within KEEP_GAIN_LU, so that an edit leaves the other segments' samples, and their
    cache entries, as they were. Lossy coding can lift a limited peak over the ceiling
    (measured: up to +1.5 dB in a few 10 ms blocks of a seed session), so each fresh
    segment is decoded and its true peaks checked; where a block went over, the gain is
    lowered there alone and that segment encoded again (checked at most PEAK_PASSES times;
    with HEADROOM_DB, 1.5 dB, most segments pass at the first encode)."""
    rate = session.sample_rate
    if not settings.enabled:
        if session.bed is not None:         # the bed against the voice's own loudness
            session.bed.level_for(session, settings, 0.0)
        return segments.encode(session, path, bitrate, None, cache, stats)
    background = session.bed.level_for(session, settings, ENCODER_GAIN_DB) if session.bed is not None else None
    model = Model(session.pieces, session.places, rate, session.analyses, background)
    remember = cache is not None and session_key is not None
    previous = _previous_gain(cache, session_key) if remember else None
    gain = choose_gain(model, settings, ENCODER_GAIN_DB, previous, KEEP_GAIN_LU)
    levelled = session.with_pieces(level(session.pieces, session.places, rate, settings, ENCODER_GAIN_DB,
                                         session.analyses, gain, model))
    found = segments.encode(levelled, path, bitrate, settings, cache, stats)
    if remember and gain is not None and gain != previous:
        assert cache is not None and session_key is not None
        cache.put_note(session_key, json.dumps({"gain_db": gain}).encode())
    return found


def _previous_gain(cache: segments.Cache | None, key: str | None) -> float | None:
    data = cache.load_note(key) if cache is not None and key is not None else None
    try:
        gain = json.loads(data)["gain_db"] if data else None
    except (ValueError, TypeError, KeyError):
        return None
    return float(gain) if isinstance(gain, (int, float)) and math.isfinite(gain) else None
