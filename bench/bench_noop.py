"""No-op rebuild benchmark: a build that finds everything up to date.

    python bench/bench_noop.py [--script PATH] [--repeat 25]           # CPU time, in this process
    python bench/bench_noop.py --shell [PATH ...] [--engine own] [--repeat 15]   # wall time, from the shell

Default: builds the script once on the **fake engine** (fresh temporary cache and output),
then repeats the same build in this process: each one reads and verifies every cached clip,
measures it, lays out the timelines and compares the MP3s' provenance tags, writing nothing.
CPU time (`time.process_time`), not wall time, so that other work on a shared machine
disturbs it less; compare two versions by running each, interleaved, with PYTHONPATH
pointing at its tree. With `--cache-dir` (a shared cache such as `s3://bucket/prefix`, which
should start empty) the wall time is printed too: with a store on the network, waiting
dominates.

`--shell`: builds the paths (default: `scripts_yaml/`, the seed library) once, then times,
interleaved in rounds, four commands as a fresh process each, wall time: `python -c pass`
(interpreter start), `python -m audioroutine build ...` answered from the manifest (the
fast path), the same build from Python (`build_batch()`, answered from the manifest too),
and the command with the manifest removed first (the normal path, which re-decides by the
MP3s' provenance tags and records the manifest again). Exits 1 if a no-op run wrote an MP3,
the fast path loaded numpy or an engine, or the command and the API gave different results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "scripts_yaml" / "upper_middle_back.yaml"
HEAVY = ("numpy", "pydub", "mutagen", "onnxruntime", "piper", "espeakng_loader", "gtts")   # never on the fast path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="--shell: scripts or folders [default: scripts_yaml/]")
    parser.add_argument("--script", type=Path, default=SEED)
    parser.add_argument("--repeat", type=int, default=None, help="runs (rounds with --shell) [25; 15]")
    parser.add_argument("--shell", action="store_true", help="wall time of fresh processes (see above)")
    parser.add_argument("--cache", type=Path, help="--shell: phrase cache to use (and keep) [a fresh temporary one]")
    parser.add_argument("--engine", default="fake",
                        help="--shell: engine of the build, or 'own': each script's own (seed: Piper, espeak) [fake]")
    parser.add_argument("--cache-dir", help="cache folder or URL [default: a fresh temporary folder]")
    args = parser.parse_args()
    if args.shell:
        shell(args.paths or [ROOT / "scripts_yaml"], args.engine, args.repeat or 15, args.cache)
    else:
        cpu(args.script, args.repeat or 25, args.cache_dir)


def cpu(script: Path, repeat: int, cache_dir: str | None) -> None:
    import audioroutine
    from audioroutine import BuildOptions, build, load_script
    from audioroutine.core.ffmpeg import configure_pydub

    configure_pydub()
    routine = load_script(script)
    with tempfile.TemporaryDirectory(prefix="audioroutine-bench-") as tmp:
        options = BuildOptions(out_dir=Path(tmp) / "out", cache_dir=cache_dir or Path(tmp) / "cache",
                               engine="fake")
        build(routine, options)
        times, walls = [], []
        for _ in range(repeat):
            start, wall = time.process_time(), time.perf_counter()
            result = build(routine, options)
            times.append(time.process_time() - start)
            walls.append(time.perf_counter() - wall)
            if result.stats.synthesized or any(s.written for s in result.sessions):
                sys.exit("the rebuild was not a no-op")
    wall_note = f", wall median {statistics.median(walls) * 1000:.1f} ms" if cache_dir else ""
    print(f"{Path(audioroutine.__file__).parent}: {result.phrases} phrases, no-op rebuild CPU "
          f"median {statistics.median(times) * 1000:.1f} ms, min {min(times) * 1000:.1f} ms{wall_note}")


def shell(paths: list[Path], engine: str, rounds: int, cache: Path | None) -> None:
    from audioroutine.run.manifest import MANIFEST_NAME

    with tempfile.TemporaryDirectory(prefix="audioroutine-bench-") as tmp:
        out = Path(tmp) / "out"
        env = {**os.environ, "AUDIOROUTINE_CACHE_DIR": str(cache or Path(tmp) / "cache"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        chosen = [] if engine == "own" else ["--engine", engine]
        build = [sys.executable, "-m", "audioroutine", "build", *map(str, paths), "--out", str(out), *chosen, "--json"]
        started = time.monotonic()
        first = json.loads(_run(build, env).stdout)
        print(f"first build ({engine}): {len(first['sessions'])} sessions, "
              f"{first['phrases']['synthesized']} phrases, {time.monotonic() - started:.1f} s")
        probe = [sys.executable, "-X", "importtime", "-m", "audioroutine", "build", *map(str, paths),
                 "--out", str(out), *chosen, "-q"]
        loaded = {line.split("|")[-1].strip() for line in _run(probe, env).stderr.splitlines() if "|" in line}
        if heavy := sorted(name for name in loaded if name.split(".")[0] in HEAVY):
            sys.exit(f"the fast path imported {', '.join(heavy)}")
        api = [sys.executable, "-c", _api_code(paths, out, chosen)]
        loaded = {line.split("|")[-1].strip() for line in _run([api[0], "-X", "importtime", *api[1:]], env)
                  .stderr.splitlines() if "|" in line}
        if heavy := sorted(name for name in loaded if name.split(".")[0] in HEAVY):
            sys.exit(f"build_batch() from Python imported {', '.join(heavy)} on a no-op")
        times: dict[str, list[float]] = {"python -c pass": [], "fast path (manifest)": [],
                                         "build_batch() from Python (manifest)": [], "normal path": []}
        commands = {"python -c pass": [sys.executable, "-c", "pass"], "fast path (manifest)": build,
                    "build_batch() from Python (manifest)": api, "normal path": build}
        results = []
        for _ in range(rounds):
            for name in times:
                if name == "normal path":
                    (out / MANIFEST_NAME).unlink()
                start = time.perf_counter()
                proc = _run(commands[name], env)
                times[name].append(time.perf_counter() - start)
                if commands[name] is not commands["python -c pass"]:
                    result = json.loads(proc.stdout)
                    del result["summary"]["time"]
                    results.append(result)
                    if any(s["written"] for s in result["sessions"]):
                        sys.exit(f"{name}: a no-op build wrote an MP3")
        if any(result != results[0] for result in results):
            sys.exit("the command and build_batch() from Python gave different results")
    base = statistics.median(times["python -c pass"])
    fast = statistics.median(times["fast path (manifest)"])
    print(f"{' '.join(p.name for p in paths)}, engine {engine}, {rounds} rounds, wall time of a fresh process:")
    print("| command | median s | min s | vs python -c pass | vs fast path |\n| --- | ---: | ---: | ---: | ---: |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {min(values):.3f} | {median / base:.1f}× | {median / fast:.2f}× |")


def _api_code(paths: list[Path], out: Path, chosen: list[str]) -> str:
    """A Python program that makes the build of `paths` with `build_batch()` and prints its
    result as the command's --json does."""
    engine = repr(chosen[1]) if chosen else "None"
    return ("import json, sys\n"
            "from audioroutine import BuildOptions, build_batch, load_script\n"
            "from pathlib import Path\n"
            "from audioroutine.model.inputs import expand\n"
            f"routines = [load_script(p) for p in expand(map(Path, {[str(p) for p in paths]!r})).scripts]\n"
            f"batch = build_batch(routines, BuildOptions(out_dir={str(out)!r}, engine={engine}))\n"
            "print(json.dumps(batch.to_dict(time=0.0)))\n")


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if proc.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stderr}")
    return proc


if __name__ == "__main__":
    main()
