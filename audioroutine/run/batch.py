"""One plan for a batch, run on any executor (executors.py).

The plan: every session to build (script, level, track number), and every phrase not yet in
the phrase cache, once per cache key across the whole batch however many sessions speak it,
in chunks of one engine spec. The client (this process) submits the chunks, lays out a session
as soon as the last chunk it needs is back (lengths come with the chunk: the client reads no
clip it did not already have), checks it, decides its tags and whether the file on disk is up
to date, and submits the session; sessions go before further chunks, so rendering overlaps
synthesis. Each session's MP3 lands in a temp file beside its final name; only once every
session of every script is done and valid are they renamed into place (all or nothing, as
`build_batch` promises), the transcripts written and the results returned.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..compile.compiler import build_timeline
from ..compile.timeline import Program, Timeline
from ..core.errors import AudioRoutineError, BuildError, EngineError, ScriptError, collect, raise_all
from ..core.files import remove_stale_temps, temp_path
from ..core.guard import open_guard
from ..engines import VoiceOptions
from ..output.playlist import Track
from ..output.prune import legacy_ours, source_of
from ..output.tags import SessionTags
from ..output.transcript import write_sidecars
from ..speech.cache import PhraseCache
from ..speech.clips import Speech, remember, share_clips
from .executors import Executor, Parallel, open_executor
from .options import (
    OUTPUT_SUFFIXES,
    BuildOptions,
    SessionResult,
    bitrate,
    engine_name,
    music_for,
    output_path,
    voice_name,
)
from .prepare import BuildResult, Prepared, Progress, check_length, compile_script, one_line
from .tagging import is_up_to_date, session_tags
from .work import EngineSpec, SessionJob, Spoken, make_session, synthesize_phrases

log = logging.getLogger("audioroutine.run.pipeline")
MAX_CHUNK = 16          # phrases per synthesis unit on a pool (1 in this process: progress per phrase)
CHUNKS_PER_WORKER = 4   # at least this many chunks per worker, so the work spreads evenly


@dataclass
class _Session:
    script: int
    track: Track
    program: Program
    speech: Speech          # the client's: identity, cached clips, stats
    spec: EngineSpec
    path: Path
    waiting: set[int] = field(default_factory=set)   # chunks not back yet
    timeline: Timeline | None = None
    tags: SessionTags | None = None
    staged: Path | None = None                       # its MP3, made, not yet renamed into place


@dataclass
class _Chunk:
    spec: EngineSpec
    keys: list[str]
    texts: list[str]


@dataclass
class Outcome:
    """What a batch run gives `build_batch`: the results of the scripts written, and the
    scripts that failed alone (only with `isolate`), as (index, error)."""

    results: list[tuple[int, BuildResult]]
    failed: list[tuple[int, AudioRoutineError | OSError]]


def run_batch(routines: Sequence[Any], options: Sequence[BuildOptions], tracks: list[Track],
              progress: Callable[[Any, BuildOptions], Progress | None] | None, isolate: bool,
              parallel: Parallel) -> Outcome:
    """Compile, plan and run the batch (see the module docstring). Invalid input (a
    ScriptError) fails the whole batch, every error reported together; an engine, build or
    file error fails its script alone with `isolate`, else the batch too. Each phrase is
    read from the cache once for the batch (`share_clips`)."""
    with share_clips():
        return _run_batch(routines, options, tracks, progress, isolate, parallel)


def _run_batch(routines: Sequence[Any], options: Sequence[BuildOptions], tracks: list[Track],
               progress: Callable[[Any, BuildOptions], Progress | None] | None, isolate: bool,
               parallel: Parallel) -> Outcome:
    prepared = collect(lambda pair: compile_script(*pair), zip(routines, options))
    for folder in {opts.out_dir for opts in options}:
        remove_stale_temps(folder, lambda name: name.endswith(OUTPUT_SUFFIXES))
    if parallel.executor is None:   # a shared executor's run (a prescription file) swept the cache once
        for cache in {opts.cache_dir for opts in options}:
            PhraseCache(cache).remove_stale_temps()
    run = _Run(prepared, tracks, progress, isolate)
    executor = open_executor(parallel, len(run.sessions), len(run.owners))
    run.chunk(None if executor.synthesizes_here else executor.workers)
    try:
        stopped = run.execute(executor)
    except BaseException:
        executor.close(cancel=True)
        run.discard()
        raise
    executor.close(cancel=stopped)   # stopped early: the work still running can change nothing
    outdated = sum(job.result.stats.outdated for job in prepared)
    if outdated:
        log.warning("%d cached phrase(s) were in an older cache format and were synthesized again", outdated)
    return run.commit()


_FAILED = object()   # a unit's result when it failed its script


def _worker_died(err: BaseException) -> bool:
    """True for the error a pool (BrokenProcessPool) or Dask (KilledWorker) gives when a
    worker process died."""
    return type(err).__name__ in ("BrokenProcessPool", "KilledWorker")


def _died_message() -> str:
    """Why a worker process died. Workers are spawned: each imports the main script again,
    so a script that starts a build at its top level, without an `if __name__ == "__main__":`
    guard, starts it again in every worker, which then dies; say so."""
    main = sys.modules.get("__main__")
    spec = getattr(getattr(main, "__spec__", None), "name", None) or ""
    path = None if spec.endswith("__main__") else getattr(main, "__file__", None)   # `-m pkg` is not re-run
    try:
        source = Path(path).read_text(encoding="utf-8") if path else None
    except (OSError, ValueError):
        source = None
    if source is not None and not re.search(r"""__name__\s*==\s*['"]__main__['"]""", source):
        return (f"a worker process died: {path} starts a parallel build without an "
                f"'if __name__ == \"__main__\":' guard, and each worker process runs the script again "
                f"when it starts; put the build under that guard (docs/api.md). Nothing was written")
    return "a worker process died (killed, or out of memory): nothing was written; build again"


class _Run:
    def __init__(self, prepared: list[Prepared], tracks: list[Track],
                 progress: Callable[[Any, BuildOptions], Progress | None] | None, isolate: bool) -> None:
        self.prepared, self.isolate = prepared, isolate
        self.sessions: list[_Session] = []
        self.fatal: list[AudioRoutineError] = []              # the batch fails: nothing is written
        self.failed: dict[int, AudioRoutineError | OSError] = {}
        self.invalid: set[int] = set()                        # scripts with a ScriptError
        self.created: list[Path] = []                         # output folders this run made
        self.lengths: dict[str, int] = {}                     # cache key → samples, from the chunks
        self.owners: dict[str, list[_Session]] = {}           # cache key → sessions speaking it, in order
        self.texts: dict[str, tuple[EngineSpec, str]] = {}    # cache key → how to speak it
        self.chunks: list[_Chunk] = []
        self.ticks = [progress(p.routine, p.options) if progress else None for p in prepared]
        self.done = [0] * len(prepared)
        self.cached: list[list[str]] = [[] for _ in prepared]   # ticks held back (see _tick)
        for index, job in enumerate(prepared):
            numbers = {t.level: t for t in tracks if t.routine == index}
            for program, speech in job.jobs:
                self._plan(index, numbers[program.level], program, speech)

    def _plan(self, index: int, track: Track, program: Program, speech: Speech) -> None:
        routine, options = self.prepared[index].routine, self.prepared[index].options
        voice = VoiceOptions(voice=voice_name(routine, options), language=routine.language, rate=program.rate)
        spec = EngineSpec(engine_name(routine, options), voice, options.cache_dir, options.sample_rate)
        session = _Session(index, track, program, speech, spec, output_path(routine, program.level, options.out_dir))
        self.sessions.append(session)
        for text in program.texts():
            if speech.is_cached(text):   # counted as cached by the speech itself
                self.cached[index].append(text)
                continue
            key = speech.key(text)
            self.texts.setdefault(key, (spec, text))
            self.owners.setdefault(key, []).append(session)

    def chunk(self, workers: int | None) -> None:
        """The missing phrases in chunks: one per phrase in this process (`workers` None:
        progress per phrase), else enough for every worker to have several, at most
        MAX_CHUNK phrases each (a unit sent to a worker costs a round trip)."""
        per_worker = math.ceil(len(self.texts) / ((workers or 1) * CHUNKS_PER_WORKER))
        size = 1 if workers is None else max(1, min(MAX_CHUNK, per_worker))
        open_chunks: dict[EngineSpec, _Chunk] = {}
        for key, (spec, text) in self.texts.items():
            chunk = open_chunks.get(spec)
            if chunk is None or len(chunk.keys) >= size:
                chunk = open_chunks[spec] = _Chunk(spec, [], [])
                self.chunks.append(chunk)
            chunk.keys.append(key)
            chunk.texts.append(text)
            for session in self.owners[key]:
                session.waiting.add(len(self.chunks) - 1)

    def execute(self, executor: Executor) -> bool:
        """Run every unit; True when it stopped early, the outcome decided (`_decided`)
        while units were still running."""
        ready = deque(s for s in self.sessions if not s.waiting)
        chunks = deque(range(len(self.chunks)))
        running: dict[Any, tuple[str, int]] = {}
        while ready or chunks or running:
            try:
                self._submit(executor, ready, chunks, running)
            except Exception as err:   # a pool broken by a worker that died is found on submit too
                if _worker_died(err):
                    raise BuildError(_died_message()) from None
                raise
            if not running:
                continue
            for future in executor.wait(list(running)):
                kind, n = running.pop(future)
                value = self._result(future, kind, n)
                if value is _FAILED:
                    continue
                if kind == "chunk":
                    ready.extend(self._chunk_done(n, value, chunks))
                else:
                    self._session_done(self.sessions[n], value)
            if running and self._decided(running.values(), chunks, ready):
                return True
        return False

    def _decided(self, running: Iterable[tuple[str, int]], chunks: Iterable[int], ready: Iterable[_Session]) -> bool:
        """True when nothing left to run or running can change the outcome: synthesis or
        writing failed and the batch fails as a whole (not `isolate`), or every unit left
        serves only scripts that failed. Then the build stops at once, as with --jobs 1:
        workers are not left trying phrases after the first failure (no network...)."""
        if any(not isinstance(err, ScriptError) for err in self.fatal):
            return True
        dead = {*self.failed, *self.invalid}
        return all(self._moot(n) if kind == "chunk" else self.sessions[n].script in dead for kind, n in running) \
            and all(self._moot(n) for n in chunks) and all(s.script in dead for s in ready)

    def _submit(self, executor: Executor, ready: deque[_Session], chunks: deque[int],
                running: dict[Any, tuple[str, int]]) -> None:
        """Submit work until the executor has `in_flight` units: sessions laid out first,
        then chunks. In this process a chunk is synthesized on submit: its result is taken
        (a failed script stops) before the next."""
        while len(running) < executor.in_flight and (ready or chunks):
            if ready:
                session = ready.popleft()
                job = self._lay_out(session)
                if job is not None:
                    dest = session.staged if executor.shares_files else None
                    running[executor.submit(make_session, job, dest)] = ("session", self.sessions.index(session))
                continue
            n = chunks.popleft()
            if self._moot(n):
                ready.extend(self._chunk_done(n, Spoken(), chunks))
                continue
            chunk = self.chunks[n]
            running[executor.submit(synthesize_phrases, chunk.spec, tuple(chunk.texts))] = ("chunk", n)
            if executor.synthesizes_here:
                return

    def _result(self, future: Any, kind: str, n: int) -> Any:
        """A unit's result; _FAILED when it failed with an error that fails its script."""
        try:
            return future.result()
        except (AudioRoutineError, OSError) as err:
            self._fail(self.sessions[n].script if kind == "session" else None, err, chunk=n)
            return _FAILED
        except Exception as err:
            if _worker_died(err):
                raise BuildError(_died_message()) from None
            raise

    def _moot(self, n: int) -> bool:
        """True when every session waiting for chunk `n` belongs to a script already failed."""
        dead = {*self.failed, *self.invalid}
        return all(s.script in dead for key in self.chunks[n].keys for s in self.owners[key])

    def _lay_out(self, session: _Session) -> SessionJob | None:
        """The session's timeline, checked, and its tags; None when nothing is to be made
        (up to date, its script failed, or the batch will not be written)."""
        job = self.prepared[session.script]
        self._tick(session.script)
        if session.script in self.failed or session.script in self.invalid:
            return None
        routine, options = job.routine, job.options

        def measure(text: str) -> int:
            key = session.speech.key(text)
            return self.lengths[key] if key in self.lengths else session.speech.measure(text)
        try:
            session.timeline = build_timeline(session.program, measure, options.sample_rate)
            check_length(routine, session.timeline)
            session.tags = session_tags(routine, session.program.level, session.timeline, session.track.number,
                                        session.track.total, session.speech, options)
        except ScriptError as err:   # one error per script, its first level's (as a build of it alone says)
            if session.script not in self.invalid:
                self.invalid.add(session.script)
                self.fatal.append(err)
            return None
        except (AudioRoutineError, OSError) as err:
            self._fail(session.script, err)
            return None
        if self.fatal or (not options.force and is_up_to_date(session.path, session.tags.provenance)):
            return None
        folder = session.path.parent
        try:
            if not folder.is_dir():
                folder.mkdir(parents=True)
                self.created.append(folder)
        except OSError as err:
            self._fail(session.script, err)
            return None
        session.staged = temp_path(session.path)
        return SessionJob(session.spec, session.timeline, session.tags, routine.loudness.enabled,
                          bitrate(options), routine.loudness, options.id3_version, music_for(routine, options),
                          os.path.abspath(session.path))

    def _chunk_done(self, n: int, spoken: Spoken, queue: deque[int]) -> list[_Session]:
        """Record a chunk's lengths and failures; the sessions it made ready. Phrases the
        worker left unspoken after a failure go into a new chunk (appended to `queue`) when a
        script still alive needs them."""
        chunk = self.chunks[n]
        retry = _Chunk(chunk.spec, [], [])
        for key, text in zip(chunk.keys, chunk.texts):
            if text in spoken.failed:
                for script in dict.fromkeys(s.script for s in self.owners[key]):
                    self._fail(script, EngineError(spoken.failed[text]))
            elif text in spoken.lengths:
                self.lengths[key] = spoken.lengths[text]
                remember(key, chunk.spec.sample_rate, spoken.lengths[text])   # for later batches of a prescription run
                self._spoken(key, text, text in spoken.fresh)
            elif spoken.failed and any(s.script not in {*self.failed, *self.invalid} for s in self.owners[key]):
                retry.keys.append(key)      # unspoken after a failure, still needed
                retry.texts.append(text)
        if retry.keys:
            self.chunks.append(retry)
            queue.append(len(self.chunks) - 1)
            for session in {id(s): s for key in retry.keys for s in self.owners[key]}.values():
                if n in session.waiting:
                    session.waiting.add(len(self.chunks) - 1)
        ready = []
        for session in self.sessions:
            if n in session.waiting:
                session.waiting.discard(n)
                if not session.waiting:
                    ready.append(session)
        return ready

    def _spoken(self, key: str, text: str, fresh: bool) -> None:
        """Count a phrase now known for every session that speaks it: synthesized once (for
        its first owner, when a worker made it now), from the cache for the rest."""
        for i, session in enumerate(self.owners[key]):
            stats = self.prepared[session.script].result.stats
            if i == 0 and fresh:
                stats.synthesized += 1
            else:
                stats.cached += 1
            self._tick(session.script, text)

    def _session_done(self, session: _Session, data: bytes | None) -> None:
        if data is not None and session.staged is not None:
            with open(session.staged, "wb") as fh:
                fh.write(data)

    def _fail(self, script: int | None, err: AudioRoutineError | OSError, chunk: int | None = None) -> None:
        if script is None:   # a whole chunk failed: every script waiting for it
            scripts = dict.fromkeys(s.script for s in self.sessions if chunk in s.waiting)
            for each in scripts:
                self._fail(each, err)
            return
        if script in self.failed:   # one error per script: its first
            return
        if not self.isolate:
            self.fatal.append(self._error(script, err))
        self.failed[script] = err

    def _tick(self, script: int, text: str | None = None) -> None:
        """Progress of a script: its cached phrases are reported with its first phrase
        synthesized (or when it is laid out), so that in this process one script's progress
        ends before the next one's starts, as it always did."""
        texts, self.cached[script] = [*self.cached[script], *([text] if text is not None else [])], []
        tick = self.ticks[script]
        for each in texts:
            self.done[script] += 1
            if tick:
                tick(self.done[script], self.prepared[script].result.phrases, each)

    def discard(self) -> None:
        """Remove every session made but not renamed into place."""
        for session in self.sessions:
            if session.staged is not None:
                session.staged.unlink(missing_ok=True)
        for folder in reversed(self.created):   # a failed batch leaves no folder it made either
            try:
                folder.rmdir()
            except OSError:
                pass

    def commit(self) -> Outcome:
        """Rename every made session into place (script by script, in track order), write the
        transcripts; or, when the batch must fail, remove them and raise every error."""
        if self.fatal:
            self.discard()
            failed = [self._error(i, e) for i, e in self.failed.items()] if self.isolate else []
            raise_all([*self.fatal, *failed])
        try:
            return Outcome([(i, self._publish(i, job)) for i, job in enumerate(self.prepared) if i not in self.failed],
                           sorted(self.failed.items()))
        finally:
            self.discard()   # a failed script's sessions; anything left if a rename failed

    def _publish(self, index: int, job: Prepared) -> BuildResult:
        for session in (s for s in self.sessions if s.script == index):
            assert session.timeline is not None and session.tags is not None
            written = session.staged is not None
            sources = source_of(job.routine.path)
            with open_guard(session.path.parent) as guard:   # the one the build holds
                if session.staged is not None:
                    guard.commit(session.staged, session.path, sources=sources, legacy=legacy_ours, stage="tags")
                else:   # up to date: the tool's (checked before the build), recorded as such
                    guard.adopt(session.path, sources=sources, legacy=legacy_ours)
                if job.options.sidecars:
                    write_sidecars(session.path, session.timeline, session.tags.title, session.tags.artist,
                                   session.tags.album, sources, legacy_ours)
            job.result.sessions.append(SessionResult(session.program.level, session.path, session.timeline.total,
                                                     session.timeline.sample_rate, written,
                                                     session.tags.title, session.tags.artist,
                                                     tuple(map(session.speech.key, session.program.texts())),
                                                     session.tags.provenance))
        return job.result

    def _error(self, script: int, err: AudioRoutineError | OSError) -> AudioRoutineError:
        path = self.prepared[script].routine.path
        return err if isinstance(err, AudioRoutineError) else BuildError(one_line(path, err))
