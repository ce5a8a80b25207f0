"""Two builds of different routines, both with --prune, into one folder at the same time
(separate processes, fake engine): the guard's lock (core/guard.py) makes them take turns,
and the prune rule keeps another build's outputs. Every round, every session of both is
present, decodes, carries that round's title, and every "written" line is true: the file
holds the bytes the record says were written."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audioroutine.core.ffmpeg import ffmpeg_exe
from audioroutine.output.tags import read_tags

from ..conftest import MINIMAL

ROOT = Path(__file__).resolve().parents[2]


def script(folder: Path, routine_id: str, title: str) -> Path:
    path = folder / f"{routine_id}.yaml"
    path.write_text(MINIMAL.replace("id: mini", f"id: {routine_id}").replace("title: Mini", f"title: {title}"))
    return path


def decodes(mp3: Path) -> bool:
    done = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(mp3), "-f", "null", "-"], capture_output=True)
    return done.returncode == 0 and not done.stderr


def rounds(tmp_path: Path, count: int) -> dict[str, float]:
    lib, out = tmp_path / "lib", tmp_path / "out"
    lib.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDIOROUTINE_CACHE_DIR": str(tmp_path / "cache")}
    waited = written_lines = 0
    for n in range(count):
        scripts = {rid: script(lib, rid, f"Routine {rid} round {n}") for rid in ("a", "b")}
        procs = {rid: subprocess.Popen([sys.executable, "-m", "audioroutine", "build", str(path), "--out", str(out),
                                        "--prune"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
                 for rid, path in scripts.items()}
        results = {rid: proc.communicate(timeout=120) for rid, proc in procs.items()}
        record = json.loads((out / ".audioroutine-files.json").read_text())["files"]
        for rid, (stdout, stderr) in results.items():
            assert procs[rid].returncode == 0, stderr
            assert "Traceback" not in stderr and "pruned" not in stdout, (stdout, stderr)
            waited += "waiting for process" in stderr
            for line in stdout.splitlines():
                if line.endswith("  written"):
                    written_lines += 1
                    path = Path(line.split()[0])
                    assert hashlib.sha256(path.read_bytes()).hexdigest() == record[path.name]["sha256"], line
                    assert read_tags(path)["title"].startswith(f"Routine {rid} round {n}"), line
        for rid in ("a", "b"):
            for level in ("beginner", "progressed"):
                mp3 = out / f"{rid}-{level}.mp3"
                assert mp3.is_file() and decodes(mp3), mp3
                assert read_tags(mp3)["title"].startswith(f"Routine {rid} round {n}"), mp3
                assert (out / f"{rid}-{level}.vtt").is_file() and (out / f"{rid}-{level}.lrc").is_file()
            assert (out / f"{rid}.m3u8").is_file()
    assert not (out / ".audioroutine.lock").exists()
    return {"rounds": count, "written": written_lines, "waited": waited}


def test_two_pruning_builds_into_one_folder_one_round(tmp_path: Path) -> None:
    """One round in the default suite; twenty in the slow one below."""
    found = rounds(tmp_path, 1)
    assert found["written"] == 1 * 2 * 2


@pytest.mark.slow
def test_two_pruning_builds_into_one_folder_twenty_rounds(tmp_path: Path) -> None:
    found = rounds(tmp_path, 20)
    assert found["written"] == 20 * 2 * 2



def test_a_run_beside_this_one_making_the_folder_first_is_not_an_error(tmp_path: Path, monkeypatch) -> None:
    """Regression (seen once in the 3-round test): two runs both making the output folder, the
    second's mkdir failed with 'File exists'. Here the folder appears between the look and the
    mkdir, as when another run makes it."""
    from audioroutine.core.guard import open_guard

    root = tmp_path / "out"
    real_mkdir = Path.mkdir

    def raced(self: Path, *args: object, **kwargs: object) -> None:
        if self == root and not self.exists():
            real_mkdir(self)                     # the other run wins the race
            raise FileExistsError(17, "File exists", str(self))
        real_mkdir(self, *args, **kwargs)        # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", raced)
    with open_guard(root) as guard:
        assert guard.root == root and root.is_dir()
