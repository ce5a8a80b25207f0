"""No-op rebuild benchmark: CPU time of a build that finds everything up to date.

    python bench/bench_noop.py [--script PATH] [--repeat 25] [--cache-dir FOLDER|URL]

Builds the script once on the **fake engine** (fresh temporary cache and output), then
repeats the same build in this process: each one reads and verifies every cached clip,
measures it, lays out the timelines and compares the MP3s' provenance tags, writing
nothing. CPU time (`time.process_time`), not wall time, so that other work on a shared
machine disturbs it less; compare two versions by running each, interleaved, with
PYTHONPATH pointing at its tree. With `--cache-dir` (a shared cache such as
`s3://bucket/prefix`, which should start empty) the wall time is printed too: with a store
on the network, waiting dominates.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "scripts_yaml" / "upper_middle_back.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", type=Path, default=SEED)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--cache-dir", help="cache folder or URL [default: a fresh temporary folder]")
    args = parser.parse_args()

    import audioroutine
    from audioroutine import BuildOptions, build, load_script
    from audioroutine.ffmpeg import configure_pydub

    configure_pydub()
    routine = load_script(args.script)
    with tempfile.TemporaryDirectory(prefix="audioroutine-bench-") as tmp:
        options = BuildOptions(out_dir=Path(tmp) / "out", cache_dir=args.cache_dir or Path(tmp) / "cache",
                               engine="fake")
        build(routine, options)
        times, walls = [], []
        for _ in range(args.repeat):
            start, wall = time.process_time(), time.perf_counter()
            result = build(routine, options)
            times.append(time.process_time() - start)
            walls.append(time.perf_counter() - wall)
            if result.stats.synthesized or any(s.written for s in result.sessions):
                sys.exit("the rebuild was not a no-op")
    wall_note = f", wall median {statistics.median(walls) * 1000:.1f} ms" if args.cache_dir else ""
    print(f"{Path(audioroutine.__file__).parent}: {result.phrases} phrases, no-op rebuild CPU "
          f"median {statistics.median(times) * 1000:.1f} ms, min {min(times) * 1000:.1f} ms{wall_note}")


if __name__ == "__main__":
    main()
