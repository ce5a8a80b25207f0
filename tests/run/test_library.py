"""Libraries at scale: folders, globs, non-routine YAML, --prune, failures isolated, the summary."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioroutine.cli import cli
from audioroutine.engines.fake import FAIL_ENV, FakeEngine
from audioroutine.model.inputs import expand

from ..conftest import MINIMAL


def run(*args: str):
    return CliRunner(mix_stderr=False).invoke(cli, list(args))


def script(folder: Path, name: str, routine_id: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(MINIMAL.replace("id: mini", f"id: {routine_id}"), encoding="utf-8")
    return path


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    script(root, "a.yaml", "a")
    script(root, "neck/b.yml", "b")
    script(root, "neck/deep/c.yaml", "c")
    script(root, ".drafts/d.yaml", "d")
    script(root, "neck/.e.yaml", "e")
    (root / "neck" / "notes.txt").write_text("not a script")
    (root / "programme.yaml").write_text("id: p\nscript: a.yaml\nweeks: 2\n")
    (root / "prescriptions.yaml").write_text("patients:\n  - ref: P1\n    script: a.yaml\n")
    return root


def test_a_folder_is_searched_recursively_skipping_hidden_and_non_routines(library):
    found = expand([library])
    assert found.scripts == [library / "a.yaml", library / "neck/b.yml", library / "neck/deep/c.yaml"]
    assert found.skipped == [library / "prescriptions.yaml", library / "programme.yaml"]


def test_a_glob_is_expanded_by_the_tool_and_a_file_reached_twice_is_used_once(library):
    found = expand([library / "a.yaml", Path(f"{library}/**/*.y*ml"), library])
    assert found.scripts == [library / "a.yaml", library / "neck/b.yml", library / "neck/deep/c.yaml"]


def test_a_glob_matching_nothing_is_one_error(tmp_path):
    result = run("validate", f"{tmp_path}/**/*.yaml")
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path}/**/*.yaml: no .yaml scripts matching this pattern\n"


def test_a_folder_of_non_routines_is_one_error(tmp_path):
    (tmp_path / "p.yaml").write_text("id: p\nweeks: 2\n")
    result = run("validate", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path}: no .yaml scripts in this folder (1 file skipped: 1 programme)\n"


def test_a_non_routine_named_explicitly_is_loaded_and_fails(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("id: p\nweeks: 2\n")
    assert run("validate", str(path)).exit_code == 2


def test_validate_a_library_notes_skipped_files_in_verbose_mode(library):
    result = run("validate", str(library), "-v")
    assert result.exit_code == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()[:-1]] == [
        f"ok  {library / 'a.yaml'}", f"ok  {library / 'neck/b.yml'}", f"ok  {library / 'neck/deep/c.yaml'}"]
    assert f"{library / 'programme.yaml'}: skipped: programme, not a routine" in result.stderr
    assert result.stdout.splitlines()[-1] == "2 files skipped: 1 programme, 1 prescription"


def test_build_a_library_prints_the_summary_table(library, tmp_path):
    out = tmp_path / "out"
    result = run("build", str(library), "--out", str(out), "--level", "beginner")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-3].split() == ["built", "up", "to", "date", "failed", "pruned", "audio", "time"]
    assert lines[-2].split()[:4] == ["3", "0", "0", "0"]
    assert sorted(p.name for p in out.glob("*.mp3")) == ["a-beginner.mp3", "b-beginner.mp3", "c-beginner.mp3"]
    again = json.loads(run("build", str(library), "--out", str(out), "--level", "beginner", "--json").stdout)
    assert {k: v for k, v in again["summary"].items() if k != "time"} == {
        "built": 0, "up_to_date": 3, "failed": 0, "pruned": 0, "seconds": again["seconds"]}


def test_prune_removes_exactly_the_stale_outputs(library, tmp_path):
    out = tmp_path / "out"
    assert run("build", str(library), "--out", str(out)).exit_code == 0
    assert run("build", str(library / "a.yaml"), "--out", str(out)).exit_code == 0   # writes a.m3u8
    foreign = out / "music.mp3"
    foreign.write_bytes((out / "a-beginner.mp3").read_bytes())
    from mutagen.id3 import ID3
    tags = ID3(foreign)
    tags.delall("TXXX")
    tags.save(foreign)
    (out / "music.vtt").write_text("WEBVTT\n")
    (out / "notes.txt").write_text("keep me")
    (library / "neck" / "b.yml").unlink()
    before = sorted(p.name for p in out.iterdir())

    dry = run("build", str(library), "--out", str(out), "--prune", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    stale = ["b-beginner.mp3", "b-progressed.mp3", "b-beginner.vtt", "b-beginner.lrc",
             "b-progressed.vtt", "b-progressed.lrc"]
    assert [line.split()[0] for line in dry.stdout.splitlines() if line.endswith("would prune")] == [
        str(out / name) for name in stale]
    assert sorted(p.name for p in out.iterdir()) == before

    result = run("build", str(library), "--out", str(out), "--prune")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(set(before) - set(stale))
    assert result.stdout.splitlines()[-2].split()[:4] == ["4", "0", "0", "6"]   # track totals changed
    assert {"music.mp3", "music.vtt", "notes.txt", "a.m3u8", "programme.m3u8"} <= set(before)


def test_prune_removes_a_playlist_of_only_stale_sessions(library, tmp_path):
    out = tmp_path / "out"
    assert run("build", str(library / "neck/b.yml"), "--out", str(out)).exit_code == 0
    assert (out / "b.m3u8").exists()
    kept = run("build", str(library / "a.yaml"), "--out", str(out), "--prune", "--json")
    assert kept.exit_code == 0 and json.loads(kept.stdout)["pruned"] == []   # b.yml is still there: another build's
    (library / "neck/b.yml").unlink()
    result = run("build", str(library / "a.yaml"), "--out", str(out), "--prune", "--json")
    assert result.exit_code == 0, result.stderr
    assert [Path(p).name for p in json.loads(result.stdout)["pruned"]][-1] == "b.m3u8"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("b")) == []


def test_one_script_failing_after_validation_does_not_stop_the_others(library, tmp_path, monkeypatch):
    script(library, "neck/bad.yaml", "bad")
    (library / "neck/bad.yaml").write_text(MINIMAL.replace("id: mini", "id: bad").replace("Press", "Squeeze"))
    # through the environment: a library this size is built in worker processes
    monkeypatch.setenv(FAIL_ENV, "Exercise 1 of 1: Squeeze.")
    out = tmp_path / "out"
    result = run("build", str(library), "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr == (f"failed: {library / 'neck/bad.yaml'}: fake engine failed on 'Exercise 1 of 1: Squeeze.' "
                             "(as a test asked)\n")
    assert sorted(p.name for p in out.glob("*.mp3")) == [
        "a-beginner.mp3", "a-progressed.mp3", "b-beginner.mp3", "b-progressed.mp3",
        "c-beginner.mp3", "c-progressed.mp3"]
    assert "bad" not in (out / "programme.m3u8").read_text()
    assert result.stdout.splitlines()[-2].split()[:4] == ["6", "0", "1", "0"]


def test_an_invalid_script_still_stops_the_whole_library(library, tmp_path):
    (library / "neck/bad.yaml").write_text(MINIMAL.replace("reps: 2", "reps: lots"))
    out = tmp_path / "out"
    result = run("build", str(library), "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {library / 'neck/bad.yaml'}:8: ")
    assert not out.exists()


def test_every_script_failing_is_an_error_as_before(mini_script, tmp_path, monkeypatch):
    monkeypatch.setattr(FakeEngine, "fail_on", frozenset({"Exercise 1 of 1: Press."}))
    result = run("build", str(mini_script), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.stderr == "error: fake engine failed on 'Exercise 1 of 1: Press.' (as a test asked)\n"


def test_watch_rebuilds_when_a_script_or_settings_file_is_saved(library):
    from audioroutine.run.watch import watch, watched_files

    calls: list[list[Path]] = []
    stop = threading.Event()

    def rebuild(changed: list[Path]) -> None:
        calls.append(changed)

    thread = threading.Thread(target=watch, args=(lambda: watched_files([library]), rebuild),
                              kwargs={"interval": 0.02, "stop": stop.is_set})
    thread.start()
    try:
        wait_for(lambda: len(calls) == 1)
        assert calls[0] == [library / "a.yaml", library / "neck/b.yml", library / "neck/deep/c.yaml",
                            library / "prescriptions.yaml", library / "programme.yaml"]   # other YAML too
        later = time.time() + 5
        os.utime(library / "neck/b.yml", (later, later))
        wait_for(lambda: len(calls) == 2)
        assert calls[1] == [library / "neck/b.yml"]
        (library / "neck" / "audioroutine.toml").write_text('artist = "Clinic"\n')
        wait_for(lambda: len(calls) == 3)
        assert calls[2] == [library / "neck/audioroutine.toml"]
        script(library, "new.yaml", "new")
        wait_for(lambda: len(calls) == 4)
        assert calls[3] == [library / "new.yaml"]
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_watch_command_builds_then_ctrl_c_exits_0_quietly(library, tmp_path, monkeypatch):
    import audioroutine.run.watch

    def once(files, rebuild, **kwargs):
        rebuild(sorted(files()))
        (library / "neck/b.yml").write_text(MINIMAL.replace("title: Mini", "title: [Mini"))   # a bad save: reported, the watch goes on
        rebuild([library / "neck/b.yml"])
        raise KeyboardInterrupt

    monkeypatch.setattr(audioroutine.run.watch, "watch", once)
    out = tmp_path / "out"
    result = run("watch", str(library), "--out", str(out), "--level", "beginner")
    assert result.exit_code == 0
    assert sorted(p.name for p in out.glob("*.mp3")) == ["a-beginner.mp3", "b-beginner.mp3", "c-beginner.mp3"]
    assert result.stderr.startswith(f"error: {library / 'neck/b.yml'}:3: YAML syntax error")
    assert result.stdout.splitlines()[0] == "building"
    assert result.stdout.splitlines()[-1] == "watching for changes (Ctrl-C stops)"
