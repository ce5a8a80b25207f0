"""Commands about voices and scripts: example, voices, say."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..core.errors import AudioRoutineError, ScriptError
from ..core.redact import redact
from ..engines import VoiceOptions, engine_class, engine_info, engine_names, get_engine, registry_order
from ..model.durations import format_ms
from ..run.options import DEFAULT_ENGINE

if TYPE_CHECKING:
    pass
from .app import ENGINE_HELP, VOICE_HELP, cli, info, known_engine, output_options, warn_online


@cli.command("example")
@output_options
def example_cmd() -> None:
    """Print a commented example script to start from.

    Example: audioroutine example > scripts_yaml/my_routine.yaml
    """
    click.echo(example_script(), nl=False)


@cli.command("voices")
@click.option("--engine", type=click.Choice(engine_names()), help="List every voice or language of one engine.")
@click.option("--check", is_flag=True, help="Speak a test phrase with each engine (gtts: uses the network).")
@output_options
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
        return f"NOT WORKING: {redact(str(err))}"
    return "installed, working"


@cli.command("say")
@click.argument("text")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="File to write: .wav or .mp3.")
@click.option("--engine", default=DEFAULT_ENGINE, show_default=True, callback=known_engine, help=ENGINE_HELP)
@click.option("--voice", help=VOICE_HELP)
@click.option("--language", default="en", show_default=True, help="Language, when --voice is not given.")
@click.option("--rate", type=click.FloatRange(0.5, 2.0), default=1.0, show_default=True, help="Speaking rate.")
@output_options
def say_cmd(text: str, out: Path, engine: str, voice: str | None, language: str, rate: float) -> None:
    """Speak one line into a WAV or MP3 file (normalized like sessions), to audition a voice.

    Example: audioroutine say "Repetición uno de diez." --engine espeak --voice es --out sample.wav
    """
    from ..run.pipeline import say_to_file

    suffix = out.suffix.lower()
    if suffix not in (".wav", ".mp3"):
        raise ScriptError("the output file must end in .wav or .mp3", file=str(out))
    warn_online({engine})
    clip = get_engine(engine, VoiceOptions(voice=voice, language=language, rate=rate)).synthesize(text)
    say_to_file(clip, out)
    info(f"{out}  {format_ms(clip.samples * 1000 // clip.sample_rate)}  {engine}")


def example_script() -> str:
    return resources.files("audioroutine").joinpath("data/example.yaml").read_text(encoding="utf-8")
