"""Measure holds in a built session the way a listener meets them: decode the MP3, find
speech and quiet in the samples (RMS in 5 ms frames, tests/segments.py), and print, for the
holds of one exercise, where its cue ends, where the hold starts and ends, and where the
release cue starts. Used for the excerpt in docs/timing.md:

    python bench/hold_excerpt.py scripts_yaml/upper_middle_back.yaml --level beginner --exercise 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audioroutine.audio.mp3 import decode_mp3
from audioroutine.compile.compiler import compile_level
from audioroutine.model.durations import format_ms
from audioroutine.model.script import load_script
from audioroutine.run.pipeline import BuildOptions, build, plan
from tests.segments import measure_windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("script")
    parser.add_argument("--level", default="beginner")
    parser.add_argument("--exercise", type=int, default=1, help="1-based exercise number")
    parser.add_argument("--holds", type=int, default=3)
    parser.add_argument("--out", default="output")
    args = parser.parse_args()
    routine = load_script(args.script)
    result = build(routine, BuildOptions(out_dir=Path(args.out), levels=(args.level,)))
    rate = result.sessions[0].sample_rate
    x = np.frombuffer(decode_mp3(result.sessions[0].path, rate).raw_data, dtype="<i2").astype(np.float64) / 32768
    program = compile_level(routine, args.level)
    found = measure_windows(x, rate, program)
    # windows in program order; keep those of the chosen exercise's chapter
    chapter = program.chapters[args.exercise]
    count = sum(1 for c in program.chapters[:args.exercise] for s in c.steps if hasattr(s, "timed"))
    mine = found[count:count + sum(1 for s in chapter.steps if hasattr(s, "timed"))]
    holds = [m for m in mine if m.role == "hold"][:args.holds]
    timeline = plan(routine, args.level, BuildOptions())
    planned = [s for s in timeline.spans if s.role == "hold" and s.chapter == args.exercise][:args.holds]

    def t(sample: int) -> str:
        return format_ms(sample * 1000 // rate)

    print(f"{chapter.title}, {args.level}: decoded {len(x)} samples at {rate} Hz")
    print("| hold | cue ends (heard) | hold starts (plan) | hold ends (plan) | release starts (heard) | quiet heard |")
    print("|---|---|---|---|---|---|")
    for n, (m, span) in enumerate(zip(holds, planned), 1):
        print(f"| {n} | {t(m.start)} | {t(span.start)} | {t(span.end)} | {t(m.end)} | "
              f"{(m.end - m.start) / rate:.3f} s (prescribed {m.prescribed_ms / 1000:g} s) |")
    all_holds = [m for m in found if m.role == "hold"]
    errors = [abs((m.end - m.start) * 1000 / rate - m.prescribed_ms) for m in all_holds]
    print(f"\nall {len(all_holds)} holds of the session: quiet in position = prescription, "
          f"largest difference {max(errors):.1f} ms, mean {sum(errors) / len(errors):.1f} ms")


if __name__ == "__main__":
    main()
