"""Script loading: the seed, strictness, and the exact one-line errors users see."""

from __future__ import annotations

import pytest

from audioroutine.cli.voices import example_script
from audioroutine.compile.compiler import compile_level
from audioroutine.core.errors import ScriptError
from audioroutine.model.durations import format_clock, parse_duration_ms
from audioroutine.model.script import load_script, parse_script

from ..conftest import MINIMAL, SEED


def test_seed_routine_has_the_five_exercises_and_both_levels():
    routine = load_script(SEED)
    assert [e.id for e in routine.exercises] == [
        "cobra", "back-extensions", "cat-cow", "bird-dog", "corner-stretch"]
    assert [lv.id for lv in routine.levels] == ["beginner", "progressed"]
    cobra, ext, catcow, birddog, corner = routine.exercises
    assert cobra.dosage["beginner"].variant == "forearms"
    assert cobra.cues_for("beginner").name == "Cobra pose on your forearms"
    assert cobra.cues_for("progressed").name == "Cobra pose"
    assert cobra.dosage["beginner"].reps == 10
    assert 3000 <= ext.dosage["beginner"].hold_ms <= 5000
    assert 15000 <= ext.dosage["progressed"].hold_ms <= 20000
    assert 8 <= ext.dosage["progressed"].reps <= 10
    assert catcow.dosage["beginner"].breath is not None
    assert birddog.dosage["progressed"].sides == "alternating"
    assert routine.safety and any("doctor" in s for s in routine.safety)
    assert routine.warmup


def test_seed_has_no_advertising_or_phone_number():
    text = SEED.read_text()
    for banned in ("Santa Monica", "Spine Institute", "310", "828", "7757", "call"):
        assert banned not in text


def test_example_script_parses_and_compiles_every_level():
    routine = parse_script(example_script(), "example.yaml")
    assert len(routine.exercises) == 4
    for level in routine.levels:
        assert compile_level(routine, level.id).chapters


def test_common_dosage_merges_with_level_overrides():
    routine = parse_script(MINIMAL.replace("      rest: 2s", "      rest: 2s\n      progressed: {reps: 5}"))
    assert routine.exercises[0].dosage["beginner"].reps == 2
    assert routine.exercises[0].dosage["progressed"].reps == 5
    assert routine.exercises[0].dosage["progressed"].hold_ms == 3000


@pytest.mark.parametrize("text, message", [
    ("id: x\ntitle: [oops\n", "r.yaml:3: YAML syntax error: expected ',' or ']', but got '<stream end>' (check indentation and quoting)"),
    (MINIMAL.replace("    hold: Hold.", "    hodl: Hold."),
     "r.yaml:6: exercise 'Press': exercises[0].hodl: unknown key 'hodl' (did you mean 'hold'?)"),
    (MINIMAL.replace("hold: 3s", "hold: -3s"),
     "r.yaml:9: exercise 'Press': exercises[0].dosage.hold: duration must not be negative, got '-3s'"),
    (MINIMAL.replace("hold: 3s", "hold: soon"),
     "r.yaml:9: exercise 'Press': exercises[0].dosage.hold: expected a duration like 5s, 1m30s or 500ms, got 'soon'"),
    (MINIMAL.replace("reps: 2", "reps: 0"),
     "r.yaml:8: exercise 'Press': exercises[0].dosage.reps: must be at least 1, got 0"),
    (MINIMAL.replace("title: Mini", "title: Mini\ntitel: Mini"),
     "r.yaml:3: titel: unknown key 'titel' (did you mean 'title'?)"),
    (MINIMAL.replace("      rest: 2s", "      rest: 2s\n      beginner: {variant: easy}"),
     "r.yaml:11: exercise 'Press': exercises[0].dosage.beginner.variant: unknown variant 'easy' (variants: none defined)"),
    (MINIMAL.replace("      rest: 2s", "      rest: 2s\n      expert: {reps: 3}"),
     "r.yaml:11: exercise 'Press': exercises[0].dosage.expert: unknown key 'expert' (allowed: reps, sets, hold, rest, set_rest, side_rest, rep_time, work, move, transition, sides, count, breath, countdown, halfway, variant, skip, beginner, progressed)"),
    (MINIMAL.replace("hold: 3s", "hold: 3s\n      breath: {in: 2s, out: 2s}"),
     "r.yaml:7: exercise 'Press': exercises[0].dosage: give only one of 'hold', 'breath', 'rep_time' or 'work', "
     "not both 'hold' and 'breath'"),
    (MINIMAL.replace("      hold: 3s\n", ""),
     "r.yaml:7: exercise 'Press': exercises[0].dosage: say how long a rep lasts (give 'hold', 'breath', 'rep_time' or 'work')"),
    ("", "r.yaml: the script is empty (run 'audioroutine example' for a template)"),
])
def test_errors_are_one_exact_line(text, message):
    with pytest.raises(ScriptError) as err:
        parse_script(text, "r.yaml")
    assert str(err.value) == message
    assert "\n" not in str(err.value)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ScriptError, match=r"nope\.yaml: file not found \(check the path\)$"):
        load_script(tmp_path / "nope.yaml")


def test_unknown_level_lists_the_levels():
    routine = parse_script(MINIMAL, "r.yaml")
    with pytest.raises(ScriptError) as err:
        routine.level("expert")
    assert str(err.value) == "r.yaml: no level 'expert' in this routine (levels: beginner, progressed)"


def test_custom_levels_and_level_rates():
    routine = parse_script(MINIMAL + "levels:\n  easy: {rate: 0.9}\n  hard:\n  harder: {title: Very hard}\n")
    assert [(lv.id, lv.title, lv.rate) for lv in routine.levels] == [
        ("easy", "Easy", 0.9), ("hard", "Hard", 1.0), ("harder", "Very hard", 1.0)]
    assert set(routine.exercises[0].dosage) == {"easy", "hard", "harder"}


@pytest.mark.parametrize("value, ms", [
    (3, 3000), (2.5, 2500), ("3s", 3000), ("1m30s", 90000), ("500ms", 500), ("1 min", 60000),
    ("2 minutes 5 seconds", 125000), ("1.5s", 1500), ("0", 0),
])
def test_durations(value, ms):
    assert parse_duration_ms(value) == ms


@pytest.mark.parametrize("ms, shown", [
    (0, "0:00"), (999, "0:00"), (59_999, "0:59"), (60_000, "1:00"), (152_309, "2:32"),
    (3_599_999, "59:59"), (3_600_000, "1:00:00"), (4_503_000, "1:15:03"), (10_800_000, "3:00:00"),
])
def test_durations_are_shown_as_a_player_shows_them(ms, shown):
    assert format_clock(ms) == shown


@pytest.mark.parametrize("value", ["-1s", -2, "3x", "abc", True, None, "5mx"])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration_ms(value)
