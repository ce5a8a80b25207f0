"""`build_batch`, as the library and `audioroutine build` call it: a build that would write
nothing is answered from the output folder's manifest (manifest.py) before any audio library
or engine is loaded; anything else takes the normal path (pipeline.build_batch), which
decides each session by its MP3's provenance, and is recorded in the manifest afterwards.
`explain` says, per session, what changed since the recorded build."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack

from ..core.guard import open_guard
from ..model.script import Routine
from ..speech.stats import SpeechStats
from . import manifest
from .executors import Parallel
from .manifest import Explanation
from .options import BuildOptions
from .results import BatchResult, BuildResult, Progress


def build_batch(
    routines: Sequence[Routine],
    options: BuildOptions | Sequence[BuildOptions] | None = None,
    progress: Callable[[Routine, BuildOptions], Progress | None] | None = None,
    isolate: bool = False,
    parallel: Parallel | None = None,
    use_manifest: bool = True,
    prune: bool = False,
) -> BatchResult:
    """Build `routines[i]` with `options[i]` (or every one with the same `options`) into one
    album with one M3U8 playlist (pipeline.build_batch says how). A build that would write
    nothing is answered from the manifest in the output folder, loading no audio library or
    engine, with the same result; `use_manifest=False` always decides by the MP3s. After a
    build, the sessions written or found up to date are recorded in the manifest. The build
    holds each output folder's guard (core/guard.py: one run at a time, the record of what
    the tool wrote) from its first check to the manifest; `prune` removes what earlier
    builds wrote for routines or levels these scripts no longer have (output/prune.py)."""
    per_script = _per_script(routines, options)
    # The inputs are digested before the build: an input changed meanwhile is not recorded.
    keys = manifest.input_keys(routines, per_script) if use_manifest and routines else None
    done = manifest.fresh(routines, per_script, keys) if keys is not None and not prune else None
    if done is not None:
        return _answered(routines, done)
    from . import pipeline  # the normal path: audio libraries, engines

    with ExitStack() as stack:
        for folder in dict.fromkeys(opts.out_dir for opts in per_script):
            stack.enter_context(open_guard(folder))
        batch = pipeline.build_batch(routines, options, progress, isolate, parallel, prune)
        manifest.record(keys, batch.sessions, per_script)
    return batch


def explain(routines: Sequence[Routine],
            options: BuildOptions | Sequence[BuildOptions] | None = None) -> tuple[list[Explanation], list[str]]:
    """Per session, what changed since the build the manifest recorded (an empty list: up to
    date), and what changed in the batch as a whole; builds nothing (manifest.explain)."""
    per_script = _per_script(routines, options)
    return manifest.explain(routines, per_script, manifest.input_keys(routines, per_script))


def _per_script(routines: Sequence[Routine],
                options: BuildOptions | Sequence[BuildOptions] | None) -> list[BuildOptions]:
    if options is None or isinstance(options, BuildOptions):
        return [options or BuildOptions()] * len(routines)
    if len(options) != len(routines):
        raise ValueError(f"{len(routines)} routines but {len(options)} BuildOptions")
    return list(options)


def _answered(routines: Sequence[Routine], done: manifest.Fresh) -> BatchResult:
    """The result of a no-op build, from the manifest: every session up to date, each
    script's phrases read from the cache as the normal path would count them."""
    results = [BuildResult() for _ in routines]
    for index, session in done.sessions:
        result = results[index]
        result.sessions.append(session)
        result.phrases += len(session.phrases)
    for result in results:
        result.stats = SpeechStats(cached=result.phrases)
    return BatchResult(results, done.playlist)
