"""Property tests: whatever bytes or YAML a script holds, loading it gives a Routine or a
clean ScriptError (one line, with the file) — never another exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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

from ..conftest import MINIMAL

FUZZ = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

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
    except ScriptError as err:   # one line per error (several for independent parts), each naming the file
        for text in str(err).splitlines():
            assert text.startswith(("s.yaml", str(Path.cwd()), "/")), text
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
        assert all(line.startswith("s.toml") for line in str(err).splitlines())


# --- every other reader (core/reader.py): programmes, prescriptions, libraries, records -------

def only_clean_errors(load, name: str) -> None:
    """`load()` returns or raises a ScriptError of one line per error, each naming `name`."""
    try:
        load()
    except ScriptError as err:
        for line in str(err).splitlines():
            assert line.startswith((name, "/", str(Path.cwd()))), line


PROGRAMME_KEYS_ = ("id", "script", "title", "weeks", "unit", "from", "to", "plateau", "switch")
PATIENT_KEYS = ("ref", "script", "programme", "exercises", "level", "week", "language", "voice", "engine",
                "first_name", "dosage", "patients", "speak_first_names")
YAML_TREES = st.recursive(SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(PROGRAMME_KEYS_ + PATIENT_KEYS), st.text(max_size=6)), kids,
                    max_size=5)), max_leaves=25)
CELLS = st.one_of(st.text(max_size=12), st.sampled_from(["²", "9" * 50, "s.yaml", "../x", "p.yaml", "P-1", "3",
                                                          "-1", "1e9", "\x1b[2J", "\ufffe", ""]))


@pytest.fixture(scope="module")
def rx_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rx")
    (folder / "s.yaml").write_text(MINIMAL)
    (folder / "p.yaml").write_text("script: s.yaml\nweeks: 3\n")
    return folder


@FUZZ
@given(st.one_of(YAML_TREES.map(lambda t: yaml.safe_dump(t, allow_unicode=True)), st.text(max_size=200)))
def test_random_programmes_load_cleanly(text: str) -> None:
    from audioroutine.prescribe.progression import parse_programme

    only_clean_errors(lambda: parse_programme(text, "p.yaml"), "p.yaml")


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["p.yaml", "r.yaml", "r.csv", "l.yaml", "audioroutine.toml"]))
def test_random_bytes_in_every_input_kind_load_cleanly(tmp_path: Path, data: bytes, name: str) -> None:
    from audioroutine.model.library import load_library
    from audioroutine.model.settings import load_settings
    from audioroutine.prescribe.prescription import load_prescriptions
    from audioroutine.prescribe.progression import load_progression

    path = tmp_path / name
    path.write_bytes(data)
    load = {"p.yaml": load_progression, "r.yaml": load_prescriptions, "r.csv": load_prescriptions,
            "l.yaml": lambda p: load_library(p, str(p)), "audioroutine.toml": load_settings}[name]
    only_clean_errors(lambda: load(path), str(path))


@FUZZ
@given(st.dictionaries(st.sampled_from(PATIENT_KEYS), YAML_TREES, max_size=6), st.booleans())
def test_random_yaml_prescriptions_load_cleanly(rx_folder: Path, patient: dict[str, object], wrap: bool) -> None:
    from audioroutine.prescribe.prescription import load_prescriptions

    path = rx_folder / "r.yaml"
    path.write_text(yaml.safe_dump({"patients": [patient]} if wrap else patient, allow_unicode=True))
    only_clean_errors(lambda: load_prescriptions(path), str(path))


@FUZZ
@given(st.lists(st.sampled_from(["ref", "script", "programme", "week", "level", "voice", "cobra.reps", "press.hold",
                                 "press.sets", "exercises", "x"]), min_size=1, max_size=5),
       st.lists(st.lists(CELLS, max_size=6), max_size=3))
def test_random_csv_prescriptions_load_cleanly(rx_folder: Path, header: list[str], rows: list[list[str]]) -> None:
    import csv
    import io

    from audioroutine.prescribe.prescription import load_prescriptions

    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    path = rx_folder / "r.csv"
    path.write_text(text.getvalue())
    only_clean_errors(lambda: load_prescriptions(path), str(path))


@FUZZ
@given(YAML_TREES)
def test_random_libraries_load_cleanly(tmp_path: Path, tree: object) -> None:
    from audioroutine.model.library import load_library

    path = tmp_path / "l.yaml"
    path.write_text(yaml.safe_dump({"library": "L", "exercises": tree} if isinstance(tree, list) else tree,
                                   allow_unicode=True))
    only_clean_errors(lambda: load_library(path, str(path)), str(path))


@FUZZ
@given(st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=20), st.integers(), st.booleans(),
                                                       st.lists(st.integers(), max_size=3)), max_size=5))
def test_random_settings_values_load_cleanly(values: dict[str, object]) -> None:
    lines = "".join(f"{json.dumps(key)} = {json.dumps(value)}\n" for key, value in values.items())
    only_clean_errors(lambda: parse_settings(lines, "s.toml"), "s.toml")


JSON_TREES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                    st.text(max_size=10)),
                          lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                 st.dictionaries(st.text(max_size=6), kids, max_size=4)),
                          max_leaves=30)


@FUZZ
@given(st.one_of(st.binary(max_size=300), JSON_TREES.map(lambda t: json.dumps(t).encode()),
                 JSON_TREES.map(lambda t: json.dumps({"format": 1, "sessions": t, "files": t}).encode())))
def test_random_records_are_read_or_absent(tmp_path: Path, data: bytes) -> None:
    """The build manifest and the site record: any bytes give data or None, never an exception."""
    from audioroutine.core.reader import read_record
    from audioroutine.run import manifest

    path = tmp_path / ".audioroutine-manifest.json"
    path.write_bytes(data)
    read_record(path, "build manifest")
    assert isinstance(manifest._load(tmp_path), dict)


@FUZZ
@given(st.one_of(st.binary(max_size=300), JSON_TREES.map(lambda t: json.dumps({"files": t}).encode())))
def test_random_site_records_never_break_publish_bookkeeping(tmp_path: Path, data: bytes) -> None:
    from audioroutine.core.reader import read_record
    from audioroutine.publish import _is_site_record

    path = tmp_path / ".audioroutine-site.json"
    path.write_bytes(data)
    record = read_record(path, "site record", _is_site_record)
    assert record is None or all(isinstance(name, str) for name in record["files"])


def test_the_one_pass_text_check_matches_the_character_definition() -> None:
    """control_problem's one regex refuses exactly the characters the definition names:
    Unicode category Cc (but tab and newlines), Cs, and noncharacters, over every code point."""
    import sys
    import unicodedata

    from audioroutine.core.reader import control_problem, is_noncharacter

    every = [chr(code) for code in range(sys.maxunicode + 1)]
    banned = [char for char in every if char not in "\t\n\r"
              and (unicodedata.category(char) in ("Cc", "Cs") or is_noncharacter(char))]
    assert len(banned) == 62 + 2048 + 66          # Cc but tab/newlines, surrogates, noncharacters
    refused = set(banned)
    allowed = "".join(char for char in every if char not in refused)
    assert control_problem(allowed, limit=len(allowed)) is None
    for char in banned:
        assert control_problem(f"a{char}b") == f"control character U+{ord(char):04X} is not allowed in text"
