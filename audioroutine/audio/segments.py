"""Segments: a session encoded as independent pieces of MP3, joined into one gapless file.

A session is cut at frame boundaries that lie deep inside digital silence (the gaps between
a Mix's pieces: holds, rests, pauses between cues). A session with a music bed has none: it
is encoded as one segment (same join, same cache, same peak check). Each segment is encoded by its own LAME
stream (`encode_segment`), so it can be encoded on any core, checked on its own, and cached
by content. The frames are then joined behind one Xing/Info + LAME tag frame (mp3frames.py).

Why the join is exact: LAME puts every input sample ENCODER_DELAY + DECODER_DELAY (1105)
samples late in its decode, the same in every stream. A segment whose input starts at
session sample `frame x spf` and whose frames are placed at frame index `frame` of the
joined stream therefore decodes each of its samples where the session has it. A segment
keeps only its frames up to where the next one starts (the last keeps all, its padding is
the file's); its first frame uses no bit reservoir of a previous frame (main_data_begin 0
in a fresh stream). Around each cut the session is digital silence from LEAD + GUARD
samples before to GUARD after, so every frame near it codes silence, decodes to zeros, and
leaves nothing in the decoder's overlap for the next segment: the decode of the joined
file equals each segment's own decode, sample for sample (tests/audio/test_segments.py).

Silence is not encoded: the whole frames of digital silence that open a segment (up to GUARD
before its first sound) are written as silent frames (mp3frames.silent_frames: no main data,
decoding to zeros and leaving zeros in the decoder), and the segment's stream starts after
them. A segment also ends before a long silence (LONG_GAP_S), so holds and rests cost no
encoding, and a length change upstream re-encodes only the frames that carry sound.

The cache key of a segment is the sha256 of its encoded samples (after loudness), the
encoder (its version line, bitrate, rate), the true-peak ceiling and where it ends (frames
kept). An entry holds the checked frames; a hit is neither encoded nor decoded again. The
peak check of lossy coding (loudness.stream_true_peaks / peak_fix) runs per fresh segment,
decoding only the frames near blocks that could go over (`check`): only a segment that went
over is encoded again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol, cast

import numpy as np

from ..core.errors import BuildError
from ..core.ffmpeg import ffmpeg_exe, ffmpeg_through, run_ffmpeg
from ..model.loudness_settings import LoudnessSettings
from .loudness import PEAK_MARGIN_DB, PEAK_PASSES, Envelope, block_size, peak_fix, stream_true_peaks
from .mp3frames import (
    DECODER_DELAY,
    ENCODER_DELAY,
    crc16,
    crc16_combine,
    frame_length,
    info_frame,
    lame_version,
    main_data,
    samples_per_frame,
    shift,
    silent_frames,
    splice,
    split_frames,
)
from .render import Mix

LEAD = ENCODER_DELAY + DECODER_DELAY     # a sample's place in a LAME stream's decode, less its place in the input
GUARD_FRAMES = 2                         # frames of silence past LEAD on each side of a cut
MIN_SEGMENT_S = 30                       # a segment lasts at least this long (fewer, longer encoder runs),
LONG_GAP_S = 5                           # unless it ends before a silence this long (a hold, a rest: not encoded)
SHORT_SEGMENT_S = 5                      # and lasts this long
VERSION = 2                              # of the segment format: a change makes new cache entries
MAGIC = b"ARSEG002"
LOG_VAR = "AUDIOROUTINE_ENCODE_LOG"      # a file: one line per encoder/decoder run (bench/)


@dataclass(frozen=True)
class Segment:
    """Session samples [start, end): its first `silent` samples (whole frames of digital
    silence) written as silent frames (mp3frames.silent_frames), the rest encoded from
    `head` (a frame boundary); `keep`: the frames that stream contributes (None: all of
    them, the last segment)."""

    start: int
    end: int
    keep: int | None
    silent: int = 0

    @property
    def head(self) -> int:
        return self.start + self.silent


def plan(session: Mix, min_seconds: float = MIN_SEGMENT_S) -> list[Segment]:
    """Where to cut `session`: at the first frame boundary of a silent gap (between two
    pieces) with LEAD + GUARD samples of silence before it and GUARD after, once the
    segment so far lasts `min_seconds`, or SHORT_SEGMENT_S when the gap lasts LONG_GAP_S
    (its silence then opens the next segment and is written as silent frames). Decided by
    the pieces' places alone, from the start: the same session always gets the same cuts.
    A session with a music bed (`Mix.bed`) has no digital silence to cut in: one segment."""
    if session.bed is not None:
        return [Segment(0, session.total, None)]
    spf = samples_per_frame(session.sample_rate)
    guard = GUARD_FRAMES * spf
    rate = session.sample_rate
    least, short = int(min_seconds * rate), int(min(min_seconds, SHORT_SEGMENT_S) * rate)
    cuts, position, last = [0], 0, 0
    for start, piece in session.places:
        if start >= position:                    # [position, start) is silence
            cut = -(-(position + LEAD + guard) // spf) * spf
            long = cut - last >= least or (start - cut >= LONG_GAP_S * rate and cut - last >= short)
            if position > 0 and cut + guard <= start and long and session.total - cut >= least // 2:
                cuts.append(cut)
                last = cut
        position = max(position, start + len(session.pieces[piece]) // 2)
    ends = cuts[1:] + [session.total]
    starts = [s for s, _ in session.places]
    segments = []
    for a, b in zip(cuts, ends):
        i = bisect_left(starts, a)                     # the first piece at or after the cut
        sound = min(starts[i] if i < len(starts) else b, b)
        # Whole frames of silence up to GUARD before the sound (none in the first segment,
        # whose stream carries the encoder's signature): never encoded, so a length change
        # upstream re-encodes only frames near sound. The encoder gets at least GUARD.
        silent = max(0, (sound - guard) // spf * spf - a) if a > 0 else 0
        last = b == session.total
        segments.append(Segment(a, b, None if last else (b - a - silent) // spf, silent))
    return segments


def render(session: Mix, start: int, end: int) -> bytes:
    """Session samples [start, end) as int16 PCM (what `Mix.chunks` plays there)."""
    if session.bed is not None:             # the bed is streamed from the start: play the mix through
        return _played(session, start, end)
    out = bytearray(2 * (end - start))
    starts = [s for s, _ in session.places]
    i = max(0, bisect_right(starts, start) - 1)
    while i < len(session.places) and session.places[i][0] < end:
        at, piece = session.places[i]
        data = session.pieces[piece]
        a, b = max(at, start), min(at + len(data) // 2, end)
        if a < b:
            out[2 * (a - start):2 * (b - start)] = data[2 * (a - at):2 * (b - at)]
        i += 1
    return bytes(out)


def _played(session: Mix, start: int, end: int) -> bytes:
    """Samples [start, end) of `session.chunks()`, copied into one buffer as they come (a
    session with a bed is one segment: its samples are held once, not twice)."""
    out = bytearray(2 * (end - start))
    seen, at = 0, 0
    for chunk in session.chunks():
        a, b = max(2 * start - seen, 0), min(2 * end - seen, len(chunk))
        if a < b:
            out[at:at + b - a] = chunk[a:b]
            at += b - a
        seen += len(chunk)
        if seen >= 2 * end:
            break
    return cast(bytes, out)     # read only from here on (hashed, piped, sliced): no second copy


class Cache(Protocol):
    """Where segment entries live (cache.PhraseCache: `segments/` beside `phrases/` and `pieces/`)."""

    def load_segment(self, key: str) -> bytes | None: ...

    def put_segment(self, key: str, data: bytes) -> None: ...

    def drop_segment(self, key: str) -> None: ...

    def load_note(self, key: str) -> bytes | None: ...

    def put_note(self, key: str, data: bytes) -> None: ...


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


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def workers() -> int:
    return max(1, os.cpu_count() or 1)


def _executor() -> ThreadPoolExecutor:
    """One pool of encoder threads per process, one per core: sessions made side by side
    share it, so no more encoders run at once than there are cores."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="audioroutine-encode")
        return _pool


@lru_cache(maxsize=4)
def encoder_identity(exe: str) -> str:
    """The encoder's version line (`ffmpeg version ...`): a different ffmpeg or LAME makes
    different frames, so it is part of every segment's key."""
    return run_ffmpeg(["-version"]).decode(errors="replace").splitlines()[0].strip()


def encode(session: Mix, path: Path, bitrate: str, settings: LoudnessSettings | None, cache: Cache | None = None,
           stats: Stats | None = None) -> Stats:
    """Encode the (already levelled) `session` to `path`: segments encoded side by side on
    the encoder threads (or read from `cache`), each checked for true peaks after coding
    when `settings` is given, joined in order into one gapless MP3 written as they come."""
    stats = stats or Stats()
    if session.bed is not None:
        return _encode_streamed(session, path, bitrate, settings, stats)
    rate = session.sample_rate
    segments = plan(session)
    exe = ffmpeg_exe()
    identity = f"{VERSION}|{encoder_identity(exe)}|{rate}|{bitrate}|" + (
        f"peak {settings.true_peak}" if settings is not None and settings.enabled else "no check")
    stats.add(segments=len(segments))
    cuts = [s.start for s in plan(session, 0)]

    spf = samples_per_frame(rate)

    def job(segment: Segment) -> Encoded | _Pending:
        """On an encoder thread: a segment from the cache, else encoded; its peak check (the
        decode) is left to `finish`, which runs several segments' checks in one decoder run."""
        encoded = Segment(segment.head, segment.end, segment.keep)     # what the encoder gets
        pcm = render(session, encoded.start, encoded.end)
        key = hashlib.sha256(f"{identity}|{encoded.start % block_size(rate)}|{encoded.keep}".encode()
                             + hashlib.sha256(pcm).digest()).hexdigest()
        found = _read_entry(cache, key) if cache is not None else None
        if found is not None:
            stats.add(cached=1)
            return done(segment, found)
        if settings is None or not settings.enabled:
            return done(segment, stored(key, _encoded(_encode_checked(pcm, encoded, cuts, rate, bitrate, None, stats))))
        frames = split_frames(encode_segment(pcm, rate, bitrate, stats))
        return _Pending(segment, key, pcm, frames, _Check(frames, pcm, rate, encoded.start % block_size(rate),
                                                          settings))

    def stored(key: str, found: Encoded) -> Encoded:
        if cache is not None:
            cache.put_segment(key, _entry(found))
        return found

    def done(segment: Segment, found: Encoded) -> Encoded:
        silence = silent_frames(int.from_bytes(found.data[:4], "big"), segment.start // spf, segment.silent // spf)
        return _silence_then(silence, found)

    def finish(pending: list[_Pending]) -> list[Encoded]:
        """The checks of `pending` in one decoder run, then each segment's fix if it went over."""
        assert settings is not None
        peaks = decode_checks([p.check for p in pending], stats)
        return [done(p.segment, stored(p.key, _encoded(_encode_checked(
            p.pcm, Segment(p.segment.head, p.segment.end, p.segment.keep), cuts, rate, bitrate, settings, stats,
            (p.frames, found))))) for p, found in zip(pending, peaks)]

    pool = _executor()
    window = 2 * workers()
    futures: list[Future[Encoded | _Pending]] = []
    ahead = iter(segments)

    def next_result() -> Encoded | _Pending:
        result = futures.pop(0).result()
        for segment in ahead:
            futures.append(pool.submit(job, segment))
            break
        return result

    def results() -> Iterator[Encoded]:
        for segment in ahead:
            futures.append(pool.submit(job, segment))
            if len(futures) >= window:
                break
        while futures:
            result = next_result()
            if isinstance(result, Encoded):
                yield result
                continue
            batch, after = [result], None
            while futures and len(batch) < CHECK_BATCH:
                more = next_result()
                if isinstance(more, Encoded):
                    after = more
                    break
                batch.append(more)
            yield from finish(batch)
            if after is not None:
                yield after

    try:
        _join(results(), path, rate, session.total)
    finally:
        for future in futures:
            future.cancel()
    return stats


@dataclass
class _Pending:
    """A segment encoded and waiting for its peak check."""

    segment: Segment
    key: str
    pcm: bytes
    frames: list[bytes]
    check: _Check


def _encode_streamed(session: Mix, path: Path, bitrate: str, settings: LoudnessSettings | None,
                     stats: Stats) -> Stats:
    """A session with a bed (one segment: no digital silence to cut in), never held whole:
    `session.chunks()` streamed into one LAME run writing a bare stream to a temporary file;
    with `settings`, that file decoded as it streams and its true peaks checked; where a
    block went over, the whole session played again through the fix (at most PEAK_PASSES
    encodes). The frames are then joined from the file, a batch at a time. Memory: a chunk,
    the per-block peaks and frame sizes (a few MB for 2 hours)."""
    rate = session.sample_rate
    check = settings is not None and settings.enabled
    stats.add(segments=1)
    fix: np.ndarray | None = None
    threshold = (settings.true_peak if check and settings is not None else 0.0) - PEAK_MARGIN_DB - 3.0

    def peaks(chunks: Iterator[bytes]) -> np.ndarray:
        return stream_true_peaks(_window(chunks, 2 * LEAD, 2 * session.total, b""), rate, threshold)

    with tempfile.TemporaryDirectory(prefix="audioroutine-") as folder:
        name = Path(folder) / "session.mp3"
        for _ in range(PEAK_PASSES if check else 1):
            started = time.monotonic()
            chunks = session.chunks() if fix is None else Envelope(fix, rate).apply(session.chunks())
            ffmpeg_through(_encoder(rate, bitrate) + ["-f", "mp3", "-y", str(name)], chunks)
            stats.add(encodes=1, encoded_samples=session.total)
            _log("encode", session.total, started)
            if not check:
                break
            assert settings is not None
            started = time.monotonic()
            found = ffmpeg_through(["-f", "mp3", "-i", str(name), "-f", "s16le", "-ac", "1", "-ar", str(rate),
                                    "pipe:1"], (), peaks)
            assert found is not None
            stats.add(decodes=1)
            _log("decode", session.total, started)
            more = peak_fix(found, settings)
            if more is None:
                break
            fix = more if fix is None else fix * more
        _join(_file_frames(name), path, rate, session.total)
    return stats


def _file_frames(name: Path, batch: int = 4096) -> Iterator[Encoded]:
    """The frames of a bare stream on disk, `batch` frames at a time."""
    with open(name, "rb") as stream:
        data, ended = b"", False
        while True:
            at, count = 0, 0
            while at + 4 <= len(data) and count < batch:
                size = frame_length(int.from_bytes(data[at:at + 4], "big"))
                if at + size > len(data):
                    break
                at, count = at + size, count + 1
            if count == batch or (ended and at):
                yield _encoded(split_frames(data[:at]))
                data = data[at:]
            elif ended:
                if data:
                    raise BuildError("internal: the encoder's stream ends in a truncated frame")
                return
            else:
                more = stream.read(1 << 18)
                data, ended = data + more, not more


def _encode_checked(pcm: bytes, segment: Segment, cuts: list[int], rate: int, bitrate: str,
                    settings: LoudnessSettings | None, stats: Stats,
                    checked: tuple[list[bytes], np.ndarray] | None = None) -> list[bytes]:
    """One segment's kept frames: encoded, and while its decode's true peaks go over the
    ceiling (at most PEAK_PASSES checks), lowered there and encoded again, but only from
    the last cut (`cuts`: every place a segment could start) before the first block that
    went over: the frames before it need no bits of later ones (the bit reservoir only
    reaches back), so they stay; the new stream's first frame reaches back to none.
    `checked`: the segment's frames and their peaks, already there."""
    if settings is None or not settings.enabled:
        return keep(split_frames(encode_segment(pcm, rate, bitrate, stats)), segment.keep)
    spf, block = samples_per_frame(rate), block_size(rate)
    lead = segment.start % block                 # the session's 10 ms grid, from the segment's start
    frames, peaks = checked or encode_and_check(pcm, rate, bitrate, lead, settings, stats)
    fix: np.ndarray | None = None
    for _ in range(1, PEAK_PASSES):
        more = peak_fix(peaks, settings)
        if more is None:
            break
        fix = more if fix is None else fix * more
        # The fix moves the gain from 4 blocks before the first block that went over to 4
        # after the last (loudness._smoothed and the interpolation between block centres).
        over = np.flatnonzero(more < 1.0)
        first = segment.start - lead + (int(over[0]) - 4) * block
        last = segment.start - lead + (int(over[-1]) + 5) * block
        cut = max([segment.start] + [c for c in cuts if segment.start < c <= first])
        after = min([c for c in cuts if last <= c < segment.end], default=None)
        gained = b"".join(Envelope(fix, rate).apply([bytes(2 * lead) + pcm]))[2 * lead:]
        i0 = (cut - segment.start) // spf
        spliced = None
        if after is not None:                # that part alone, spliced in, if the reservoir allows
            part = gained[2 * (cut - segment.start):2 * (after - segment.start)]
            again, redone = encode_and_check(part, rate, bitrate, cut % block, settings, stats)
            i1 = (after - segment.start) // spf
            joined = splice(again[:i1 - i0], frames[i0:i1], frames[i1:])
            spliced = None if joined is None else frames[:i0] + joined
        if spliced is None:                  # else from there to the segment's end
            after = segment.end
            part = gained[2 * (cut - segment.start):]
            again, redone = encode_and_check(part, rate, bitrate, cut % block, settings, stats)
            spliced = frames[:i0] + again
        frames = spliced
        assert after is not None
        base = segment.start // block
        peaks = np.concatenate((peaks[:cut // block - base], redone, peaks[-(-after // block) - base:]))
    return keep(frames, segment.keep)


def keep(frames: list[bytes], count: int | None) -> list[bytes]:
    """The first `count` frames of a stream (all for None)."""
    if count is None:
        return frames
    if len(frames) < count:
        raise BuildError("internal: the encoder returned fewer frames than a segment spans")
    return frames[:count]


def _encoder(rate: int, bitrate: str) -> list[str]:
    """ffmpeg's arguments up to the MP3 output: PCM from stdin, LAME CBR, no tag frame."""
    return ["-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0", "-map", "0:a", "-map_metadata", "-1",
            "-fflags", "+bitexact", "-flags:a", "+bitexact", "-codec:a", "libmp3lame", "-b:a", bitrate,
            "-id3v2_version", "0", "-write_xing", "0"]


def encode_segment(pcm: bytes, rate: int, bitrate: str, stats: Stats | None = None) -> bytes:
    """int16 mono PCM as a bare CBR MP3 stream (LAME through ffmpeg, no tag frame)."""
    started = time.monotonic()
    out = ffmpeg_through(_encoder(rate, bitrate) + ["-f", "mp3", "pipe:1"], [pcm], lambda chunks: b"".join(chunks))
    assert out is not None
    if stats is not None:
        stats.add(encodes=1, encoded_samples=len(pcm) // 2)
    _log("encode", len(pcm) // 2, started)
    return out


# Where the peak check decodes (measured on the seed routine, both levels, Piper and espeak,
# bench/bench_segments.py): a 10 ms block of a decode never rose more than 1.70 dB over the
# largest true peak of the PCM within NEAR_BLOCKS blocks of it (LAME's 0.95 scaling
# included; the quantization noise of a loud block spreads over its frame's window). So
# only the frames around blocks of the PCM within CODING_RISE_DB of the check's ceiling are
# decoded (on the seed 33-40 % of the samples); every other block cannot go over.
CODING_RISE_DB = 3.0
NEAR_BLOCKS = 6
RESERVOIR_BYTES = {True: 511, False: 255}    # main_data_begin's reach: MPEG-1, MPEG-2/2.5
SILENT_LEAD = 2          # silent frames before a check's frames: the decoder's overlap and filterbank emptied
CHECK_BATCH = 8          # segments checked in one decoder run at most


def encode_and_check(pcm: bytes, rate: int, bitrate: str, lead: int, settings: LoudnessSettings,
                     stats: Stats | None = None) -> tuple[list[bytes], np.ndarray]:
    """A segment's bare MP3 stream (its frames) and the true peaks per 10 ms block of its decode (on the
    session's grid: `lead` zeros first) wherever it could go over the ceiling: `check`."""
    frames = split_frames(encode_segment(pcm, rate, bitrate, stats))
    return frames, check(frames, pcm, rate, lead, settings, stats)


def check(frames: list[bytes], pcm: bytes, rate: int, lead: int, settings: LoudnessSettings,
          stats: Stats | None = None) -> np.ndarray:
    """True peaks per 10 ms block of the decode of `frames` (the stream of `pcm`), on the
    session's grid (`lead` zeros first), where it could go over the ceiling (`_Check`)."""
    return decode_checks([_Check(frames, pcm, rate, lead, settings)], stats)[0]


class _Check:
    """The peak check of one stream: true peaks per 10 ms block of its decode in every block
    within NEAR_BLOCKS of one whose PCM true peak is within CODING_RISE_DB of the ceiling
    (0 in blocks no decoder can lift over it). Only the frames that play those blocks are
    decoded, each run of them after enough frames before it to refill the bit reservoir
    and the decoder's overlap, and the whole after SILENT_LEAD silent frames that leave
    the decoder as a fresh one (their output dropped): what a decoder of the whole stream
    returns there, sample for sample (tests/audio/test_segments.py), wherever the check sits in a
    decoder run of several (`decode_checks`)."""

    def __init__(self, frames: list[bytes], pcm: bytes, rate: int, lead: int, settings: LoudnessSettings) -> None:
        self.frames, self.pcm, self.rate, self.lead, self.settings = frames, pcm, rate, lead, settings
        spf, block = samples_per_frame(rate), block_size(rate)
        self.ceiling_db = settings.true_peak - PEAK_MARGIN_DB
        source = stream_true_peaks(_window(iter((pcm,)), 0, len(pcm), bytes(2 * lead)), rate,
                                   self.ceiling_db - CODING_RISE_DB - 3.0)
        self.blocks = len(source)
        self.loud = source > 10 ** ((self.ceiling_db - CODING_RISE_DB) / 20)
        near = np.flatnonzero(self.loud)
        # Blocks [b - NEAR, b + NEAR] of the session grid are input samples from
        # (b - NEAR) * block - lead; input sample s is decoded at s + LEAD, in frame (s + LEAD) // spf;
        # one frame more either side: the true peak's interpolation reads past a block's edges.
        first = np.maximum(((near - NEAR_BLOCKS) * block - lead + LEAD) // spf - 1, 0)
        last = np.minimum(((near + NEAR_BLOCKS + 1) * block - lead + LEAD - 1) // spf + 1, len(frames) - 1)
        self.warm = _warmup_frames(frames[0])
        self.runs: list[list[int]] = []
        for a, b in zip(first.tolist(), last.tolist()):
            if self.runs and a - self.warm <= self.runs[-1][1] + 1:
                self.runs[-1][1] = max(self.runs[-1][1], b)
            else:
                self.runs.append([a, b])

    def stream(self) -> list[bytes]:
        """The frames to decode (none when no block is near the ceiling)."""
        if not self.runs:
            return []
        silence = silent_frames(int.from_bytes(self.frames[0][:4], "big"), 0, SILENT_LEAD)
        return silence + [frame for a, b in self.runs for frame in self.frames[max(0, a - self.warm):b + 1]]

    def peaks(self, out: bytes) -> np.ndarray:
        """The peaks from `out`, the decode of `stream()`."""
        if not self.runs:
            return np.zeros(self.blocks)
        spf = samples_per_frame(self.rate)

        def played() -> Iterator[bytes]:           # the stream's decode, zeros outside the runs
            at, position = 2 * SILENT_LEAD * spf, 0
            for a, b in self.runs:
                at += 2 * (a - max(0, a - self.warm)) * spf
                yield bytes(2 * (a * spf - position))
                yield out[at:at + 2 * (b + 1 - a) * spf]
                at += 2 * (b + 1 - a) * spf
                position = (b + 1) * spf

        found = stream_true_peaks(_window(played(), 2 * LEAD, len(self.pcm), bytes(2 * self.lead)), self.rate,
                                  self.ceiling_db - 3.0)
        return np.where(_widened(self.loud), found, 0.0)


def decode_checks(checks: list[_Check], stats: Stats | None = None) -> list[np.ndarray]:
    """The peaks of each check, all decoded in one ffmpeg run (none when no block of any is
    near the ceiling). If the decoder returned other than a frame's samples per frame, each
    stream is decoded whole instead."""
    streams = [check.stream() for check in checks]
    frames = sum(len(stream) for stream in streams)
    if not frames:
        return [check.peaks(b"") for check in checks]
    rate = checks[0].rate
    spf = samples_per_frame(rate)
    started = time.monotonic()
    out = ffmpeg_through(["-f", "mp3", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", str(rate), "pipe:1"],
                         [b"".join(frame for stream in streams for frame in stream)], lambda chunks: b"".join(chunks))
    assert out is not None
    if stats is not None:
        stats.add(decodes=1)
    _log("decode", frames * spf, started)
    if len(out) != 2 * frames * spf:           # a decoder that dropped a frame: decode each whole
        return [decode_peaks(b"".join(c.frames), rate, c.lead, len(c.pcm) // 2, c.settings, stats) for c in checks]
    found, at = [], 0
    for check, stream in zip(checks, streams):
        found.append(check.peaks(out[at:at + 2 * len(stream) * spf]))
        at += 2 * len(stream) * spf
    return found


def _widened(mask: np.ndarray) -> np.ndarray:
    """`mask` with every True spread NEAR_BLOCKS blocks either way."""
    padded = np.concatenate((np.zeros(NEAR_BLOCKS, dtype=bool), mask, np.zeros(NEAR_BLOCKS, dtype=bool)))
    return np.asarray(np.lib.stride_tricks.sliding_window_view(padded, 2 * NEAR_BLOCKS + 1).any(axis=1))


def _warmup_frames(frame: bytes) -> int:
    """Frames decoded before a run so that its first frame decodes as in the whole stream:
    as many as the bit reservoir can reach back over (at this frame size), and two more
    (the overlap of the frame before, and of the one before that, whose output feeds the
    synthesis filterbank). Measured at 64 kbit/s, 22,050 Hz: 4 are needed, the rule gives 4."""
    header = int.from_bytes(frame[:4], "big")
    mpeg1 = (header >> 19) & 3 == 3
    payload = len(frame) - main_data(frame)[0]
    return -(-RESERVOIR_BYTES[mpeg1] // max(payload, 1)) + 2


def decode_peaks(data: bytes, rate: int, lead: int, samples: int, settings: LoudnessSettings,
                 stats: Stats | None = None) -> np.ndarray:
    """True peaks per 10 ms block of a segment's own decode (its `samples` samples, after the
    stream's LEAD), on the session's grid: `lead` zeros first. All of it decoded."""
    started = time.monotonic()
    threshold = settings.true_peak - PEAK_MARGIN_DB - 3.0

    def peaks(chunks: Iterator[bytes]) -> np.ndarray:
        return stream_true_peaks(_window(chunks, 2 * LEAD, 2 * samples, bytes(2 * lead)), rate, threshold)

    found = ffmpeg_through(["-f", "mp3", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", str(rate), "pipe:1"],
                           [data], peaks)
    assert found is not None
    if stats is not None:
        stats.add(decodes=1)
    _log("decode", samples, started)
    return found


def _window(chunks: Iterator[bytes], skip: int, size: int, first: bytes) -> Iterator[bytes]:
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


@dataclass(frozen=True)
class Encoded:
    """A segment's kept frames, their CRC-16 and the size of each (worked out where the
    segment was encoded, on an encoder thread, not where they are joined)."""

    data: bytes
    crc: int
    sizes: array[int]


def _encoded(frames: list[bytes], crc: int | None = None) -> Encoded:
    data = b"".join(frames)
    return Encoded(data, crc16(data) if crc is None else crc, array("I", map(len, frames)))


def _silence_then(silence: list[bytes], found: Encoded) -> Encoded:
    """`silence` (silent frames: a header, then zeros) before `found`, the CRC carried over
    the zeros without reading them."""
    if not silence:
        return found
    crc = 0
    for frame in silence:
        crc = shift(crc16(frame[:4], crc), len(frame) - 4)
    sizes = array("I", map(len, silence))
    sizes.extend(found.sizes)
    return Encoded(b"".join(silence) + found.data, crc16_combine(crc, found.crc, len(found.data)), sizes)


def _join(results: Iterator[Encoded], path: Path, rate: int, total: int) -> None:
    """Write the Info frame's room, then each segment's frames as they come, then the Info
    frame itself (frame count, bytes, TOC, delay and padding, CRCs)."""
    spf = samples_per_frame(rate)
    sizes = array("I")                    # bytes per frame (4 bytes each: the heap stays flat)
    crc, audio = 0, 0
    first: bytes | None = None
    with open(path, "wb") as out:
        placeholder = 0
        for segment in results:
            if first is None:
                first = segment.data
                placeholder = len(_tag(first, 0, 0, [0] * 100, 0, 0))
                out.write(bytes(placeholder))
            out.write(segment.data)
            crc = crc16_combine(crc, segment.crc, len(segment.data))
            audio += len(segment.data)
            sizes.extend(segment.sizes)
        if first is None:
            raise BuildError("internal: a session with no segment")
        frames = len(sizes)
        padding = frames * spf - ENCODER_DELAY - total
        if not 0 <= padding < 4096:
            raise BuildError(f"internal: the joined stream's padding is {padding} samples")
        offsets = np.concatenate(([0], np.cumsum(sizes)))
        toc = [int(offsets[i * frames // 100]) for i in range(100)]
        tag = _tag(first, frames, audio, toc, padding, crc)
        if len(tag) != placeholder:
            raise BuildError("internal: the tag frame changed size")
        out.seek(0)
        out.write(tag)


def _tag(first: bytes, frames: int, audio: int, toc: list[int], padding: int, crc: int) -> bytes:
    return info_frame(int.from_bytes(first[:4], "big"), frames, audio, toc, padding, crc, lame_version(first))


def _entry(found: Encoded) -> bytes:
    """A cache entry: MAGIC, the sha256 of the rest, the frames' CRC-16 (2 bytes), the frames."""
    body = found.crc.to_bytes(2, "big") + found.data
    return MAGIC + hashlib.sha256(body).digest() + body


def _read_entry(cache: Cache, key: str) -> Encoded | None:
    """An entry's frames if it verifies (checksum, whole frames); a damaged one is dropped."""
    data = cache.load_segment(key)
    if data is None:
        return None
    head = len(MAGIC) + 32
    body = data[head:]
    if data[:len(MAGIC)] == MAGIC and hashlib.sha256(body).digest() == data[len(MAGIC):head] and len(body) > 2:
        try:
            return _encoded(split_frames(body[2:]), int.from_bytes(body[:2], "big"))
        except ValueError:
            pass
    cache.drop_segment(key)
    return None


def _log(kind: str, samples: int, started: float) -> None:
    """One line per encoder or decoder run to $AUDIOROUTINE_ENCODE_LOG, when set (bench/)."""
    target = os.environ.get(LOG_VAR)
    if target:
        line = f"{kind} {samples} {time.monotonic() - started:.4f} {os.getpid()}\n"
        with open(target, "a", encoding="utf-8") as log:
            log.write(line)

