"""Library benchmark: a generated clinic library (20 routines over one exercise library, two
levels each, about 3 hours of audio) built as one batch on each executor, in one run.

    python bench/bench_library.py [--engine fake|piper] [--routines 20] [--json out.json]

Each build runs in its own child process; the runs, in this order:

  cold --jobs 1      empty cache, this process only
  cold --jobs 2      empty cache, a pool of 2 processes
  cold dask 1        empty cache, a 1-worker Dask LocalCluster (cluster start inside the time)
  cold dask 2        the same with 2 workers
  warm --jobs 1      --force on cold --jobs 1's cache: no synthesis, every session made again
                     (with cold --jobs 1, it splits a build into per-phrase and per-session costs)
  no-op              nothing changed (default --jobs): every file up to date
  one-exercise edit  one cue of one library exercise changed: only its users' sessions

Ratios are against cold --jobs 1 of the same run (the machine is shared: absolute times
drift). Peak memory: the build process, and the largest worker process (sampled with psutil
every 0.1 s; ffmpeg encoders excluded). Every cold build must write the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from subrun import parse_or_serve, run_script

EXERCISES = [  # (id, name, hold cue, release cue)
    ("cobra", "Cobra pose", "Lift up and hold it there.", "And lower down."),
    ("bird-dog", "Bird dog", "Reach long and hold.", "Back to all fours."),
    ("bridge", "Glute bridge", "Lift your hips and hold.", "Lower slowly."),
    ("row", "Band row", "Squeeze your shoulder blades.", "Let your arms go long."),
    ("squat", "Wall squat", "Slide down and hold.", "Push back up."),
    ("calf", "Calf raise", "Rise onto your toes.", "And down."),
    ("plank", "Front plank", "Hold a straight line.", "Rest on your knees."),
    ("clam", "Clamshell", "Open your knee and hold.", "Close it slowly."),
    ("press", "Chin tuck", "Tuck your chin and hold.", "And relax your neck."),
    ("reach", "Thread the needle", "Reach under and hold.", "Come back to centre."),
    ("hinge", "Hip hinge", "Hinge forward and hold.", "Stand tall."),
    ("lunge", "Split squat", "Lower down and hold.", "Drive back up."),
]
EDITED = ("Reach long and hold.", "Reach long and hold it there.")   # bird-dog's hold cue


def library_text() -> str:
    lines = ["library: Clinic exercises", "exercises:"]
    for ident, name, hold, release in EXERCISES:
        lines += [f"  - id: {ident}", f"    name: {name}",
                  f"    setup: [Get into position for the {name.lower()}.]",
                  f"    hold: {hold}", f"    release: {release}",
                  "    dosage: {reps: 8, hold: 4s, rest: 3s}"]
    return "\n".join(lines) + "\n"


def routine_text(n: int) -> str:
    uses = [EXERCISES[(n + k * 5) % len(EXERCISES)][0] for k in range(3)]
    reps = 7 + n % 5
    body = "".join(f"  - use: {use}\n    dosage: {{reps: {reps}, beginner: {{hold: 3s}}}}\n" for use in uses)
    return (f"id: routine-{n:02d}\ntitle: Routine {n}\nlibraries: [library/clinic.yaml]\n"
            "levels:\n  beginner: {title: Beginner, rate: 0.95}\n  progressed: {title: Progressed}\n"
            f"exercises:\n{body}")


def generate(folder: Path, routines: int) -> None:
    (folder / "library").mkdir(parents=True, exist_ok=True)
    (folder / "library" / "clinic.yaml").write_text(library_text(), encoding="utf-8")
    for n in range(routines):
        (folder / f"routine-{n:02d}.yaml").write_text(routine_text(n), encoding="utf-8")


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One batch build in this process: its time, counts, output digest and peak memory."""
    import resource

    from audioroutine import BuildOptions, load_script
    from audioroutine.core.ffmpeg import configure_pydub
    from audioroutine.model.inputs import expand
    from audioroutine.run.executors import Parallel
    from audioroutine.run.pipeline import build_batch

    configure_pydub()
    scripts = expand([Path(spec["library"])]).scripts
    libraries: dict[Path, Any] = {}
    routines = [load_script(path, libraries) for path in scripts]
    options = BuildOptions(out_dir=Path(spec["out"]), cache_dir=Path(spec["cache"]), engine=spec["engine"],
                           force=bool(spec.get("force")))
    parallel = Parallel(jobs=spec.get("jobs"), dask_local=spec.get("dask"))
    sampler = _Sampler()
    sampler.start()
    start = time.perf_counter()
    batch = build_batch(routines, options, parallel=parallel)
    wall = time.perf_counter() - start
    sampler.stop()
    out = Path(spec["out"])
    digest = hashlib.sha256(b"".join(hashlib.sha256(p.read_bytes()).digest()
                                     for p in sorted(out.iterdir()) if p.is_file())).hexdigest()
    return {
        "wall_s": wall,
        "audio_s": sum(s.seconds for s in batch.sessions),
        "sessions": len(batch.sessions),
        "written": sum(s.written for s in batch.sessions),
        "synthesized": sum(r.stats.synthesized for r in batch.results),
        "digest": digest,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_mb": sampler.peak_mb,
        "workers_seen": len(sampler.peaks),
    }


class _Sampler:
    """The peak RSS of each worker process (spawned by multiprocessing: a process pool's or a
    Dask nanny's), sampled every 0.1 s. Not ffmpeg, nor a child between fork and exec."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def peak_mb(self) -> float:
        return max(self.peaks.values(), default=0) / 2**20

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._done.wait(0.1):
            for proc in me.children(recursive=True):
                try:
                    if any("spawn_main" in arg for arg in proc.cmdline()):
                        self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0), proc.memory_info().rss)
                except psutil.Error:
                    continue


def bench(folder: Path, engine: str, routines: int) -> list[dict[str, Any]]:
    library = folder / "library-src"
    generate(library, routines)
    runs: list[tuple[str, dict[str, Any], str]] = [
        ("cold --jobs 1", {"jobs": 1}, "c1"),
        ("cold --jobs 2", {"jobs": 2}, "c2"),
        ("cold dask 1", {"dask": 1}, "c4"),
        ("cold dask 2", {"dask": 2}, "c3"),
        ("warm --force --jobs 1", {"jobs": 1, "force": True}, "c1"),
        ("no-op", {"jobs": None}, "c1"),
        ("one-exercise edit", {"jobs": None}, "c1"),
    ]
    rows = []
    for name, how, cache in runs:
        if name == "one-exercise edit":
            lib = library / "library" / "clinic.yaml"
            lib.write_text(lib.read_text(encoding="utf-8").replace(*EDITED), encoding="utf-8")
        out = folder / ("out-" + cache)
        print(f"  {name} ...", file=sys.stderr, flush=True)
        spec = {"library": str(library), "out": str(out), "cache": str(folder / cache), "engine": engine, **how}
        row = run_script(__file__, spec, f"build failed ({name})")
        row["name"] = name
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    cold = float(rows[0]["wall_s"])
    lines = ["| run | sessions written | phrases synthesized | build s | vs cold --jobs 1 | "
             "peak MB (build process) | peak MB (largest worker) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        worker = f"{row['worker_peak_mb']:.0f}" if row["workers_seen"] else "–"
        lines.append(f"| {row['name']} | {row['written']} of {row['sessions']} | {row['synthesized']} | "
                     f"{row['wall_s']:.1f} | {cold / float(row['wall_s']):.2f}x | "
                     f"{row['peak_rss_mb']:.0f} | {worker} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="fake")
    parser.add_argument("--routines", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parse_or_serve(parser, child)
    if args is None:
        return
    with tempfile.TemporaryDirectory(prefix="audioroutine-bench-") as tmp:
        rows = bench(Path(tmp), args.engine, args.routines)
    print(f"{args.routines} routines, {rows[0]['sessions']} sessions, "
          f"{float(rows[0]['audio_s']) / 3600:.2f} h of audio, engine {args.engine}")
    print(table(rows))
    cold, warm, noop, edit = rows[0], rows[4], rows[5], rows[6]
    same = len({row["digest"] for row in rows[:5]}) == 1
    ok = same and noop["written"] == 0 and noop["synthesized"] == 0 and warm["synthesized"] == 0
    print(f"cold and warm builds byte-identical: {same}; no-op wrote {noop['written']}; "
          f"edit wrote {edit['written']} session(s), synthesized {edit['synthesized']} phrase(s)")
    t_session = float(warm["wall_s"]) / int(warm["sessions"])
    t_phrase = (float(cold["wall_s"]) - float(warm["wall_s"])) / max(1, int(cold["synthesized"]))
    print(f"model constants (--jobs 1): t_phrase = {t_phrase:.3f} s, t_session = {t_session:.2f} s "
          f"({float(cold['audio_s']) / int(cold['sessions']) / 60:.1f} min of audio per session)")
    if args.json:
        args.json.write_text(json.dumps({"engine": args.engine, "runs": rows}, indent=2) + "\n")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
