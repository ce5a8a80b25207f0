"""Prescription benchmark: N patients (default 200) built once, then rebuilt unchanged (the
no-op: nothing synthesized or written), then rebuilt after one row's dosage changed.

    python bench/bench_prescribe.py [--patients 200] [--engine fake]

Patients are drawn from the seed routine: two or three exercises each, a level, hold and
reps overrides that repeat every 20 rows (so sessions share phrases like a real clinic's).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHOICES = ("cobra;bird-dog", "corner-stretch;cobra", "back-extensions;cat-cow;bird-dog")


def rows(patients: int, changed: int | None = None) -> str:
    out = ["ref,script,exercises,level,cobra.hold,bird-dog.reps"]
    for n in range(patients):
        hold = f"{4 + n % 5 + (1 if n == changed else 0)}s" if "cobra" in CHOICES[n % 3] else ""
        reps = str(6 + n % 4) if "bird-dog" in CHOICES[n % 3] else ""
        level = ("beginner", "progressed")[n // 3 % 2]
        script = ROOT / "scripts_yaml" / "upper_middle_back.yaml"
        out.append(f"P-{n:04d},{script},{CHOICES[n % 3]},{level},{hold},{reps}")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--engine", default="fake")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AUDIOROUTINE_CACHE_DIR"] = str(Path(tmp) / "cache")
        from audioroutine.core.ffmpeg import configure_pydub
        from audioroutine.prescribe.build import build_prescriptions
        from audioroutine.prescribe.prescription import load_prescriptions
        from audioroutine.run.pipeline import BuildOptions

        configure_pydub()
        csv = Path(tmp) / "patients.csv"
        options = BuildOptions(out_dir=Path(tmp) / "out", engine=args.engine)
        for name, changed in (("first build", None), ("no-op rebuild", None), ("one row changed", 0)):
            csv.write_text(rows(args.patients, changed))
            start = time.perf_counter()
            folders = build_prescriptions(load_prescriptions(csv), options)
            seconds = time.perf_counter() - start
            written = sum(s.written for f in folders for s in f.result.sessions)
            handouts = sum(len(f.handouts) for f in folders)
            print(f"{name:16} {seconds:7.1f} s  {len(folders)} patients, {written} session(s) and "
                  f"{handouts} handout file(s) written")


if __name__ == "__main__":
    main()
