"""Compiler and layout: coaching steps and exact sample positions, no audio involved."""

from __future__ import annotations

import pytest

from audioroutine.compiler import build_timeline, compile_level
from audioroutine.errors import ScriptError
from audioroutine.script import parse_script
from audioroutine.timeline import Say, Window

from .conftest import MINIMAL

RATE = 22050


def per_char(text: str) -> int:
    """A stand-in for a voice: 10 ms per character."""
    return len(text) * RATE // 100


def texts(program, role=None):
    out = []
    for chapter in program.chapters:
        for step in chapter.steps:
            cues = [step] if isinstance(step, Say) else list(step.cues) + [c for _, c in step.timed] \
                if isinstance(step, Window) else []
            out += [c.text for c in cues if role is None or c.role == role]
    return out


def test_chapters_are_intro_each_exercise_and_closing():
    routine = parse_script(MINIMAL.replace("  - name: Press", "  - name: Press") + "  - name: Pull\n    dosage: {rep_time: 2s}\n")
    program = compile_level(routine, "beginner")
    assert [c.title for c in program.chapters] == ["Introduction", "Press", "Pull", "Closing"]


def test_reps_are_counted_and_the_last_is_announced():
    program = compile_level(parse_script(MINIMAL.replace("reps: 2", "reps: 3")), "beginner")
    assert texts(program, "rep") == ["Rep 1 of 3. Hold.", "Rep 2 of 3. Hold.", "Last one. Hold."]


def test_alternating_sides_name_the_side_each_rep():
    script = MINIMAL.replace("reps: 2", "reps: 4\n      sides: alternating")
    program = compile_level(parse_script(script), "beginner")
    assert texts(program, "rep") == [
        "Rep 1 of 4, right side. Hold.", "Rep 2 of 4, left side. Hold.",
        "Rep 3 of 4, right side. Hold.", "Last one, left side. Hold."]


def test_each_side_does_all_reps_then_switches():
    program = compile_level(parse_script(MINIMAL.replace("reps: 2", "reps: 2\n      sides: each")), "beginner")
    assert texts(program, "side") == ["Start with your right side.", "Now the left side."]
    assert len(texts(program, "rep")) == 4


def test_sets_get_a_rest_window_of_the_set_rest_length():
    program = compile_level(parse_script(MINIMAL.replace("reps: 2", "reps: 2\n      sets: 2\n      set_rest: 20s")), "beginner")
    windows = [s for s in program.chapters[1].steps if isinstance(s, Window)]
    assert [(w.role, w.ms) for w in windows] == [
        ("get_ready", 3000), ("hold", 3000), ("rest", 2000), ("hold", 3000),
        ("set_rest", 20000),
        ("get_ready", 3000), ("hold", 3000), ("rest", 2000), ("hold", 3000)]
    assert texts(program, "get_ready") == ["Set 1 of 2. Get ready.", "Set 2 of 2. Get ready."]


def test_breath_reps_become_in_and_out_windows():
    script = MINIMAL.replace("hold: 3s", "breath: {in: 4s, out: 5s}").replace("    hold: Hold.\n", "")
    program = compile_level(parse_script(script), "beginner")
    windows = [(s.role, s.ms) for s in program.chapters[1].steps if isinstance(s, Window)]
    assert windows == [("get_ready", 3000), ("breath_in", 4000), ("breath_out", 5000),
                       ("breath_in", 4000), ("breath_out", 5000)]


def test_countdown_numbers_start_exactly_on_their_second():
    program = compile_level(parse_script(MINIMAL.replace("hold: 3s", "hold: 10s\n      countdown: 3")), "beginner")
    timeline = build_timeline(program, per_char, RATE)
    hold = next(s for s in timeline.spans if s.role == "hold")
    countdown = [e for e in timeline.events if e.role == "countdown" and hold.start <= e.start < hold.start + hold.length]
    assert [(e.text, e.start - hold.start) for e in countdown] == [
        ("3", 7 * RATE), ("2", 8 * RATE), ("1", 9 * RATE)]


def test_every_window_lasts_exactly_its_seconds_in_samples():
    routine = parse_script(MINIMAL)
    timeline = build_timeline(compile_level(routine, "beginner"), per_char, RATE)
    spans = [(s.role, s.length) for s in timeline.spans]
    assert spans == [("get_ready", 3 * RATE), ("hold", 3 * RATE), ("rest", 2 * RATE), ("hold", 3 * RATE)]
    # each hold: from its cue's start to the next event after the window
    for span in timeline.spans:
        first = next(e for e in timeline.events if e.start == span.start)
        assert first.kind == "speech"
        after = next(e for e in timeline.events if e.start >= span.start + span.length)
        assert after.start - first.start == span.length


def test_events_tile_the_session_without_gaps_or_overlaps():
    routine = parse_script(MINIMAL)
    timeline = build_timeline(compile_level(routine, "beginner"), per_char, RATE)
    position = 0
    for event in timeline.events:
        assert event.start == position
        position = event.end
    assert timeline.total == position
    assert timeline.chapters[-1].end == position
    assert [c.start for c in timeline.chapters][0] == 0


def test_speech_that_overruns_its_hold_is_an_error_naming_the_exercise():
    routine = parse_script(MINIMAL.replace("    hold: Hold.", "    hold: " + "Very long words " * 30), "r.yaml")
    with pytest.raises(ScriptError) as err:
        build_timeline(compile_level(routine, "beginner"), per_char, RATE)
    message = str(err.value)
    assert message.startswith("r.yaml:7: exercise 'Press': dosage (beginner): the cue 'Rep 1 of 2. Very long")
    assert message.endswith("past the end of its 3 s hold: shorten the cue or lengthen the hold")


def test_countdown_that_collides_with_the_hold_cue_is_an_error():
    routine = parse_script(MINIMAL.replace("hold: 3s", "hold: 4s\n      countdown: 3").replace(
        "    hold: Hold.", "    hold: Press firmly into the floor with both hands, breathe slowly, and hold it there until the count."), "r.yaml")
    with pytest.raises(ScriptError) as err:
        build_timeline(compile_level(routine, "beginner"), per_char, RATE)
    assert str(err.value) == (
        "r.yaml:7: exercise 'Press': dosage (beginner): the cue 'Rep 1 of 2. Press firmly into the floor with "
        "both hands, breathe slowly, and hold it there until the count.' runs 69 ms into the timed cue '3' of its 4 s hold: "
        "shorten the cue or the countdown")


def test_skipped_exercise_is_left_out_of_that_level_only():
    routine = parse_script(MINIMAL.replace("      rest: 2s", "      rest: 2s\n      progressed: {skip: true}"))
    assert len(compile_level(routine, "beginner").chapters) == 3
    assert len(compile_level(routine, "progressed").chapters) == 2


def test_script_phrases_replace_the_generated_wording():
    routine = parse_script(MINIMAL + 'phrases:\n  rep: "Number {n} of {total}."\n  last_rep: "Final one."\n')
    assert texts(compile_level(routine, "beginner"), "rep") == ["Number 1 of 2. Hold.", "Final one. Hold."]


def test_dosage_is_announced_in_words():
    routine = parse_script(MINIMAL.replace("reps: 2", "reps: 8\n      sets: 2\n      sides: each"))
    assert texts(compile_level(routine, "beginner"), "dosage") == [
        "8 reps, in 2 sets, holding each for 3 seconds, on each side."]
