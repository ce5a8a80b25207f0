"""The command line: exit codes, one-line errors, summaries, help and docs for every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave

import pytest
from click.testing import CliRunner

from audioroutine.cli import cli
from audioroutine.engines import engine_names

from ..conftest import MINIMAL, ROOT


def run(*args: str):
    return CliRunner(mix_stderr=False).invoke(cli, list(args))


@pytest.mark.parametrize("edit, line", [
    (lambda s: s.replace("title: Mini", "title: [Mini"), "error: {p}:3: YAML syntax error: expected ',' or ']', but got ':' (check indentation and quoting)"),
    (lambda s: s.replace("    hold: Hold.", "    hodl: Hold."), "error: {p}:6: exercise 'Press': exercises[0].hodl: unknown key 'hodl' (did you mean 'hold'?)"),
    (lambda s: s.replace("hold: 3s", "hold: -3"), "error: {p}:9: exercise 'Press': exercises[0].dosage.hold: duration must not be negative, got -3"),
])
def test_broken_script_gives_one_line_exit_2_and_writes_nothing(write_script, tmp_path, edit, line):
    path = write_script(edit(MINIMAL))
    out = tmp_path / "out"
    result = run("build", str(path), "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr == line.format(p=path) + "\n"
    assert result.stdout == ""
    assert not out.exists()


def test_missing_script_file(tmp_path):
    result = run("build", str(tmp_path / "gone.yaml"))
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'gone.yaml'}: file not found (check the path)\n"


def test_unknown_engine_is_bad_input(mini_script, tmp_path):
    result = run("build", str(mini_script), "--engine", "nope", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert result.stderr == (f"error: --engine: unknown engine 'nope': choose one of {', '.join(engine_names())} "
                             "(see: audioroutine build -h)\n")
    assert not (tmp_path / "o").exists()


def test_real_process_prints_no_traceback(write_script, tmp_path):
    path = write_script(MINIMAL.replace("reps: 2", "reps: lots"))
    proc = subprocess.run([sys.executable, "-m", "audioroutine", "validate", str(path)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 2
    assert proc.stderr == f"error: {path}:8: exercise 'Press': exercises[0].dosage.reps: expected a whole number, got 'lots'\n"


def test_build_summary_counts_synthesized_and_cached_phrases(mini_script, tmp_path):
    out = tmp_path / "out"
    first = run("build", str(mini_script), "--out", str(out))
    assert first.exit_code == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith(f"  {out / 'mini-beginner.mp3'}  0:") and lines[0].endswith("written")
    assert lines[-1].startswith("2 session(s), 2 written, ")
    assert lines[-1].endswith("phrases: 11 synthesized, 9 from cache")
    second = run("build", str(mini_script), "--out", str(out))
    assert second.stdout.splitlines()[-1].endswith("phrases: 0 synthesized, 20 from cache")
    assert "2 session(s), 0 written" in second.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        ".audioroutine-files.json", ".audioroutine-manifest.json", "mini-beginner.lrc", "mini-beginner.mp3", "mini-beginner.vtt",
        "mini-progressed.lrc", "mini-progressed.mp3", "mini-progressed.vtt", "mini.m3u8"]


def test_build_one_level(mini_script, tmp_path):
    result = run("build", str(mini_script), "--level", "progressed", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "o").glob("*.mp3")) == ["mini-progressed.mp3"]
    bad = run("build", str(mini_script), "--level", "expert", "--out", str(tmp_path / "o"))
    assert bad.exit_code == 2
    assert bad.stderr == f"error: {mini_script}: no level 'expert' in this routine (levels: beginner, progressed)\n"


def test_plan_json_matches_the_built_mp3(mini_script, tmp_path):
    from audioroutine.audio.mp3 import decode_mp3

    estimated = json.loads(run("plan", str(mini_script), "--json").stdout)
    assert estimated["estimated_phrases"] == 10
    assert run("build", str(mini_script), "--out", str(tmp_path / "o")).exit_code == 0
    exact = json.loads(run("plan", str(mini_script), "--json", "--level", "beginner").stdout)
    assert exact["estimated_phrases"] == 0
    audio = decode_mp3(tmp_path / "o" / "mini-beginner.mp3")
    assert exact["total_samples"] == int(audio.frame_count())
    assert [c["title"] for c in exact["chapters"]] == ["Introduction", "Press", "Closing"]
    holds = [s for s in exact["spans"] if s["role"] == "hold"]
    assert [h["length_sample"] for h in holds] == [3 * 22050, 3 * 22050]


def test_plan_text_says_when_it_estimated(mini_script):
    text = run("plan", str(mini_script)).stdout
    assert "Rep 1 of 2. Hold." in text
    assert text.splitlines()[-1].endswith("(estimated: 10 phrase(s) not synthesized yet; --exact to measure)")
    exact = run("plan", str(mini_script), "--exact").stdout
    assert "estimated" not in exact.splitlines()[-1]


def test_validate_a_folder(tmp_path, write_script):
    write_script(MINIMAL, "a.yaml")
    write_script(MINIMAL.replace("id: mini", "id: other"), "b.yml")
    result = run("validate", str(tmp_path))
    assert result.exit_code == 0
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        f"ok  {tmp_path / 'a.yaml'}", f"ok  {tmp_path / 'b.yml'}"]


def test_validate_seed_and_example_folder():
    result = run("validate", str(ROOT / "scripts_yaml"))
    assert result.exit_code == 0, result.stderr
    assert "5 exercises, levels beginner, progressed" in result.stdout


def test_example_is_a_valid_script(tmp_path):
    text = run("example").stdout
    path = tmp_path / "ex.yaml"
    path.write_text(text)
    assert run("validate", str(path)).exit_code == 0
    assert text.count("\n#") + text.count("  #") > 20   # it is commented


COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example_and_is_documented(name):
    result = run(name, "--help")
    assert result.exit_code == 0
    assert "Example: audioroutine " + name in result.stdout
    readme = (ROOT / "README.md").read_text()
    assert f"audioroutine {name}" in readme, f"README does not mention 'audioroutine {name}'"


def test_script_format_doc_lists_every_key():
    from audioroutine.model.phrases import PHRASE_KEYS
    from audioroutine.model.script import DOSAGE_KEYS, EXERCISE_KEYS, ROUTINE_KEYS

    doc = (ROOT / "docs" / "script-format.md").read_text()
    for key in (*ROUTINE_KEYS, *EXERCISE_KEYS, *DOSAGE_KEYS, *PHRASE_KEYS):
        assert f"`{key}`" in doc, key


def test_unwritable_output_folder_is_one_line_exit_1(mini_script, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run("build", str(mini_script), "--out", str(blocker / "out"))
    assert result.exit_code == 1
    assert result.stderr == f"error: {blocker / 'out'}: Not a directory\n"


def test_progress_bar_shows_on_a_terminal(mini_script, tmp_path):
    import pty

    main, secondary = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "audioroutine", "build", str(mini_script), "--out", str(tmp_path / "o")],
                          stdin=secondary, stdout=subprocess.PIPE, stderr=secondary, env={**os.environ, "COLUMNS": "100"})
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    assert proc.returncode == 0
    assert b"mini (fake)" in seen and b"20/20" in seen     # label and final position of the bar


def test_validate_says_when_an_overrun_rests_on_estimated_lengths(write_script):
    path = write_script(MINIMAL.replace("hold: 3s", "hold: 6s\n      countdown: 1\n      halfway: true")
                        + "phrases:\n  halfway: Halfway there, keep breathing slowly now.\n")
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}:7: exercise 'Press': dosage (beginner): the cue 'Halfway there, keep breathing slowly now.' runs "
        "1105 ms into the timed cue '1' of its 6 s hold: shorten the cue or the countdown (speech lengths partly "
        "estimated: 'audioroutine plan --exact' measures them)\n")
    exact = run("plan", str(path), "--exact")    # the fake voice says it in 1.74 s: it fits
    assert exact.exit_code == 0, exact.stderr
    assert "Halfway there, keep breathing slowly now." in exact.stdout


# --- conventions: version, quiet/verbose/debug everywhere, dry run, JSON, pipes ----------

def test_version_short_and_long():
    from audioroutine import __version__

    assert run("-V").stdout == run("--version").stdout == f"audioroutine, version {__version__}\n"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_takes_quiet_verbose_and_debug(name):
    params = {opt for p in cli.commands[name].params for opt in p.opts}
    assert {"-q", "--quiet", "-v", "--verbose", "--debug"} <= params


def test_debug_after_the_command_shows_the_traceback(write_script):
    from audioroutine.core.errors import ScriptError

    path = write_script(MINIMAL.replace("reps: 2", "reps: lots"))
    assert run("validate", str(path)).exit_code == 2                       # control: one line
    result = run("validate", str(path), "--debug")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert f"{ScriptError.__module__}.ScriptError: {path}:" in result.stderr


def test_quiet_build_prints_nothing_and_verbose_names_settings_and_engine(mini_script, tmp_path):
    quiet = run("build", str(mini_script), "--out", str(tmp_path / "o"), "-q")
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert (tmp_path / "o" / "mini-beginner.mp3").exists()
    verbose = run("-v", "validate", str(mini_script))
    assert verbose.stderr.splitlines() == [f"{mini_script}: settings none",
                                           f"{mini_script}: engine fake, voice default, language en"]
    assert verbose.stdout.startswith(f"ok  {mini_script}")


def test_dry_run_synthesizes_and_writes_nothing_then_sees_an_up_to_date_build(mini_script, tmp_path):
    from audioroutine.engines.fake import FakeEngine

    out = tmp_path / "o"
    dry = run("build", str(mini_script), "--out", str(out), "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert FakeEngine.calls == [] and not out.exists()
    lines = dry.stdout.splitlines()
    assert lines[0].startswith(f"  {out / 'mini-beginner.mp3'}  ~0:") and lines[0].endswith("  would write")
    assert lines[1:3] == [f"  {out / 'mini-beginner.vtt'}  transcript", f"  {out / 'mini-beginner.lrc'}  transcript"]
    assert lines[-1] == ("dry run: nothing synthesized or written; phrases: 11 to synthesize, 0 in the cache "
                         "(~ marks estimated lengths)")
    built = json.loads(run("build", str(mini_script), "--out", str(out), "--json").stdout)
    assert [s["written"] for s in built["sessions"]] == [True, True]
    assert built["phrases"] == {"synthesized": 11, "cached": 9}
    again = json.loads(run("build", str(mini_script), "--out", str(out), "--dry-run", "--json").stdout)
    assert [(s["state"], s["samples"]) for s in again["sessions"]] == [
        ("up to date", s["samples"]) for s in built["sessions"]]
    assert again["phrases"] == {"to_synthesize": 0, "cached": 11}
    forced = json.loads(run("build", str(mini_script), "--out", str(out), "--dry-run", "--json", "--force").stdout)
    assert {s["state"] for s in forced["sessions"]} == {"would write"}


def test_validate_json_checks_every_script_and_fails_when_one_fails(write_script, tmp_path):
    good = write_script(MINIMAL, "a.yaml")
    bad = write_script(MINIMAL.replace("reps: 2", "reps: lots"), "b.yaml")
    result = run("validate", str(tmp_path), "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout) == [
        {"path": str(good), "ok": True, "exercises": 1, "levels": ["beginner", "progressed"], "estimated_phrases": 20},
        {"path": str(bad), "ok": False,
         "error": f"{bad}:8: exercise 'Press': exercises[0].dosage.reps: expected a whole number, got 'lots'"},
    ]


def test_level_in_any_case_and_did_you_mean(mini_script, tmp_path):
    result = run("build", str(mini_script), "--level", "BEGINNER", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "o").glob("*.mp3")) == ["mini-beginner.mp3"]
    typo = run("plan", str(mini_script), "--level", "progresed")
    assert typo.exit_code == 2
    assert typo.stderr == (f"error: {mini_script}: no level 'progresed' in this routine "
                           "(did you mean 'progressed'? levels: beginner, progressed)\n")


def test_output_piped_into_head_ends_quietly(write_script):
    path = write_script(MINIMAL.replace("reps: 2", "reps: 100\n      sets: 10"))   # far more than a pipe buffer
    proc = subprocess.run(f"'{sys.executable}' -m audioroutine plan '{path}' | head -n 1", shell=True,
                          capture_output=True, text=True, check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.stdout.startswith("0:00.000  0:0") and "  Introduction  " in proc.stdout
    assert proc.stderr == ""


def test_say_is_normalized_like_a_session(tmp_path):
    from audioroutine.audio.loudness import integrated

    out = tmp_path / "s.wav"
    result = run("say", "A line long enough to measure its loudness.", "--engine", "fake", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    with wave.open(str(out)) as wav:
        pcm, rate = wav.readframes(wav.getnframes()), wav.getframerate()
    lufs, peak = integrated(pcm, rate, peak=True)
    assert abs(lufs - -16.0) <= 0.2 and peak <= -1.0
