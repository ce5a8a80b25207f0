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
file equals each segment's own decode, sample for sample (tests/test_segments.py).

The cache key of a segment is the sha256 of its samples (after loudness), the encoder (its
version line, bitrate, rate), the true-peak ceiling and where it ends (frames kept). An
entry holds the checked frames; a hit is neither encoded nor decoded again. The peak check
of lossy coding (loudness.stream_true_peaks / peak_fix) runs per fresh segment, on its own
decode: only a segment that went over is encoded again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from array import array
from bisect import bisect_right
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
    samples_per_frame,
    splice,
    split_frames,
)
from .render import Mix

LEAD = ENCODER_DELAY + DECODER_DELAY     # a sample's place in a LAME stream's decode, less its place in the input
GUARD_FRAMES = 2                         # frames of silence past LEAD on each side of a cut
MIN_SEGMENT_S = 30                       # a segment lasts at least this long (fewer, longer encoder runs)
VERSION = 1                              # of the segment format: a change makes new cache entries
MAGIC = b"ARSEG001"
LOG_VAR = "AUDIOROUTINE_ENCODE_LOG"      # a file: one line per encoder/decoder run (bench/)


@dataclass(frozen=True)
class Segment:
    """Session samples [start, end), encoded from `start` (a frame boundary); `keep`: the
    frames its stream contributes (None: all of them, the last segment)."""

    start: int
    end: int
    keep: int | None


def plan(session: Mix, min_seconds: float = MIN_SEGMENT_S) -> list[Segment]:
    """Where to cut `session`: at the first frame boundary of a silent gap (between two
    pieces) with LEAD + GUARD samples of silence before it and GUARD after, once the
    segment so far lasts `min_seconds`. Decided by the pieces' places alone, from the start:
    the same session always gets the same cuts. A session with a music bed (`Mix.bed`) has
    no digital silence to cut in: it is one segment."""
    if session.bed is not None:
        return [Segment(0, session.total, None)]
    spf = samples_per_frame(session.sample_rate)
    guard = GUARD_FRAMES * spf
    least = int(min_seconds * session.sample_rate)
    cuts, position, last = [0], 0, 0
    for start, piece in session.places:
        if start >= position:                    # [position, start) is silence
            cut = -(-(position + LEAD + guard) // spf) * spf
            if position > 0 and cut + guard <= start and cut - last >= least and session.total - cut >= least // 2:
                cuts.append(cut)
                last = cut
        position = max(position, start + len(session.pieces[piece]) // 2)
    ends = cuts[1:] + [session.total]
    return [Segment(a, b, (b - a) // spf if b < session.total else None) for a, b in zip(cuts, ends)]


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

    def job(segment: Segment) -> Encoded:
        pcm = render(session, segment.start, segment.end)
        key = hashlib.sha256(f"{identity}|{segment.start % block_size(rate)}|{segment.keep}".encode()
                             + hashlib.sha256(pcm).digest()).hexdigest()
        if cache is not None:
            found = _read_entry(cache, key)
            if found is not None:
                stats.add(cached=1)
                return _encoded(found)
        frames = _encode_checked(pcm, segment, cuts, rate, bitrate, settings, stats)
        if cache is not None:
            cache.put_segment(key, _entry(frames))
        return _encoded(frames)

    pool = _executor()
    window = 2 * workers()
    futures: list[Future[Encoded]] = []
    ahead = iter(segments)

    def results() -> Iterator[Encoded]:
        for segment in ahead:
            futures.append(pool.submit(job, segment))
            if len(futures) >= window:
                break
        while futures:
            done = futures.pop(0).result()
            for segment in ahead:
                futures.append(pool.submit(job, segment))
                break
            yield done

    try:
        _join(results(), path, rate, session.total)
    finally:
        for future in futures:
            future.cancel()
    return stats


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
                yield _encoded(data[:at])
                data = data[at:]
            elif ended:
                if data:
                    raise BuildError("internal: the encoder's stream ends in a truncated frame")
                return
            else:
                more = stream.read(1 << 18)
                data, ended = data + more, not more


def _encode_checked(pcm: bytes, segment: Segment, cuts: list[int], rate: int, bitrate: str,
                    settings: LoudnessSettings | None, stats: Stats) -> bytes:
    """One segment's kept frames: encoded, and while its decode's true peaks go over the
    ceiling (at most PEAK_PASSES checks), lowered there and encoded again, but only from
    the last cut (`cuts`: every place a segment could start) before the first block that
    went over: the frames before it need no bits of later ones (the bit reservoir only
    reaches back), so they stay; the new stream's first frame reaches back to none."""
    if settings is None or not settings.enabled:
        return keep(encode_segment(pcm, rate, bitrate, stats), segment.keep)
    spf, block = samples_per_frame(rate), block_size(rate)
    lead = segment.start % block                 # the session's 10 ms grid, from the segment's start
    data, peaks = encode_and_check(pcm, rate, bitrate, lead, settings, stats)
    frames = split_frames(data)
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
            joined = splice(split_frames(again)[:i1 - i0], frames[i0:i1], frames[i1:])
            spliced = None if joined is None else frames[:i0] + joined
        if spliced is None:                  # else from there to the segment's end
            after = segment.end
            part = gained[2 * (cut - segment.start):]
            again, redone = encode_and_check(part, rate, bitrate, cut % block, settings, stats)
            spliced = frames[:i0] + split_frames(again)
        frames = spliced
        assert after is not None
        base = segment.start // block
        peaks = np.concatenate((peaks[:cut // block - base], redone, peaks[-(-after // block) - base:]))
    return b"".join(frames if segment.keep is None else frames[:segment.keep])


def keep(data: bytes, frames: int | None) -> bytes:
    """The first `frames` frames of a stream (all for None)."""
    if frames is None:
        return data
    kept = split_frames(data)[:frames]
    if len(kept) < frames:
        raise BuildError("internal: the encoder returned fewer frames than a segment spans")
    return b"".join(kept)


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


_loopback: list[bool] = []      # whether this ffmpeg decodes in the encoder's run (7.1+), once known


def encode_and_check(pcm: bytes, rate: int, bitrate: str, lead: int, settings: LoudnessSettings,
                     stats: Stats | None = None) -> tuple[bytes, np.ndarray]:
    """A segment's bare MP3 stream and the true peaks per 10 ms block of its decode (on the
    session's grid: `lead` zeros first). One ffmpeg run where it can: a loopback decoder
    (ffmpeg 7.1+) decodes the encoder's own packets, gapless, exactly what a decoder of the
    frames returns (tests/test_segments.py); else the stream is decoded in a second run."""
    if _loopback == [False]:
        data = encode_segment(pcm, rate, bitrate, stats)
        return data, decode_peaks(data, rate, lead, len(pcm) // 2, settings, stats)
    started = time.monotonic()
    threshold = settings.true_peak - PEAK_MARGIN_DB - 3.0

    def peaks(chunks: Iterator[bytes]) -> np.ndarray:
        return stream_true_peaks(_window(chunks, 0, len(pcm), bytes(2 * lead)), rate, threshold)

    fd, name = tempfile.mkstemp(prefix="audioroutine-", suffix=".mp3")
    os.close(fd)
    try:
        found = ffmpeg_through(_encoder(rate, bitrate) + ["-f", "mp3", "-y", name, "-dec", "0:0", "-filter_complex",
                                                         "[dec:0]anull[d]", "-map", "[d]", "-f", "s16le", "-ac", "1",
                                                         "pipe:1"], [pcm], peaks)
        data = Path(name).read_bytes()
    except BuildError:
        if _loopback:
            raise
        _loopback.append(False)              # an ffmpeg older than 7.1: two runs from now on
        return encode_and_check(pcm, rate, bitrate, lead, settings, stats)
    finally:
        os.unlink(name)
    if not _loopback:
        _loopback.append(True)
    assert found is not None
    if stats is not None:
        stats.add(encodes=1, decodes=1, encoded_samples=len(pcm) // 2)
    _log("encode", len(pcm) // 2, started)
    return data, found


def decode_peaks(data: bytes, rate: int, lead: int, samples: int, settings: LoudnessSettings,
                 stats: Stats | None = None) -> np.ndarray:
    """True peaks per 10 ms block of a segment's own decode (its `samples` samples, after the
    stream's LEAD), on the session's grid: `lead` zeros first."""
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


def _encoded(data: bytes) -> Encoded:
    return Encoded(data, crc16(data), array("I", (len(frame) for frame in split_frames(data))))


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


def _entry(frames: bytes) -> bytes:
    return MAGIC + hashlib.sha256(frames).digest() + frames


def _read_entry(cache: Cache, key: str) -> bytes | None:
    """An entry's frames if it verifies (checksum, whole frames); a damaged one is dropped."""
    data = cache.load_segment(key)
    if data is None:
        return None
    head = len(MAGIC) + 32
    frames = data[head:]
    if data[:len(MAGIC)] == MAGIC and hashlib.sha256(frames).digest() == data[len(MAGIC):head] and frames:
        try:
            split_frames(frames)
            return frames
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

