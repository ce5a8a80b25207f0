"""The command group, its error boundary (library errors become one line on stderr and an exit
code: 0 ok, 1 build failure, 2 bad input), and the options and printing every command shares."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from ..core.errors import AudioRoutineError
from ..core.ffmpeg import configure_pydub
from ..engines import engine_class
from ..model.inputs import expand
from ..model.script import Routine
from ..model.settings import Settings, settings_for
from ..run.options import BuildOptions, engine_name, voice_name
from ..speech.stores import CacheLocation, cache_location
from .report import show_warnings

if TYPE_CHECKING:
    pass

# Audio libraries and engines are imported inside the commands that use them: a no-op
# `build` is answered from the manifest (manifest.py) before any of them is loaded.

EXIT_BUILD, EXIT_INPUT = 1, 2
EXIT_PIPE = 141       # 128 + SIGPIPE, what other tools report when the reader of their output quits
MP3_RATES = ("16000", "22050", "24000", "32000", "44100", "48000")   # MPEG-1/2 rates LAME encodes
ENGINE_HELP = "Speech engine: piper (default), espeak (both offline), gtts (online: sends text to Google), fake."
VOICE_HELP = "Engine voice: piper .onnx path, espeak language or voice, gtts LANG[:TLD] (docs/engines.md)."


class Group(click.Group):
    """Runs every command inside the error boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:   # `audioroutine plan ... | head`: the reader has gone; leave quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # so the final flush succeeds
            ctx.exit(EXIT_PIPE)
        except AudioRoutineError as err:
            if flag("debug"):
                raise
            for line in str(err).splitlines():   # a ManyErrors has one line per error
                click.echo(f"error: {line}", err=True)
            ctx.exit(err.exit_code)
        except OSError as err:   # unwritable folder, disk full...: the user can fix these
            if flag("debug"):
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


def flag(name: str) -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get(f"audioroutine.{name}"))


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
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
    if not flag("quiet"):
        click.echo(message)


def detail(message: str) -> None:
    """A line for --verbose, on stderr so that data on stdout stays clean."""
    if flag("verbose") and not flag("quiet"):
        click.echo(message, err=True)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="audioroutine")
@output_options
def cli() -> None:
    """Turn exercise scripts (YAML) into voice-guided, tagged MP3 sessions.

    Example: audioroutine build scripts_yaml/upper_middle_back.yaml
    """
    if click.get_current_context().invoked_subcommand != "build":   # build does it when it builds
        configure_pydub()
    show_warnings()


def common(func: Callable[..., Any]) -> Callable[..., Any]:
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


def settings_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--settings", "settings_file", type=click.Path(path_type=Path),
                        help="Clinic settings file [default: audioroutine.toml beside each script].")(func)


def settings_of(script: Path, settings_file: Path | None) -> Settings:
    found = settings_for(script, settings_file)
    detail(f"{script}: settings {found.path or 'none'}")
    return found


def levels_of(routine: Routine, level: str | None) -> tuple[str, ...]:
    if level in (None, "all"):
        return tuple(lv.id for lv in routine.levels)
    return (routine.level(level).id,)


def engine_detail(routine: Routine, options: BuildOptions) -> None:
    voice = voice_name(routine, options) or "default"
    detail(f"{routine.path}: engine {engine_name(routine, options)}, voice {voice}, language {routine.language}")


def warn_online(engines: set[str]) -> None:
    """Say once, before any work, when an engine sends text off this machine."""
    for name in sorted(engines):
        cls = engine_class(name)
        if cls.online:
            click.echo(f"warning: engine '{name}' {cls.privacy}; piper and espeak stay offline", err=True)


def expand_paths(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; folders (recursive) and quoted globs become their routine scripts. The
    files skipped (libraries, programmes, prescriptions) are named with -v and counted by
    `report_skipped` at the end of the command."""
    found = expand(paths)
    for path in found.skipped:
        detail(f"{path}: skipped: {found.kinds[path]}, not a routine")
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta["audioroutine.skipped"] = found.skipped_summary()
    return found.scripts


def report_skipped() -> None:
    """The summary line of the files a folder or glob held that are not routines, if any."""
    ctx = click.get_current_context(silent=True)
    summary = ctx.meta.get("audioroutine.skipped") if ctx is not None else None
    if summary:
        info(summary)


class ProgressBar:
    """A click progress bar created on the first phrase, when the total is known."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.done = 0

    def __enter__(self) -> ProgressBar:
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
