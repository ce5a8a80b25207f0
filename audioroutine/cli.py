"""Command line: a thin layer over the library. One error boundary turns library errors into
one line on stderr and an exit code: 0 ok, 1 build failure, 2 bad input."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__, manifest
from .cache_stores import CacheLocation, cache_location
from .durations import format_ms
from .engines import VoiceOptions, engine_class, engine_info, engine_names, get_engine, registry_order
from .errors import AudioRoutineError, ScriptError, collect
from .executors import Parallel
from .ffmpeg import configure_pydub
from .inputs import expand
from .options import DEFAULT_ENGINE, BuildOptions, SessionResult, engine_name, output_path, voice_name
from .report import show_warnings
from .script import Library, Routine, load_script
from .settings import Settings, settings_for

if TYPE_CHECKING:
    from .pipeline import BatchPlan, Failure
    from .prescribe.batch import FolderResult

# Audio libraries and engines are imported inside the commands that use them: a no-op
# `build` is answered from the manifest (manifest.py) before any of them is loaded.

EXIT_BUILD, EXIT_INPUT = 1, 2
EXIT_PIPE = 141       # 128 + SIGPIPE, what other tools report when the reader of their output quits
MP3_RATES = ("16000", "22050", "24000", "32000", "44100", "48000")   # MPEG-1/2 rates LAME encodes


class Group(click.Group):
    """Runs every command inside the error boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:   # `audioroutine plan ... | head`: the reader has gone; leave quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # so the final flush succeeds
            ctx.exit(EXIT_PIPE)
        except AudioRoutineError as err:
            if _flag("debug"):
                raise
            for line in str(err).splitlines():   # a ManyErrors has one line per error
                click.echo(f"error: {line}", err=True)
            ctx.exit(err.exit_code)
        except OSError as err:   # unwritable folder, disk full...: the user can fix these
            if _flag("debug"):
                raise
            where = f"{err.filename}: " if err.filename else ""
            click.echo(f"error: {where}{err.strerror or err}", err=True)
            ctx.exit(EXIT_BUILD)
        except KeyboardInterrupt:
            click.echo("interrupted: no partial files were left behind", err=True)
            ctx.exit(130)


def _remember(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """Store a global flag where every context sees it (before or after the command name)."""
    if value:
        ctx.meta[f"audioroutine.{param.name}"] = True


def _flag(name: str) -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get(f"audioroutine.{name}"))


def _output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """-q, -v and --debug: accepted by the group and by every command."""
    for decls, help_text in reversed((
        (("-q", "--quiet"), "Print only errors and the output the command exists for (no progress or summary)."),
        (("-v", "--verbose"), "Say which settings file, engine and voice each script uses."),
        (("--debug",), "Show tracebacks instead of one-line errors."),
    )):
        func = click.option(*decls, is_flag=True, expose_value=False, callback=_remember, help=help_text)(func)
    return func


def info(message: str) -> None:
    """A progress or summary line: hidden by --quiet."""
    if not _flag("quiet"):
        click.echo(message)


def detail(message: str) -> None:
    """A line for --verbose, on stderr so that data on stdout stays clean."""
    if _flag("verbose") and not _flag("quiet"):
        click.echo(message, err=True)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="audioroutine")
@_output_options
def cli() -> None:
    """Turn exercise scripts (YAML) into voice-guided, tagged MP3 sessions.

    Example: audioroutine build scripts_yaml/upper_middle_back.yaml
    """
    if click.get_current_context().invoked_subcommand != "build":   # build does it when it builds
        configure_pydub()
    show_warnings()


ENGINE_HELP = "Speech engine: piper (default), espeak (both offline), gtts (online: sends text to Google), fake."
VOICE_HELP = "Engine voice: piper .onnx path, espeak language or voice, gtts LANG[:TLD] (docs/engines.md)."


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--cache-dir", type=CacheParam(), envvar="AUDIOROUTINE_CACHE_DIR",
                        help="Phrase cache: a folder, or a URL workers share (s3://bucket/prefix; docs/scaling.md) "
                             "[env AUDIOROUTINE_CACHE_DIR; default: user cache dir].")(func)
    func = click.option("--voice", help=VOICE_HELP)(func)
    func = click.option("--engine", help=ENGINE_HELP)(func)
    return func


class CacheParam(click.ParamType):
    """A folder, or a URL kept exactly as typed (click.Path would turn s3://b/p into s3:/b/p)."""

    name = "PATH|URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> CacheLocation:
        return cache_location(value)


def _settings_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--settings", "settings_file", type=click.Path(path_type=Path),
                        help="Clinic settings file [default: audioroutine.toml beside each script].")(func)


def _settings(script: Path, settings_file: Path | None) -> Settings:
    found = settings_for(script, settings_file)
    detail(f"{script}: settings {found.path or 'none'}")
    return found


def _levels(routine: Routine, level: str | None) -> tuple[str, ...]:
    if level in (None, "all"):
        return tuple(lv.id for lv in routine.levels)
    return (routine.level(level).id,)


def _engine_detail(routine: Routine, options: BuildOptions) -> None:
    voice = voice_name(routine, options) or "default"
    detail(f"{routine.path}: engine {engine_name(routine, options)}, voice {voice}, language {routine.language}")


@cli.command("build")
@click.argument("scripts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--level", "-l", default="all", show_default=True, help="One level (any letter case), or all.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("output"), show_default=True,
              help="Folder for the MP3s.")
@click.option("--bitrate", default=None, help="MP3 bitrate (mono) [default: settings, else 64k].")
@click.option("--sample-rate", type=click.Choice(MP3_RATES), default="22050", show_default=True,
              help="Session and MP3 sample rate in Hz.")
@click.option("--force", is_flag=True, help="Rewrite MP3s even when they are up to date.")
@click.option("--id3", "id3", type=click.Choice(["2.3", "2.4"]), default="2.3", show_default=True,
              help="ID3 version: 2.3 reads everywhere (Windows, car stereos); 2.4 stores UTF-8.")
@click.option("--no-sidecars", is_flag=True, help="Do not write the .vtt and .lrc transcripts.")
@click.option("--music", default=None, metavar="BED|FILE|none",
              help="A music bed under every session: calm, warm, dusk, an audio file, or none "
                   "[default: the script's, the settings'].")
@click.option("--dry-run", is_flag=True, help="Show what would be written; synthesize and write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result (or the dry run) as JSON.")
@click.option("--prune", "prune_stale", is_flag=True,
              help="Remove MP3s (and their transcripts, playlists) an earlier build wrote for routines or levels "
                   "no longer in the inputs; only files with audioroutine's provenance.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Processes for synthesis and sessions [default: the cores this process may use; "
                   "a batch of under 4 sessions and 32 new phrases stays in one]. Same files for any N.")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Run the build on this Dask scheduler's workers (pip install 'audioroutine[cluster]'; "
                   "docs/scaling.md); give a --cache-dir every worker can reach.")
@click.option("--dask-local", type=click.IntRange(min=1), metavar="N",
              help="Run the build on a local Dask cluster of N worker processes.")
@_settings_option
@_common
@_output_options
def build_cmd(scripts: tuple[Path, ...], level: str, out_dir: Path, bitrate: str | None, sample_rate: str,
              force: bool, id3: str, no_sidecars: bool, music: str | None, dry_run: bool, as_json: bool,
              prune_stale: bool,
              jobs: int | None, scheduler: str | None, dask_local: int | None,
              settings_file: Path | None, engine: str | None, voice: str | None,
              cache_dir: CacheLocation | None) -> None:
    """Build one MP3 per level for each script (files, folders, quoted globs), their transcripts, and one M3U8 playlist.

    Example: audioroutine build scripts_yaml/upper_middle_back.yaml --level beginner
    """
    started = time.monotonic()
    if scheduler and dask_local:
        raise ScriptError("give --scheduler or --dask-local, not both", file="--dask-local")
    paths = _expand(scripts)
    # Every script and setting valid before any work, every error of every file reported.
    libraries: dict[Path, Library] = {}     # each exercise library read once per build
    loaded = collect(lambda path: (load_script(path, libraries), _settings(path, settings_file)), paths)
    routines = [routine for routine, _ in loaded]

    def options_for(pair: tuple[Routine, Settings]) -> BuildOptions:
        routine, found = pair
        return BuildOptions(out_dir=out_dir, engine=engine, voice=voice, levels=_levels(routine, level),
                            cache_dir=cache_dir, bitrate=bitrate, sample_rate=int(sample_rate), force=force,
                            id3_version=int(id3[-1]), settings=found, sidecars=not no_sidecars,
                            music=_music_option(music))

    options = collect(options_for, loaded)
    for routine, opts in zip(routines, options):
        _engine_detail(routine, opts)
    # Every level of every script is kept, built now or not: --level does not prune the others.
    keep = [output_path(r, lv.id, out_dir) for r in routines for lv in r.levels]
    if dry_run:
        configure_pydub()
        from .pipeline import dry_run as dry_run_plan
        from .prune import stale_outputs

        planned = dry_run_plan(routines, options)
        _print_dry_run(planned, as_json, stale_outputs(out_dir, [*keep, planned.playlist]) if prune_stale else [])
        return
    keys = manifest.input_keys(routines, options)   # before the build: an input changed meanwhile is not recorded
    done = None if prune_stale else manifest.fresh(routines, options, keys)
    if done:
        _print_build(done.sessions, done.playlist, (0, done.cached), [], [], started, as_json, len(routines))
        return
    configure_pydub()
    from .pipeline import build_batch
    from .prune import prune, stale_outputs

    _warn_online({engine_name(routine, opts) for routine, opts in zip(routines, options)})
    with ExitStack() as stack:
        def progress(routine: Routine, opts: BuildOptions) -> Any:
            if as_json or _flag("quiet"):
                return None
            return stack.enter_context(_ProgressBar(f"{routine.id} ({engine_name(routine, opts)})")).update
        batch = build_batch(routines, options, progress, isolate=True,
                            parallel=Parallel(jobs=jobs, scheduler=scheduler, dask_local=dask_local))
    manifest.record(keys, batch.sessions, options)
    pruned = prune(stale_outputs(out_dir, [*keep, batch.playlist])) if prune_stale else []
    phrases = (sum(result.stats.synthesized for result in batch.results),
               sum(result.stats.cached for result in batch.results))
    _print_build(batch.sessions, batch.playlist, phrases, batch.failures, pruned, started, as_json, len(routines))
    for failure in batch.failures:
        click.echo(f"failed: {failure.message}", err=True)
    if batch.failures:
        click.get_current_context().exit(EXIT_BUILD)


def _print_build(sessions: list[SessionResult], playlist: Path, phrases: tuple[int, int], failures: list[Failure],
                 pruned: list[Path], started: float, as_json: bool, scripts: int) -> None:
    """The result of a build: JSON, or one line per file and a summary (with a table for a
    library). `phrases` is (synthesized, from the cache)."""
    synthesized, cached = phrases
    seconds = sum(session.seconds for session in sessions)
    summary = {"built": sum(s.written for s in sessions), "up_to_date": sum(not s.written for s in sessions),
               "failed": len(failures), "pruned": len(pruned), "seconds": seconds,
               "time": round(time.monotonic() - started, 3)}
    if as_json:
        click.echo(json.dumps({
            "sessions": [{"path": str(s.path), "level": s.level, "samples": s.samples, "sample_rate": s.sample_rate,
                          "seconds": s.seconds, "written": s.written, "title": s.title} for s in sessions],
            "playlist": str(playlist),
            "seconds": seconds,
            "phrases": {"synthesized": synthesized, "cached": cached},
            "failed": [{"script": f.script, "error": f.message} for f in failures],
            "pruned": [str(p) for p in pruned],
            "summary": summary,
        }, indent=2, ensure_ascii=False))
        return
    for session in sessions:
        state = "written" if session.written else "up to date"
        info(f"  {session.path}  {format_ms(int(session.seconds * 1000))}  {state}")
    info(f"  {playlist}  playlist")
    for path in pruned:
        info(f"  {path}  pruned")
    if scripts > 1 or pruned or failures:   # a library build: one script needs no table
        for line in _summary_table(summary):
            info(line)
    info(f"{len(sessions)} session(s), {sum(s.written for s in sessions)} written, "
         f"{format_ms(int(seconds * 1000))} of audio; phrases: {synthesized} synthesized, {cached} from cache")


def _summary_table(summary: dict[str, Any]) -> list[str]:
    """Two aligned rows: the headings and the counts of a build."""
    cells = [("built", str(summary["built"])), ("up to date", str(summary["up_to_date"])),
             ("failed", str(summary["failed"])), ("pruned", str(summary["pruned"])),
             ("audio", format_ms(int(summary["seconds"] * 1000))), ("time", f"{summary['time']:.1f} s")]
    widths = [max(len(head), len(value)) for head, value in cells]
    return ["  " + "  ".join(head.rjust(w) for (head, _), w in zip(cells, widths)),
            "  " + "  ".join(value.rjust(w) for (_, value), w in zip(cells, widths))]


def _print_dry_run(planned: BatchPlan, as_json: bool, stale: list[Path]) -> None:
    if as_json:
        click.echo(json.dumps({
            "dry_run": True,
            "sessions": [{"path": str(s.path), "level": s.level, "samples": s.samples, "seconds": s.seconds,
                          "estimated_phrases": s.estimated, "state": s.state,
                          "sidecars": [str(p) for p in s.sidecars]} for s in planned.sessions],
            "playlist": str(planned.playlist),
            "phrases": {"to_synthesize": planned.to_synthesize, "cached": planned.cached},
            "would_prune": [str(p) for p in stale],
        }, indent=2, ensure_ascii=False))
        return
    for session in planned.sessions:
        about = "~" if session.estimated else ""
        info(f"  {session.path}  {about}{format_ms(int(session.seconds * 1000))}  {session.state}")
        for sidecar in session.sidecars:
            info(f"  {sidecar}  transcript")
    info(f"  {planned.playlist}  playlist")
    for path in stale:
        info(f"  {path}  would prune")
    info(f"dry run: nothing synthesized or written; phrases: {planned.to_synthesize} to synthesize, "
         f"{planned.cached} in the cache" + (" (~ marks estimated lengths)" if planned.to_synthesize else ""))


@cli.command("watch")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--level", "-l", default="all", show_default=True, help="One level (any letter case), or all.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("output"), show_default=True,
              help="Folder for the MP3s.")
@click.option("--prune", "prune_stale", is_flag=True, help="Prune stale outputs at each build, like build --prune.")
@_settings_option
@_common
@_output_options
def watch_cmd(paths: tuple[Path, ...], level: str, out_dir: Path, prune_stale: bool, settings_file: Path | None,
              engine: str | None, voice: str | None, cache_dir: CacheLocation | None) -> None:
    """Build, then rebuild whenever a script or settings file is saved (checked every second; Ctrl-C stops).

    Example: audioroutine watch scripts_yaml/ --out output
    """
    from .watch import watch, watched_files

    ctx = click.get_current_context()

    def rebuild(changed: list[Path]) -> None:
        info(f"building: {len(changed)} file(s) changed" if ctx.meta.get("audioroutine.watching") else "building")
        ctx.meta["audioroutine.watching"] = True
        try:
            ctx.invoke(build_cmd, scripts=paths, level=level, out_dir=out_dir, prune_stale=prune_stale,
                       settings_file=settings_file, engine=engine, voice=voice, cache_dir=cache_dir)
        except click.exceptions.Exit:   # failures were listed; keep watching
            pass
        except (AudioRoutineError, OSError) as err:   # one bad save must not end the watch
            text = str(err) if isinstance(err, AudioRoutineError) else f"{err.filename or ''}: {err.strerror or err}"
            for line in text.splitlines():
                click.echo(f"error: {line}", err=True)
        info("watching for changes (Ctrl-C stops)")

    try:
        watch(lambda: watched_files(paths, settings_file), rebuild)
    except KeyboardInterrupt:   # the way to stop watching: not an error
        ctx.exit(0)


@cli.command("plan")
@click.argument("script", type=click.Path(path_type=Path))
@click.option("--level", "-l", default=None, help="Level to plan, any letter case [default: the first].")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
@click.option("--exact", is_flag=True, help="Synthesize phrases not yet cached, so every time is exact.")
@click.option("--silences", is_flag=True, help="List silences too.")
@_settings_option
@_common
@_output_options
def plan_cmd(script: Path, level: str | None, as_json: bool, exact: bool, silences: bool, settings_file: Path | None,
             engine: str | None, voice: str | None, cache_dir: CacheLocation | None) -> None:
    """Print the cue sheet of one level: time, chapter, role, text.

    Example: audioroutine plan scripts_yaml/upper_middle_back.yaml --level beginner
    """
    from .pipeline import plan

    routine = load_script(script)
    level = routine.level(level).id if level else routine.levels[0].id
    options = BuildOptions(engine=engine, voice=voice, cache_dir=cache_dir, settings=_settings(script, settings_file))
    _engine_detail(routine, options)
    timeline = plan(routine, level, options, exact=exact)
    if as_json:
        click.echo(json.dumps(timeline.to_json(), indent=2, ensure_ascii=False))
        return
    click.echo(timeline.format_sheet(silences=silences))
    note = f" (estimated: {timeline.estimated} phrase(s) not synthesized yet; --exact to measure)" \
        if timeline.estimated else ""
    click.echo(f"total {format_ms(timeline.ms(timeline.total))}{note}")


@cli.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print one result per script as JSON (every script checked; exit 2 if any failed).")
@_settings_option
@_common
@_output_options
def validate_cmd(paths: tuple[Path, ...], as_json: bool, settings_file: Path | None,
                 engine: str | None, voice: str | None, cache_dir: CacheLocation | None) -> None:
    """Check scripts (files, folders, quoted globs) without building: keys, values, and that speech fits.

    Example: audioroutine validate scripts_yaml/
    """
    from .pipeline import plan

    results: list[dict[str, object]] = []
    libraries: dict[Path, Library] = {}

    def check(path: Path) -> None:
        try:
            routine = load_script(path, libraries)
            options = BuildOptions(engine=engine, voice=voice, cache_dir=cache_dir,
                                   settings=_settings(path, settings_file))
            _engine_detail(routine, options)
            estimated = sum(plan(routine, lv.id, options).estimated for lv in routine.levels)
        except ScriptError as err:
            if not as_json:
                raise
            results.append({"path": str(path), "ok": False, "error": str(err)})
            return
        results.append({"path": str(path), "ok": True, "exercises": len(routine.exercises),
                        "levels": [lv.id for lv in routine.levels], "estimated_phrases": estimated})
        note = f" (fit checked with {estimated} estimated phrase length(s))" if estimated else ""
        if not as_json:
            info(f"ok  {path}: {len(routine.exercises)} exercises, "
                 f"levels {', '.join(lv.id for lv in routine.levels)}{note}")

    collect(check, _expand(paths))   # every file checked; every error reported
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
        if not all(result["ok"] for result in results):
            click.get_current_context().exit(EXIT_INPUT)


def _folder_summary(folders: list[FolderResult]) -> None:
    """One line per file (MP3, handouts, playlist) and a summary; paths show references only."""
    sessions = [s for folder in folders for s in folder.result.sessions]
    for folder in folders:
        for session in folder.result.sessions:
            state = "written" if session.written else "up to date"
            info(f"  {session.path}  {format_ms(int(session.seconds * 1000))}  {state}")
        for handout in folder.handouts:
            info(f"  {handout}  handout")
        info(f"  {folder.playlist}  playlist")
    synthesized = sum(folder.result.stats.synthesized for folder in folders)
    cached = sum(folder.result.stats.cached for folder in folders)
    info(f"{len(folders)} folder(s), {len(sessions)} session(s), {sum(s.written for s in sessions)} written, "
         f"{sum(len(f.handouts) for f in folders)} handout file(s) written; "
         f"phrases: {synthesized} synthesized, {cached} from cache")


def _music_option(value: str | None) -> str | None:
    """--music, checked (a file relative to the current folder, made absolute)."""
    if value is None:
        return None
    from .music_settings import MusicError, parse_music

    try:
        found = parse_music(value)
    except MusicError as err:
        raise ScriptError(f"--music: {err}", file="--music") from None
    return str(found.path.resolve()) if found is not None and found.is_file else value


@cli.command("programme")
@click.argument("programme_file", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("output"), show_default=True,
              help="Folder for the MP3s, handouts and playlist.")
@click.option("--week", type=int, default=None, help="Build one week (or stage) only [default: all].")
@click.option("--plan", "table", is_flag=True, help="Print the dosage table per week; build nothing.")
@click.option("--base-url", default=None, help="Where the output folder will be served: handouts get a QR code.")
@click.option("--force", is_flag=True, help="Rewrite MP3s even when they are up to date.")
@_settings_option
@_common
@_output_options
def programme_cmd(programme_file: Path, out_dir: Path, week: int | None, table: bool, base_url: str | None,
                  force: bool, settings_file: Path | None, engine: str | None, voice: str | None,
                  cache_dir: CacheLocation | None) -> None:
    """Build a progression programme: one session per week, one album, a playlist, handouts.

    Example: audioroutine programme examples/back-6-weeks.yaml --plan
    """
    from .prescribe import batch as prescribe_batch
    from .prescribe import progression

    found, routine = progression.load_progression(programme_file)
    if table:
        click.echo(progression.format_table(progression.dosage_table(routine)))
        return
    levels = (progression.week_id(found, week),) if week else ()
    if week and not 1 <= week <= found.weeks:
        raise ScriptError(f"no week {week}: the programme has {found.weeks}", file=str(programme_file))
    options = BuildOptions(out_dir=out_dir, engine=engine, voice=voice, levels=levels, cache_dir=cache_dir,
                           force=force, settings=_settings(programme_file, settings_file))
    _engine_detail(routine, options)
    _warn_online({engine_name(routine, options)})
    _folder_summary([prescribe_batch.build_folder(routine, options, base_url)])


@cli.command("prescribe")
@click.argument("prescription_file", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("output"), show_default=True,
              help="Folder that gets one folder per patient reference.")
@click.option("--base-url", default=None, help="Where the output folder will be served: handouts get a QR code.")
@click.option("--force", is_flag=True, help="Rewrite MP3s even when they are up to date.")
@click.option("--check", "check_only", is_flag=True, help="Check every row; build nothing.")
@_settings_option
@_common
@_output_options
def prescribe_cmd(prescription_file: Path, out_dir: Path, base_url: str | None, force: bool, check_only: bool,
                  settings_file: Path | None, engine: str | None, voice: str | None,
                  cache_dir: CacheLocation | None) -> None:
    """Build each patient's sessions, playlist and handouts into a folder named by their reference.

    Example: audioroutine prescribe examples/prescriptions.csv --out clinic-output
    """
    from .prescribe import batch as prescribe_batch
    from .prescribe import prescription

    found = prescription.load_prescriptions(prescription_file)
    options = BuildOptions(out_dir=out_dir, engine=engine, voice=voice, cache_dir=cache_dir, force=force,
                           settings=_settings(prescription_file, settings_file))
    if found.names_ignored:
        click.echo(f"note: {found.names_ignored} first name(s) not spoken: the file does not opt in "
                   "(speak_first_names)", err=True)
    if check_only:
        prescribe_batch.check_patients(found, options)
        info(f"ok  {prescription_file}: {len(found.patients)} patient(s)")
        return
    _warn_online({engine_name(p.routine, prescribe_batch.patient_options(p, options)) for p in found.patients})
    _folder_summary(prescribe_batch.build_prescriptions(found, options, base_url))


@cli.command("inspect")
@click.argument("mp3", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@_output_options
def inspect_cmd(mp3: Path, as_json: bool) -> None:
    """Show an MP3's tags, chapters, duration, loudness and build provenance.

    Example: audioroutine inspect output/upper_middle_back-beginner.mp3
    """
    from .probe import format_report, probe

    info_ = probe(mp3)
    click.echo(json.dumps(info_, indent=2, ensure_ascii=False) if as_json else format_report(info_))


@cli.command("publish")
@click.argument("output_dir", type=click.Path(path_type=Path))
@click.option("--base-url", required=True, help="Address the site will be served at, e.g. https://clinic.example/ex/.")
@click.option("--to", "site_dir", type=click.Path(path_type=Path), required=True, help="Folder to write the site into.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_output_options
def publish_cmd(output_dir: Path, base_url: str, site_dir: Path, as_json: bool) -> None:
    """Write a static site from built sessions: player pages, index pages, a podcast feed, QR codes.

    Example: audioroutine publish output --base-url https://clinic.example/ex/ --to site
    """
    from .publish import publish

    done = publish(output_dir, base_url, site_dir)
    if as_json:
        click.echo(json.dumps({
            "site": str(done.site), "feeds": done.feeds, "pages": done.pages,
            "sessions": [{"path": str(s.mp3), "title": s.title, "samples": s.samples, "sample_rate": s.sample_rate,
                          "seconds": s.seconds} for s in done.sessions],
            "written": [str(p) for p in done.written], "unchanged": len(done.unchanged),
            "removed": [str(p) for p in done.removed],
        }, indent=2, ensure_ascii=False))
        return
    for path in done.written:
        info(f"  {path}  written")
    for path in done.removed:
        info(f"  {path}  removed")
    for feed in done.feeds:
        info(f"  {feed}  podcast feed")
    info(f"{len(done.sessions)} session(s) in {len(done.folders)} folder(s): {len(done.written)} file(s) written, "
         f"{len(done.unchanged)} unchanged, {len(done.removed)} removed")


@cli.command("example")
@_output_options
def example_cmd() -> None:
    """Print a commented example script to start from.

    Example: audioroutine example > scripts_yaml/my_routine.yaml
    """
    click.echo(example_script(), nl=False)


@cli.command("voices")
@click.option("--engine", type=click.Choice(engine_names()), help="List every voice or language of one engine.")
@click.option("--check", is_flag=True, help="Speak a test phrase with each engine (gtts: uses the network).")
@_output_options
def voices_cmd(engine: str | None, check: bool) -> None:
    """List speech engines: offline or online, installed or not, and their voices or languages.

    Example: audioroutine voices --engine espeak
    """
    for name in [engine] if engine else registry_order():   # the default first
        about = engine_info(name)
        where = f"online: {engine_class(name).privacy}" if about.online else "offline"
        status = "installed" if about.installed else f"not installed: {about.install_hint}"
        if about.installed and check:
            status = _check_engine(name)
        elif about.installed and about.online:
            status += " (network not checked; --check tries it)"
        default = " (default)" if name == DEFAULT_ENGINE else ""
        click.echo(f"{name:7} {where}; {status}{default}\n        {about.summary}")
        if engine:
            for voice in about.voices:
                click.echo(f"  {voice}")
    if not engine:
        info("All voices of one engine: audioroutine voices --engine NAME")


def _check_engine(name: str) -> str:
    try:
        get_engine(name).synthesize("Test.")
    except AudioRoutineError as err:
        return f"NOT WORKING: {err}"
    return "installed, working"


@cli.command("say")
@click.argument("text")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="File to write: .wav or .mp3.")
@click.option("--engine", default=DEFAULT_ENGINE, show_default=True, help=ENGINE_HELP)
@click.option("--voice", help=VOICE_HELP)
@click.option("--language", default="en", show_default=True, help="Language, when --voice is not given.")
@click.option("--rate", type=click.FloatRange(0.5, 2.0), default=1.0, show_default=True, help="Speaking rate.")
@_output_options
def say_cmd(text: str, out: Path, engine: str, voice: str | None, language: str, rate: float) -> None:
    """Speak one line into a WAV or MP3 file (normalized like sessions), to audition a voice.

    Example: audioroutine say "Repetición uno de diez." --engine espeak --voice es --out sample.wav
    """
    from .pipeline import say_to_file

    suffix = out.suffix.lower()
    if suffix not in (".wav", ".mp3"):
        raise ScriptError("the output file must end in .wav or .mp3", file=str(out))
    _warn_online({engine})
    clip = get_engine(engine, VoiceOptions(voice=voice, language=language, rate=rate)).synthesize(text)
    say_to_file(clip, out)
    info(f"{out}  {format_ms(clip.samples * 1000 // clip.sample_rate)}  {engine}")


def _warn_online(engines: set[str]) -> None:
    """Say once, before any work, when an engine sends text off this machine."""
    for name in sorted(engines):
        cls = engine_class(name)
        if cls.online:
            click.echo(f"warning: engine '{name}' {cls.privacy}; piper and espeak stay offline", err=True)


def example_script() -> str:
    return resources.files("audioroutine").joinpath("data/example.yaml").read_text(encoding="utf-8")


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; folders (recursive) and quoted globs become their routine scripts."""
    found = expand(paths)
    for path in found.skipped:
        detail(f"{path}: skipped: not a routine (no top-level 'exercises:')")
    return found.scripts


class _ProgressBar:
    """A click progress bar created on the first phrase, when the total is known."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.done = 0

    def __enter__(self) -> _ProgressBar:
        return self

    def update(self, done: int, total: int, text: str) -> None:
        if not sys.stderr.isatty():   # a log or a pipe gets the summary only
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr,
                                         show_pos=True, item_show_func=lambda t: (t or "")[:30])
            self.bar.__enter__()
        self.bar.update(done - self.done, text)
        self.done = done
        if done >= total:              # finished: close now, the next script gets its own bar
            self.__exit__(None, None, None)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            bar, self.bar = self.bar, None
            bar.__exit__(*exc)


def main() -> None:
    cli(prog_name="audioroutine")
