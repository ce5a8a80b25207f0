"""Night-run benchmark (issue 24): a prescription file of N patients (default 1,000, fake engine)
built with `prescribe --scheduler` on a Dask scheduler and 1, then 2, workers started as
separate processes on 127.0.0.1 (the phrase cache in a folder they share: on one machine the
store is not what is measured). For each: sessions per minute, the prediction of the
throughput model of docs/scaling.md against the measurement, and the peak RSS of each worker
over the first and the last tenth of the batch (memory must stay flat).

    python bench/bench_night.py [--patients 1000] [--workers 1 2] [--engine fake]

The model: T(N) = (P * t_phrase + S * t_session) / N + fixed, with P the phrases synthesized
(from the run's summary), S the sessions, t_phrase ~0 for the fake engine (0.175 s for
Piper), t_session = 1.2 s, and `fixed` left out (it is what the comparison shows).
Every process started here is killed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.night import free_port, prescription_file  # noqa: E402  (shared with tests/run/test_night_run.py)

T_PHRASE = {"fake": 0.0, "piper": 0.175}   # docs/scaling.md, "A model for N workers"
T_SESSION = 1.2




class Sampler(threading.Thread):
    """RSS of each worker every 0.5 s, with the number of sessions written at that moment."""

    def __init__(self, pids: list[int], out: Path) -> None:
        super().__init__(daemon=True)
        self.processes = [psutil.Process(pid) for pid in pids]
        self.out, self.stop = out, threading.Event()
        self.samples: list[tuple[int, list[int]]] = []

    def run(self) -> None:
        while not self.stop.wait(0.5):
            done = sum(1 for _ in self.out.rglob("*.mp3")) if self.out.exists() else 0
            rss = []
            for process in self.processes:
                try:
                    rss.append(process.memory_info().rss)
                except psutil.Error:
                    rss.append(0)
            self.samples.append((done, rss))

    def peaks(self, total: int) -> tuple[list[float], list[float]]:
        """Peak RSS (MB) per worker over the first and the last tenth of the sessions."""
        tenth = max(1, total // 10)
        first = [rss for done, rss in self.samples if done <= tenth] or [rss for _, rss in self.samples[:1]]
        last = [rss for done, rss in self.samples if done >= total - tenth] or [rss for _, rss in self.samples[-1:]]
        return [max(col) / 2**20 for col in zip(*first)], [max(col) / 2**20 for col in zip(*last)]


def run(workers: int, file: Path, patients: int, engine: str, tmp: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dask = Path(sys.executable).parent / "dask"
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    started: list[subprocess.Popen[bytes]] = []
    out, cache = tmp / f"out-{workers}", tmp / f"cache-{workers}"
    try:
        started.append(subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                         "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
        pool = [subprocess.Popen([str(dask), "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                                  "--no-dashboard", "--local-directory", str(tmp / f"w{workers}-{n}")],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for n in range(workers)]
        started += pool
        sampler = Sampler([p.pid for p in pool], out)
        sampler.start()
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "audioroutine", "prescribe", str(file), "--out", str(out),
                               "--engine", engine, "--scheduler", address, "--scheduler-timeout", "120",
                               "--cache-dir", str(cache), "--report", str(tmp / f"report-{workers}.json")],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        seconds = time.monotonic() - began
        sampler.stop.set()
        sampler.join()
        summary = done.stdout.strip().splitlines()[-2]
        phrases = int(re.search(r"phrases: (\d+) synthesized", summary).group(1))   # type: ignore[union-attr]
        sessions = patients
        model = (phrases * T_PHRASE.get(engine, 0.175) + sessions * T_SESSION) / workers
        start, end = sampler.peaks(sessions)
        return {"workers": workers, "seconds": seconds, "per_min": sessions / seconds * 60, "model_s": model,
                "phrases": phrases, "rss_start": start, "rss_end": end}
    finally:
        for process in reversed(started):
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--engine", default="fake")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        file = prescription_file(tmp / "night.csv", args.patients)
        print("| workers | sessions | time | sessions/min | model (no fixed) | phrases | peak RSS per worker, "
              "first tenth -> last tenth (MB) |\n|---:|---:|---:|---:|---:|---:|---|")
        for workers in args.workers:
            r = run(workers, file, args.patients, args.engine, tmp)
            rss = ", ".join(f"{a:.0f} -> {b:.0f}" for a, b in zip(r["rss_start"], r["rss_end"]))
            print(f"| {workers} | {args.patients} | {r['seconds']:.0f} s | {r['per_min']:.1f} | {r['model_s']:.0f} s "
                  f"| {r['phrases']} | {rss} |", flush=True)


if __name__ == "__main__":
    main()
