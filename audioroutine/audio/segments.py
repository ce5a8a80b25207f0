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

The cache key of a segment names its encoded samples without rendering them: their length,
each piece's place in them and what it sounds like (render.Mix.digest: the piece's samples,
or for a phrase the digest its cache entry is checked against, the session's gain and
limiter ceiling: loudness.Levelled), with the encoder (its versions:
lamelib.identity, bitrate, rate), the true-peak ceiling and where it ends (frames kept); so a hit
levels and renders nothing. Nothing of where it sits in the session is in it: its peak
check works on its own 10 ms grid, so an edit that moves what follows by whole frames
(timeline.layout puts every cue after a pause between sentences on the frame grid) finds
those segments in the cache. An entry holds the checked frames; a hit is neither encoded
nor decoded again. Segments are taken in batches (`batches`): a batch's misses are encoded
one after the other on one encoder thread, a LAME stream each in this process (lamelib.py:
the GIL let go, so the threads run side by side), and checked in one decoder run. The peak check of lossy coding
(loudness.stream_true_peaks / peak_fix) decodes only the frames near blocks that could go
over (peakcheck.py): only a segment that went over is encoded again.

A batch's misses are encoded by `encode_misses` (PCM in, checked frames out: no cache, no
session), on this process's encoder threads, or, for a session made in a Dask worker's task
once it has missed DASK_MIN_MISSES_S seconds of audio, as a Dask task on any worker
(segment_tasks.py): the same bytes either way.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from ..core.errors import BuildError
from ..core.ffmpeg import ffmpeg_through
from ..core.files import sealed, unsealed
from ..model.loudness_settings import LoudnessSettings
from . import decoder, lamelib, segment_tasks
from .lame import LEAD as LEAD  # defined there: still importable from here
from .lame import LOG_VAR as LOG_VAR
from .lame import Stats as Stats
from .lame import encode_segment as encode_segment
from .lame import encoder_args, log_run, window
from .loudness import PEAK_MARGIN_DB, PEAK_PASSES, Envelope, block_size, peak_fix, stream_peak_fix
from .mp3frames import (
    ENCODER_DELAY,
    crc16,
    crc16_combine,
    frame_length,
    info_frame,
    lame_version,
    samples_per_frame,
    silent_run,
    splice,
    split_frames,
)
from .peakcheck import CHECK_BATCH, CHECK_SECONDS, Check, decode_checks, encode_and_check
from .render import Mix

GUARD_FRAMES = 2                         # frames of silence past LEAD on each side of a cut
# A segment lasts at least MIN_SEGMENT_S (was 30 s while each batch was an ffmpeg run): a
# LAME stream in this process starts in under 1 ms, and the shorter the segments, the sooner
# after an edit they are found in the cache again (seed, the mid edit: 8.5 % of the samples
# encoded at 30 s, 5.6 % at 5 s; the warm build's CPU about 5 % more). A segment also ends
# before a silence of LONG_GAP_S (a hold, a rest: not encoded) once it lasts SHORT_SEGMENT_S.
MIN_SEGMENT_S = 5
LONG_GAP_S = 2.5
SHORT_SEGMENT_S = 5
VERSION = 5                              # of the segment format: a change makes new cache entries
MAGIC = b"ARSEG003"                      # 3: the frames' sizes stored (read without parsing a frame)
DASK_MIN_MISSES_S = 60                   # a session made in a Dask task: its misses become tasks from this much audio


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
        position = max(position, start + session.length(piece))
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
        a, b = max(at, start), min(at + session.length(piece), end)
        if a < b:
            data = session.pieces[piece]
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


def encode(session: Mix, path: Path, bitrate: str, settings: LoudnessSettings | None, cache: Cache | None = None,
           stats: Stats | None = None) -> Stats:
    """Encode the (already levelled) `session` to `path`: segments taken a batch at a time
    (`batches`) on the encoder threads, each read from `cache` or encoded, checked for true
    peaks after coding when `settings` is given, joined in order into one gapless MP3
    written as they come. In a Dask worker's task, a long session's misses are encoded as
    tasks on the cluster instead (segment_tasks.py, DASK_MIN_MISSES_S)."""
    stats = stats or Stats()
    if session.bed is not None:
        return _encode_streamed(session, path, bitrate, settings, stats)
    rate = session.sample_rate
    segments = plan(session)
    check = settings is not None and settings.enabled
    identity = f"{VERSION}|{lamelib.identity()}|{rate}|{bitrate}|" + (   # another LAME: other frames
        f"peak {settings.true_peak} {decoder.identity()}" if settings is not None and check else "no check")
    stats.add(segments=len(segments))
    cuts = [s.start for s in plan(session, 0)]
    spf = samples_per_frame(rate)

    def own(segment: Segment) -> Segment:
        """The encoded part of `segment` on its own grid (its first sample is 0): its frames,
        its peak check's 10 ms blocks and any fix depend on its samples alone, so the same
        samples anywhere on the frame grid are the same cache entry."""
        return Segment(0, segment.end - segment.head, segment.keep)

    def cuts_in(segment: Segment) -> list[int]:
        """The places inside `segment` a segment could start, on its own grid."""
        return [c - segment.head for c in cuts if segment.head < c < segment.end]

    starts = [at for at, _ in session.places]

    def key_of(segment: Segment) -> str:
        """What the encoder would get, named without rendering it: the samples' length and
        where each piece sounds in them, with what it sounds like (Mix.digest: its samples,
        and the gain and limiter it gets), the frames kept and the encoder."""
        named = hashlib.sha256(f"{identity}|{segment.keep}|{segment.end - segment.head}".encode())
        i = max(0, bisect_right(starts, segment.head) - 1)
        while i < len(starts) and starts[i] < segment.end:
            at, piece = session.places[i]
            if at + session.length(piece) > segment.head:
                named.update(f"|{at - segment.head}|{piece[0]}|".encode() + session.digest(piece))
            i += 1
        return named.hexdigest()

    def job(batch: list[Segment], run: Callable[..., Misses] = _here) -> list[Encoded]:
        """On an encoder thread: each segment of `batch` from the cache, the others rendered
        and encoded by `run` (encode_misses: here, or as a Dask task), and stored."""
        found: list[Encoded | None] = []
        misses: list[tuple[int, str, bytes]] = []
        for i, segment in enumerate(batch):
            key = key_of(segment)
            hit = _read_entry(cache, key) if cache is not None else None
            if hit is not None:
                stats.add(cached=1)
            else:
                misses.append((i, key, render(session, segment.head, segment.end)))
            found.append(hit)
        if misses:
            owned = [batch[i] for i, _, _ in misses]
            made, spent = run(sum(len(pcm) for _, _, pcm in misses) / 2 / rate, encode_misses,
                              [pcm for _, _, pcm in misses], [own(s) for s in owned], [cuts_in(s) for s in owned],
                              rate, bitrate, settings)
            stats.merge(spent)
            for (i, key, _), encoded in zip(misses, made):
                found[i] = encoded
                if cache is not None:
                    cache.put_segment(key, _entry(encoded))
        return [_silence_then(int.from_bytes(f.data[:4], "big"), s.start // spf, s.silent // spf, f)
                for s, f in zip(batch, cast(list[Encoded], found))]

    window = 2 * workers()
    futures: deque[Future[list[Encoded]]] = deque()
    ahead = iter(batches(segments, rate))
    encoded = sum(s.end - s.head for s in segments) / rate
    remote: AbstractContextManager[segment_tasks.Tasks | None] = (
        segment_tasks.tasks(window, DASK_MIN_MISSES_S, _local) if encoded >= DASK_MIN_MISSES_S else nullcontext())

    def results(tasks: segment_tasks.Tasks | None) -> Iterator[Encoded]:
        pool, run = (_executor(), _here) if tasks is None else (tasks.pool, tasks.run)
        for batch in ahead:
            futures.append(pool.submit(job, batch, run))
            if len(futures) >= window:
                break
        while futures:
            made = futures.popleft().result()
            for batch in ahead:
                futures.append(pool.submit(job, batch, run))
                break
            yield from made

    with remote as tasks:
        try:
            _join(results(tasks), path, rate, session.total)
        finally:
            for future in futures:
                future.cancel()
    return stats


Misses = tuple[list["Encoded"], Stats]


def encode_misses(pcms: list[bytes], owns: list[Segment], cuts: list[list[int]], rate: int, bitrate: str,
                  settings: LoudnessSettings | None) -> Misses:
    """Segments not in the cache (`pcms`, each on its own grid: `owns`, with the places
    `cuts` a segment could start inside it) encoded one after the other, their peak checks
    in one decoder run when `settings` is enabled, and a fix where one went over; their kept
    frames, with what that took. Pure (no cache, no session), so it runs the same on an
    encoder thread or as a Dask task on another machine (segment_tasks.py)."""
    stats = Stats()
    check = settings is not None and settings.enabled
    streams = [split_frames(encode_segment(pcm, rate, bitrate, stats)) for pcm in pcms]
    if check:
        assert settings is not None
        peaks = decode_checks([Check(frames, pcm, rate, 0, settings) for frames, pcm in zip(streams, pcms)], stats)
    made = []
    for n, (frames, pcm, segment, inside) in enumerate(zip(streams, pcms, owns, cuts)):
        kept = (_encode_checked(pcm, segment, inside, rate, bitrate, settings, stats, (frames, peaks[n]))
                if check else keep(frames, segment.keep))
        made.append(_encoded(kept))
    return made, stats


def _here(seconds: float, fn: Callable[..., Misses], *args: Any) -> Misses:
    """Run `fn` on this thread (an encoder thread: a session made outside a Dask cluster)."""
    return fn(*args)


def _local(fn: Callable[..., Misses], *args: Any) -> Misses:
    """Run `fn` on an encoder thread and wait (a Dask session's batch below DASK_MIN_MISSES_S)."""
    return _executor().submit(fn, *args).result()


def batches(segments: list[Segment], rate: int) -> list[list[Segment]]:
    """Consecutive segments in batches of at most CHECK_BATCH and CHECK_SECONDS of encoded
    audio (a longer segment alone): a batch's misses are encoded on one thread and checked
    in one decoder run, so its samples and frames are all a batch holds."""
    out: list[list[Segment]] = []
    size = 0
    for segment in segments:
        length = segment.end - segment.head
        if out and len(out[-1]) < CHECK_BATCH and size + length <= CHECK_SECONDS * rate:
            out[-1].append(segment)
            size += length
        else:
            out.append([segment])
            size = length
    return out


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

    def fixes(chunks: Iterator[bytes]) -> np.ndarray | None:
        assert settings is not None
        return stream_peak_fix(window(chunks, 2 * LEAD, 2 * session.total, b""), rate, threshold, settings)

    with tempfile.TemporaryDirectory(prefix="audioroutine-") as folder:
        name = Path(folder) / "session.mp3"
        for _ in range(PEAK_PASSES if check else 1):
            started = time.monotonic()
            chunks = session.chunks() if fix is None else Envelope(fix, rate).apply(session.chunks())
            # ffmpeg's LAME, one stream: nothing to share out over cores, and the timing tests'
            # measure of speech over a bed (the session less its bed alone) was made with it
            # (with lamelib's LAME one breath window read 87 ms long over `calm`)
            ffmpeg_through(encoder_args(rate, bitrate) + ["-f", "mp3", "-y", str(name)], chunks)
            stats.add(encodes=1, encoded_samples=session.total)
            log_run("encode", session.total, started)
            if not check:
                break
            assert settings is not None
            started = time.monotonic()
            more = ffmpeg_through(["-f", "mp3", "-i", str(name), "-f", "s16le", "-ac", "1", "-ar", str(rate),
                                   "pipe:1"], (), fixes)
            stats.add(decodes=1)
            log_run("decode", session.total, started)
            if more is None:
                break
            fix = more if fix is None else fix * more
        _join(_file_frames(name), path, rate, session.total)
    return stats


def encode_whole(chunks: Iterable[bytes], path: Path, rate: int, bitrate: str) -> None:
    """`chunks` (int16 mono PCM) as one LAME stream joined behind the Info frame, as a segment
    would be: a whole-file encode (no segments, no peak check) to compare the segments against."""
    total = [0]

    def counted() -> Iterator[bytes]:
        for chunk in chunks:
            total[0] += len(chunk) // 2
            yield chunk

    with tempfile.TemporaryDirectory(prefix="audioroutine-") as folder:
        name = Path(folder) / "whole.mp3"
        _write_stream(counted(), name, rate, bitrate)
        _join(_file_frames(name), path, rate, total[0])


def _write_stream(chunks: Iterable[bytes], name: Path, rate: int, bitrate: str) -> None:
    """One LAME stream of `chunks`, bare frames, into the file `name`."""
    with open(name, "wb") as out:
        for data in lamelib.encode_chunks(chunks, rate, bitrate):
            out.write(data)


def _file_frames(name: Path, batch: int = 512) -> Iterator[Encoded]:
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
    lead = segment.start % block                 # 10 ms blocks from 0 (encode() passes a segment on its own grid)
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


@dataclass(frozen=True)
class Encoded:
    """A segment's kept frames, their CRC-16 and the size of each (worked out where the
    segment was encoded, on an encoder thread, not where they are joined); `lead`: silent
    frames written before them (`_silence_then`), in parts, some of them one part repeated,
    never joined into one buffer."""

    data: bytes | memoryview     # a view into the cache entry it was read from
    crc: int
    sizes: array[int]
    lead: tuple[bytes, ...] = ()

    @property
    def size(self) -> int:
        return sum(map(len, self.lead)) + len(self.data)


def _encoded(frames: list[bytes], crc: int | None = None) -> Encoded:
    data = b"".join(frames)
    return Encoded(data, crc16(data) if crc is None else crc, array("I", map(len, frames)))


def _silence_then(header: int, first: int, count: int, found: Encoded) -> Encoded:
    """`count` silent frames (mp3frames.silent_run: a header, then zeros), frames `first`..
    of a stream whose frames start with `header`, before `found`."""
    if not count:
        return found
    parts, sizes, crc = silent_run(header, first, count)
    sizes.extend(found.sizes)
    return Encoded(found.data, crc16_combine(crc, found.crc, len(found.data)), sizes, (*parts, *found.lead))


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
                first = b"".join((*segment.lead, segment.data))
                placeholder = len(_tag(first, 0, 0, [0] * 100, 0, 0))
                out.write(bytes(placeholder))
            out.writelines(segment.lead)
            out.write(segment.data)
            size = segment.size
            crc = crc16_combine(crc, segment.crc, size)
            audio += size
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
    """A cache entry: MAGIC, the sha256 of the rest, the frames' CRC-16 (2 bytes), their
    count (4 bytes) and sizes (2 bytes each, little-endian), the frames."""
    sizes = np.asarray(found.sizes, dtype="<u2")
    return sealed(MAGIC, found.crc.to_bytes(2, "big") + len(sizes).to_bytes(4, "big") + sizes.tobytes() + found.data)


def _read_entry(cache: Cache, key: str) -> Encoded | None:
    """An entry's frames if it verifies (checksum, sizes adding up); a damaged one is dropped."""
    data = cache.load_segment(key)
    if data is None:
        return None
    body = unsealed(MAGIC, data)
    if body is not None and len(body) > 6:
        count = int.from_bytes(body[2:6], "big")
        head = 6 + 2 * count
        if 0 < count and head < len(body):
            sizes = np.frombuffer(body, dtype="<u2", count=count, offset=6)
            if int(sizes.sum()) == len(body) - head:
                return Encoded(body[head:], int.from_bytes(body[:2], "big"),
                               array("I", sizes.astype(np.uint32).tobytes()))
    cache.drop_segment(key)
    return None
