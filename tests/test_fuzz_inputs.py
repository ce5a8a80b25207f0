"""Property tests: whatever bytes or YAML a script holds, loading it gives a Routine or a
clean ScriptError (one line, with the file) — never another exception."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioroutine.core.errors import ScriptError
from audioroutine.model.script import (
    DOSAGE_KEYS,
    EXERCISE_KEYS,
    ROUTINE_KEYS,
    Routine,
    load_script,
    parse_script,
)
from audioroutine.model.settings import parse_settings

from .conftest import MINIMAL

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

KEYS = st.one_of(st.sampled_from(ROUTINE_KEYS + EXERCISE_KEYS + DOSAGE_KEYS + ("in", "out", "beginner", "../x", "")),
                 st.text(max_size=8))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
    st.sampled_from(["3s", "1m30s", "500ms", "-1", ".inf", "10000000", "fake", "each", "\x1b[31m", "..."]),
)
TREES = st.recursive(SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(KEYS, kids, max_size=5)), max_leaves=25)


def loads_cleanly(load) -> None:
    try:
        routine = load()
    except ScriptError as err:
        text = str(err)
        assert "\n" not in text and text.startswith(("s.yaml", str(Path.cwd()), "/")), text
    else:
        assert isinstance(routine, Routine)


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_load_cleanly(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(data)
    loads_cleanly(lambda: load_script(path))


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_spliced_into_a_valid_script_load_cleanly(tmp_path: Path, data: bytes) -> None:
    raw = MINIMAL.encode()
    cut = len(data) % len(raw)
    path = tmp_path / "s.yaml"
    path.write_bytes(raw[:cut] + data + raw[cut:])
    loads_cleanly(lambda: load_script(path))


@FUZZ
@given(TREES)
def test_random_yaml_trees_load_cleanly(tree: object) -> None:
    loads_cleanly(lambda: parse_script(yaml.safe_dump(tree, allow_unicode=True), "s.yaml"))


@FUZZ
@given(KEYS, TREES)
def test_random_values_in_a_valid_script_load_cleanly(key: str, tree: object) -> None:
    text = MINIMAL.replace("      rest: 2s\n", "") + "      " + yaml.safe_dump({key: tree}, default_flow_style=True)
    loads_cleanly(lambda: parse_script(text, "s.yaml"))


@FUZZ
@given(st.text(max_size=300))
def test_random_text_loads_cleanly(text: str) -> None:
    loads_cleanly(lambda: parse_script(text, "s.yaml"))


@FUZZ
@given(st.text(max_size=200))
def test_random_settings_text_loads_cleanly(text: str) -> None:
    try:
        parse_settings(text, "s.toml")
    except ScriptError as err:
        assert "\n" not in str(err) and str(err).startswith("s.toml")
