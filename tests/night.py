"""A clinic network's night in miniature: a prescription file of many patients and free ports
for a scheduler and workers, shared by tests/run/test_night_run.py and bench/bench_night.py."""

from __future__ import annotations

import csv
import random
import socket
from pathlib import Path

SEED = Path(__file__).resolve().parent.parent / "scripts_yaml" / "upper_middle_back.yaml"
EXERCISES = ["back-extensions", "cat-cow", "bird-dog", "corner-stretch"]


def prescription_file(path: Path, patients: int, seed: int = 24) -> Path:
    """`patients` rows of the seed script, each with cobra and at most one other exercise
    (short sessions), and cobra's hold and reps varied, so the sessions differ."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ref", "script", "exercises", "level", "cobra.hold", "cobra.reps"])
        for n in range(patients):
            others = rng.sample(EXERCISES, rng.choice([0, 1]))
            writer.writerow([f"N-{n:04d}", str(SEED), ";".join(["cobra", *others]), "beginner",
                             f"{rng.randint(2, 6)}s", str(rng.randint(1, 4))])
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
