"""A build killed with SIGKILL at any stage: the next build removes its temp files and
produces exactly what a clean build produces. The kill comes from the test hook
$AUDIOROUTINE_TEST_KILL_AT (files.checkpoint), so each stage is hit deterministically.
About 2 s per stage: only `tags` runs by default, every stage with `-m slow`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from audioroutine import BuildOptions, build, load_script, plan
from audioroutine.audio.mp3 import decode_mp3
from audioroutine.core.files import KILL_AT_ENV

from ..conftest import ROOT

# stage to kill at → where a temp file must be left behind (so the test proves the sweep)
STAGES = {
    "synthesis:3": "cache",   # the third cache entry written, not yet renamed
    "render": None,           # the first session rendered in memory, nothing written yet
    "encode": "out",          # the first MP3 encoded into its temp file, no tags yet
    "tags": "out",            # the first MP3 complete in its temp file, not renamed
    "tags:2": "out",          # the first MP3 in place, the second in its temp file
}


def _files(folder):
    """Every output's bytes (not the guard's record: it holds mtimes, core/guard.py)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".audioroutine-files.json"}


def _temps(folder):
    return sorted(p.name for p in folder.rglob(".*.tmp"))


@pytest.mark.parametrize("stage", [
    # one stage in the default run (its temp is a whole MP3: the case users saw); all: -m slow
    pytest.param(stage, marks=[] if stage == "tags" else [pytest.mark.slow]) for stage in STAGES])
def test_a_rebuild_after_a_kill_is_clean_and_byte_identical(stage, clean_mini, tmp_path):
    script, _, clean_out = clean_mini
    expected = _files(clean_out)
    out, cache = tmp_path / "out", tmp_path / "cache"
    env = {**os.environ, KILL_AT_ENV: stage, "AUDIOROUTINE_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    killed = subprocess.run([sys.executable, "-m", "audioroutine", "build", str(script), "--out", str(out)],
                            cwd=ROOT, env=env, capture_output=True, timeout=120, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    if STAGES[stage]:
        assert _temps(tmp_path / STAGES[stage]), "the kill left no temp file: the test proves nothing"

    routine = load_script(script)
    options = BuildOptions(out_dir=out, cache_dir=cache)
    build(routine, options)
    assert _temps(out) == _temps(cache) == []
    for level in ("beginner", "progressed"):
        decoded = decode_mp3(out / f"mini-{level}.mp3")
        assert int(decoded.frame_count()) == plan(routine, level, options).total
    assert _files(out) == expected
