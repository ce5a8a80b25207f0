"""Memory benchmark: peak RSS of building one long session, by session length.

    python bench/bench_memory.py [--minutes 10,30,60,120] [--engine piper] [--json out.json]

For each length a script is generated (identical holds, each exercise with its own name, so
the distinct phrases grow with the session like a real one's) and grown one exercise at a
time until `plan` says it lasts at least that many minutes. Each build runs cold in its own
child process (Piper loads and synthesizes every phrase), so `ru_maxrss` is that build's
alone; then the same session is rebuilt warm (`--force`, every phrase from the cache). The
ffmpeg encoder runs as a separate process and is not counted. `--engine fake` (tones of
known length, no model in memory) shows the pipeline's own share.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml
from subrun import parse_or_serve, run_script

EXERCISE = {"reps": 10, "hold": "20s", "rest": "8s"}   # about 4.7 minutes of session


def script_text(exercises: int, engine: str) -> str:
    return str(yaml.safe_dump({
        "id": "long", "title": "Long session", "voice": {"engine": engine},
        "exercises": [{"name": f"Exercise {n}", "hold": "Hold it there.", "dosage": EXERCISE}
                      for n in range(1, exercises + 1)],
    }, sort_keys=False))


def long_script(minutes: float, folder: Path, engine: str) -> Path:
    """A script whose beginner level lasts at least `minutes`."""
    from audioroutine import BuildOptions, load_script, plan

    path = folder / f"long-{minutes:g}.yaml"
    exercises = 1
    while True:
        path.write_text(script_text(exercises, engine), encoding="utf-8")
        options = BuildOptions(cache_dir=folder / "plan-cache")
        if plan(load_script(path), "beginner", options).total / 22050 >= minutes * 60:
            return path
        exercises += 1


def child(spec: dict[str, str]) -> dict[str, float]:
    """Build one level cold in this process; report its peak memory."""
    from audioroutine import BuildOptions, build, load_script
    from audioroutine.core.ffmpeg import configure_pydub

    configure_pydub()
    routine = load_script(Path(spec["script"]))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux
    start = time.perf_counter()
    result = build(routine, BuildOptions(out_dir=Path(spec["out"]), cache_dir=Path(spec["cache"]),
                                         levels=("beginner",), force=bool(spec.get("force"))))
    return {
        "audio_min": result.sessions[0].seconds / 60,
        "wall_s": time.perf_counter() - start,
        "rss_before_mb": before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run(minutes: float, work: Path, engine: str) -> dict[str, float]:
    script = long_script(minutes, work, engine)
    spec = {"script": str(script), "out": str(work / f"out-{minutes:g}"), "cache": str(work / f"cache-{minutes:g}")}
    cold = run_script(__file__, spec, f"build failed ({minutes:g} min)")
    warm = run_script(__file__, {**spec, "force": True}, f"warm build failed ({minutes:g} min)")
    return {"minutes": minutes, **cold, "warm_peak_rss_mb": warm["peak_rss_mb"]}


def table(rows: list[dict[str, float]]) -> str:
    lines = [f"{'asked':>6} {'audio min':>9} {'build s':>8} {'RSS before MB':>13} {'peak RSS MB':>11} "
             f"{'warm peak MB':>12}"]
    for row in rows:
        lines.append(f"{row['minutes']:>6g} {row['audio_min']:>9.1f} {row['wall_s']:>8.1f} "
                     f"{row['rss_before_mb']:>13.0f} {row['peak_rss_mb']:>11.0f} {row['warm_peak_rss_mb']:>12.0f}")
    lines.append("peak RSS: the cold build (engine loaded, every phrase synthesized); warm peak: the same "
                 "session rebuilt with --force from the cache")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", default="10,30,60,120", help="comma-separated session lengths")
    parser.add_argument("--engine", default="piper", help="speech engine of the generated scripts (default: piper)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parse_or_serve(parser, child)
    if args is None:
        return
    with tempfile.TemporaryDirectory(prefix="audioroutine-bench-") as tmp:
        rows = []
        for minutes in (float(m) for m in args.minutes.split(",")):
            print(f"  {minutes:g} min ...", file=sys.stderr, flush=True)
            rows.append(run(minutes, Path(tmp), args.engine))
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
