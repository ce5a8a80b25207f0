"""Command line: a thin layer over the library. One error boundary turns library errors into
one line on stderr and an exit code: 0 ok, 1 build failure, 2 bad input."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import click

from . import __version__
from .build import DEFAULT_ENGINE, BuildOptions, build_programme, engine_name, plan
from .cache import wav_bytes
from .durations import format_ms
from .engines import ENGINES, VoiceOptions, engine_class, engine_info, engine_names, get_engine
from .errors import AudioRoutineError, ScriptError, collect
from .ffmpeg import configure_pydub
from .files import atomic_path, write_atomic
from .mp3 import encode_mp3
from .script import Routine, load_script
from .settings import Settings, find_settings, load_settings

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
            for line in str(err).splitlines():   # a ManyErrors has one line per error
                click.echo(f"error: {line}", err=True)
            ctx.exit(err.exit_code)
        except OSError as err:   # unwritable folder, disk full...: the user can fix these
            if debug:
                raise
            where = f"{err.filename}: " if err.filename else ""
            click.echo(f"error: {where}{err.strerror or err}", err=True)
            ctx.exit(EXIT_BUILD)
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


ENGINE_HELP = "Speech engine: piper (default), espeak (both offline), gtts (online: sends text to Google), fake."
VOICE_HELP = "Engine voice: piper .onnx path, espeak language or voice, gtts LANG[:TLD] (docs/engines.md)."


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--cache-dir", type=click.Path(path_type=Path), envvar="AUDIOROUTINE_CACHE_DIR",
                        help="Phrase cache folder [env AUDIOROUTINE_CACHE_DIR; default: user cache dir].")(func)
    func = click.option("--voice", help=VOICE_HELP)(func)
    func = click.option("--engine", help=ENGINE_HELP)(func)
    return func


def _settings_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--settings", "settings_file", type=click.Path(path_type=Path),
                        help="Clinic settings file [default: audioroutine.toml beside each script].")(func)


def _settings(script: Path, settings_file: Path | None) -> Settings:
    found = settings_file or find_settings(script)
    return load_settings(found) if found else Settings()


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
@click.option("--bitrate", default=None, help="MP3 bitrate (mono) [default: settings, else 64k].")
@click.option("--sample-rate", type=click.Choice(MP3_RATES), default="22050", show_default=True,
              help="Session and MP3 sample rate in Hz.")
@click.option("--force", is_flag=True, help="Rewrite MP3s even when they are up to date.")
@click.option("--id3", "id3", type=click.Choice(["2.3", "2.4"]), default="2.3", show_default=True,
              help="ID3 version: 2.3 reads everywhere (Windows, car stereos); 2.4 stores UTF-8.")
@click.option("--no-sidecars", is_flag=True, help="Do not write the .vtt and .lrc transcripts.")
@_settings_option
@_common
def build_cmd(scripts: tuple[Path, ...], level: str, out_dir: Path, bitrate: str | None, sample_rate: str,
              force: bool, id3: str, no_sidecars: bool, settings_file: Path | None,
              engine: str | None, voice: str | None, cache_dir: Path | None) -> None:
    """Build one MP3 per level for each script, their transcripts, and one M3U8 playlist.

    Example: audioroutine build scripts_yaml/upper_middle_back.yaml --level beginner
    """
    paths = _expand(scripts)
    # Every script and setting valid before any work, every error of every file reported.
    loaded = collect(lambda path: (load_script(path), _settings(path, settings_file)), paths)
    routines = [routine for routine, _ in loaded]
    album = (loaded[0][1].album or "Exercise programme") if len(routines) > 1 else None

    def options_for(pair: tuple[Routine, Settings]) -> BuildOptions:
        routine, found = pair
        return BuildOptions(out_dir=out_dir, engine=engine, voice=voice, levels=_levels(routine, level),
                            cache_dir=cache_dir, bitrate=bitrate, sample_rate=int(sample_rate), force=force,
                            id3_version=int(id3[-1]), settings=found, sidecars=not no_sidecars, album=album)

    options = collect(options_for, loaded)
    _warn_online({engine_name(routine, opts) for routine, opts in zip(routines, options)})
    with ExitStack() as stack:
        def progress(routine: Routine, opts: BuildOptions) -> Any:
            return stack.enter_context(_ProgressBar(f"{routine.id} ({engine_name(routine, opts)})")).update
        programme = build_programme(routines, options, progress)
    totals = {"files": 0, "written": 0, "seconds": 0.0, "synth": 0, "cached": 0}
    for result in programme.results:
        for session in result.sessions:
            state = "written" if session.written else "up to date"
            click.echo(f"  {session.path}  {format_ms(int(session.seconds * 1000))}  {state}")
            totals["files"] += 1
            totals["written"] += session.written
            totals["seconds"] += session.seconds
        totals["synth"] += result.stats.synthesized
        totals["cached"] += result.stats.cached
    click.echo(f"  {programme.playlist}  playlist")
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
@_settings_option
@_common
def plan_cmd(script: Path, level: str | None, as_json: bool, exact: bool, silences: bool, settings_file: Path | None,
             engine: str | None, voice: str | None, cache_dir: Path | None) -> None:
    """Print the cue sheet of one level: time, chapter, role, text.

    Example: audioroutine plan scripts_yaml/upper_middle_back.yaml --level beginner
    """
    routine = load_script(script)
    level = level or routine.levels[0].id
    options = BuildOptions(engine=engine, voice=voice, cache_dir=cache_dir, settings=_settings(script, settings_file))
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
@_settings_option
@_common
def validate_cmd(paths: tuple[Path, ...], settings_file: Path | None,
                 engine: str | None, voice: str | None, cache_dir: Path | None) -> None:
    """Check scripts (files or folders) without building: keys, values, and that speech fits.

    Example: audioroutine validate scripts_yaml/
    """
    def check(path: Path) -> None:
        routine = load_script(path)
        options = BuildOptions(engine=engine, voice=voice, cache_dir=cache_dir, settings=_settings(path, settings_file))
        estimated = 0
        for lv in routine.levels:
            estimated += plan(routine, lv.id, options).estimated
        note = f" (fit checked with {estimated} estimated phrase length(s))" if estimated else ""
        click.echo(f"ok  {path}: {len(routine.exercises)} exercises, "
                   f"levels {', '.join(lv.id for lv in routine.levels)}{note}")

    collect(check, _expand(paths))   # every file checked; every error reported


@cli.command("inspect")
@click.argument("mp3", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def inspect_cmd(mp3: Path, as_json: bool) -> None:
    """Show an MP3's tags, chapters, duration, loudness and build provenance.

    Example: audioroutine inspect output/upper_middle_back-beginner.mp3
    """
    from .probe import format_report, probe

    info = probe(mp3)
    click.echo(json.dumps(info, indent=2, ensure_ascii=False) if as_json else format_report(info))


@cli.command("example")
def example_cmd() -> None:
    """Print a commented example script to start from.

    Example: audioroutine example > scripts_yaml/my_routine.yaml
    """
    click.echo(example_script(), nl=False)


@cli.command("voices")
@click.option("--engine", type=click.Choice(engine_names()), help="List every voice or language of one engine.")
@click.option("--check", is_flag=True, help="Speak a test phrase with each engine (gtts: uses the network).")
def voices_cmd(engine: str | None, check: bool) -> None:
    """List speech engines: offline or online, installed or not, and their voices or languages.

    Example: audioroutine voices --engine espeak
    """
    for name in [engine] if engine else list(ENGINES):   # registry order: the default first
        info = engine_info(name)
        where = f"online: {engine_class(name).privacy}" if info.online else "offline"
        status = "installed" if info.installed else f"not installed: {info.install_hint}"
        if info.installed and check:
            status = _check_engine(name)
        elif info.installed and info.online:
            status += " (network not checked; --check tries it)"
        default = " (default)" if name == DEFAULT_ENGINE else ""
        click.echo(f"{name:7} {where}; {status}{default}\n        {info.summary}")
        if engine:
            for voice in info.voices:
                click.echo(f"  {voice}")
    if not engine:
        click.echo("All voices of one engine: audioroutine voices --engine NAME")


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
def say_cmd(text: str, out: Path, engine: str, voice: str | None, language: str, rate: float) -> None:
    """Speak one line into a WAV or MP3 file, to audition an engine and voice.

    Example: audioroutine say "Repetición uno de diez." --engine espeak --voice es --out sample.wav
    """
    suffix = out.suffix.lower()
    if suffix not in (".wav", ".mp3"):
        raise ScriptError("the output file must end in .wav or .mp3", file=str(out))
    _warn_online({engine})
    clip = get_engine(engine, VoiceOptions(voice=voice, language=language, rate=rate)).synthesize(text)
    if suffix == ".wav":
        write_atomic(out, wav_bytes(clip))
    else:
        from pydub import AudioSegment

        with atomic_path(out) as tmp:
            encode_mp3(AudioSegment(data=clip.pcm, sample_width=2, frame_rate=clip.sample_rate, channels=1), tmp)
    click.echo(f"{out}  {format_ms(clip.samples * 1000 // clip.sample_rate)}  {engine}")


def _warn_online(engines: set[str]) -> None:
    """Say once, before any work, when an engine sends text off this machine."""
    for name in sorted(engines):
        cls = engine_class(name)
        if cls.online:
            click.echo(f"warning: engine '{name}' {cls.privacy}; piper and espeak stay offline", err=True)


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
