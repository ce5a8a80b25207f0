"""The one reader under attack (issue 19 parts 1, 6, 7): every case in cases_inputs.py run
through the CLI from its own `work` folder. Each must give its exact error line(s), each
naming the file (and line where there is one), the exit code, no traceback, nothing written,
and no content of a foreign file echoed. Records (build manifest, site record) that are
damaged or hostile are treated as absent: the command succeeds and -v says so."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioroutine.cli import cli
from audioroutine.run import manifest as manifest_module

from ..conftest import MINIMAL
from .cases_inputs import CASES, FIFO, SECRET, Case


def run(args: list[str]):
    return CliRunner(mix_stderr=False).invoke(cli, args)


def write_files(files: dict[str, object], folder: Path) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is FIFO:
            os.mkfifo(path)
        elif isinstance(content, tuple):
            os.symlink(content[1], path)
        else:
            path.write_bytes(content if isinstance(content, bytes) else str(content).encode("utf-8"))


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for sub in ("work", "secret", "out"):
        for path in sorted((folder / sub).rglob("*")) if (folder / sub).exists() else []:
            info = path.lstat()
            out[str(path)] = (info.st_size, info.st_mtime_ns)
    return out


def test_the_corpus_is_large_and_covers_every_surface() -> None:
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)
    surfaces = {case.surface for case in CASES}
    assert surfaces >= {"library", "programme", "prescription-csv", "prescription-yaml", "settings", "folder",
                        "every-error"}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_is_refused_cleanly(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_files(case.files, tmp_path)
    monkeypatch.chdir(tmp_path / "work")
    before = snapshot(tmp_path)
    result = run([arg.format(d=tmp_path) for arg in case.args])
    assert result.stderr == case.message.format(d=tmp_path) + "\n"
    assert result.exit_code == case.exit_code
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr + result.stdout
    assert SECRET not in result.stderr + result.stdout
    for line in result.stderr.splitlines():
        assert line.startswith((f"error: {tmp_path}/", "error: /dev/")), line
    assert snapshot(tmp_path) == before                  # nothing written, nothing changed


# --- records the tool writes: damaged or hostile means absent -----------------------------------

HOSTILE_RECORDS = {
    "nested": "[" * 100_000 + "]" * 100_000,
    "nested-object": '{"format": 1, "sessions": ' + '{"a": ' * 5000 + "1" + "}" * 5001,
    "not-utf8": b"\xff\xfe{\x00",
    "not-json": "{format: 1",
    "nan": '{"format": 1, "sessions": {"x.mp3": {"samples": NaN}}}',
    "huge-number": '{"format": 1, "sessions": {"x.mp3": {"samples": ' + "9" * 5000 + "}}}",
    "control-text": '{"format": 1, "sessions": {"x.mp3": {"title": "a\\u001b[2Jb"}}}',
    "wrong-shape": '{"format": 1, "sessions": [1, 2, 3]}',
    "list": "[1, 2, 3]",
    "empty": "",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """A script and one clean build of it (copied by each test)."""
    root = tmp_path_factory.mktemp("built")
    script = root / "mini.yaml"
    script.write_text(MINIMAL)
    result = CliRunner(mix_stderr=False).invoke(
        cli, ["build", str(script), "--out", str(root / "out"), "--cache-dir", str(root / "cache")])
    assert result.exit_code == 0, result.stderr
    return script, root


@pytest.mark.parametrize("name", sorted(HOSTILE_RECORDS))
def test_a_hostile_build_manifest_is_absent(name: str, built: tuple[Path, Path], tmp_path: Path) -> None:
    script, root = built
    shutil.copytree(root / "out", tmp_path / "out")
    content = HOSTILE_RECORDS[name]   # in the current format: refused for what it holds, not its version
    if isinstance(content, str):
        content = content.replace('"format": 1', f'"format": {manifest_module.FORMAT}')
    manifest = tmp_path / "out" / ".audioroutine-manifest.json"
    manifest.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run(["build", str(script), "--out", str(tmp_path / "out"), "--cache-dir", str(root / "cache"), "-v"])
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{manifest}: build manifest ignored: " in result.stderr   # said with -v, once per read
    assert "up to date" in result.stdout
    assert json.loads(manifest.read_text())["format"] == manifest_module.FORMAT   # rewritten whole by the build


@pytest.mark.parametrize("kind", ["symlink-to-dev-zero", "fifo", "folder"])
def test_a_build_manifest_that_is_not_a_file_is_absent(kind: str, built: tuple[Path, Path], tmp_path: Path) -> None:
    script, root = built
    shutil.copytree(root / "out", tmp_path / "out")
    manifest = tmp_path / "out" / ".audioroutine-manifest.json"
    manifest.unlink()
    if kind == "fifo":
        os.mkfifo(manifest)
    elif kind == "folder":
        manifest.mkdir()
    else:
        manifest.symlink_to("/dev/zero")
    result = run(["build", str(script), "--out", str(tmp_path / "out"), "--cache-dir", str(root / "cache"), "-v"])
    assert "Traceback" not in result.stderr
    assert f"{manifest}: build manifest ignored: not a regular file" in result.stderr


@pytest.mark.parametrize("name", sorted(HOSTILE_RECORDS))
def test_a_hostile_site_record_is_absent(name: str, built: tuple[Path, Path], tmp_path: Path) -> None:
    _, root = built
    site = tmp_path / "site"
    site.mkdir()
    record = site / ".audioroutine-site.json"
    content = HOSTILE_RECORDS[name].replace('"format": 1, "sessions"', '"files"') \
        if isinstance(HOSTILE_RECORDS[name], str) else HOSTILE_RECORDS[name]
    record.write_bytes(content if isinstance(content, bytes) else content.encode())
    keep = site / "mine.txt"
    keep.write_text("the user's file")
    result = run(["publish", str(root / "out"), "--base-url", "https://clinic.example/ex/", "--to", str(site), "-v"])
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{record}: site record ignored: " in result.stderr
    assert keep.read_text() == "the user's file"
    assert isinstance(json.loads(record.read_text())["files"], dict)   # rewritten whole, in the guard's record format
