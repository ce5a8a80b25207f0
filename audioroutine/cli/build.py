"""Commands that build and check routines: build, watch, plan, validate."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from ..core.errors import AudioRoutineError, ScriptError, collect
from ..core.ffmpeg import configure_pydub
from ..core.redact import redact
from ..model.durations import format_ms
from ..model.music_settings import MusicError, parse_music
from ..model.script import Library, Routine, load_script
from ..model.settings import Settings
from ..run.builds import build_batch
from ..run.builds import explain as explain_batch
from ..run.executors import Parallel
from ..run.manifest import Explanation
from ..run.options import BuildOptions, engine_name
from ..run.results import BatchPlan, BatchResult
from ..speech.stores import CacheLocation
from .app import (
    EXIT_BUILD,
    EXIT_INPUT,
    MP3_RATES,
    ProgressBar,
    batch_options,
    cli,
    common,
    echo_json,
    engine_detail,
    expand_paths,
    flag,
    info,
    levels_of,
    output_options,
    report_skipped,
    settings_of,
    settings_option,
    warn_online,
)


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
@click.option("--explain", is_flag=True,
              help="Say per session 'up to date' or what changed since the last build (script text, a library "
                   "exercise, settings, cover, options, engine, version, a touched output), then build (or dry-run).")
@click.option("--prune", "prune_stale", is_flag=True,
              help="Remove MP3s (and their transcripts, playlists) an earlier build recorded writing for routines "
                   "or levels the inputs no longer have, or whose script is gone; never a file changed since.")
@batch_options
@settings_option
@common
@output_options
def build_cmd(scripts: tuple[Path, ...], level: str, out_dir: Path, bitrate: str | None, sample_rate: str,
              force: bool, id3: str, no_sidecars: bool, music: str | None, dry_run: bool, as_json: bool, explain: bool,
              prune_stale: bool, parallel: Parallel, settings_file: Path | None, engine: str | None, voice: str | None,
              cache_dir: CacheLocation | None) -> None:
    """Build one MP3 per level for each script (files, folders, quoted globs), their transcripts, and one M3U8 playlist.

    Example: audioroutine build scripts_yaml/upper_middle_back.yaml --level beginner
    """
    started = time.monotonic()
    paths = expand_paths(scripts)
    # Every script and setting valid before any work, every error of every file reported.
    libraries: dict[Path, Library] = {}     # each exercise library read once per build
    loaded = collect(lambda path: (load_script(path, libraries), settings_of(path, settings_file)), paths)
    routines = [routine for routine, _ in loaded]
    music_option = _music_option(music)

    def options_for(pair: tuple[Routine, Settings]) -> BuildOptions:
        routine, found = pair
        return BuildOptions(out_dir=out_dir, engine=engine, voice=voice, levels=levels_of(routine, level),
                            cache_dir=cache_dir, bitrate=bitrate, sample_rate=int(sample_rate), force=force,
                            id3_version=int(id3[-1]), settings=found, sidecars=not no_sidecars,
                            music=music_option)

    options = collect(options_for, loaded)
    for routine, opts in zip(routines, options):
        engine_detail(routine, opts)
    if explain:
        _print_explanation(*explain_batch(routines, options), as_json)
    if dry_run:
        configure_pydub()
        from ..run.pipeline import dry_run as dry_run_plan

        planned = dry_run_plan(routines, options, prune=prune_stale)
        _print_dry_run(planned, as_json, planned.would_prune)
        return
    warn_online({engine_name(routine, opts) for routine, opts in zip(routines, options)})
    with ExitStack() as stack:
        def progress(routine: Routine, opts: BuildOptions) -> Any:
            if as_json or flag("quiet"):
                return None
            return stack.enter_context(ProgressBar(f"{routine.id} ({engine_name(routine, opts)})")).update
        # A no-op is answered from the manifest, loading no audio library (run/builds.py).
        batch = build_batch(routines, options, progress, isolate=True, prune=prune_stale,
                            parallel=parallel)
    _print_build(batch, batch.pruned, started, as_json, len(routines))
    for failure in batch.failures:
        click.echo(f"failed: {redact(failure.message)}", err=True)
    if batch.failures:
        click.get_current_context().exit(EXIT_BUILD)


def _print_build(batch: BatchResult, pruned: list[Path], started: float, as_json: bool, scripts: int) -> None:
    """The result of a build: JSON (BatchResult.to_dict), or one line per file and a summary
    (with a table for a library)."""
    if as_json:
        echo_json(batch.to_dict(pruned, time.monotonic() - started))
        return
    sessions = batch.sessions
    seconds = sum(session.seconds for session in sessions)
    for session in sessions:
        state = "written" if session.written else "up to date"
        info(f"  {session.path}  {format_ms(int(session.seconds * 1000))}  {state}")
    info(f"  {batch.playlist}  playlist")
    for path in pruned:
        info(f"  {path}  pruned")
    report_skipped()
    if scripts > 1 or pruned or batch.failures:   # a library build: one script needs no table
        for line in _summary_table(batch.summary(pruned, time.monotonic() - started)):
            info(line)
    info(f"{len(sessions)} session(s), {sum(s.written for s in sessions)} written, "
         f"{format_ms(int(seconds * 1000))} of audio; phrases: {batch.synthesized} synthesized, "
         f"{batch.cached} from cache")


def _print_explanation(sessions: list[Explanation], batch: list[str], as_json: bool) -> None:
    """Per session, "up to date" or what changed since the recorded build (on stderr with
    --json, whose stdout is the result)."""
    say = (lambda line: click.echo(line, err=True)) if as_json else info
    for session in sessions:
        say(f"  {session.path}  {'changed: ' + ', '.join(session.changed) if session.changed else 'up to date'}")
    for line in batch:
        say(f"  {line}")


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
        echo_json(planned.to_dict(stale))
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
@settings_option
@common
@output_options
def watch_cmd(paths: tuple[Path, ...], level: str, out_dir: Path, prune_stale: bool, settings_file: Path | None,
              engine: str | None, voice: str | None, cache_dir: CacheLocation | None) -> None:
    """Build, then rebuild whenever a script or settings file is saved (checked every second; Ctrl-C stops).

    Example: audioroutine watch scripts_yaml/ --out output
    """
    from ..run.watch import watch, watched_files

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
                click.echo(f"error: {redact(line)}", err=True)
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
@settings_option
@common
@output_options
def plan_cmd(script: Path, level: str | None, as_json: bool, exact: bool, silences: bool, settings_file: Path | None,
             engine: str | None, voice: str | None, cache_dir: CacheLocation | None) -> None:
    """Print the cue sheet of one level: time, chapter, role, text.

    Example: audioroutine plan scripts_yaml/upper_middle_back.yaml --level beginner
    """
    from ..run.pipeline import plan

    routine = load_script(script)
    level = routine.level(level).id if level else routine.levels[0].id
    options = BuildOptions(engine=engine, voice=voice, cache_dir=cache_dir, settings=settings_of(script, settings_file))
    engine_detail(routine, options)
    timeline = plan(routine, level, options, exact=exact)
    if as_json:
        echo_json(timeline.to_json())
        return
    click.echo(timeline.format_sheet(silences=silences))
    if timeline.wordings:
        click.echo(timeline.format_wordings())
    note = f" (estimated: {timeline.estimated} phrase(s) not synthesized yet; --exact to measure)" \
        if timeline.estimated else ""
    click.echo(f"total {format_ms(timeline.ms(timeline.total))}{note}")


@cli.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print one result per script as JSON (every script checked; exit 2 if any failed).")
@settings_option
@common
@output_options
def validate_cmd(paths: tuple[Path, ...], as_json: bool, settings_file: Path | None,
                 engine: str | None, voice: str | None, cache_dir: CacheLocation | None) -> None:
    """Check scripts (files, folders, quoted globs) without building: keys, values, and that speech fits.

    Example: audioroutine validate scripts_yaml/
    """
    from ..run.pipeline import plan

    results: list[dict[str, object]] = []
    libraries: dict[Path, Library] = {}

    def check(path: Path) -> None:
        try:
            routine = load_script(path, libraries)
            options = BuildOptions(engine=engine, voice=voice, cache_dir=cache_dir,
                                   settings=settings_of(path, settings_file))
            engine_detail(routine, options)
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

    collect(check, expand_paths(paths))   # every file checked; every error reported
    if not as_json:
        report_skipped()
    if as_json:
        echo_json(results)
        if not all(result["ok"] for result in results):
            click.get_current_context().exit(EXIT_INPUT)


def _music_option(value: str | None) -> str | None:
    """--music, checked (a file relative to the current folder, made absolute)."""
    if value is None:
        return None
    try:
        found = parse_music(value)
    except MusicError as err:
        raise ScriptError(f"--music: {err}", file="--music") from None
    return str(found.path.resolve()) if found is not None and found.is_file else value
