"""The pipeline for one script or a batch of scripts — script → timeline → speech → render
→ encode + tags → files and playlist (options and their precedence: options.py).

All levels (of all scripts, in a batch) are checked, compiled, synthesized and laid out
before any file is written, so a script whose speech cannot fit, or that is too long, leaves
`output/` untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from .. import lang
from ..audio.loudness import normalize, rotate_phase
from ..audio.mp3 import encode_normalized
from ..audio.render import Mix
from ..compile.compiler import build_timeline, compile_level, phrases_for
from ..compile.timeline import Program, Timeline
from ..core.errors import AudioRoutineError, BuildError, ManyErrors, ScriptError, collect, raise_all
from ..core.ffmpeg import configure_pydub
from ..core.guard import Guard, guarded_path, open_guard, peek
from ..engines import Clip
from ..model.bitrates import DEFAULT_BITRATE
from ..model.loudness_settings import LoudnessSettings
from ..model.script import Routine
from ..output.playlist import Entry, Track, playlist_path, track_order, write_playlist
from ..output.prune import legacy_ours, source_of, stale_outputs
from ..output.tags import read_tags
from ..output.transcript import sidecar_paths
from ..speech.cache import wav_bytes
from ..speech.clips import Speech, SpeechStats
from .executors import Parallel
from .options import DEFAULT_ENGINE as DEFAULT_ENGINE  # these were defined here: still importable from here
from .options import SESSION_RATE as SESSION_RATE
from .options import BuildOptions as BuildOptions
from .options import SessionResult as SessionResult
from .options import bitrate as bitrate
from .options import chosen_levels as chosen_levels
from .options import engine_name as engine_name
from .options import output_path as output_path
from .options import voice_name as voice_name
from .prepare import Progress as Progress
from .prepare import check_length, estimated_timeline, one_line, speech_for
from .results import BatchPlan as BatchPlan
from .results import BatchResult as BatchResult
from .results import BuildResult as BuildResult
from .results import Failure as Failure
from .results import PlannedSession as PlannedSession
from .tagging import album_artist, is_up_to_date, session_tags

log = logging.getLogger(__name__)
R = TypeVar("R")


def plan(routine: Routine, level: str | None = None, options: BuildOptions | None = None,
         exact: bool = False) -> Timeline:
    """The timeline of one level (default: the first). Phrases not in the cache are
    estimated (and counted as such in `timeline.estimated`) unless `exact`, which
    synthesizes them."""
    level = routine.level(level).id if level else routine.levels[0].id
    return _plan(routine, level, (options or BuildOptions()).for_script(routine), exact)[2]


def _plan(routine: Routine, level: str, options: BuildOptions,
          exact: bool = False) -> tuple[Program, Speech, Timeline, set[str]]:
    """`plan`, with the program, the speech it used and the phrases it estimated."""
    check_language(routine, options)
    program = compile_level(routine, level, options.settings)
    speech = speech_for(routine, program, options, SpeechStats())
    if exact:
        timeline = build_timeline(program, speech.measure, options.sample_rate)
        estimated: set[str] = set()
    else:
        timeline, estimated = estimated_timeline(program, speech, options.sample_rate)
    check_length(routine, timeline)
    return program, speech, timeline, estimated


def build(routine: Routine, options: BuildOptions | None = None, progress: Progress | None = None,
          parallel: Parallel | None = None) -> BuildResult:
    """Build every requested level of `routine` into tagged MP3s in `options.out_dir`
    (no playlist: `build_batch` writes one)."""
    from .batch import run_batch

    options = (options or BuildOptions()).for_script(routine)
    tracks = track_order([routine], [chosen_levels(routine, options)])
    with guarded([routine], [options]):
        outcome = run_batch([routine], [options], tracks, (lambda r, o: progress) if progress else None, False,
                            parallel or Parallel())
    return outcome.results[0][1]


@contextmanager
def guarded(routines: Sequence[Routine], options: Sequence[BuildOptions],
            playlist: Path | None = None) -> Iterator[None]:
    """Hold the guard of every output folder (core/guard.py: the lock and the record) for
    the block, once every file the build may write is known to be the tool's to write (or
    absent): else every refusal is raised together, before any work."""
    with ExitStack() as stack:
        guards = {}
        for folder in dict.fromkeys(opts.out_dir for opts in options):
            guards[folder] = stack.enter_context(open_guard(folder))
        collect(lambda path: guards[path.parent].check(path, legacy_ours),
                [path for path in build_files(routines, options, playlist) if path.parent in guards])
        yield


def build_files(routines: Sequence[Routine], options: Sequence[BuildOptions], playlist: Path | None) -> list[Path]:
    """Every file a build of `routines[i]` with `options[i]` writes: each chosen level's MP3
    and sidecars, and the playlist."""
    files = []
    for routine, opts in zip(routines, options):
        for level in chosen_levels(routine, opts):
            mp3 = output_path(routine, level, opts.out_dir)
            files += [mp3, *(sidecar_paths(mp3) if opts.sidecars else ())]
    return files + ([playlist] if playlist is not None else [])


def build_batch(
    routines: Sequence[Routine],
    options: BuildOptions | Sequence[BuildOptions] | None = None,
    progress: Callable[[Routine, BuildOptions], Progress | None] | None = None,
    isolate: bool = False,
    parallel: Parallel | None = None,
    prune: bool = False,
) -> BatchResult:
    """Build `routines[i]` with `options[i]` (or every one with the same `options`); number
    the tracks across the whole batch in play order (levels outer, scripts inner) and write
    one M3U8 playlist in that order.
    Several scripts share one album and album artist (a phone would split them otherwise):
    the first script's settings `album`, else the word for "Exercise programme" in its language,
    and the first script's album artist.
    `progress(routine, options)` may return a per-script progress callback.
    All or nothing: every script is checked, compiled, synthesized and laid out (every error
    of every script reported together) before the first file is written.
    With `isolate`, only ScriptErrors (invalid scripts, speech that cannot fit: the user's
    input) keep that guarantee; an engine, build or file error fails its script alone, the
    others are written, and the failures are in `BatchResult.failures` (raised as before
    when every script failed).
    `parallel`: where the work runs (default: this process; see executors.Parallel). Every
    phrase is synthesized once per batch, sessions render as soon as their phrases are in
    the cache, and the files are the same bytes whatever runs them (batch.py).
    Every file is written through the output folder's guard (core/guard.py): never over a
    file the tool did not write, one run at a time per folder. With `prune`, the outputs
    earlier builds wrote for routines or levels these scripts no longer have are removed
    afterwards (`output/prune.py`; `BatchResult.pruned`)."""
    configure_pydub()
    options = _batch_options(routines, options)
    check_unique(routines, options)
    raise_all([err for err in (_language_error(r, o) for r, o in zip(routines, options)) if err])
    levels = [chosen_levels(routine, opts) for routine, opts in zip(routines, options)]
    tracks = track_order(routines, levels)
    from .batch import run_batch

    playlist = playlist_path(routines, options[0].out_dir)
    with guarded(routines, options, playlist):
        outcome = run_batch(routines, options, tracks, progress, isolate, parallel or Parallel())
        written = outcome.results
        failures = [Failure(routines[i].path, one_line(routines[i].path, err), err) for i, err in outcome.failed]
        if not written and failures:   # nothing built: fail as a batch does
            raise failures[0].error if len(failures) == 1 else ManyErrors([_as_error(f) for f in failures])
        results = [result for _, result in written]
        entries, tracks = _playlist_entries(routines, options, written, tracks)
        write_playlist(playlist, [entries[(t.routine, t.level)] for t in tracks if (t.routine, t.level) in entries],
                       [s for r in routines for s in source_of(r.path)], legacy_ours)
        pruned = []
        if prune:
            with open_guard(options[0].out_dir) as guard:
                pruned = [path for path in stale(routines, options, playlist, guard) if guard.remove(path)]
    return BatchResult(results, playlist, failures, pruned)


def _playlist_entries(routines: Sequence[Routine], options: Sequence[BuildOptions],
                      written: Sequence[tuple[int, BuildResult]], tracks: list[Track],
                      ) -> tuple[dict[tuple[int, str], Entry], list[Track]]:
    """The playlist's entry per (script, level) written now, and its track order. A single
    script's other levels, built earlier, keep their place."""
    entries = {(index, session.level): Entry(session.path, session.seconds, session.title, session.artist)
               for index, result in written for session in result.sessions}
    if len(routines) == 1:
        routine = routines[0]
        for level in routine.levels:
            earlier = None if (0, level.id) in entries else _earlier_entry(
                output_path(routine, level.id, options[0].out_dir))
            if earlier:
                entries[(0, level.id)] = earlier
        tracks = [Track(0, lv.id, n, len(routine.levels)) for n, lv in enumerate(routine.levels, 1)]
    return entries, tracks


def stale(routines: Sequence[Routine], options: Sequence[BuildOptions], playlist: Path, guard: Guard) -> list[Path]:
    """What `--prune` removes after a build of `routines` (output/prune.py): every level of
    every script is kept, built now or not (`levels` does not prune the others)."""
    keep = [playlist]
    for routine, opts in zip(routines, options):
        for level in routine.levels:
            mp3 = output_path(routine, level.id, opts.out_dir)
            keep += [mp3, *sidecar_paths(mp3)]
    return stale_outputs(guard, [s for r in routines for s in source_of(r.path)], keep)


def _earlier_entry(path: Path) -> Entry | None:
    """The playlist entry of a session built earlier (title, artist, exact length from its tags)."""
    if not path.is_file():
        return None
    try:
        tags = read_tags(path)
    except Exception:   # unreadable: left out of the playlist, as any foreign file
        return None
    provenance = tags.get("provenance") or {}
    samples, rate = provenance.get("samples"), provenance.get("sample_rate")
    if not isinstance(samples, int) or not isinstance(rate, int) or not rate:
        return None
    return Entry(path, samples / rate, tags.get("title") or path.stem, tags.get("artist") or "")


def check_language(routine: Routine, options: BuildOptions) -> None:
    """A voice that speaks another language than the routine's words is a ScriptError naming
    the script's line, unless the script says `mixed_languages: yes`."""
    if routine.mixed_languages:
        return
    voice = voice_name(routine, options)
    problem = lang.mismatch(routine.language, lang.voice_language(engine_name(routine, options), voice))
    if problem is None:
        return
    from_script = voice is not None and voice == routine.voice.voice and not options.voice
    key = "voice.voice" if from_script else "language"
    where = "" if from_script else f" (voice {voice!r} from {'--voice' if options.voice else 'the settings'})"
    raise ScriptError(problem + where, file=routine.path, line=routine.lines.get(key), key=key,
                      hint="use a voice in the routine's language, or say 'mixed_languages: yes' in the script")


def _language_error(routine: Routine, options: BuildOptions) -> ScriptError | None:
    try:
        check_language(routine, options)
    except ScriptError as err:
        return err
    return None


def _as_error(failure: Failure) -> AudioRoutineError:
    return failure.error if isinstance(failure.error, AudioRoutineError) else BuildError(failure.message)


def _batch_options(routines: Sequence[Routine],
                   options: BuildOptions | Sequence[BuildOptions] | None) -> list[BuildOptions]:
    """One BuildOptions per script with its settings decided, and one album and album artist
    for all scripts when there are several."""
    if options is None or isinstance(options, BuildOptions):
        options = [options or BuildOptions()] * len(routines)
    if len(options) != len(routines):
        raise ValueError(f"{len(routines)} routines but {len(options)} BuildOptions")
    options = [opts.for_script(routine) for routine, opts in zip(routines, options)]
    if len(routines) < 2:
        return options
    first, settings = routines[0], options[0].settings
    album = options[0].album or settings.album or phrases_for(first)("programme")
    artist = options[0].album_artist or album_artist(first, settings)
    return [replace(opts, album=album, album_artist=artist) for opts in options]


def dry_run(routines: Sequence[Routine], options: BuildOptions | Sequence[BuildOptions] | None = None,
            prune: bool = False) -> BatchPlan:
    """What `build_batch` would write (and, with `prune`, remove), synthesizing nothing and
    writing nothing. Lengths
    of phrases not yet cached are estimates; a session whose phrases are all cached is
    checked against the file on disk like a real build would."""
    options = _batch_options(routines, options)
    tracks = track_order(routines, [chosen_levels(r, o) for r, o in zip(routines, options)])
    sessions: list[PlannedSession] = []
    missing: set[tuple[str, str]] = set()
    known: set[tuple[str, str]] = set()
    for index, (routine, opts) in enumerate(zip(routines, options)):
        for track in (t for t in tracks if t.routine == index):
            program, speech, timeline, estimated = _plan(routine, track.level, opts)
            identity = json.dumps(speech.engine.identity(), sort_keys=True)
            missing |= {(identity, text) for text in estimated}
            known |= {(identity, text) for text in program.texts()}
            path = output_path(routine, track.level, opts.out_dir)
            state = "would write"
            if not estimated and not opts.force:
                tags = session_tags(routine, track.level, timeline, track.number, track.total, speech, opts)
                state = "up to date" if is_up_to_date(path, tags.provenance) else state
            sessions.append(PlannedSession(track.level, path, timeline.total, timeline.sample_rate,
                                           len(estimated), state, sidecar_paths(path) if opts.sidecars else ()))
    playlist = playlist_path(routines, options[0].out_dir)
    would_prune = stale(routines, options, playlist, peek(options[0].out_dir)) if prune else []
    return BatchPlan(sessions, playlist, len(missing), len(known - missing), would_prune)


def check_unique(routines: Sequence[Routine], options: Sequence[BuildOptions]) -> None:
    """Two scripts with one id (or two sessions with one file name) would overwrite each
    other: a ScriptError naming both files."""
    ids: dict[str, Routine] = {}
    files: dict[str, Routine] = {}
    errors = []
    for routine, opts in zip(routines, options):
        if routine.id in ids:
            errors.append(ScriptError(f"routine id '{routine.id}' is also the id of {ids[routine.id].path}",
                                      file=routine.path, key="id"))
            continue
        ids[routine.id] = routine
        for level in chosen_levels(routine, opts):
            name = f"{routine.id}-{level}.mp3"
            if name in files:
                errors.append(ScriptError(f"{name} would also be written by {files[name].path}",
                                          file=routine.path, key="id"))
            files[name] = routine
    raise_all(errors)


def say_to_file(clip: Clip, out: Path, loudness: LoudnessSettings | None = None) -> None:
    """Write one clip as WAV or MP3 (by `out`'s suffix), phase-rotated and normalized to the
    loudness sessions get, so an audition sounds like the build."""
    loudness = loudness or LoudnessSettings()
    pcm = rotate_phase(clip.pcm, clip.sample_rate) if loudness.enabled else clip.pcm
    with guarded_path(out) as tmp:   # never over a file the tool did not write (core/guard.py)
        if out.suffix.lower() == ".mp3":
            encode_normalized(Mix.of_clip(pcm, clip.sample_rate), tmp, DEFAULT_BITRATE, loudness)
        else:
            tmp.write_bytes(wav_bytes(Clip(normalize(pcm, clip.sample_rate, loudness), clip.sample_rate)))


