"""A no-op rebuild is answered from the build manifest, before any audio library or engine
is loaded, and only when nothing it would write could differ: every input that changes an
output takes the normal path, which rebuilds what changed and records the manifest again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from audioroutine import BuildOptions, explain, load_script
from audioroutine.cli import cli
from audioroutine.core.ffmpeg import ffmpeg_exe
from audioroutine.engines import VoiceOptions
from audioroutine.engines.fake import FakeEngine
from audioroutine.engines.piper import PiperEngine
from audioroutine.run import freshness, manifest, pipeline
from audioroutine.run.manifest import MANIFEST_NAME

from ..conftest import MINIMAL, ROOT
from ..model.test_exercise_library import LIBRARY

A = """\
id: a
title: Alpha
voice: {engine: fake}
libraries: [library/back.yaml]
exercises:
  - use: cobra
"""
B = MINIMAL.replace("id: mini", "id: b").replace("title: Mini", "title: Beta")
ALL = {"a-beginner.mp3", "a-progressed.mp3", "b-beginner.mp3", "b-progressed.mp3"}
A_BOTH, B_BOTH = {"a-beginner.mp3", "a-progressed.mp3"}, {"b-beginner.mp3", "b-progressed.mp3"}


def cover(path: Path, colour: tuple[int, int, int]) -> None:
    Image.new("RGB", (16, 16), colour).save(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two scripts (one using a library exercise) with a settings file and a cover, built
    once on the fake engine; each test works on a copy."""
    root = tmp_path_factory.mktemp("library")
    (root / "library").mkdir()
    (root / "library" / "back.yaml").write_text(LIBRARY)
    (root / "a.yaml").write_text(A)
    (root / "b.yaml").write_text(B)
    (root / "audioroutine.toml").write_text('cover = "c.png"\nclinic = "Riverside"\n')
    cover(root / "c.png", (200, 30, 30))
    environ = {"AUDIOROUTINE_CACHE_DIR": str(root / "cache"), "SOURCE_DATE_EPOCH": "946684800"}
    result = CliRunner(mix_stderr=False).invoke(cli, ["build", str(root / "a.yaml"), str(root / "b.yaml"),
                                                      "--out", str(root / "out")], env=environ)
    assert result.exit_code == 0, result.stderr
    return root


@pytest.fixture
def clinic(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "clinic"
    shutil.copytree(built, root)
    monkeypatch.setenv("AUDIOROUTINE_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "946684800")   # 2000
    monkeypatch.delenv("AUDIOROUTINE_FFMPEG", raising=False)
    return root


class Build:
    """`audioroutine build` in this process; `normal` says whether it took the normal path."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = pipeline.build_batch

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(pipeline, "build_batch", counted)

    def __call__(self, root: Path, *args: str) -> tuple[dict[str, Any], bool]:
        """Build a.yaml and b.yaml (only b.yaml when `args` name it) with `args` as options."""
        before = self.calls
        scripts = [str(root / name) for name in ("a.yaml", "b.yaml") if "b.yaml" not in args or name == "b.yaml"]
        options = [arg for arg in args if arg != "b.yaml"]
        result = CliRunner(mix_stderr=False).invoke(cli, ["build", *scripts, "--out", str(root / "out"), "--json",
                                                          *options])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout), self.calls > before


@pytest.fixture
def build(monkeypatch: pytest.MonkeyPatch) -> Build:
    return Build(monkeypatch)


def written(result: dict[str, Any]) -> set[str]:
    return {Path(s["path"]).name for s in result["sessions"] if s["written"]}


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def later(path: Path) -> None:
    """Move a file's mtime on, as `touch` does a moment later."""
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))


# (what changes, arguments of every build of the case, arguments added after the change,
# MP3s the normal path then rewrites)
Change = Callable[[Path, pytest.MonkeyPatch], None]
ONE = ("b.yaml",)   # build b.yaml alone


def slow(*case: Any) -> Any:
    """A case that rewrites every session: in the slow tests (a faster one covers its kind)."""
    return pytest.param(*case, marks=pytest.mark.slow, id=case[0])


CASES: list[Any] = [
    ("script text", lambda r, m: edit(r / "a.yaml", "title: Alpha", "title: Alpha two"), (), (), A_BOTH),
    ("library exercise", lambda r, m: edit(r / "library" / "back.yaml", "Lift your chest.", "Lift up."), (), (),
     A_BOTH),
    slow("settings file", lambda r, m: edit(r / "audioroutine.toml", "Riverside", "Hillside"), (), (), ALL),
    ("settings file, one script", lambda r, m: edit(r / "audioroutine.toml", "Riverside", "Hillside"), ONE, (),
     B_BOTH),
    slow("cover image", lambda r, m: cover(r / "c.png", (30, 30, 200)), (), (), ALL),
    ("cover image, one script", lambda r, m: cover(r / "c.png", (30, 30, 200)), ONE, (), B_BOTH),
    ("--bitrate", lambda r, m: None, (), ("--bitrate", "96k"), ALL),
    slow("--id3", lambda r, m: None, (), ("--id3", "2.4"), ALL),
    slow("--sample-rate", lambda r, m: None, (), ("--sample-rate", "24000"), ALL),
    ("--level", lambda r, m: None, (), ("--level", "beginner"), {"a-beginner.mp3", "b-beginner.mp3"}),
    ("one script of the two", lambda r, m: None, (), ONE, B_BOTH),
    ("year (SOURCE_DATE_EPOCH)", lambda r, m: m.setenv("SOURCE_DATE_EPOCH", "1262304000"), (), (), ALL),
    ("--voice", lambda r, m: None, (), ("--voice", "other"), set()),
    ("--no-sidecars", lambda r, m: None, (), ("--no-sidecars",), set()),
    ("MP3 deleted", lambda r, m: (r / "out" / "b-beginner.mp3").unlink(), (), (), {"b-beginner.mp3"}),
    ("MP3 touched", lambda r, m: later(r / "out" / "b-beginner.mp3"), (), (), set()),
    ("sidecar deleted", lambda r, m: (r / "out" / "a-progressed.vtt").unlink(), (), (), set()),
    ("cached phrase removed", lambda r, m: shutil.rmtree(r / "cache" / "phrases"), (), (), set()),
    slow("tool version", lambda r, m: m.setattr(freshness, "__version__", "99.0"), (), (), ALL),   # in the provenance
    ("a dependency's version", lambda r, m: m.setattr(freshness, "version", lambda name: "99.0"), (), (), set()),
    ("AUDIOROUTINE_FFMPEG", lambda r, m: m.setenv("AUDIOROUTINE_FFMPEG", ffmpeg_exe()), (), (), set()),
    ("engine fingerprint", lambda r, m: m.setattr(FakeEngine, "fingerprint", staticmethod(lambda o: {"x": 1})),
     (), (), set()),
    ("manifest damaged", lambda r, m: (r / "out" / MANIFEST_NAME).write_text("{not json"), (), (), set()),
]


@pytest.mark.parametrize("what, change, base, args, rewritten",
                         [pytest.param(*case, id=case[0]) if type(case) is tuple else case for case in CASES])
def test_a_change_takes_the_normal_path_and_is_recorded_again(clinic, build, monkeypatch, what, change, base, args,
                                                               rewritten):
    first, normal = build(clinic, *base)   # a copied folder: new inodes, so the normal path decides and records
    assert normal and written(first) == (B_BOTH if base else set())   # b alone: its track numbers change
    noop, normal = build(clinic, *base)
    assert not normal and written(noop) == set() and noop["phrases"] == first["phrases"]
    change(clinic, monkeypatch)
    again, normal = build(clinic, *base, *args)
    assert normal, f"{what}: answered from the manifest"
    assert written(again) == rewritten
    out = clinic / "out"
    assert (out / "b-progressed.vtt").exists()
    after, normal = build(clinic, *base, *args)
    assert not normal and written(after) == set(), f"{what}: not recorded again"
    assert [s["path"] for s in after["sessions"]] == [s["path"] for s in again["sessions"]]


EDITS = [
    ("MP3 replaced", lambda r: shutil.copy(r / "out" / "a-beginner.mp3", r / "out" / "b-beginner.mp3"),
     "b-beginner.mp3"),
    ("sidecar edited", lambda r: edit(r / "out" / "a-progressed.lrc", "Cobra", "Kobra"), "a-progressed.lrc"),
    ("playlist edited", lambda r: edit(r / "out" / "programme.m3u8", "Alpha", "Alfa"), "programme.m3u8"),
]


@pytest.mark.parametrize("what, change, name", EDITS, ids=[case[0] for case in EDITS])
def test_an_edited_output_takes_the_normal_path_and_is_left_as_the_users(clinic, build, what, change, name):
    """An output changed since the build is the user's (core/guard.py): the build refuses
    to overwrite it, exit 2, naming it; the file keeps the user's bytes."""
    build(clinic)
    change(clinic)
    mine = (clinic / "out" / name).read_bytes()
    result = CliRunner(mix_stderr=False).invoke(cli, ["build", str(clinic / "a.yaml"), str(clinic / "b.yaml"),
                                                      "--out", str(clinic / "out")])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {clinic / 'out' / name}: was changed since audioroutine wrote it, so it is "
                             "yours now; move or rename it, then run again\n")
    assert (clinic / "out" / name).read_bytes() == mine


def test_the_fast_path_prints_what_the_normal_path_prints(clinic, build):
    (clinic / "out" / MANIFEST_NAME).unlink()
    runner = CliRunner(mix_stderr=False)
    args = ["build", str(clinic / "a.yaml"), str(clinic / "b.yaml"), "--out", str(clinic / "out")]
    normal = runner.invoke(cli, args)
    before = snapshot(clinic / "out")
    fast = runner.invoke(cli, args)
    assert fast.exit_code == normal.exit_code == 0
    assert snapshot(clinic / "out") == before   # nothing written: bytes and mtimes, the manifest's too

    def untimed(text: str) -> list[str]:   # the table's last cell is the time the build took
        return [line.rsplit("  ", 1)[0] if line.rstrip().endswith(" s") else line for line in text.splitlines()]

    assert untimed(fast.stdout) == untimed(normal.stdout)
    assert "4 session(s), 0 written" in fast.stdout and fast.stderr == normal.stderr == ""
    as_json = [json.loads(runner.invoke(cli, [*args, "--json"]).stdout) for _ in range(2)]
    (clinic / "out" / MANIFEST_NAME).unlink()
    as_json.append(json.loads(runner.invoke(cli, [*args, "--json"]).stdout))
    for result in as_json:
        del result["summary"]["time"]
    assert as_json[0] == as_json[1] == as_json[2]


def test_a_no_op_rebuild_in_a_new_process_loads_no_audio_library_or_engine(clinic, build):
    build(clinic)   # the copy is recorded again
    before = snapshot(clinic / "out")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "audioroutine", "build", str(clinic / "a.yaml"),
                           str(clinic / "b.yaml"), "--out", str(clinic / "out")],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "audioroutine.run.manifest" in imported and "audioroutine.cli.build" in imported
    heavy = {"numpy", "pydub", "mutagen", "onnxruntime", "piper", "audioroutine.run.pipeline", "audioroutine.speech.clips"}
    assert not {name for name in imported if name in heavy or name.split(".")[0] in heavy}
    assert proc.stdout.splitlines()[-1].startswith("4 session(s), 0 written")
    assert snapshot(clinic / "out") == before


def test_a_no_op_rebuild_creates_no_engine(clinic, build, monkeypatch):
    first, _ = build(clinic)

    def refuse(self: FakeEngine, options: VoiceOptions) -> None:
        raise AssertionError("an engine was created")

    monkeypatch.setattr(FakeEngine, "__init__", refuse)
    result, normal = build(clinic)
    assert not normal and len(result["sessions"]) == 4
    assert result["phrases"] == first["phrases"] == {"synthesized": 0, "cached": first["phrases"]["cached"]}


@pytest.mark.parametrize("flag", ["--force", "--prune", "--dry-run"])
def test_force_prune_and_dry_run_take_the_normal_path(clinic, build, flag):
    build(clinic)
    if flag == "--dry-run":
        result = CliRunner(mix_stderr=False).invoke(cli, ["build", str(clinic / "a.yaml"), "--out",
                                                          str(clinic / "out"), "--dry-run"])
        assert result.exit_code == 0 and "dry run: nothing synthesized or written" in result.stdout
        return
    result, normal = build(clinic, flag)
    assert normal and written(result) == (ALL if flag == "--force" else set())
    assert result["summary"]["pruned"] == 0 and (clinic / "out" / MANIFEST_NAME).is_file()


def test_stale_temp_files_are_swept_on_the_fast_path_too(clinic, build):
    build(clinic)
    stale = clinic / "out" / ".b-beginner.mp3.999999999.tmp"
    stale.write_bytes(b"partial")
    ours = clinic / "out" / "notes.txt"
    ours.write_text("mine")
    _, normal = build(clinic)
    assert not normal and not stale.exists() and ours.exists()


def test_an_mp3_changed_during_the_build_is_not_recorded(clinic, build):
    """The record reads each MP3's provenance back: a file another process replaced after
    the build wrote it is left out, so the next build decides it the normal way."""
    build(clinic)
    real = manifest.record

    def replaced_meanwhile(keys: Any, sessions: Any, options: Any) -> None:
        shutil.copy(clinic / "out" / "a-beginner.mp3", clinic / "out" / "b-beginner.mp3")
        real(keys, sessions, options)

    (clinic / "out" / MANIFEST_NAME).unlink()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest, "record", replaced_meanwhile)
        build(clinic)
    entries = json.loads((clinic / "out" / MANIFEST_NAME).read_text())["sessions"]
    assert sorted(entries) == sorted(ALL - {"b-beginner.mp3"})
    # and it is no longer the tool's to overwrite (core/guard.py): the next build says so
    again = CliRunner(mix_stderr=False).invoke(cli, ["build", str(clinic / "a.yaml"), str(clinic / "b.yaml"),
                                                     "--out", str(clinic / "out")])
    assert again.exit_code == 2 and "b-beginner.mp3: was changed since audioroutine wrote it" in again.stderr


def test_a_source_file_of_the_package_is_part_of_every_key(tmp_path, monkeypatch):
    package = tmp_path / "package"
    package.mkdir()
    (package / "phrases.py").write_text("A = 1\n")
    monkeypatch.setattr(freshness, "PACKAGE", package)
    before = freshness.Environment().package
    later(package / "phrases.py")
    assert freshness.Environment().package != before


def test_the_piper_fingerprint_follows_the_voice_files_without_loading_piper(tmp_path):
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"model")
    (tmp_path / "voice.onnx.json").write_text("{}")
    options = VoiceOptions(voice=str(model))
    before = PiperEngine.fingerprint(options)
    assert PiperEngine.fingerprint(options) == before
    model.write_bytes(b"other model")
    assert PiperEngine.fingerprint(options) != before
    code = ("import sys; from audioroutine.engines.piper import PiperEngine; from audioroutine.engines import "
            "VoiceOptions; PiperEngine.fingerprint(VoiceOptions()); print(sorted(m for m in ('piper', "
            "'onnxruntime', 'numpy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert proc.stdout.strip() == "[]"


# --- build --explain: per session, "up to date" or what changed since the recorded build ---

def explained(root: Path, **options: Any) -> dict[str, list[str]]:
    routines = [load_script(root / name) for name in ("a.yaml", "b.yaml")]
    sessions, batch = explain(routines, BuildOptions(out_dir=root / "out", **options))
    assert batch == []
    return {session.path.name: session.changed for session in sessions}


def test_explain_names_each_kind_of_change(clinic, build, monkeypatch):
    """One recorded build, then one change at a time (undone before the next), each named
    for exactly the sessions it concerns."""
    build(clinic)
    assert explained(clinic) == dict.fromkeys(ALL, [])
    script = (clinic / "a.yaml").read_text()
    edit(clinic / "a.yaml", "title: Alpha", "title: Alpha two")
    album = "the album tags (the batch's first script and its settings)"   # album artist: the first script's
    assert explained(clinic) == {**dict.fromkeys(A_BOTH, ["script text", album]), **dict.fromkeys(B_BOTH, [album])}
    (clinic / "a.yaml").write_text(script)
    library = (clinic / "library" / "back.yaml").read_text()
    edit(clinic / "library" / "back.yaml", "Lift your chest.", "Lift up.")
    assert explained(clinic) == {**dict.fromkeys(A_BOTH, ["a library exercise", album]),
                                 **dict.fromkeys(B_BOTH, [album])}
    (clinic / "library" / "back.yaml").write_text(library)
    settings = (clinic / "audioroutine.toml").read_text()
    edit(clinic / "audioroutine.toml", "Riverside", "Hillside")
    assert explained(clinic) == dict.fromkeys(ALL, ["settings", album])
    (clinic / "audioroutine.toml").write_text(settings)
    image = (clinic / "c.png").read_bytes()
    cover(clinic / "c.png", (30, 30, 200))
    assert explained(clinic) == dict.fromkeys(ALL, ["cover", album])
    (clinic / "c.png").write_bytes(image)
    assert explained(clinic, bitrate="96k", id3_version=4) == dict.fromkeys(ALL, ["options (bitrate, id3-version)"])
    assert explained(clinic, engine="espeak")["a-beginner.mp3"] == ["options (engine)", "engine or voice"]
    with monkeypatch.context() as patch:
        patch.setattr(FakeEngine, "fingerprint", staticmethod(lambda o: {"x": 1}), raising=False)
        assert explained(clinic) == dict.fromkeys(ALL, ["engine or voice"])
    with monkeypatch.context() as patch:
        patch.setattr(freshness, "__version__", "99.0")
        assert explained(clinic) == dict.fromkeys(ALL, ["audioroutine version or code"])
    with monkeypatch.context() as patch:
        patch.setattr(freshness, "version", lambda name: "99.0")
        assert explained(clinic) == dict.fromkeys(ALL, ["Python or a dependency's version"])
    with monkeypatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", "1262304000")
        assert explained(clinic) == dict.fromkeys(ALL, ["year (SOURCE_DATE_EPOCH)"])
    assert explained(clinic, levels=["beginner"]) == {
        "a-beginner.mp3": ["options (levels)", "track number (the sessions built together)"],
        "b-beginner.mp3": ["options (levels)", "track number (the sessions built together)"]}
    assert explained(clinic) == dict.fromkeys(ALL, [])   # every change undone
    later(clinic / "out" / "a-progressed.vtt")
    (clinic / "out" / "b-beginner.mp3").unlink()
    later(clinic / "out" / "b-progressed.mp3")
    assert explained(clinic) == {"a-beginner.mp3": [], "a-progressed.mp3": ["transcript touched or replaced"],
                                 "b-beginner.mp3": ["output deleted"],
                                 "b-progressed.mp3": ["output touched or replaced"]}


TRACKS = ["a-beginner.mp3", "b-beginner.mp3", "a-progressed.mp3", "b-progressed.mp3"]   # in play order


def test_build_explain_prints_up_to_date_or_what_changed_then_builds(clinic, build):
    build(clinic)
    args = ["build", str(clinic / "a.yaml"), str(clinic / "b.yaml"), "--out", str(clinic / "out"), "--explain"]
    result = CliRunner(mix_stderr=False).invoke(cli, args)
    out = clinic / "out"
    assert result.stdout.splitlines()[:4] == [f"  {out / name}  up to date" for name in TRACKS]
    edit(clinic / "b.yaml", "title: Beta", "title: Beta two")
    result = CliRunner(mix_stderr=False).invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["built"] == 2
    assert result.stderr.splitlines() == [f"  {out / name}  {'changed: script text' if name in B_BOTH else 'up to date'}"
                                          for name in TRACKS]
    (clinic / "out" / MANIFEST_NAME).write_text("{not json")
    result = CliRunner(mix_stderr=False).invoke(cli, [*args, "--dry-run"])   # explains, builds nothing
    assert result.stdout.splitlines()[:4] == [f"  {out / name}  changed: {manifest.UNRECORDED}" for name in TRACKS]
    assert "dry run: nothing synthesized or written" in result.stdout
