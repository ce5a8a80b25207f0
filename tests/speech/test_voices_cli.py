"""`voices`, `say`, and choosing engine and voice per routine or per run."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioroutine.audio.mp3 import decode_mp3
from audioroutine.cli import cli


def run(*args: str):
    return CliRunner(mix_stderr=False).invoke(cli, list(args))


def test_voices_lists_every_engine_without_the_network() -> None:
    result = run("voices")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    heads = [line for line in lines if not line.startswith(" ")]
    assert heads == [
        "piper   offline; installed (default)",
        "espeak  offline; installed",
        "gtts    online: sends the text of every phrase to Google; installed (network not checked; --check tries it)",
        "fake    offline; installed",
        "All voices of one engine: audioroutine voices --engine NAME",
    ]
    assert lines[1] == "        en_US-joe-medium (bundled, English); any Piper .onnx voice by path"
    assert lines[3].startswith("        141 voices, 140 language codes (en, es, de, fr,")


def test_voices_of_one_engine_lists_them_all() -> None:
    result = run("voices", "--engine", "espeak")
    assert result.exit_code == 0
    voices = result.stdout.splitlines()[2:]
    assert len(voices) == 141
    assert "  es           Spanish (Spain)" in voices
    assert "  de           German" in voices


@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_say_writes_an_audition_file(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / "say" / f"sample{suffix}"
    result = run("say", "Repetición uno de diez.", "--engine", "espeak", "--voice", "es", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{out}  0:0") and result.stdout.endswith("  espeak\n")
    if suffix == ".wav":
        with wave.open(str(out)) as wav:
            assert (wav.getframerate(), wav.getnchannels()) == (22050, 1)
            assert wav.getnframes() > 22050
    else:
        assert len(decode_mp3(out, 22050)) > 1000      # milliseconds
    # no temp file left; the guard's record of what say wrote (core/guard.py)
    assert sorted(p.name for p in out.parent.iterdir()) == [".audioroutine-files.json", out.name]


def test_say_rejects_other_file_types(tmp_path: Path) -> None:
    result = run("say", "Hello.", "--engine", "fake", "--out", str(tmp_path / "a.ogg"))
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'a.ogg'}: the output file must end in .wav or .mp3\n"


def test_missing_piper_voice_is_one_line(mini_script: Path, tmp_path: Path) -> None:
    missing = tmp_path / "voices" / "en_GB-alan-medium.onnx"    # English, as the script (a German voice: the guard)
    result = run("build", str(mini_script), "--engine", "piper", "--voice", str(missing), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert result.stderr == f"error: Piper voice model not found: {missing} (give a path to an .onnx voice)\n"
    assert not (tmp_path / "o").exists()


def test_piper_voice_per_routine_and_its_missing_config(write_script, tmp_path: Path) -> None:
    model = tmp_path / "my-voice.onnx"
    model.write_bytes(b"not loaded: the config is checked first")
    path = write_script(f"""
        id: mine
        title: Mine
        voice: {{engine: piper, voice: {model}}}
        exercises:
          - name: Press
            dosage: {{reps: 1, hold: 3s}}
        """)
    result = run("build", str(path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert result.stderr == (f"error: Piper voice config not found: {model}.json "
                             "(it must sit beside the .onnx file)\n")


def test_bundled_piper_voice_refuses_other_languages(write_script, tmp_path: Path) -> None:
    path = write_script("""
        id: mine
        title: Mía
        language: es
        exercises:
          - name: Prensa
            dosage: {reps: 1, hold: 3s}
        """)
    result = run("build", str(path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2   # the script's choice: bad input, naming its language line
    assert result.stderr == (
        f"error: {path}:3: language: the bundled Piper voice speaks English only, this routine is 'es': "
        "use --engine espeak, or --voice with a path to a Piper .onnx voice for that language\n")
    assert not (tmp_path / "o").exists()


def test_engine_per_run_overrides_the_routine(mini_script: Path, tmp_path: Path) -> None:
    result = run("build", str(mini_script), "--engine", "espeak", "--level", "beginner", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.stderr
    from audioroutine.output.tags import read_tags

    assert read_tags(tmp_path / "o" / "mini-beginner.mp3")["provenance"]["engine"]["engine"] == "espeak"
    assert "warning" not in result.stderr          # offline engines do not warn


@pytest.mark.parametrize("command", ["voices", "say"])
def test_new_commands_have_help_with_an_example(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example: audioroutine " + command in result.stdout


def test_voices_check_speaks_a_test_phrase(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def no_dns(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr("audioroutine.engines.gtts.time.sleep", lambda seconds: None)
    assert run("voices", "--engine", "espeak", "--check").stdout.splitlines()[0] == \
        "espeak  offline; installed, working"
    assert run("voices", "--engine", "gtts", "--check").stdout.splitlines()[0] == (
        "gtts    online: sends the text of every phrase to Google; NOT WORKING: "
        "gtts: could not synthesize 'Test.': no network (use --engine piper or espeak)")
