"""The pipeline for one script or a batch of scripts — script → timeline → speech → render
→ encode + tags → files and playlist (options and their precedence: options.py).

All levels (of all scripts, in a batch) are checked, compiled, synthesized and laid out
before any file is written, so a script whose speech cannot fit, or that is too long, leaves
`output/` untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from . import __version__
from .bitrates import DEFAULT_BITRATE, bitrate_problem
from .cache import PhraseCache, wav_bytes
from .compiler import build_timeline, compile_level, level_title, phrases_for
from .cover import generate_cover, load_cover
from .durations import format_hms
from .engines import Clip, VoiceOptions, get_engine
from .errors import AudioRoutineError, BuildError, ManyErrors, ScriptError, raise_all
from .executors import Parallel
from .files import atomic_path, write_atomic
from .limits import MAX_SESSION_MS
from .loudness import normalize, rotate_phase
from .loudness_settings import LoudnessSettings
from .mp3 import encode_normalized
from .music_settings import credit, music_for
from .options import DEFAULT_ENGINE as DEFAULT_ENGINE  # these were defined here: still importable from here
from .options import SESSION_RATE as SESSION_RATE
from .options import BuildOptions as BuildOptions
from .options import SessionResult as SessionResult
from .options import bitrate as bitrate
from .options import chosen_levels as chosen_levels
from .options import engine_name as engine_name
from .options import output_path as output_path
from .options import voice_name as voice_name
from .options import year_tag
from .playlist import Entry, playlist_path, track_order, write_playlist
from .render import Mix
from .script import Routine
from .settings import Settings
from .speech import Speech, SpeechStats
from .tags import ChapterTag, Provenance, SessionTags, read_tags, tags_digest
from .timeline import Chapter, Program, Timeline
from .transcript import lines, plain_text, sidecar_paths

Progress = Callable[[int, int, str], None]   # (done, total, phrase)
log = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass
class BuildResult:
    sessions: list[SessionResult] = field(default_factory=list)
    stats: SpeechStats = field(default_factory=SpeechStats)
    phrases: int = 0


def check_options(options: BuildOptions) -> None:
    """A bitrate or sample rate LAME would silently change is a ScriptError, naming the
    settings file and line when the bitrate came from there."""
    problem = bitrate_problem(bitrate(options), options.sample_rate)
    if problem and not options.bitrate and options.settings.bitrate:
        raise ScriptError(problem, file=options.settings.path, line=options.settings.line("bitrate"), key="bitrate")
    if problem:
        raise ScriptError(problem, file="--bitrate" if options.bitrate else "--sample-rate")


def speech_for(routine: Routine, program: Program, options: BuildOptions, stats: SpeechStats) -> Speech:
    voice = VoiceOptions(voice=voice_name(routine, options), language=routine.language, rate=program.rate)
    engine = get_engine(engine_name(routine, options), voice)
    return Speech(engine, PhraseCache(options.cache_dir), options.sample_rate, stats)


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
    program = compile_level(routine, level, options.settings)
    speech = speech_for(routine, program, options, SpeechStats())
    if exact:
        timeline = build_timeline(program, speech.measure, options.sample_rate)
        estimated: set[str] = set()
    else:
        timeline, estimated = _estimated_timeline(program, speech, options.sample_rate)
    check_length(routine, timeline)
    return program, speech, timeline, estimated


def _estimated_timeline(program: Program, speech: Speech, sample_rate: int) -> tuple[Timeline, set[str]]:
    """The timeline with phrases not in the cache estimated (counted in `timeline.estimated`),
    and those phrases."""
    estimated: set[str] = set()

    def measure(text: str) -> int:
        samples, guessed = speech.measure_or_estimate(text)
        if guessed:
            estimated.add(text)
        return samples

    try:
        timeline = build_timeline(program, measure, sample_rate)
    except ScriptError as err:
        if estimated and err.hint is None:   # the overrun may be the estimate's: say so
            raise err.with_hint("speech lengths partly estimated: 'audioroutine plan --exact' measures them") from None
        raise
    timeline.estimated = len(estimated)
    return timeline, estimated


def check_length(routine: Routine, timeline: Timeline) -> None:
    """A session longer than limits.MAX_SESSION_MS is a ScriptError."""
    if timeline.ms(timeline.total) > MAX_SESSION_MS:
        how = " with estimated speech" if timeline.estimated else ""
        raise ScriptError(f"level '{timeline.level}' lasts {format_hms(timeline.ms(timeline.total))}{how}: "
                          f"the limit is {format_hms(MAX_SESSION_MS)}", file=routine.path)


@dataclass
class _Prepared:
    """One script compiled, nothing synthesized or written yet."""

    routine: Routine
    options: BuildOptions
    jobs: list[tuple[Program, Speech]]
    result: BuildResult


def _compile(routine: Routine, options: BuildOptions) -> _Prepared:
    """Check options and levels, compile every level and check its estimated length: no
    synthesis yet."""
    check_options(options)
    levels = chosen_levels(routine, options)   # unknown level: ScriptError before any work
    result = BuildResult()
    jobs = []
    for level in levels:
        program = compile_level(routine, level, options.settings)
        speech = speech_for(routine, program, options, result.stats)
        output_path(routine, level, options.out_dir)   # a path outside out_dir fails before any work
        try:
            estimate, _ = _estimated_timeline(program, speech, options.sample_rate)
        except ScriptError:   # an estimate that does not fit: the exact layout decides, after synthesis
            pass
        else:
            check_length(routine, estimate)
        jobs.append((program, speech))
    result.phrases = sum(len(program.texts()) for program, _ in jobs)
    return _Prepared(routine, options, jobs, result)


def build(routine: Routine, options: BuildOptions | None = None, progress: Progress | None = None,
          parallel: Parallel | None = None) -> BuildResult:
    """Build every requested level of `routine` into tagged MP3s in `options.out_dir`
    (no playlist: `build_batch` writes one)."""
    from .batch import run_batch

    options = (options or BuildOptions()).for_script(routine)
    tracks = track_order([routine], [chosen_levels(routine, options)])
    outcome = run_batch([routine], [options], tracks, (lambda r, o: progress) if progress else None, False,
                        parallel or Parallel())
    return outcome.results[0][1]


@dataclass
class Failure:
    """A script that failed after every script was validated (build_batch(isolate=True))."""

    script: str | None
    message: str                       # one line: the script, then the error
    error: AudioRoutineError | OSError


@dataclass
class BatchResult:
    """Scripts built together: one BuildResult per script, one playlist."""

    results: list[BuildResult]
    playlist: Path
    failures: list[Failure] = field(default_factory=list)   # only with build_batch(isolate=True)

    @property
    def sessions(self) -> list[SessionResult]:
        return [session for result in self.results for session in result.sessions]


def build_batch(
    routines: Sequence[Routine],
    options: BuildOptions | Sequence[BuildOptions] | None = None,
    progress: Callable[[Routine, BuildOptions], Progress | None] | None = None,
    isolate: bool = False,
    parallel: Parallel | None = None,
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
    the cache, and the files are the same bytes whatever runs them (batch.py)."""
    options = _batch_options(routines, options)
    check_unique(routines, options)
    levels = [chosen_levels(routine, opts) for routine, opts in zip(routines, options)]
    tracks = track_order(routines, levels)
    from .batch import run_batch

    outcome = run_batch(routines, options, tracks, progress, isolate, parallel or Parallel())
    written = outcome.results
    failures = [Failure(routines[i].path, _one_line(routines[i].path, err), err) for i, err in outcome.failed]
    if not written and failures:   # nothing built: fail as a batch does
        raise failures[0].error if len(failures) == 1 else ManyErrors([_as_error(f) for f in failures])
    playlist = playlist_path(routines, options[0].out_dir)
    results, entries = [], {}
    for index, result in written:
        for session in result.sessions:
            entries[(index, session.level)] = Entry(session.path, session.seconds, session.title, session.artist)
        results.append(result)
    write_playlist(playlist, [entries[(t.routine, t.level)] for t in tracks if (t.routine, t.level) in entries])
    return BatchResult(results, playlist, failures)


def _as_error(failure: Failure) -> AudioRoutineError:
    return failure.error if isinstance(failure.error, AudioRoutineError) else BuildError(failure.message)


def _one_line(script: str | None, err: AudioRoutineError | OSError) -> str:
    if isinstance(err, OSError):
        where = f"{err.filename}: " if err.filename else ""
        text = f"{where}{err.strerror or err}"
    else:
        text = str(err).replace("\n", "; ")
    return f"{script}: {text}" if script and not text.startswith(script) else text


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
    artist = options[0].album_artist or _album_artist(first, settings)
    return [replace(opts, album=album, album_artist=artist) for opts in options]


@dataclass
class PlannedSession:
    """What `build` would write for one level; `state` is 'up to date' or 'would write'."""

    level: str
    path: Path
    samples: int
    sample_rate: int
    estimated: int                    # phrases of this session not synthesized yet
    state: str
    sidecars: tuple[Path, ...] = ()

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate


@dataclass
class BatchPlan:
    sessions: list[PlannedSession]
    playlist: Path
    to_synthesize: int                # distinct phrases not in the cache
    cached: int


def dry_run(routines: Sequence[Routine], options: BuildOptions | Sequence[BuildOptions] | None = None) -> BatchPlan:
    """What `build_batch` would write, synthesizing nothing and writing nothing. Lengths
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
    return BatchPlan(sessions, playlist_path(routines, options[0].out_dir), len(missing), len(known - missing))


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


def session_tags(
    routine: Routine, level: str, timeline: Timeline, track: int, total: int, speech: Speech, options: BuildOptions
) -> SessionTags:
    say = phrases_for(routine)
    settings = options.settings
    clinic = routine.clinic or settings.clinic
    artist = _artist(routine, settings)
    title = f"{routine.title} — {level_title(routine, level, say)}"
    music = music_for(routine, options)
    comment = " ".join(filter(None, [*routine.safety, settings.disclaimer, routine.description, credit(music)]))
    spoken = lines(timeline)
    tags = SessionTags(
        title=title,
        artist=artist,
        album=settings.album or options.album or routine.title,
        track=track,
        track_total=total,
        genre=settings.genre or say("genre"),
        year=year_tag(),
        comment=comment,
        language=_iso639_2(routine.language),
        album_artist=options.album_artist or _album_artist(routine, settings),
        publisher=clinic,
        copyright=settings.copyright,
        lyrics=plain_text(spoken),
        synced=[(line.text, line.start_ms) for line in spoken],
        chapters=[ChapterTag(c.title, timeline.ms(c.start), timeline.ms(c.end), _subtitle(timeline, c))
                  for c in timeline.chapters],
        toc_title=say("chapters"),
    )
    tags.cover, tags.cover_mime = _cover(routine, level, clinic, settings)
    tags.provenance = {
        "tool": f"audioroutine {__version__}",
        "script_sha256": routine.sha256,
        "level": level,
        "engine": speech.engine.identity(),
        "trim": list(speech.trim),
        "timeline": _timeline_hash(timeline),
        "samples": timeline.total,
        "sample_rate": timeline.sample_rate,
        "bitrate": bitrate(options),
        "loudness": [routine.loudness.target, routine.loudness.true_peak, routine.loudness.enabled],
        "id3": options.id3_version,
        "tags": tags_digest(tags),
    }
    if music is not None:
        tags.provenance["music"] = music.identity()
    return tags


def say_to_file(clip: Clip, out: Path, loudness: LoudnessSettings | None = None) -> None:
    """Write one clip as WAV or MP3 (by `out`'s suffix), phase-rotated and normalized to the
    loudness sessions get, so an audition sounds like the build."""
    loudness = loudness or LoudnessSettings()
    pcm = rotate_phase(clip.pcm, clip.sample_rate) if loudness.enabled else clip.pcm
    if out.suffix.lower() == ".mp3":
        with atomic_path(out) as tmp:
            encode_normalized(Mix.of_clip(pcm, clip.sample_rate), tmp, DEFAULT_BITRATE, loudness)
    else:
        write_atomic(out, wav_bytes(Clip(normalize(pcm, clip.sample_rate, loudness), clip.sample_rate)))


def _artist(routine: Routine, settings: Settings) -> str:
    return routine.author or settings.artist or routine.clinic or settings.clinic or "audioroutine"


def _album_artist(routine: Routine, settings: Settings) -> str:
    return settings.artist or routine.clinic or settings.clinic or _artist(routine, settings)


def _subtitle(timeline: Timeline, chapter: Chapter) -> str | None:
    """The dosage sentence of an exercise chapter (its TIT3)."""
    for event in timeline.events:
        if chapter.start <= event.start < chapter.end and event.role == "dosage":
            return event.text
    return None


def _cover(routine: Routine, level: str, clinic: str | None, settings: Settings) -> tuple[bytes, str]:
    if settings.cover:
        try:
            return load_cover(settings.cover)
        except ValueError as err:   # checked when the settings were read; changed since
            raise ScriptError(f"{err}: {settings.cover}", file=settings.path, line=settings.line("cover"),
                              key="cover") from None
    index = [lv.id for lv in routine.levels].index(level)
    return generate_cover(routine.title, level_title(routine, level), index, clinic), "image/png"


def _timeline_hash(timeline: Timeline) -> str:
    blob = json.dumps([(e.start, e.length, e.kind, e.text) for e in timeline.events]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def is_up_to_date(path: Path, provenance: Provenance | None) -> bool:
    if not path.exists():
        return False
    try:
        return bool(read_tags(path).get("provenance") == json.loads(json.dumps(provenance)))
    except Exception:   # unreadable file: rebuild it
        return False


def _iso639_2(language: str) -> str:
    return {"en": "eng", "es": "spa", "de": "deu", "fr": "fra", "it": "ita", "pt": "por", "nl": "nld"}.get(
        language.split("-")[0].lower(), "und")
