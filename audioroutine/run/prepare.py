"""A script made ready to build: options checked, every level compiled and its estimated
length checked, an engine and the phrase cache chosen; nothing synthesized or written."""

from __future__ import annotations

from dataclasses import dataclass

from ..compile.compiler import build_timeline, compile_level
from ..compile.timeline import Program, Timeline
from ..core.errors import AudioRoutineError, LanguageError, ScriptError
from ..core.limits import MAX_SESSION_MS
from ..engines import VoiceOptions, get_engine
from ..model.bitrates import bitrate_problem
from ..model.durations import format_hms
from ..model.script import Routine
from ..speech.cache import PhraseCache
from ..speech.clips import Speech, SpeechStats
from .options import BuildOptions, bitrate, chosen_levels, engine_name, output_path, voice_name
from .results import BuildResult as BuildResult  # was defined here: still importable from here
from .results import Progress as Progress


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
    try:
        engine = get_engine(engine_name(routine, options), voice)
    except LanguageError as err:   # the script's language and the engine chosen: the input's error
        raise ScriptError(str(err), file=routine.path, line=routine.lines.get("language"),
                          key="language") from None
    return Speech(engine, PhraseCache(options.cache_dir), options.sample_rate, stats)



def estimated_timeline(program: Program, speech: Speech, sample_rate: int) -> tuple[Timeline, set[str]]:
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
class Prepared:
    """One script compiled, nothing synthesized or written yet."""

    routine: Routine
    options: BuildOptions
    jobs: list[tuple[Program, Speech]]
    result: BuildResult


def compile_script(routine: Routine, options: BuildOptions) -> Prepared:
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
            estimate, _ = estimated_timeline(program, speech, options.sample_rate)
        except ScriptError:   # an estimate that does not fit: the exact layout decides, after synthesis
            pass
        else:
            check_length(routine, estimate)
        jobs.append((program, speech))
    result.phrases = sum(len(program.texts()) for program, _ in jobs)
    return Prepared(routine, options, jobs, result)


def one_line(script: str | None, err: AudioRoutineError | OSError) -> str:
    if isinstance(err, OSError):
        where = f"{err.filename}: " if err.filename else ""
        text = f"{where}{err.strerror or err}"
    else:
        text = str(err).replace("\n", "; ")
    return f"{script}: {text}" if script and not text.startswith(script) else text
