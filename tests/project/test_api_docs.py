"""The examples in docs/api.md run, in order, as a user would run them: in a folder holding
`scripts_yaml/`. The default run uses a short stand-in for the seed script on the fake engine;
the slow run builds the real seed with Piper."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import ROOT

API = ROOT / "docs" / "api.md"
STAND_IN = """id: upper_middle_back
title: Upper and middle back
voice: {engine: fake}
exercises:
  - name: Cobra
    hold: Lift your chest.
    dosage: {reps: 2, hold: 3s, rest: 2s}
"""


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", API.read_text(encoding="utf-8"), re.DOTALL)


def run_examples(folder: Path) -> str:
    """Run each example on its own, in a fresh interpreter in `folder`, in order; what they
    printed."""
    printed = []
    for code in examples():
        done = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
        assert done.returncode == 0, f"{code}\n{done.stderr}"
        printed.append(done.stdout)
    return "".join(printed)


def test_the_api_examples_run_each_on_its_own(tmp_path: Path) -> None:
    (tmp_path / "scripts_yaml").mkdir()
    (tmp_path / "scripts_yaml" / "upper_middle_back.yaml").write_text(STAND_IN, encoding="utf-8")
    printed = run_examples(tmp_path)
    assert len(examples()) == 2
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        ".audioroutine-files.json", ".audioroutine-manifest.json",
        "upper_middle_back-beginner.lrc", "upper_middle_back-beginner.mp3", "upper_middle_back-beginner.vtt",
        "upper_middle_back-progressed.lrc", "upper_middle_back-progressed.mp3", "upper_middle_back-progressed.vtt",
        "upper_middle_back.m3u8"]
    lines = printed.splitlines()
    assert lines[0] == "Upper and middle back ['beginner', 'progressed']"
    assert lines[3].startswith("out/upper_middle_back-beginner.mp3 ")
    assert lines[3].endswith("samples written")
    assert lines[4] == "out/upper_middle_back.m3u8 ['upper_middle_back-beginner.mp3', 'upper_middle_back-progressed.mp3']"
    assert lines[5].endswith(" beginner")
    assert lines[6] == "None beginner"          # no audioroutine.toml beside the stand-in


def test_parsing_a_script_imports_no_audio_library() -> None:
    code = ("import sys, audioroutine.model.script, audioroutine.model.settings, audioroutine\n"
            "audioroutine.load_script(sys.argv[1])\n"
            "print(sorted(m for m in ('numpy', 'pydub', 'mutagen') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "scripts_yaml" / "upper_middle_back.yaml")],
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)}, check=True)
    assert done.stdout == "[]\n"


@pytest.mark.slow
def test_the_api_examples_run_on_the_seed_with_piper(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "scripts_yaml", tmp_path / "scripts_yaml")
    printed = run_examples(tmp_path)
    assert (tmp_path / "out" / "upper_middle_back.m3u8").is_file()
    assert printed.splitlines()[-1].endswith(" beginner")
