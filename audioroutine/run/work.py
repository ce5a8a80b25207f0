"""The two units of work of a batch build, small and picklable, so that they run the same in
this process, in a local process pool or on a Dask worker on another machine:

- `synthesize_phrases(spec, texts)`: speak the phrases into the shared phrase cache and return
  their lengths (samples at the session rate, quiet edges trimmed) and the phrases that failed;
- `make_session(job, dest)`: render, encode (segments already encoded come from the cache)
  and tag one session from the cache, into `dest`
  (a temp file beside the final one, when the worker shares the output folder), else return
  the tagged MP3's bytes for the client to write.

A worker rebuilds its `Speech` from an `EngineSpec` (engine name, voice options, cache
location, session rate); engines are kept per process, so a model loads once per worker.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audio.mp3 import encode_normalized
from ..audio.music import with_bed
from ..audio.render import mix
from ..compile.timeline import Timeline
from ..core.errors import AudioRoutineError
from ..core.ffmpeg import configure_pydub
from ..core.files import checkpoint, flush_to_disk
from ..core.guard import hash_ahead
from ..engines import Engine, VoiceOptions, get_engine
from ..model.loudness_settings import LoudnessSettings
from ..model.music_settings import Music
from ..output.tags import SessionTags, write_tags
from ..speech.cache import PhraseCache
from ..speech.clips import Speech, SpeechStats

_engines: dict[tuple[str, VoiceOptions], Engine] = {}   # this process's engines, each loaded once
_configured = False
_libc: Any = None   # glibc, for malloc_trim (False: not glibc)


@dataclass(frozen=True)
class EngineSpec:
    """What a worker needs to speak like one level of one script: the engine, its voice
    options, where the phrase cache is (the plain `BuildOptions.cache_dir` value, so a
    URL works wherever PhraseCache takes one) and the session rate."""

    engine: str
    voice: VoiceOptions
    cache: Any
    sample_rate: int

    def speech(self, stats: SpeechStats | None = None) -> Speech:
        key = (self.engine, self.voice)
        if key not in _engines:
            _engines[key] = get_engine(self.engine, self.voice)
        return Speech(_engines[key], PhraseCache(self.cache), self.sample_rate, stats)


def _prepare_process() -> None:
    """Point pydub at our ffmpeg (once per process; a spawned worker starts without it)."""
    global _configured
    if not _configured:
        configure_pydub()
        _configured = True


def forget_engines() -> None:
    """Drop this process's engines (and their models): a build in this process is over."""
    _engines.clear()


@dataclass
class Spoken:
    """What `synthesize_phrases` returns: the length of every phrase spoken, and the phrases
    that failed with the one-line error (a string: exceptions do not always pickle)."""

    lengths: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    fresh: set[str] = field(default_factory=set)   # synthesized here (the rest: another worker's, just cached)


def synthesize_phrases(spec: EngineSpec, texts: tuple[str, ...]) -> Spoken:
    """The phrases into the cache (synthesized unless another worker just did it), in order,
    until the first that fails: an engine or file error fails that phrase and the rest of
    the chunk is left unspoken (not in `lengths` nor `failed`), so a failure (no network)
    costs one phrase's tries per worker, not a whole chunk's. Anything else is a bug and is raised."""
    _prepare_process()
    stats = SpeechStats()
    speech = spec.speech(stats)
    spoken = Spoken()
    for text in texts:
        before = stats.synthesized
        try:
            spoken.lengths[text] = speech.measure(text)
        except (AudioRoutineError, OSError) as err:
            spoken.failed[text] = str(err) or type(err).__name__
            break
        finally:
            if stats.synthesized > before:
                spoken.fresh.add(text)
    return spoken


@dataclass(frozen=True)
class SessionJob:
    """One session to produce: everything decided by the client (timeline, tags)."""

    spec: EngineSpec
    timeline: Timeline
    tags: SessionTags
    rotate: bool
    bitrate: str
    loudness: LoudnessSettings
    id3_version: int
    music: Music | None = None      # a bed under the session (audio/music.py)
    output: str = ""                # the session's file (absolute), as the client names it: see _session_key


def make_session(job: SessionJob, dest: Path | None) -> bytes | None:
    """Render, encode and tag one session: into `dest` (None returned), or, with no `dest`,
    through a private temp file whose bytes are returned. The one place a session is made."""
    _prepare_process()
    try:
        if dest is not None:
            _produce(job, dest)
            flush_to_disk(dest)    # here, beside the other sessions, not in the commit that renames it
            hash_ahead(dest)       # likewise its digest, which the commit records
            return None
        fd, name = tempfile.mkstemp(prefix="audioroutine-", suffix=".mp3")
        os.close(fd)
        try:
            _produce(job, Path(name))
            return Path(name).read_bytes()
        finally:
            os.unlink(name)
    finally:
        release_memory()


def release_memory() -> None:
    """Give back to the system the memory a session freed. glibc keeps freed blocks in each
    thread's arena, so a worker making session after session grew (135 -> 208 MB of RSS over
    1,000 sessions on a Dask worker without a nanny, which would set MALLOC_TRIM_THRESHOLD_;
    docs/scaling.md); malloc_trim returns them. Linux with glibc only; elsewhere nothing."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


def _produce(job: SessionJob, path: Path) -> None:
    speech = job.spec.speech()
    session = with_bed(mix(job.timeline, speech, rotate=job.rotate), job.timeline, job.music)
    checkpoint("render")
    encode_normalized(session, path, job.bitrate, job.loudness, cache=speech.cache, session_key=_session_key(job))
    checkpoint("encode")
    write_tags(path, job.tags, job.id3_version)


def _session_key(job: SessionJob) -> str:
    """What names a session across edits of its script (mp3.encode_normalized keeps its gain):
    its file, titles and level, the engine and voice, rate, bitrate and loudness settings.
    The file is part of it: the sessions of a prescription file share titles and level (one
    script, a folder per patient), and without it each would start from the gain of whichever
    patient's session was encoded before, so its bytes would depend on the order of the build."""
    level = job.tags.provenance["level"] if job.tags.provenance else None
    blob = json.dumps([job.output, job.tags.album, job.tags.title, level, job.spec.engine,
                       repr(job.spec.voice), job.spec.sample_rate, job.bitrate, repr(job.loudness)])
    return hashlib.sha256(blob.encode()).hexdigest()
