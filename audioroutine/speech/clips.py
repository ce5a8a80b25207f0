"""Speech: every phrase of a timeline as PCM at the session rate, from the cache or the engine."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import numpy as np
from pydub import AudioSegment

from ..engines import Clip, Engine
from .cache import Damaged, Outdated, PhraseCache, phrase_key
from .stats import SpeechStats as SpeechStats  # was defined here: still importable from here

# |sample| above this (-40 dBFS) is speech: the first and last such sample mark a cue's edges.
# (Keeping the decay down to -55 dBFS was tried: it changed no recognizer verdict and put cue
# ends up to 35 ms after where a meter finds them; see docs/timing.md.)
ONSET_LEVEL = 328
EDGE_PAD_MS = 5           # quiet kept before the first and after the last such sample

log = logging.getLogger(__name__)


def trim_quiet(pcm: bytes, sample_rate: int) -> bytes:
    """Drop the quiet an engine puts before and after the words (Piper: ~70 ms before,
    100-230 ms after), keeping EDGE_PAD_MS on each side: a cue is heard from where it is
    placed, and it ends where its audible speech ends, so the window it opens starts there."""
    samples = np.frombuffer(pcm, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > ONSET_LEVEL)
    if not len(loud):
        return pcm
    pad = sample_rate * EDGE_PAD_MS // 1000
    start = max(0, int(loud[0]) - pad)
    end = min(len(samples), int(loud[-1]) + 1 + pad)
    return pcm[2 * start:2 * end]


class Speech:
    """Phrases for one engine identity, resampled once to the session rate."""

    def __init__(self, engine: Engine, cache: PhraseCache, sample_rate: int, stats: SpeechStats | None = None):
        self.engine = engine
        self.cache = cache
        self.sample_rate = sample_rate
        self.stats = stats or SpeechStats()
        self._identity = engine.identity()
        self._pcm: dict[str, bytes] = {}

    def key(self, text: str) -> str:
        return phrase_key(self._identity, text)

    def is_cached(self, text: str) -> bool:
        """True when the phrase is in memory or has a cache entry that verifies (then loaded)."""
        return self._from_cache(text) is not None

    def clip(self, text: str) -> bytes:
        """The phrase as int16 mono PCM at the session rate, quiet edges trimmed: from
        memory, else the cache, else the engine (which then fills the cache)."""
        pcm = self._from_cache(text)
        if pcm is None:
            clip = self.engine.synthesize(text)
            self.cache.put(self.key(text), clip)
            self.stats.synthesized += 1
            pcm = self._pcm[text] = trim_quiet(self._to_session_rate(clip), self.sample_rate)
        return pcm

    def _from_cache(self, text: str) -> bytes | None:
        """From memory, else from a verified cache entry. A damaged entry is discarded
        with a warning naming the phrase; an outdated one is counted."""
        if text not in self._pcm:
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
            self._pcm[text] = trim_quiet(self._to_session_rate(clip), self.sample_rate)
        return self._pcm[text]

    def measure(self, text: str) -> int:
        return len(self.clip(text)) // 2

    def measure_or_estimate(self, text: str) -> tuple[int, bool]:
        """(samples, estimated): the real length if the phrase is cached, else an estimate."""
        if self.is_cached(text):
            return self.measure(text), False
        return int(self.engine.estimate_seconds(text) * self.sample_rate), True

    def prepare(self, texts: Iterable[str], progress: Callable[[str], None] | None = None) -> None:
        """Make sure every phrase is available, calling `progress` once per phrase."""
        for text in texts:
            self.clip(text)
            if progress:
                progress(text)

    def _to_session_rate(self, clip: Clip) -> bytes:
        if clip.sample_rate == self.sample_rate:
            return clip.pcm
        segment = AudioSegment(data=clip.pcm, sample_width=2, frame_rate=clip.sample_rate, channels=1)
        return bytes(segment.set_frame_rate(self.sample_rate).raw_data)
