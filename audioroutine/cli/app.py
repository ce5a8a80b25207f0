"""The command group, its error boundary (library errors become one line on stderr and an exit
code: 0 done, 1 failed while running, 2 bad input or usage; every line redacted: core/redact.py),
and the options and printing every command shares."""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from ..core.errors import AudioRoutineError, ScriptError
from ..core.ffmpeg import configure_pydub
from ..core.limits import MAX_DASK_WORKERS, MAX_JOBS, MAX_SCHEDULER_TIMEOUT_S, SCHEDULER_TIMEOUT_S
from ..core.redact import redact
from ..core.urls import public_url, scheduler_address
from ..engines import engine_class, engine_names
from ..model.inputs import expand
from ..model.script import Routine
from ..model.settings import Settings, settings_for
from ..run.executors import SCHEDULER_TIMEOUT_ENV, Parallel
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
    """Runs every command inside the error boundary: whatever goes wrong is one redacted line
    on stderr and an exit code (with --debug, the redacted traceback)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            done = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            code: Any = 130
        except click.ClickException as err:   # usage: an unknown option, a value out of range...
            if not standalone_mode:
                raise
            click.echo(f"error: {redact(_usage_line(err))}", err=True)
            code = err.exit_code
        else:
            if not standalone_mode:
                return done
            code = done if isinstance(done, int) else 0
        sys.exit(code)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:   # bare `audioroutine`: the usage, exit 2 as any usage error
            click.echo(ctx.get_help(), err=True)
            ctx.exit(EXIT_INPUT)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:   # `audioroutine plan ... | head`: the reader has gone; leave quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # so the final flush succeeds
            ctx.exit(EXIT_PIPE)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except AudioRoutineError as err:
            if flag("debug"):
                _traceback()
            else:
                for line in str(err).splitlines():   # a ManyErrors has one line per error
                    click.echo(f"error: {redact(line)}", err=True)
            ctx.exit(err.exit_code)
        except OSError as err:   # unwritable folder, disk full...: the user can fix these
            if flag("debug"):
                _traceback()
            else:
                where = f"{err.filename}: " if err.filename else ""
                click.echo(f"error: {redact(where + str(err.strerror or err))}", err=True)
            ctx.exit(EXIT_BUILD)
        except KeyboardInterrupt:
            click.echo("interrupted: no partial files were left behind", err=True)
            ctx.exit(130)
        except Exception as err:   # a bug: still one line (and no secret); --debug shows where
            if flag("debug"):
                _traceback()
            else:
                click.echo(f"error: {redact(f'internal error: {type(err).__name__}: {err}')} "
                           "(run again with --debug for the traceback, and please report it)", err=True)
            ctx.exit(EXIT_BUILD)


def _usage_line(err: click.ClickException) -> str:
    """A usage error as one line, pointing at the command's help."""
    param = getattr(err, "param", None)
    if isinstance(err, click.BadParameter) and param is not None:   # `--jobs: ...`, as the library names options
        name = max(param.opts, key=len) if param.opts else param.human_readable_name
        message = " ".join(f"{name}: {err.message}".split())
    else:
        message = " ".join(err.format_message().split())
    ctx = getattr(err, "ctx", None)
    if ctx is None:
        return message
    command = " ".join(["audioroutine", *ctx.command_path.split()[1:]])   # whatever the program was called
    return f"{message} (see: {command} -h)"


def _traceback() -> None:
    """--debug: the traceback of the exception being handled, redacted, on stderr."""
    click.echo(redact(traceback.format_exc()).rstrip("\n"), err=True)


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
        # eager: known before any other option's value is checked (an error there obeys --debug)
        func = click.option(*decls, is_flag=True, expose_value=False, callback=_remember, is_eager=True,
                            help=help_text)(func)
    return func


def info(message: str) -> None:
    """A progress or summary line: hidden by --quiet."""
    if not flag("quiet"):
        click.echo(redact(message))


def detail(message: str) -> None:
    """A line for --verbose, on stderr so that data on stdout stays clean."""
    if flag("verbose") and not flag("quiet"):
        click.echo(redact(message), err=True)


def echo_json(data: Any) -> None:
    """A command's result as JSON on stdout (redacted like every line)."""
    click.echo(redact(json.dumps(data, indent=2, ensure_ascii=False)))


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
    func = click.option("--engine", callback=known_engine, help=ENGINE_HELP)(func)
    return func


def known_engine(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An engine name nothing provides is a usage error (exit 2), like any bad option value."""
    if value is not None and value not in engine_names():
        raise click.BadParameter(f"unknown engine '{value}': choose one of {', '.join(engine_names())}")
    return value


def batch_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Where the work runs, for every command that builds: --jobs, --scheduler,
    --scheduler-timeout, --dask-local; the command receives one `parallel` (executors.Parallel)."""
    options = [
        click.option("--jobs", "-j", type=click.IntRange(1, MAX_JOBS), default=None,
                     help="Processes for synthesis and sessions [default: the cores this process may use; "
                          "a batch of under 4 sessions and 32 new phrases stays in one]. Same files for any N."),
        click.option("--scheduler", metavar="tcp://HOST:PORT", callback=_scheduler,
                     help="Run the build on this Dask scheduler's workers (pip install 'audioroutine[cluster]'; "
                          "docs/scaling.md); give a --cache-dir every worker can reach."),
        click.option("--scheduler-timeout", type=click.FloatRange(0.1, MAX_SCHEDULER_TIMEOUT_S), metavar="SECONDS",
                     envvar=SCHEDULER_TIMEOUT_ENV, default=SCHEDULER_TIMEOUT_S, show_default=True,
                     help="Give up when the scheduler cannot be reached, or has no worker, within this time "
                          f"[env {SCHEDULER_TIMEOUT_ENV}]."),
        click.option("--dask-local", type=click.IntRange(1, MAX_DASK_WORKERS), metavar="N",
                     help="Run the build on a local Dask cluster of N worker processes."),
    ]

    @functools.wraps(func)   # keeps the options declared below this decorator (__click_params__)
    def wrapper(*args: Any, jobs: int | None, scheduler: str | None, scheduler_timeout: float,
                dask_local: int | None, **kwargs: Any) -> Any:
        if scheduler and dask_local:
            raise ScriptError("give --scheduler or --dask-local, not both", file="--dask-local")
        parallel = Parallel(jobs=jobs, scheduler=scheduler, dask_local=dask_local, timeout=scheduler_timeout)
        return func(*args, parallel=parallel, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _scheduler(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else scheduler_address(value)


def base_url_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--base-url for handouts: checked by the one URL rule (core/urls.py)."""
    return click.option("--base-url", default=None, callback=_base_url,
                        help="Where the output folder will be served (http:// or https://): "
                             "handouts get a QR code.")(func)


def _base_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else public_url(value)


def dry_run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--dry-run and --json, as `build` has them."""
    func = click.option("--json", "as_json", is_flag=True, help="Print the result (or the dry run) as JSON.")(func)
    return click.option("--dry-run", is_flag=True,
                        help="Show what would be written; synthesize and write nothing.")(func)


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
