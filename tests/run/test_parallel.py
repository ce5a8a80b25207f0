"""One batch plan on every executor: --jobs 1 (this process), --jobs 2 (a process pool) and a
2-worker Dask LocalCluster write the same bytes; every unique phrase is synthesized once per
batch however many sessions and workers speak it; a failing script fails alone; a killed
worker leaves no file half-written."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from audioroutine import BuildOptions, load_script
from audioroutine.cli import cli
from audioroutine.core.files import KILL_AT_ENV
from audioroutine.engines.fake import FAIL_ENV
from audioroutine.run.executors import Parallel, Processes, Serial, Threads, open_executor
from audioroutine.run.pipeline import build_batch

from ..conftest import ROOT

# Three short scripts sharing most phrases (the same coaching words) and one exercise each of
# their own; "Twist" is the exercise a test makes the engine fail on.
SCRIPT = """id: {id}
title: {title}
voice: {{engine: fake}}
levels:
  easy: {{title: Easy, rate: 0.9}}
  hard: {{title: Hard}}
exercises:
  - name: Press
    hold: Hold.
    dosage:
      rest: 1s
      easy: {{reps: 2, hold: 2s}}
      hard: {{reps: 3, hold: 3s}}
  - name: {own}
    dosage: {{reps: 1, hold: 2s, rest: 1s}}
phrases: {{rep: "Rep {{n}} of {{total}}.", hold: Hold., release: And relax.}}   # one wording each (varied per routine id)
"""
NAMES = [("alpha", "Alpha", "Reach"), ("beta", "Beta", "Twist"), ("gamma", "Gamma", "Lift")]


@pytest.fixture
def scripts(tmp_path: Path) -> list[Path]:
    paths = []
    for ident, title, own in NAMES:
        path = tmp_path / "scripts" / f"{ident}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(SCRIPT.format(id=ident, title=title, own=own), encoding="utf-8")
        paths.append(path)
    return paths


def _digests(folder: Path) -> dict[str, str]:
    """sha256 of every output (not the CLI's no-op manifest, which the library does not write,
    nor the guard's record, which holds mtimes)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.name not in (".audioroutine-manifest.json", ".audioroutine-files.json")}


def _build(scripts: list[Path], tmp_path: Path, name: str, parallel: Parallel, isolate: bool = False):
    options = BuildOptions(out_dir=tmp_path / name, cache_dir=tmp_path / f"cache-{name}")
    return build_batch([load_script(p) for p in scripts], options, isolate=isolate, parallel=parallel)


def _unique_phrases(batch) -> int:
    return sum(result.stats.synthesized for result in batch.results)


def test_jobs_2_writes_the_bytes_of_jobs_1_and_synthesizes_each_phrase_once(scripts, tmp_path):
    serial = _build(scripts, tmp_path, "one", Parallel(jobs=1))
    pooled = _build(scripts, tmp_path, "two", Parallel(jobs=2))
    one, two = _digests(tmp_path / "one"), _digests(tmp_path / "two")
    assert len(one) == 3 * 2 * 3 + 1            # 6 MP3s, their .vtt and .lrc, the playlist
    assert one == two
    entries = list((tmp_path / "cache-two").rglob("*.wav"))
    # once per batch: as many syntheses as cache entries, in both runs, and nothing twice
    assert _unique_phrases(pooled) == _unique_phrases(serial) == len(entries)
    assert [s.written for s in pooled.sessions] == [True] * 6


@pytest.mark.slow
def test_a_second_pooled_build_synthesizes_and_writes_nothing(scripts, tmp_path):
    _build(scripts, tmp_path, "out", Parallel(jobs=2))
    before = _digests(tmp_path / "out")
    again = _build(scripts, tmp_path, "out", Parallel(jobs=2))
    assert _unique_phrases(again) == 0
    assert not any(s.written for s in again.sessions)
    assert _digests(tmp_path / "out") == before


def test_an_engine_failure_in_a_worker_fails_its_script_alone(scripts, tmp_path, monkeypatch):
    monkeypatch.setenv(FAIL_ENV, "Exercise 2 of 2: Twist.")   # beta's own exercise name, spoken in a worker process
    batch = _build(scripts, tmp_path, "out", Parallel(jobs=2), isolate=True)
    assert [Path(f.script or "").name for f in batch.failures] == ["beta.yaml"]
    assert "fake engine failed on 'Exercise 2 of 2: Twist.'" in batch.failures[0].message
    names = set(_digests(tmp_path / "out"))
    assert {n for n in names if n.endswith(".mp3")} == {f"{i}-{lv}.mp3" for i in ("alpha", "gamma") for lv in ("easy", "hard")}
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow   # the default run has the same through a pool: test_library.py's failing-script test
def test_cli_jobs_2_lists_the_failed_script_and_exits_1(scripts, tmp_path, monkeypatch):
    monkeypatch.setenv(FAIL_ENV, "Exercise 2 of 2: Twist.")
    result = CliRunner(mix_stderr=False).invoke(
        cli, ["build", str(scripts[0].parent), "--out", str(tmp_path / "out"), "--jobs", "2"])
    assert result.exit_code == 1, result.stderr
    assert f"failed: {scripts[1]}: fake engine failed on 'Exercise 2 of 2: Twist.'" in result.stderr
    assert "4 written" in result.stdout


def test_without_jobs_a_small_batch_stays_in_this_process_and_a_large_one_uses_the_cores(monkeypatch):
    import audioroutine.run.executors as executors

    small = open_executor(Parallel(jobs=None), sessions=3, phrases=10)
    try:   # its sessions in threads, one per core (this machine: 2 cores)
        assert isinstance(small, Threads) and small.workers == min(3, len(os.sched_getaffinity(0)))
    finally:
        small.close(cancel=False)
    monkeypatch.setattr(executors, "available_cores", lambda: 1)
    assert type(open_executor(Parallel(jobs=None), sessions=3, phrases=10)) is Serial
    monkeypatch.undo()
    pool = open_executor(Parallel(jobs=None), sessions=40, phrases=10)
    try:
        assert isinstance(pool, Processes) and pool.workers == len(os.sched_getaffinity(0))
    finally:
        pool.close(cancel=False)
    assert type(open_executor(Parallel(jobs=1), sessions=40, phrases=900)) is Serial


def test_a_small_batch_made_in_threads_writes_the_bytes_of_jobs_1(scripts, tmp_path):
    """Sessions made side by side in threads (the default for a small batch), while the
    phrases are synthesized in this thread: the same files as one after the other."""
    serial = _build(scripts[:1], tmp_path, "one", Parallel(jobs=1))
    threaded = _build(scripts[:1], tmp_path, "threads", Parallel(jobs=None))
    assert _digests(tmp_path / "threads") == _digests(tmp_path / "one")
    assert len(_digests(tmp_path / "one")) == 2 * 3 + 1
    assert _unique_phrases(threaded) == _unique_phrases(serial) > 0


def test_cli_refuses_scheduler_and_dask_local_together(mini_script, tmp_path):
    result = CliRunner(mix_stderr=False).invoke(
        cli, ["build", str(mini_script), "--scheduler", "tcp://127.0.0.1:8786", "--dask-local", "2"])
    assert (result.exit_code, result.stderr) == (2, "error: --dask-local: give --scheduler or --dask-local, not both\n")


@pytest.mark.slow   # ~9 s: two builds in subprocesses, each starting a pool
def test_a_killed_worker_fails_the_build_leaving_no_file_and_a_rebuild_is_clean(scripts, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    env = {**os.environ, KILL_AT_ENV: "encode", "AUDIOROUTINE_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "audioroutine", "build", str(scripts[0].parent), "--out", str(out), "--jobs", "2"]
    killed = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert killed.returncode == 1, killed.stderr
    assert killed.stderr.strip().splitlines()[-1].startswith("error: a worker process died")
    assert not out.exists() or list(out.iterdir()) == []   # no MP3, no temp file
    del env[KILL_AT_ENV]
    subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=180, check=True)
    control = tmp_path / "control"
    _build(scripts, tmp_path, "control", Parallel(jobs=1))
    assert _digests(out) == _digests(control)


@pytest.mark.slow
def test_a_two_worker_dask_cluster_writes_the_bytes_of_jobs_1(scripts, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))   # the workers import this tree's audioroutine
    serial = _build(scripts, tmp_path, "one", Parallel(jobs=1))
    with _sockets():
        dask = _build(scripts, tmp_path, "dask", Parallel(dask_local=2))
    assert _digests(tmp_path / "one") == _digests(tmp_path / "dask")
    assert _unique_phrases(dask) == _unique_phrases(serial) == len(list((tmp_path / "cache-dask").rglob("*.wav")))


@pytest.mark.slow
@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1", "localhost", "::1"])
def test_a_two_worker_dask_cluster_sharing_a_cache_on_s3_writes_the_bytes_of_jobs_1(scripts, tmp_path, s3_bucket,
                                                                                     monkeypatch):
    """The clinic-network setup of docs/scaling.md on one machine: a LocalCluster whose two
    workers share the phrase cache in an S3 bucket (moto's server). The files are those of
    a local --jobs 1 build; a second build into a fresh folder synthesizes nothing."""
    pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))   # the workers import this tree; AWS_* reach them too
    serial = _build(scripts, tmp_path, "one", Parallel(jobs=1))
    options = BuildOptions(out_dir=tmp_path / "dask", cache_dir=f"{s3_bucket}/phrases")
    routines = [load_script(p) for p in scripts]
    with _sockets():
        dask = build_batch(routines, options, parallel=Parallel(dask_local=2))
        again = build_batch(routines, BuildOptions(out_dir=tmp_path / "again", cache_dir=f"{s3_bucket}/phrases"),
                            parallel=Parallel(dask_local=2))
    assert _digests(tmp_path / "dask") == _digests(tmp_path / "one") == _digests(tmp_path / "again")
    assert _unique_phrases(dask) == _unique_phrases(serial) > 0
    assert _unique_phrases(again) == 0


@pytest.mark.slow
def test_a_dask_worker_failure_fails_its_script_alone(scripts, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv(FAIL_ENV, "Exercise 2 of 2: Twist.")
    with _sockets():
        batch = _build(scripts, tmp_path, "out", Parallel(dask_local=2), isolate=True)
    assert [Path(f.script or "").name for f in batch.failures] == ["beta.yaml"]
    assert len([n for n in _digests(tmp_path / "out") if n.endswith(".mp3")]) == 4


def _sockets():
    """Localhost sockets for the LocalCluster (pytest-socket blocks them), nothing else."""
    import pytest_socket

    class Allowed:
        def __enter__(self) -> None:
            pytest_socket.enable_socket()
            pytest_socket.socket_allow_hosts(["127.0.0.1", "localhost", "::1"], allow_unix_socket=True)

        def __exit__(self, *exc: object) -> None:
            pytest_socket.disable_socket(allow_unix_socket=True)

    return Allowed()



@pytest.mark.slow
def test_piper_gives_the_same_bytes_in_this_process_and_in_a_pool(tmp_path):
    """Piper runs a fixed number of onnxruntime threads everywhere (its default, one per core,
    changes the samples), so a pool's workers speak exactly like this process."""
    folder = tmp_path / "scripts"
    folder.mkdir()
    for ident, name in (("one", "Press"), ("two", "Lift")):
        (folder / f"{ident}.yaml").write_text(
            f"id: {ident}\ntitle: {name}\nexercises:\n  - name: {name}\n    hold: Hold.\n"
            "    dosage: {reps: 2, hold: 2s, rest: 1s}\n", encoding="utf-8")
    scripts = sorted(folder.iterdir())
    _build(scripts, tmp_path, "one", Parallel(jobs=1))
    _build(scripts, tmp_path, "two", Parallel(jobs=2))
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")


@pytest.mark.slow
def test_ctrl_c_during_a_pooled_build_stops_the_workers_and_leaves_no_file(scripts, tmp_path):
    for path in scripts:     # sessions long enough to be caught being made (a short one encodes in milliseconds)
        text = path.read_text(encoding="utf-8")
        for short in ("{reps: 2, hold: 2s}", "{reps: 3, hold: 3s}"):
            text = text.replace(short, "{reps: 100, hold: 1s, sets: 10}")
        path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    env = {**os.environ, "AUDIOROUTINE_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    # As from a terminal: Ctrl-C not ignored, whatever a library loaded by an earlier test did to
    # this process's SIGINT (an ignored signal is inherited through exec; the full slow run,
    # not this test alone, had the build run to its end)
    proc = subprocess.Popen([sys.executable, "-m", "audioroutine", "build", str(scripts[0].parent), "--out", str(out),
                             "--jobs", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(p.name.endswith(".tmp") for p in out.iterdir())):   # a session being made
        assert proc.poll() is None and time.monotonic() < deadline, "the build ended before a session was made"
        time.sleep(0.01)
    workers = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert not out.exists() or list(out.iterdir()) == []             # no MP3, no temp file
    _, alive = psutil.wait_procs(workers, timeout=20)   # stopped: gone within seconds, however loaded the machine
    assert not [w for w in alive if w.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("jobs", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_progress_counts_every_phrase_of_every_script_once(scripts, tmp_path, jobs):
    _build(scripts[:1], tmp_path, "out", Parallel(jobs=1))   # alpha's phrases cached, beta's and gamma's partly
    seen: list[tuple[str, int, int]] = []

    def progress(routine, options):
        return lambda done, total, text: seen.append((routine.id, done, total))

    options = BuildOptions(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache-out")
    build_batch([load_script(p) for p in scripts], options, progress, parallel=Parallel(jobs=jobs))
    for ident in ("alpha", "beta", "gamma"):
        mine = [(done, total) for who, done, total in seen if who == ident]
        assert [done for done, _ in mine] == list(range(1, mine[0][1] + 1))   # 1..total, each once
    if jobs == 1:   # in this process one script's progress ends before the next one's starts
        assert [who for who, _, _ in seen] == sorted(who for who, _, _ in seen)


GUARDLESS = """\
from audioroutine import BuildOptions, Parallel, build_batch, load_script
build_batch([load_script("mini.yaml")], BuildOptions(out_dir="out"), parallel=Parallel(jobs=2))
"""


@pytest.mark.slow   # ~5 s: a subprocess starting a pool whose workers die at start
def test_a_parallel_build_in_a_script_without_a_main_guard_names_the_missing_guard(mini_script, tmp_path):
    """Workers are spawned and import the main script again: without the guard each starts
    the build again and dies; the error says why instead of 'a worker process died'."""
    (tmp_path / "mini.yaml").write_text(mini_script.read_text())
    (tmp_path / "job.py").write_text(GUARDLESS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "job.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "job.py starts a parallel build without an 'if __name__ == \"__main__\":' guard" in last, last
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.mp3"))


def test_a_dask_batch_that_loses_every_worker_gives_up_after_the_timeout(monkeypatch):
    """Units still running and no worker left: one NoWorkerError after `timeout` seconds,
    not a wait for ever; while some worker is there, the wait goes on."""
    import audioroutine.run.executors as executors

    class Stub:
        workers: dict[str, int] = {"tcp://127.0.0.1:1": 1}
        polls = 0

        def wait(self, futures, timeout, return_when):
            Stub.polls += 1
            if Stub.polls == 3:   # the last worker goes
                Stub.workers = {}
            raise TimeoutError

        def nthreads(self):
            return Stub.workers

    monkeypatch.setattr(executors, "WORKER_POLL_S", 0.01)
    dask = executors.Dask.__new__(executors.Dask)
    dask.dask, dask.client, dask.address, dask.timeout = Stub(), Stub(), "tcp://127.0.0.1:8786", 0.2
    dask.stopping = threading.Event()
    began = time.monotonic()
    with pytest.raises(executors.NoWorkerError, match=r"^the Dask scheduler tcp://127.0.0.1:8786 lost every "
                                                      r"worker: none for 0.2 s"):
        dask.wait([object()])
    assert Stub.polls > 3 and time.monotonic() - began >= 0.2
