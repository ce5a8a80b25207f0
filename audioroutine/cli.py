"""Command line: a thin layer over the library. One error boundary turns library errors into
one line on stderr and an exit code: 0 ok, 1 build failure, 2 bad input."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import click

from . import __version__
from .build import BuildOptions, build, engine_name, plan
from .durations import format_ms
from .errors import AudioRoutineError, ScriptError
from .ffmpeg import configure_pydub
from .script import Routine, load_script

EXIT_BUILD, EXIT_INPUT = 1, 2
MP3_RATES = ("16000", "22050", "24000", "32000", "44100", "48000")   # MPEG-1/2 rates LAME encodes


class Group(click.Group):
    """Runs every command inside the error boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except AudioRoutineError as err:
            if debug:
                raise
            click.echo(f"error: {err}", err=True)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted: no partial files were left behind", err=True)
            ctx.exit(130)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audioroutine")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """Turn exercise scripts (YAML) into voice-guided, tagged MP3 sessions.

    Example: audioroutine build scripts_yaml/upper_middle_back.yaml
    """
    configure_pydub()


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--cache-dir", type=click.Path(path_type=Path), envvar="AUDIOROUTINE_CACHE_DIR",
                        help="Phrase cache folder [env AUDIOROUTINE_CACHE_DIR; default: user cache dir].")(func)
    func = click.option("--voice", help="Engine voice (for piper: a path to an .onnx voice).")(func)
    func = click.option("--engine", help="Speech engine: piper (default, offline), fake.")(func)
    return func


def _levels(routine: Routine, level: str | None) -> tuple[str, ...]:
    if level in (None, "all"):
        return tuple(lv.id for lv in routine.levels)
    routine.level(level)
    return (level,)


@cli.command("build")
@click.argument("scripts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--level", "-l", default="all", show_default=True, help="One level, or all.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("output"), show_default=True,
              help="Folder for the MP3s.")
@click.option("--bitrate", default="64k", show_default=True, help="MP3 bitrate (mono).")
@click.option("--sample-rate", type=click.Choice(MP3_RATES), default="22050", show_default=True,
              help="Session and MP3 sample rate in Hz.")
@click.option("--force", is_flag=True, help="Rewrite MP3s even when they are up to date.")
@_common
def build_cmd(scripts: tuple[Path, ...], level: str, out_dir: Path, bitrate: str, sample_rate: str, force: bool,
              engine: str | None, voice: str | None, cache_dir: Path | None) -> None:
    """Build one MP3 per level for each script.

    Example: audioroutine build scripts_yaml/upper_middle_back.yaml --level beginner
    """
    routines = [load_script(path) for path in _expand(scripts)]   # every script valid before any work
    totals = {"files": 0, "written": 0, "seconds": 0.0, "synth": 0, "cached": 0}
    for routine in routines:
        options = BuildOptions(out_dir=out_dir, engine=engine, voice=voice, levels=_levels(routine, level),
                               cache_dir=cache_dir, bitrate=bitrate, sample_rate=int(sample_rate), force=force)
        with _ProgressBar(f"{routine.id} ({engine_name(routine, options)})") as bar:
            result = build(routine, options, bar.update)
        for session in result.sessions:
            state = "written" if session.written else "up to date"
            click.echo(f"  {session.path}  {format_ms(int(session.seconds * 1000))}  {state}")
            totals["files"] += 1
            totals["written"] += session.written
            totals["seconds"] += session.seconds
        totals["synth"] += result.stats.synthesized
        totals["cached"] += result.stats.cached
    click.echo(
        f"{totals['files']} session(s), {totals['written']} written, "
        f"{format_ms(int(totals['seconds'] * 1000))} of audio; phrases: "
        f"{totals['synth']} synthesized, {totals['cached']} from cache"
    )


@cli.command("plan")
@click.argument("script", type=click.Path(path_type=Path))
@click.option("--level", "-l", default=None, help="Level to plan [default: the first].")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
@click.option("--exact", is_flag=True, help="Synthesize phrases not yet cached, so every time is exact.")
@click.option("--silences", is_flag=True, help="List silences too.")
@_common
def plan_cmd(script: Path, level: str | None, as_json: bool, exact: bool, silences: bool,
             engine: str | None, voice: str | None, cache_dir: Path | None) -> None:
    """Print the cue sheet of one level: time, chapter, role, text.

    Example: audioroutine plan scripts_yaml/upper_middle_back.yaml --level beginner
    """
    routine = load_script(script)
    level = level or routine.levels[0].id
    options = BuildOptions(engine=engine, voice=voice, cache_dir=cache_dir)
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
@_common
def validate_cmd(paths: tuple[Path, ...], engine: str | None, voice: str | None, cache_dir: Path | None) -> None:
    """Check scripts (files or folders) without building: keys, values, and that speech fits.

    Example: audioroutine validate scripts_yaml/
    """
    for path in _expand(paths):
        routine = load_script(path)
        options = BuildOptions(engine=engine, voice=voice, cache_dir=cache_dir)
        estimated = 0
        for lv in routine.levels:
            estimated += plan(routine, lv.id, options).estimated
        note = f" (fit checked with {estimated} estimated phrase length(s))" if estimated else ""
        click.echo(f"ok  {path}: {len(routine.exercises)} exercises, "
                   f"levels {', '.join(lv.id for lv in routine.levels)}{note}")


@cli.command("example")
def example_cmd() -> None:
    """Print a commented example script to start from.

    Example: audioroutine example > scripts_yaml/my_routine.yaml
    """
    click.echo(example_script(), nl=False)


def example_script() -> str:
    return resources.files("audioroutine").joinpath("data/example.yaml").read_text(encoding="utf-8")


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; folders become their *.yaml and *.yml files."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                raise ScriptError("no .yaml scripts in this folder", file=str(path))
            out += found
        else:
            out.append(path)
    return out


class _ProgressBar:
    """A click progress bar created on the first phrase, when the total is known."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.done = 0

    def __enter__(self) -> "_ProgressBar":
        return self

    def update(self, done: int, total: int, text: str) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr,
                                         show_pos=True, item_show_func=lambda t: (t or "")[:30])
            self.bar.__enter__()
        self.bar.update(done - self.done, text)
        self.done = done

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def main() -> None:
    cli(prog_name="audioroutine")
