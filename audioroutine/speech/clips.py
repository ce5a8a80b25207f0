"""Speech: every phrase of a timeline as PCM at the session rate, from the cache or the engine."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from pydub import AudioSegment

from ..core.errors import BuildError
from ..core.files import Parted, sealed_in_two
from ..engines import Clip, Engine
from .cache import Damaged, Outdated, PhraseCache, phrase_key
from .stats import SpeechStats as SpeechStats  # was defined here: still importable from here

# Where a phrase's sound starts and ends (docs/timing.md, "A cue ends where its audible
# speech ends"): its level is the RMS over ENVELOPE_MS around each sample; the phrase is
# heard wherever that is within RELATIVE_DB of the phrase's loudest moment (and above
# FLOOR_DB), plus LOOKBACK_MS before and HANGOVER_MS after. Relative, so a soft onset (the
# /f/ of Piper's "four" and "five": 15-20 ms around -50 dBFS) is kept whole, however loud
# the phrase around it (with the old fixed -40 dBFS only its last 5 ms were), and so is a
# final stop's release (Piper's "back.", "dog.": a -46..-55 dBFS burst 80-100 ms after the
# vowel, which the old trim cut off).
ENVELOPE_MS = 5
RELATIVE_DB = 50.0
FLOOR_DB = -70.0
LOOKBACK_MS = 10
HANGOVER_MS = 15
# A cut: sound within CUT_MS of a gap (ENVELOPE_MS or more under the threshold, or a kept
# edge) that is within LOUD_DB of the phrase's loudest moment. An engine that stops its voice
# mid-wave (espeak-ng ends words, and its pauses, on a pitch period at -10..-20 dBFS) would
# click there: the sound fades over FADE_IN_MS / FADE_OUT_MS (raised cosine) into the gap.
CUT_MS = 6
LOUD_DB = 30.0
FADE_IN_MS = 16
FADE_OUT_MS = 24
TRIM = (ENVELOPE_MS, RELATIVE_DB, FLOOR_DB, LOOKBACK_MS, HANGOVER_MS, CUT_MS, LOUD_DB, FADE_IN_MS, FADE_OUT_MS)
TRIM_VERSION = 1    # of trim_quiet's code: a change makes new trimmed entries, as a change of TRIM does
TRIM_MAGIC = b"ARTRIM02"   # 2: a head (the clip's digest and rate) checked apart from the samples
TRIM_ID = hashlib.sha256(repr((TRIM_VERSION, TRIM, TRIM_MAGIC)).encode()).hexdigest()[:8]

log = logging.getLogger(__name__)

# Trimmed clips are kept in this process: trimming is most of reading a phrase from the
# cache, and a build reads every phrase to lay out its timeline and again to render each
# session (a `Speech` of its own). The cache entry is still read and verified each time (a
# damaged or outdated one is found as before); trimming the same samples again is skipped
# (by the samples' digest and rates; bounded, least recently used out).
MEMO_BYTES = 64 << 20
_memo: OrderedDict[tuple[bytes, int, int], Trimmed] = OrderedDict()
_memo_bytes = [0]
_memo_lock = threading.Lock()
# While `remember_lengths()` is on: (cache key, session rate) → samples of every phrase this
# process found in the cache or synthesized, across Speech objects; MISSING for a phrase
# found missing from the cache (until its length is known).
_lengths: dict[tuple[str, int], int] | None = None
MISSING = -1
# While `share_clips()` is on (a build in this process): (cache location, cache key, session
# rate) -> the trimmed clip every Speech of the build uses, read and verified once: a build
# reads each phrase to lay out its timeline, then again for each session it makes; and what
# is made from a clip for every session alike (pieces.py: `shared`, `share`).
_shared: dict[tuple[Any, ...], Any] | None = None
_shared_bytes = [0]
MAX_REMEMBERED = 500_000   # phrases; past this the memory starts again empty


@contextmanager
def remember_lengths() -> Iterator[None]:
    """For a run of many batches in this process (a prescription file: one per patient),
    remember each phrase's length once it is known, so a later batch speaking the phrase
    does not read its clip from the cache again (on S3 a GET per phrase per patient). Lengths
    only: the clips are still read where a session is made. A phrase found missing is
    remembered as missing too (until a worker's length for it comes back, `remember`): it
    is synthesized once for the run, and a worker that finds it cached by then synthesizes
    nothing. Outside such a run, every Speech verifies the cache entries it uses, as always."""
    global _lengths
    outer, _lengths = _lengths, (_lengths if _lengths is not None else {})
    try:
        yield
    finally:
        _lengths = outer


@contextmanager
def share_clips() -> Iterator[None]:
    """For one build in this process: each phrase's clip is read from the cache and verified
    once, then shared by every Speech of the build (up to MEMO_BYTES of clips; the rest are
    read as before). Nested calls share the outer build's clips."""
    global _shared
    if _shared is not None:
        yield
        return
    _shared, _shared_bytes[0] = {}, 0
    try:
        yield
    finally:
        _shared = None


def share(name: tuple[Any, ...], value: Any, size: int) -> None:
    """Keep `value` (about `size` bytes) for the rest of the build, if `share_clips` is on
    and MEMO_BYTES allow."""
    found = _shared
    if found is not None and _shared_bytes[0] + size <= MEMO_BYTES:
        found[name] = value
        _shared_bytes[0] += size


def shared(name: tuple[Any, ...]) -> Any:
    """What `share` kept under `name` in this build; None if nothing."""
    found = _shared
    return None if found is None else found.get(name)


def envelope_db(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """dBFS RMS over ENVELOPE_MS centred on each sample of int16 `samples`."""
    x = samples.astype(np.float64) / 32768.0
    width = max(1, sample_rate * ENVELOPE_MS // 1000)
    power = np.concatenate(([0.0], np.cumsum(x * x)))
    lo = np.clip(np.arange(len(x)) - width // 2, 0, len(x))
    hi = np.clip(lo + width, 0, len(x))
    mean = (power[hi] - power[lo]) / np.maximum(hi - lo, 1)
    level: np.ndarray = 10 * np.log10(np.maximum(mean, 1e-12))
    return level


def audible_span(samples: np.ndarray, sample_rate: int) -> tuple[int, int] | None:
    """(start, end) of the part of a phrase that is kept: from LOOKBACK_MS before the first to
    HANGOVER_MS after the last moment within RELATIVE_DB of its loudest; None if silent."""
    level = envelope_db(samples, sample_rate)
    if not len(level) or level.max() <= FLOOR_DB:
        return None
    top = level.max()
    heard = np.flatnonzero(level > max(top - RELATIVE_DB, FLOOR_DB))
    first, last = int(heard[0]), int(heard[-1])
    start = max(0, first - sample_rate * LOOKBACK_MS // 1000)
    end = min(len(samples), last + 1 + sample_rate * HANGOVER_MS // 1000)
    return start, end


def smooth_cuts(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """`samples` (int16, a kept span) with every cut faded: where loud sound meets a gap or an
    edge within CUT_MS, it fades out over FADE_OUT_MS into the gap and in over FADE_IN_MS
    after it. Sound that fades by itself is left as it is; the length never changes."""
    level = envelope_db(samples, sample_rate)
    if not len(level):
        return samples
    top = level.max()
    quiet = np.concatenate(([True], level <= max(top - RELATIVE_DB, FLOOR_DB), [True]))
    change = np.flatnonzero(np.diff(quiet.astype(np.int8)))   # sound runs: [change[2k], change[2k+1])
    near = sample_rate * CUT_MS // 1000
    min_gap = sample_rate * ENVELOPE_MS // 1000
    gain = np.ones(len(samples))
    runs = list(zip(change[0::2], change[1::2]))
    for i, (first, end) in enumerate(runs):
        gap_before = i == 0 or first - runs[i - 1][1] >= min_gap
        gap_after = i == len(runs) - 1 or runs[i + 1][0] - end >= min_gap
        if gap_before and level[first:first + near].max() > top - LOUD_DB:
            n = min(end - first, sample_rate * FADE_IN_MS // 1000)
            gain[first:first + n] *= _rise(n)
        if gap_after and level[max(first, end - near):end].max() > top - LOUD_DB:
            n = min(end - first, sample_rate * FADE_OUT_MS // 1000)
            gain[end - n:end] *= _rise(n)[::-1]
    if np.all(gain == 1.0):
        return samples
    return np.round(samples * gain).astype(np.int16)


def _rise(n: int) -> np.ndarray:
    """A raised-cosine rise over n samples, from 0 (exclusive) towards 1."""
    return np.sin(0.5 * np.pi * (np.arange(n) + 0.5) / n) ** 2


def trim_quiet(pcm: bytes, sample_rate: int) -> bytes:
    """Drop the quiet an engine puts before and after the words (Piper: ~70 ms before,
    100-230 ms after) and fade any cut (see audible_span, smooth_cuts): a cue is heard from
    where it is placed, whole, and it ends where its sound ends, so the window it opens
    starts there."""
    samples = np.frombuffer(pcm, dtype="<i2")
    span = audible_span(samples, sample_rate)
    if span is None:
        return pcm
    return smooth_cuts(samples[span[0]:span[1]], sample_rate).astype("<i2").tobytes()


class Trimmed:
    """A phrase's clip at the session rate, quiet edges trimmed (trim_quiet): its length and
    its samples' sha256 known at once; samples read from a cache entry are checked when first
    used (`pcm`). A layout needs only the length, a levelled piece's cache entry only the
    digest (pieces.py), so an edit reads and hashes the samples of just the phrases it plays
    into segments it encodes."""

    __slots__ = ("samples", "digest", "_pcm", "_entry")

    def __init__(self, samples: int, digest: bytes, pcm: bytes | None = None, entry: Parted | None = None) -> None:
        self.samples, self.digest, self._pcm, self._entry = samples, digest, pcm, entry

    @classmethod
    def of(cls, pcm: bytes) -> Trimmed:
        return cls(len(pcm) // 2, hashlib.sha256(pcm).digest(), pcm)

    def pcm(self) -> bytes | None:
        """The samples; None when those of its cache entry do not check (`Speech.clip` then
        trims the clip again)."""
        if self._pcm is None and self._entry is not None:
            self._pcm = self._entry.body()
        return self._pcm

    def repaired(self, pcm: bytes) -> None:
        """Its samples made again, the same as its entry's head said (`Speech.clip`)."""
        self._pcm, self._entry = pcm, None


def remember(key: str, sample_rate: int, samples: int) -> None:
    """Remember a phrase's length measured elsewhere (by a worker), or MISSING, while
    `remember_lengths` is on (at most MAX_REMEMBERED phrases)."""
    lengths = _lengths
    if lengths is not None:
        if len(lengths) >= MAX_REMEMBERED:
            lengths.clear()
        lengths[(key, sample_rate)] = samples


class Speech:
    """Phrases for one engine identity, resampled once to the session rate."""

    trim = TRIM     # how every clip is trimmed (trim_quiet): part of each session's provenance

    def __init__(self, engine: Engine, cache: PhraseCache, sample_rate: int, stats: SpeechStats | None = None):
        self.engine = engine
        self.cache = cache
        self.sample_rate = sample_rate
        self.stats = stats or SpeechStats()
        self._identity = engine.identity()
        self._found: dict[str, Trimmed] = {}
        self._keys: dict[str, str] = {}      # text -> cache key (a JSON dump and a sha256 each)
        self._remembered: set[str] = set()   # phrases known by `remember_lengths`, counted once

    def key(self, text: str) -> str:
        key = self._keys.get(text)
        if key is None:
            key = self._keys[text] = phrase_key(self._identity, text)
        return key

    def is_cached(self, text: str) -> bool:
        """True when the phrase is in memory or has a cache entry that verifies (then loaded),
        or its length is remembered (`remember_lengths`: False when remembered missing)."""
        lengths = _lengths
        if lengths is None or text in self._found:
            return self._from_cache(text) is not None
        if lengths.get((self.key(text), self.sample_rate)) == MISSING:
            return False
        if self._length(text) is not None:
            return True
        if self._from_cache(text) is None:
            remember(self.key(text), self.sample_rate, MISSING)
            return False
        return True

    def _length(self, text: str) -> int | None:
        """The phrase's length remembered by `remember_lengths` (counted as cached once)."""
        lengths = _lengths
        if lengths is None or text in self._found:
            return None
        samples = lengths.get((self.key(text), self.sample_rate))
        if samples == MISSING:
            return None
        if samples is not None and text not in self._remembered:
            self._remembered.add(text)
            self.stats.cached += 1
        return samples

    def clip(self, text: str) -> bytes:
        """The phrase as int16 mono PCM at the session rate, quiet edges trimmed: from
        memory, else the cache, else the engine (which then fills the cache)."""
        found = self.trimmed(text)
        pcm = found.pcm()
        return pcm if pcm is not None else self._trim_again(text, found)

    def trimmed(self, text: str) -> Trimmed:
        """The phrase's `Trimmed` clip (its samples checked only when used): from memory,
        else the cache, else the engine (which then fills the cache)."""
        found = self._from_cache(text)
        if found is None:
            found = self._found[text] = self._trimmed(text, self._synthesize(text))
            share(self._shared_name(text), found, 2 * found.samples)
        return found

    def _synthesize(self, text: str) -> Clip:
        clip = self.engine.synthesize(text)
        self.cache.put(self.key(text), clip)
        self.stats.synthesized += 1
        return clip

    def _trim_again(self, text: str, found: Trimmed) -> bytes:
        """The samples of a trimmed clip whose cache entry was damaged after its head was
        read: trimmed again from the phrase's clip (synthesized again if that is gone too),
        stored again; they must be what the head said."""
        clip = self.cache.get(self.key(text)) or self._synthesize(text)
        source = (clip.digest or hashlib.sha256(clip.pcm).digest()) + clip.sample_rate.to_bytes(4, "big")
        pcm = trim_quiet(self._to_session_rate(clip), self.sample_rate)
        if hashlib.sha256(pcm).digest() != found.digest:
            raise BuildError(f"the phrase {text!r} no longer trims to the samples its cache entry named: "
                             f"remove the cache's 'pieces' folder ({self.cache.root}) and build again")
        if self.cache.is_local:
            self.cache.put_derived(self._trim_name(text), _trim_entry(pcm, source))
        found.repaired(pcm)
        return pcm

    def _shared_name(self, text: str) -> tuple[str, str, int]:
        return (str(self.cache.root), self.key(text), self.sample_rate)

    def shared_name(self, text: str, kind: str) -> tuple[str, str, int, str]:
        """A name for what is made from the phrase's clip, to `share` within a build."""
        return (*self._shared_name(text), kind)

    def _trimmed(self, text: str, clip: Clip) -> Trimmed:
        """`clip` at the session rate, quiet edges trimmed (trim_quiet): once per process,
        and kept in a folder cache beside the clip (`_stored_trim`)."""
        source = clip.digest or hashlib.sha256(clip.pcm).digest()     # a cache entry's, checked when read
        key = (source, clip.sample_rate, self.sample_rate)
        with _memo_lock:
            found = _memo.get(key)
            if found is not None:
                _memo.move_to_end(key)
                return found
        found = self._stored_trim(text, source + clip.sample_rate.to_bytes(4, "big"), clip)
        _remember_trim(key, found)
        return found

    def _trim_name(self, text: str) -> str:
        return f"{self.key(text)}-{self.sample_rate}-t{TRIM_ID}"

    def _stored_trim(self, text: str, source: bytes, clip: Clip) -> Trimmed:
        """The trimmed clip from its entry in a folder cache when that entry verifies and was
        made from this very clip (`source`: its samples' digest and rate), else trimmed now
        and stored: trimming is most of reading a phrase (about 5 ms of a Piper phrase's
        CPU), an entry's read and check well under 1 ms. A remote cache (S3, HTTP) trims
        here: a request per phrase would cost more than the trim."""
        if not self.cache.is_local:
            return Trimmed.of(trim_quiet(self._to_session_rate(clip), self.sample_rate))
        name = self._trim_name(text)
        entry = self.cache.load_derived_front(name, TRIM_MAGIC)
        if entry is not None and entry.head == source and entry.body_size % 2 == 0:
            return Trimmed(entry.body_size // 2, entry.body_digest, entry=entry)
        if entry is not None:
            self.cache.drop_derived(name)   # made from another clip
        pcm = trim_quiet(self._to_session_rate(clip), self.sample_rate)
        self.cache.put_derived(name, _trim_entry(pcm, source))
        return Trimmed.of(pcm)

    def _from_cache(self, text: str) -> Trimmed | None:
        """From memory, else from a verified cache entry. A damaged entry is discarded
        with a warning naming the phrase; an outdated one is counted."""
        shared = _shared
        if text not in self._found and shared is not None:
            found = shared.get(self._shared_name(text))
            if found is not None:
                self.stats.cached += 1
                self._found[text] = found
        if text not in self._found:
            try:
                clip = self.cache.load(self.key(text))
            except Outdated:
                self.stats.outdated += 1
                return None
            except Damaged as err:
                self.stats.discarded += 1
                log.warning("discarded a damaged cache entry for %r (%s)", text, err)
                return None
            if clip is None:
                return None
            self.stats.cached += 1
            found = self._found[text] = self._trimmed(text, clip)
            share(self._shared_name(text), found, 2 * found.samples)
        return self._found[text]

    def measure(self, text: str) -> int:
        samples = self._length(text)
        if samples is None:
            samples = self.trimmed(text).samples
            remember(self.key(text), self.sample_rate, samples)
        return samples

    def measure_or_estimate(self, text: str) -> tuple[int, bool]:
        """(samples, estimated): the real length if the phrase is cached, else an estimate."""
        if self.is_cached(text):
            return self.measure(text), False
        return int(self.engine.estimate_seconds(text) * self.sample_rate), True

    def prepare(self, texts: Iterable[str], progress: Callable[[str], None] | None = None) -> None:
        """Make sure every phrase is available, calling `progress` once per phrase."""
        for text in texts:
            self.trimmed(text)
            if progress:
                progress(text)

    def _to_session_rate(self, clip: Clip) -> bytes:
        if clip.sample_rate == self.sample_rate:
            return clip.pcm
        segment = AudioSegment(data=clip.pcm, sample_width=2, frame_rate=clip.sample_rate, channels=1)
        return bytes(segment.set_frame_rate(self.sample_rate).raw_data)


def _trim_entry(pcm: bytes, source: bytes) -> bytes:
    """A trimmed clip's entry (files.sealed_in_two): TRIM_MAGIC, a head holding the clip's
    digest and rate (`source`, 36 bytes), the trimmed samples."""
    return sealed_in_two(TRIM_MAGIC, source, pcm)


def _remember_trim(key: tuple[bytes, int, int], found: Trimmed) -> None:
    """Keep a trimmed clip in this process's memo (least recently used out past MEMO_BYTES)."""
    with _memo_lock:
        if key not in _memo:
            _memo[key] = found
            _memo_bytes[0] += 2 * found.samples
            while _memo_bytes[0] > MEMO_BYTES:
                _memo_bytes[0] -= 2 * _memo.popitem(last=False)[1].samples

