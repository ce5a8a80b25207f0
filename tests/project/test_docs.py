"""Docs cannot drift: generated examples equal what the code prints, and the command
reference and the options the docs mention match the real commands."""

from __future__ import annotations

import re

import click
import pytest

from audioroutine.cli import cli
from tools import docs

from ..conftest import ROOT

DOC_FILES = [ROOT / name for name in docs.DOCS] + [ROOT / "CONTRIBUTING.md"]


def all_options() -> dict[str, set[str]]:
    """Every option string of every command (the group's under 'audioroutine')."""
    root = cli.make_context("audioroutine", [], resilient_parsing=True)

    def options(command: click.Command, ctx: click.Context) -> set[str]:
        return {opt for p in command.get_params(ctx) if isinstance(p, click.Option)
                for opt in p.opts + p.secondary_opts}

    out = {"audioroutine": options(cli, root)}
    for name, command in cli.commands.items():
        out[name] = options(command, command.make_context(name, [], parent=root, resilient_parsing=True))
    return out


def drifted(fast: bool) -> list[str]:
    found = []
    for name in docs.DOCS:
        text = (ROOT / name).read_text(encoding="utf-8")
        found += [f"{name}: {block}" for block in docs.regenerate(text, fast)[1]]
    return found


def test_fast_generated_examples_match_the_code() -> None:
    assert drifted(fast=True) == [], "run: python -m tools.docs"


@pytest.mark.slow
def test_every_generated_example_matches_the_code() -> None:
    """Builds the seed with Piper, like `python -m tools.docs --check`."""
    assert drifted(fast=False) == [], "run: python -m tools.docs"


def test_a_drifted_block_is_caught() -> None:
    text = "<!-- generated: phrase-keys -->\n| `rep` | Rep {n} of 10. |\n<!-- /generated -->\n"
    new, changed = docs.regenerate(text, fast=True)
    assert changed == ["phrase-keys"] and "| `rep` | Rep {n} of {total}. | `{n}`, `{total}` |" in new
    assert docs.regenerate(new, fast=True)[1] == []                      # regenerated: nothing left to change


def test_every_block_names_an_example_and_every_example_is_used() -> None:
    used = {m.group(2) for path in DOC_FILES for m in docs.BLOCK.finditer(path.read_text(encoding="utf-8"))}
    assert used == set(docs.EXAMPLES)


def test_every_option_of_every_command_is_documented() -> None:
    text = "\n".join(path.read_text(encoding="utf-8") for path in DOC_FILES)
    for command, options in all_options().items():
        for option in options:
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), f"{command} {option}"


def test_every_documented_option_exists() -> None:
    known = set().union(*all_options().values())
    tools_options = {"--check", "--fast"}                                 # python -m tools.docs
    for path in DOC_FILES:
        for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", path.read_text(encoding="utf-8")):
            assert option in known | tools_options, f"{path.name}: {option} is not an option of any command"


def test_readme_lists_every_command_with_its_own_options() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    reference = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name, options in all_options().items():
        if name != "audioroutine":
            assert f"audioroutine {name}" in readme
        section = reference.split(f"### `{'audioroutine' if name == 'audioroutine' else 'audioroutine ' + name}`")[1]
        section = section.split("### ")[0]
        for option in options:
            assert option in section, f"docs/cli.md: {name} lacks {option}"
