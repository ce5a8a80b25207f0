"""Every failure is bounded in time (docs/reliability.md, "Bounds and timeouts"):

- the first failed phrase stops synthesis on every executor: offline gTTS fails about as fast
  with `--jobs` left to its default (a process pool on a machine with several cores) as with
  `--jobs 1`, and a failing phrase stops a `--jobs 2` pool at once;
- a scheduler nobody answers at, or one with no worker, is given up after `--scheduler-timeout`
  (or AUDIOROUTINE_SCHEDULER_TIMEOUT) with one line."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audioroutine import BuildOptions, load_script
from audioroutine.compile.compiler import compile_level
from audioroutine.core.errors import BuildError, EngineError
from audioroutine.engines.fake import DELAY_ENV, FAIL_ENV
from audioroutine.run.executors import Parallel, open_executor
from audioroutine.run.pipeline import build_batch

from ..conftest import ROOT, SEED

OFFLINE = Path(__file__).resolve().parent / "offline"   # sitecustomize: no network in every process
UNREACHABLE = "tcp://127.0.0.1:9"   # the discard port: nothing listens there
MINI = "id: mini\ntitle: Mini\nvoice: {engine: fake}\nexercises:\n  - name: Press\n    dosage: {reps: 2, hold: 3s}\n"


def cli(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the CLI in a fresh process (its workers inherit `env`); the result and the wall time."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "audioroutine", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore", **env}, timeout=timeout)
    return proc, time.monotonic() - started


@pytest.mark.slow   # a ratio of two timings: meaningful on a quiet machine (CI runs the slow tests)
def test_offline_gtts_fails_as_fast_with_the_default_jobs_as_with_jobs_1(tmp_path: Path) -> None:
    """The seed routine (164 phrases: a process pool when --jobs is left to its default on a
    machine with several cores). Before: ~3 minutes against ~10 s (every worker went on through
    its chunk of 16 phrases, each tried 4 times)."""
    env = {"PYTHONPATH": os.pathsep.join([str(OFFLINE), str(ROOT)])}
    times = {}
    for name, jobs in (("jobs-1", ["--jobs", "1"]), ("default", [])):
        proc, times[name] = cli(["build", str(SEED), "--engine", "gtts", "--out", str(tmp_path / name),
                                 "--cache-dir", str(tmp_path / f"cache-{name}"), *jobs], env)
        assert proc.returncode == 1, proc.stderr
        *_, last = proc.stderr.splitlines()
        assert re.fullmatch(r"error: gtts: could not synthesize '.*': no network \(use --engine piper or espeak\)",
                            last), proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""
        assert not (tmp_path / name).exists() or not any((tmp_path / name).iterdir())
    ratio = times["default"] / times["jobs-1"]
    print(f"offline gTTS: --jobs 1 {times['jobs-1']:.1f} s, default --jobs {times['default']:.1f} s, "
          f"ratio {ratio:.2f}")
    assert ratio <= 2.0, times


def test_a_failing_phrase_stops_a_jobs_2_pool_within_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each phrase takes 0.3 s and the very first one fails: before, both workers went on
    through their chunks of 16 phrases (4 chunks in flight: about 10 s); now the pool stops as
    soon as the failure is back, with less than one chunk of phrases in the cache."""
    routine = load_script(SEED)
    first = compile_level(routine, "beginner").texts()[0]
    monkeypatch.setenv(FAIL_ENV, first)
    monkeypatch.setenv(DELAY_ENV, "0.3")
    options = BuildOptions(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", engine="fake")
    started = time.monotonic()
    with pytest.raises(EngineError, match=re.escape(f"fake engine failed on '{first}'")):
        build_batch([routine], options, parallel=Parallel(jobs=2))
    elapsed = time.monotonic() - started
    cached = list((tmp_path / "cache").rglob("*.wav"))
    print(f"--jobs 2 stopped {elapsed:.1f} s after the start, {len(cached)} phrase(s) cached")
    assert elapsed < 8.0
    assert len(cached) < 16
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.enable_socket   # a real connection attempt to this machine's discard port
def test_an_unreachable_scheduler_is_given_up_after_the_timeout() -> None:
    importlib.import_module("distributed")   # its import (seconds) is not part of the wait
    started = time.monotonic()
    with pytest.raises(BuildError, match=re.escape(f"cannot reach the Dask scheduler {UNREACHABLE} within 0.5 s: ")):
        open_executor(Parallel(scheduler=UNREACHABLE, timeout=0.5), sessions=1, phrases=1)
    elapsed = time.monotonic() - started
    print(f"unreachable scheduler: gave up after {elapsed:.2f} s (timeout 0.5 s)")
    assert 0.5 <= elapsed < 0.5 + 1.0


def test_the_cli_gives_up_on_an_unreachable_scheduler_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "mini.yaml").write_text(MINI, encoding="utf-8")
    proc, seconds = cli(["build", str(tmp_path / "mini.yaml"), "--out", str(tmp_path / "out"),
                         "--scheduler", UNREACHABLE, "--scheduler-timeout", "0.5"], {"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1
    assert re.fullmatch(rf"error: cannot reach the Dask scheduler {UNREACHABLE} within 0\.5 s: .+ \(is it running\? "
                        r"--scheduler-timeout waits longer; docs/scaling\.md\)\n", proc.stderr), proc.stderr
    assert seconds < 0.5 + 30   # Python's and Dask's start-up included (Dask's import alone takes seconds)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow   # starts a real Dask scheduler (a few seconds)
@pytest.mark.enable_socket
def test_a_scheduler_with_no_worker_is_given_up_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    importlib.import_module("distributed")
    scheduler = subprocess.Popen(
        [sys.executable, "-c", "import asyncio, distributed\n"
         "async def main():\n"
         "    async with distributed.Scheduler(host='127.0.0.1', port=0, dashboard_address=None) as s:\n"
         "        print(s.address, flush=True)\n"
         "        await asyncio.sleep(120)\n"
         "asyncio.run(main())\n"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        address = scheduler.stdout.readline().strip()   # type: ignore[union-attr]
        assert address.startswith("tcp://127.0.0.1:")
        started = time.monotonic()
        with pytest.raises(BuildError) as err:
            open_executor(Parallel(scheduler=address, timeout=1.0), sessions=1, phrases=1)
        elapsed = time.monotonic() - started
    finally:
        scheduler.kill()
        scheduler.wait()
    assert str(err.value) == (f"the Dask scheduler {address} has no worker: none joined within 1 s "
                              f"(start one: dask worker {address}; --scheduler-timeout waits longer)")
    print(f"scheduler with no worker: gave up after {elapsed:.2f} s (timeout 1 s)")
    assert 1.0 <= elapsed < 1.0 + 2.0
