"""A clinic network's night run (issue 24, docs/scaling.md "A night run"): a Dask scheduler and
two workers started as separate processes (as on separate machines), the phrase cache in an
S3 bucket (moto's server), a prescription file of 200 patients built with `prescribe
--scheduler`. One worker is killed (SIGKILL) in the middle of the batch: Dask reschedules its
units on the other, the batch completes, and every session is the bytes of a `--jobs 1` build
of the same file (run beside it, in its own process, with a local cache). The rerun synthesizes and writes nothing.

Everything listens on 127.0.0.1 only, and every process started here is killed in `finally`.
AUDIOROUTINE_NIGHT_PATIENTS sets the number of patients (default 200)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ..conftest import ROOT
from ..night import free_port, prescription_file

PATIENTS = int(os.environ.get("AUDIOROUTINE_NIGHT_PATIENTS", "200"))
TIMEOUT = 1800   # seconds for one whole build on this (shared, 2-core) machine




def digests(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.mp3"))}


def mtimes(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in sorted(out.rglob("*")) if p.is_file()}


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill a process this test started (by its id) and reap it."""
    if process.poll() is None:
        process.kill()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass


def wait_for(condition, what: str, timeout: float, *alive: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for process in alive:
            assert process.poll() is None, f"{what}: {process.args[:3]} ended with {process.returncode}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_a_night_run_on_a_cluster_that_loses_a_worker_writes_the_bytes_of_jobs_1(tmp_path, s3_bucket):
    pytest.importorskip("distributed")
    dask = Path(sys.executable).parent / "dask"
    file = prescription_file(tmp_path / "night.csv", PATIENTS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}   # AWS_* (moto's endpoint) set by s3_bucket
    env.pop("AUDIOROUTINE_CACHE_DIR", None)
    cache = f"{s3_bucket}/phrases"
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    started: list[subprocess.Popen[bytes]] = []
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with open(logs / f"{name}.log", "wb") as log:
            process = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        return process

    def prescribe(out: Path, *more: str) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, "-m", "audioroutine", "prescribe", str(file), "--out", str(out), "--engine", "fake",
                *more]
        return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)

    try:
        scheduler = start("scheduler", [str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                        "--no-dashboard"])
        workers = [start(f"worker{n}", [str(dask), "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                                        "--no-nanny", "--no-dashboard", "--name", f"worker{n}",
                                        "--local-directory", str(tmp_path / f"worker{n}")])
                   for n in (1, 2)]

        # The --jobs 1 control build of the same file (a local cache) runs beside the night run.
        control_args = [sys.executable, "-m", "audioroutine", "prescribe", str(file), "--out", str(tmp_path / "control"),
                        "--engine", "fake", "--jobs", "1", "--cache-dir", str(tmp_path / "local-cache"), "-q"]
        with open(logs / "control.err", "wb") as stderr:
            control = subprocess.Popen(control_args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        started.append(control)

        # The night run, in the background; one worker is killed once some sessions exist.
        out, report = tmp_path / "night", tmp_path / "report.json"
        args = [sys.executable, "-m", "audioroutine", "prescribe", str(file), "--out", str(out), "--engine", "fake",
                "--scheduler", address, "--scheduler-timeout", "120", "--cache-dir", cache, "--report", str(report)]
        began = time.monotonic()
        with open(logs / "client.out", "wb") as stdout, open(logs / "client.err", "wb") as stderr:
            client = subprocess.Popen(args, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        started.append(client)
        wait_for(lambda: len(list(out.rglob("*.mp3"))) >= max(2, PATIENTS // 10), "sessions before the kill",
                 TIMEOUT, client, scheduler)
        os.kill(workers[0].pid, signal.SIGKILL)
        killed_at = len(list(out.rglob("*.mp3")))
        assert client.wait(timeout=TIMEOUT) == 0, (logs / "client.err").read_text()
        night_s = time.monotonic() - began
        assert workers[0].wait(timeout=30) == -signal.SIGKILL and workers[1].poll() is None
        assert killed_at < PATIENTS, "the batch ended before the kill: nothing was tested"

        # the coordinator's report: one row per patient, every session written, nothing failed
        rows = json.loads(report.read_text())["patients"]
        assert [r["reference"] for r in rows] == [f"N-{n:04d}" for n in range(PATIENTS)]
        assert all((r["sessions"], r["written"], r["failed"], r["reason"]) == (1, 1, 0, "") for r in rows)
        assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]

        # the same bytes as --jobs 1, session for session
        assert control.wait(timeout=TIMEOUT) == 0, (logs / "control.err").read_text()
        night, serial = digests(out), digests(tmp_path / "control")
        assert len(night) == PATIENTS and night == serial

        # the morning rerun (on the worker left): nothing synthesized, nothing written
        before = mtimes(out)
        again = prescribe(out, "--scheduler", address, "--cache-dir", cache, "--json")
        assert again.returncode == 0, again.stderr
        summary = json.loads(again.stdout)
        assert summary["phrases"]["synthesized"] == 0
        assert (summary["summary"]["built"], summary["summary"]["handouts"]) == (0, 0)
        assert mtimes(out) == before
        print(f"\nnight run: {PATIENTS} patients, worker killed at {killed_at} sessions, {night_s:.0f} s, "
              f"{PATIENTS / night_s * 60:.1f} sessions/min on 2 workers (1 after the kill)")
    finally:
        for process in reversed(started):
            stop(process)


class FakeClient:
    """A shared executor as `prescribe` sees a Dask client: `workers`, `stop`, `close`."""

    def __init__(self, workers: int) -> None:
        import threading

        self.workers, self.stopping, self.closed = workers, threading.Event(), None

    def stop(self) -> None:
        self.stopping.set()

    def close(self, cancel: bool) -> None:
        self.closed = cancel


def _patients(tmp_path: Path, count: int):
    from audioroutine.prescribe.prescription import load_prescriptions

    return load_prescriptions(prescription_file(tmp_path / "night.csv", count))


def test_patients_built_at_once_report_in_the_file_order_and_a_failing_one_stays_alone(tmp_path, monkeypatch):
    """On a shared Dask client several patients are built at once (at most 3 per worker):
    the report keeps the file's order, `done` is called in the caller's thread once per
    patient, and a patient that fails is a row with its reason, the others built."""
    import random
    import threading

    from audioroutine.core.errors import BuildError
    from audioroutine.prescribe import build
    from audioroutine.run.executors import Parallel
    from audioroutine.run.pipeline import BuildOptions, BuildResult

    found = _patients(tmp_path, 12)
    lock, active, most = threading.Lock(), [0], [0]

    def build_folder(routine, options, base_url, url_root, reference, *rest):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        try:
            time.sleep(random.uniform(0.01, 0.1))
            if reference == "N-0004":
                raise BuildError("the store dropped 'Anna'")
            return build.FolderResult(options.out_dir, BuildResult(), options.out_dir / "p.m3u8", reference=reference)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(build, "build_folder", build_folder)
    client, rows, seen = FakeClient(workers=2), [], []
    folders = build.build_prescriptions(found, BuildOptions(out_dir=tmp_path / "out", engine="fake"),
                                        parallel=Parallel(executor=client), rows=rows,
                                        done=lambda row: seen.append((row.reference, threading.current_thread())))
    assert [r.reference for r in rows] == [f"N-{n:04d}" for n in range(12)]
    assert [f.reference for f in folders] == [f"N-{n:04d}" for n in range(12) if n != 4]
    assert rows[4].failed == 1 and rows[4].reason == "BuildError: the store dropped '...'"
    assert sorted(ref for ref, _ in seen) == [r.reference for r in rows]
    assert {thread for _, thread in seen} == {threading.current_thread()}
    assert 1 < most[0] <= build.patients_at_once(Parallel(executor=client)) == 6
    assert client.closed is False and not client.stopping.is_set()


def test_ctrl_c_among_patients_built_at_once_stops_the_others_and_keeps_what_is_done(tmp_path, monkeypatch):
    """Ctrl-C while several patients are being built: the others are told to stop (their
    batches drop their units and temp files: executors.Stopped), the run ends with
    KeyboardInterrupt once they have, and the report lists the patients done."""
    from audioroutine.prescribe import build
    from audioroutine.run.executors import Parallel, Stopped
    from audioroutine.run.pipeline import BuildOptions, BuildResult

    found = _patients(tmp_path, 10)
    client, rows = FakeClient(workers=1), []
    stopped: list[str] = []
    later = threading.Event()   # a patient after the first three has started: 0 and 1 are done

    def build_folder(routine, options, base_url, url_root, reference, *rest):
        if reference == "N-0002":
            assert later.wait(10), "no later patient started"
            raise KeyboardInterrupt   # as the main thread would get it
        if reference in ("N-0000", "N-0001"):
            return build.FolderResult(options.out_dir, BuildResult(), options.out_dir / "p.m3u8", reference=reference)
        later.set()
        assert client.stopping.wait(10), "never told to stop"
        stopped.append(reference)
        raise Stopped()

    monkeypatch.setattr(build, "build_folder", build_folder)
    with pytest.raises(KeyboardInterrupt):
        build.build_prescriptions(found, BuildOptions(out_dir=tmp_path / "out", engine="fake"),
                                  parallel=Parallel(executor=client), rows=rows)
    assert [r.reference for r in rows] == ["N-0000", "N-0001"]
    assert stopped and all(ref not in ("N-0000", "N-0001", "N-0002") for ref in stopped)
    assert client.closed is True


def _blocks(text: str, language: str) -> list[str]:
    import re

    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.M | re.S)


def _dask_commands(text: str) -> list[list[str]]:
    import shlex

    return [shlex.split(line.split("#")[0]) for line in text.splitlines() if line.strip().startswith("dask ")]


def test_the_documented_night_deployment_parses_and_its_commands_take_those_flags():
    """docs/scaling.md, "A night run": the compose file is YAML with a store, a bucket, a
    scheduler and workers sharing the store's variables; every `dask scheduler` / `dask
    worker` line there (shell and compose) uses flags that command has, and the client's
    `audioroutine prescribe` line flags `prescribe` has. (Docker itself is not run here.)"""
    import yaml
    from click.testing import CliRunner

    from audioroutine.cli import cli

    pytest.importorskip("distributed")
    text = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    night = text[text.index("## A night run"):text.index("## A shared phrase cache")]
    compose = yaml.safe_load(_blocks(night, "yaml")[0])
    services = compose["services"]
    assert {"store", "bucket", "scheduler", "worker"} <= set(services)
    assert services["worker"]["environment"]["AWS_ENDPOINT_URL"] == "http://store:9000"
    assert "8786" in services["worker"]["command"] and "8786" in services["scheduler"]["command"]
    commands = _dask_commands(_blocks(night, "sh")[0]) + [services[s]["command"].split() for s in ("scheduler", "worker")]
    assert {c[1] for c in commands} == {"scheduler", "worker"}
    dask = Path(sys.executable).parent / "dask"
    helps = {sub: subprocess.run([str(dask), sub, "--help"], capture_output=True, text=True, check=True).stdout
             for sub in ("scheduler", "worker")}
    for command in commands:
        for flag in (arg for arg in command[2:] if arg.startswith("--")):
            assert flag in helps[command[1]], f"{' '.join(command)}: dask {command[1]} has no {flag}"
    client = next(line for line in _blocks(night, "sh")[0].replace("\\\n", " ").splitlines()
                  if line.startswith("audioroutine prescribe"))
    options = CliRunner().invoke(cli, ["prescribe", "--help"]).output
    for flag in (arg for arg in client.split() if arg.startswith("--")):
        assert flag in options, f"prescribe has no {flag}"


def test_release_memory_gives_freed_memory_back_and_is_harmless_anywhere():
    """work.release_memory (after every session a process makes) runs malloc_trim on glibc
    and does nothing elsewhere; called twice, it stays quiet."""
    from audioroutine.run import work

    blocks = [bytearray(256 * 1024) for _ in range(64)]   # 16 MB in blocks glibc keeps when freed
    del blocks
    work.release_memory()
    work.release_memory()
    assert work._libc is False or hasattr(work._libc, "malloc_trim")
