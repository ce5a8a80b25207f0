"""Publish benchmark: a site of many patients' folders, published, then published again.

    python bench/bench_publish.py                       # 150 folders of the seed's two levels
    python bench/bench_publish.py --folders 500 --rounds 3
    PYTHONPATH=/path/to/other/tree python bench/bench_publish.py   # the same for another version

Builds the seed routine once on the **fake engine** (fresh temporary cache and output),
copies its output folder `--folders` times (one folder per patient, as `prescribe` makes
them), then times, in this process, a first publish into an empty site and `--rounds`
republishes of the unchanged output (each reads every session's tags and transcript,
renders every page, feed and QR code, and writes nothing). Wall and CPU time; compare two
versions by running each with PYTHONPATH pointing at its tree, one after the other. Exits 1
if a republish wrote or removed a file.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "scripts_yaml" / "upper_middle_back.yaml"
BASE = "https://clinic.example/exercises/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folders", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from audioroutine import BuildOptions, build, load_script
    from audioroutine.publish import publish

    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        work = Path(tmp)
        one = work / "one"
        build(load_script(SEED), BuildOptions(out_dir=one, cache_dir=work / "cache", engine="fake"))
        out = work / "out"
        for n in range(args.folders):
            shutil.copytree(one, out / f"P-{n:04d}")
        sessions = sum(1 for _ in out.rglob("*.mp3"))
        rows = []
        for name in ["first publish"] + [f"republish {n + 1}" for n in range(args.rounds)]:
            wall, cpu = time.perf_counter(), time.process_time()
            result = publish(out, BASE, work / "site")
            rows.append((name, time.perf_counter() - wall, time.process_time() - cpu,
                         len(result.written), len(result.removed)))
    print(f"{sessions} sessions in {args.folders} folders ({sys.version.split()[0]})")
    print(f"{'run':<16}{'wall s':>9}{'CPU s':>9}{'ms/session':>12}{'written':>9}{'removed':>9}")
    for name, wall, cpu, written, removed in rows:
        print(f"{name:<16}{wall:>9.2f}{cpu:>9.2f}{1000 * wall / sessions:>12.1f}{written:>9}{removed:>9}")
    fastest = min(rows[1:], key=lambda row: row[1])
    print(f"republish / first publish: {fastest[1] / rows[0][1]:.2f}x (fastest republish)")
    if any(written or removed for _, _, _, written, removed in rows[1:]):
        print("FAIL: a republish of unchanged output wrote or removed files")
        sys.exit(1)


if __name__ == "__main__":
    main()
