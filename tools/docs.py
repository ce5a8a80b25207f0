"""Regenerate the examples in README.md and docs/*.md from the code, or check that they match.

    python -m tools.docs            # rewrite every generated block (builds the seed with Piper)
    python -m tools.docs --fast     # only the blocks that need no real build
    python -m tools.docs --check    # exit 1 and name the blocks that differ (nothing written)

A generated block sits between `<!-- generated: NAME -->` and `<!-- /generated -->`; NAME is
one of EXAMPLES below. Everything runs in a temporary copy of `scripts_yaml/` with a fresh
phrase cache, so commands print `output/...` and `scripts_yaml/...` paths as a user sees them.
"""

from __future__ import annotations

import argparse
import atexit
import os
import re
import shlex
import shutil
import string
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "docs/script-format.md", "docs/clinics.md", "docs/engines.md", "docs/cli.md", "docs/publish.md")
BLOCK = re.compile(r"(<!-- generated: ([\w-]+) -->\n)(.*?)(<!-- /generated -->)", re.DOTALL)
SEED = "scripts_yaml/upper_middle_back.yaml"
EPOCH = "1767225600"   # 2026-01-01: the year tag of documented builds


@dataclass(frozen=True)
class Example:
    make: Callable[[], str]
    slow: bool                 # needs the seed built with Piper (about a minute)


@cache
def workspace() -> Path:
    """A temporary folder holding a copy of scripts_yaml/, the cwd of every command."""
    root = Path(tempfile.mkdtemp(prefix="audioroutine-docs-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    shutil.copytree(ROOT / "scripts_yaml", root / "scripts_yaml")
    return root


@contextmanager
def inside(folder: Path) -> Iterator[None]:
    old, env = Path.cwd(), dict(os.environ)
    os.chdir(folder)
    os.environ.update({"AUDIOROUTINE_CACHE_DIR": str(folder / "cache"), "SOURCE_DATE_EPOCH": EPOCH})
    try:
        yield
    finally:
        os.chdir(old)
        os.environ.clear()
        os.environ.update(env)


def run(command: str, exit_code: int = 0) -> str:
    """`audioroutine ARGS` in the workspace: what it prints (stdout, then stderr)."""
    from click.testing import CliRunner

    from audioroutine.cli import cli

    with inside(workspace()):
        result = CliRunner(mix_stderr=False).invoke(cli, shlex.split(command))
    if result.exit_code != exit_code:
        raise RuntimeError(f"audioroutine {command}: exit {result.exit_code}\n{result.stderr}") from result.exception
    return result.stdout + result.stderr


def fenced(text: str, prompt: str | None = None) -> str:
    head = f"$ audioroutine {prompt}\n" if prompt else ""
    return f"```\n{head}{text.rstrip()}\n```\n"


# --- examples that need the seed built with Piper ---------------------------------------

@cache
def seed_builds() -> tuple[str, str]:
    """The output of a cold build of the seed and of an immediate rerun."""
    command = f"build {SEED}"
    return run(command), run(command)


def build_summary() -> str:
    first, again = seed_builds()
    return fenced(first) + "\nRun it again and nothing is synthesized or written:\n\n" + \
        fenced(again.splitlines()[-1])


def playlist() -> str:
    seed_builds()
    return fenced((workspace() / "output" / "upper_middle_back.m3u8").read_text(encoding="utf-8"))


def plan_excerpt() -> str:
    """The first seven lines from the first exercise's first get-ready window, exact times."""
    seed_builds()
    lines = run(f"plan {SEED} --level beginner").splitlines()
    start = next(i for i, line in enumerate(lines) if "== get_ready" in line)
    return fenced("\n".join(lines[start:start + 7]))


INSPECT_HIDDEN = ("album artist", "disc", "genre", "year", "language", "comment", "script sha256")


def inspect_report() -> str:
    seed_builds()
    shown = [line for line in run("inspect output/upper_middle_back-beginner.mp3").splitlines()
             if not line.startswith(INSPECT_HIDDEN)]
    return fenced("\n".join(shown)) + f"(abridged: it also prints {', '.join(INSPECT_HIDDEN)}.)\n"


# --- examples that need no real build ------------------------------------------------------

def voices() -> str:
    return fenced(run("voices"), "voices")


def say_espeak() -> str:
    command = 'say "Repetición uno de diez." --engine espeak --voice es --out sample.wav'
    return fenced(run(command), command)


def error_lines() -> str:
    """Two broken copies of the seed, validated: the errors a user sees."""
    seed = (ROOT / SEED).read_text(encoding="utf-8")
    broken = [seed.replace("beginner: {reps: 8, hold: 5s}", "beginner: {reps: 8, hold: -3s}"),
              seed.replace("\n    hold:", "\n    hodl:", 1)]
    out = []
    for text in broken:
        (workspace() / "scripts_yaml" / "mine.yaml").write_text(text, encoding="utf-8")
        out.append(run("validate scripts_yaml/mine.yaml", exit_code=2).strip())
    (workspace() / "scripts_yaml" / "mine.yaml").unlink()
    return fenced("\n".join(out))


UNKNOWN_KEY = """id: press
title: Press
exercises:
  - name: Press
    setup: Stand facing a wall.
    hodl: Press and hold.
    dosage: {reps: 5, hold: 3s}
"""


def error_unknown_key() -> str:
    (workspace() / "routine.yaml").write_text(UNKNOWN_KEY, encoding="utf-8")
    return fenced(run("validate routine.yaml", exit_code=2))


def phrase_keys() -> str:
    """Every phrase key with its English wording and placeholders."""
    from audioroutine.model.phrases import ENGLISH

    rows = ["| key | English default | placeholders |", "| --- | --- | --- |"]
    for key, text in ENGLISH.items():
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name]
        rows.append(f"| `{key}` | {text} | {', '.join(f'`{{{n}}}`' for n in names)} |")
    return "\n".join(rows) + "\n"


def command_reference() -> str:
    """Every command with its options, from click itself."""
    from audioroutine.cli import cli

    out = []
    ctx = cli.make_context("audioroutine", [], resilient_parsing=True)   # with the group's context settings
    groups = [("audioroutine", cli, ctx)] + [
        (f"audioroutine {name}", command, command.make_context(name, [], parent=ctx, resilient_parsing=True))
        for name, command in sorted(cli.commands.items())]
    for title, command, context in groups:
        summary = (command.help or "").split("\n\n")[0].replace("\n", " ")
        out += [f"### `{title}`", "", summary, "", "```", command.get_usage(context).strip(), "```", "",
                "| option | meaning |", "| --- | --- |"]
        for param in command.get_params(context):
            record = param.get_help_record(context)
            if record:
                option, meaning = (part.replace("|", "\\|") for part in record)   # a bare | splits a cell
                out.append(f"| `{option}` | {meaning} |")
        out.append("")
    return "\n".join(out)


EXAMPLES: dict[str, Example] = {
    "build-summary": Example(build_summary, slow=True),
    "playlist": Example(playlist, slow=True),
    "plan-excerpt": Example(plan_excerpt, slow=True),
    "inspect": Example(inspect_report, slow=True),
    "voices": Example(voices, slow=False),
    "say-espeak": Example(say_espeak, slow=False),
    "errors": Example(error_lines, slow=False),
    "error-unknown-key": Example(error_unknown_key, slow=False),
    "phrase-keys": Example(phrase_keys, slow=False),
    "command-reference": Example(command_reference, slow=False),
}


def regenerate(text: str, fast: bool) -> tuple[str, list[str]]:
    """`text` with its generated blocks rewritten, and the names of blocks that changed."""
    changed: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in EXAMPLES:
            raise KeyError(f"unknown generated block '{name}' (known: {', '.join(EXAMPLES)})")
        example = EXAMPLES[name]
        if fast and example.slow:
            return match.group(0)
        body = example.make()
        if body != match.group(3):
            changed.append(name)
        return match.group(1) + body + match.group(4)

    return BLOCK.sub(replace, text), changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report blocks that differ; write nothing")
    parser.add_argument("--fast", action="store_true", help="skip blocks that need the seed built with Piper")
    args = parser.parse_args(argv)
    drift = []
    for name in DOCS:
        path = ROOT / name
        text = path.read_text(encoding="utf-8")
        new, changed = regenerate(text, args.fast)
        drift += [f"{name}: {block}" for block in changed]
        if new != text and not args.check:
            path.write_text(new, encoding="utf-8")
    for line in drift:
        print(("differs: " if args.check else "updated: ") + line)
    return 1 if args.check and drift else 0


if __name__ == "__main__":
    sys.exit(main())
