"""Benchmarks measure each run in a child process of its own, so its peak memory
(`ru_maxrss`) is that run's alone. The child is the same script, given `--child SPEC_JSON`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def parse_or_serve(
    parser: argparse.ArgumentParser, child: Callable[[Any], dict[str, Any]]
) -> argparse.Namespace | None:
    """The parsed arguments; None when this process is a child, after it ran `child(spec)`
    and printed its result as one JSON line."""
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return None
    return args


def run_script(script: str, spec: dict[str, Any], failed: str) -> dict[str, Any]:
    """Run `script --child spec` from the repository root; its last line, parsed. Exits
    with `failed` and the child's stderr if it fails."""
    proc = subprocess.run([sys.executable, script, "--child", json.dumps(spec)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode:
        sys.exit(f"{failed}:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result
