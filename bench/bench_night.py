"""Night-run benchmark (issue 24): a prescription file of N patients (default 1,000, fake engine)
built with `prescribe --scheduler` on a Dask scheduler and 1, then 2, workers started as
separate processes on 127.0.0.1 (the phrase cache in a folder they share: on one machine the
store is not what is measured), then a measured Piper subset (default 20 patients) the same
way. For each run: sessions per minute, the prediction of the throughput model of
docs/scaling.md against the measurement, the peak RSS of each worker and of the client over
the first and the last tenth of the batch (memory must stay flat) and each process's peak
for the whole run (VmHWM), and the load average of the machine before and after.

    python bench/bench_night.py [--patients 1000] [--workers 1 2] [--piper 20] [--json FILE]

The model: T(N) = (P * t_phrase + S * t_session) / N + fixed, with P the phrases synthesized
(from the run's summary), S the sessions, t_phrase ~0 for the fake engine (0.175 s for
Piper), t_session = 1.2 s, and `fixed` left out (it is what the comparison shows).
Every process started here is killed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
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


def peak_rss_mb(process: psutil.Process) -> float:
    """The process's peak RSS so far (VmHWM), in MB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Sampler(threading.Thread):
    """RSS of each process (the workers, then the client) every 0.5 s, with the number of
    sessions written at that moment."""

    def __init__(self, pids: list[int], out: Path) -> None:
        super().__init__(daemon=True)
        self.processes = [psutil.Process(pid) for pid in pids]
        self.out, self.stop = out, threading.Event()
        self.samples: list[tuple[int, list[int]]] = []
        self.hwm: list[float] = [0.0] * len(pids)

    def run(self) -> None:
        while not self.stop.wait(0.5):
            done = sum(1 for _ in self.out.rglob("*.mp3")) if self.out.exists() else 0
            rss = []
            for n, process in enumerate(self.processes):
                try:
                    rss.append(process.memory_info().rss)
                except psutil.Error:
                    rss.append(0)
                self.hwm[n] = max(self.hwm[n], peak_rss_mb(process))
            self.samples.append((done, rss))

    def peaks(self, total: int) -> tuple[list[float], list[float]]:
        """Peak RSS (MB) per process over the first and the last tenth of the sessions."""
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
    name = f"{engine}-{workers}"
    out, cache = tmp / f"out-{name}", tmp / f"cache-{name}"
    try:
        started.append(subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                         "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
        pool = [subprocess.Popen([str(dask), "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                                  "--no-dashboard", "--local-directory", str(tmp / f"w-{name}-{n}")],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for n in range(workers)]
        started += pool
        load_before = os.getloadavg()
        began = time.monotonic()
        with open(tmp / f"client-{name}.out", "wb") as stdout, open(tmp / f"client-{name}.err", "wb") as stderr:
            client = subprocess.Popen([sys.executable, "-m", "audioroutine", "prescribe", str(file), "--out", str(out),
                                       "--engine", engine, "--scheduler", address, "--scheduler-timeout", "120",
                                       "--cache-dir", str(cache), "--report", str(tmp / f"report-{name}.json"), "-q",
                                       "--json"], cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        started.append(client)
        sampler = Sampler([p.pid for p in pool] + [client.pid], out)
        sampler.start()
        if client.wait() != 0:
            raise SystemExit(f"prescribe failed: {(tmp / f'client-{name}.err').read_text()[-2000:]}")
        seconds = time.monotonic() - began
        sampler.stop.set()
        sampler.join()
        load_after = os.getloadavg()
        summary = json.loads((tmp / f"client-{name}.out").read_text())
        phrases = int(summary["phrases"]["synthesized"])
        sessions = int(summary["summary"]["built"])
        audio_s = sum(x["seconds"] for f in summary["folders"] for x in f["sessions"] if x["written"])
        model = (phrases * T_PHRASE.get(engine, 0.175) + sessions * T_SESSION) / workers
        start, end = sampler.peaks(sessions)
        return {"engine": engine, "workers": workers, "patients": patients, "sessions": sessions,
                "seconds": round(seconds, 1), "per_min": round(sessions / seconds * 60, 1), "model_s": round(model, 1),
                "phrases": phrases, "audio_min_per_session": round(audio_s / max(sessions, 1) / 60, 2),
                "rss_start": [round(x) for x in start[:-1]],
                "rss_end": [round(x) for x in end[:-1]],
                "client_start": round(start[-1]), "client_end": round(end[-1]),
                "hwm": [round(x) for x in sampler.hwm], "load_before": [round(x, 1) for x in load_before],
                "load_after": [round(x, 1) for x in load_after], "cpus": psutil.cpu_count()}
    finally:
        for process in reversed(started):
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


HEADER = ("| engine | workers | sessions (min each) | time | sessions/min | model (no fixed) | measured / model "
          "| phrases | peak RSS per worker, first tenth -> last tenth (MB) "
          "| client (MB) | load avg 1 min, before / after |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|")


def row(r: dict[str, Any]) -> str:
    rss = ", ".join(f"{a} -> {b}" for a, b in zip(r["rss_start"], r["rss_end"]))
    return (f"| {r['engine']} | {r['workers']} | {r['sessions']} ({r['audio_min_per_session']:.1f}) "
            f"| {r['seconds']:.0f} s | {r['per_min']:.1f} "
            f"| {r['model_s']:.0f} s | {r['seconds'] / max(r['model_s'], 1e-9):.2f}x | {r['phrases']} | {rss} "
            f"| {r['client_start']} -> {r['client_end']} | {r['load_before'][0]} / {r['load_after'][0]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000, help="patients with the fake engine (0: none)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--piper", type=int, default=20, help="patients with Piper (0: none)")
    parser.add_argument("--json", type=Path, default=None, help="also write every run's figures here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        print(HEADER, flush=True)
        for engine, patients in (("fake", args.patients), ("piper", args.piper)):
            if patients <= 0:
                continue
            file = prescription_file(tmp / f"night-{engine}-{patients}.csv", patients)
            for workers in args.workers:
                r = run(workers, file, patients, engine, tmp)
                results.append(r)
                print(row(r), flush=True)
                if args.json:
                    args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
