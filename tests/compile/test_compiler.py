"""Compiler and layout: coaching steps and exact sample positions, no audio involved."""

from __future__ import annotations

import pytest

from audioroutine.compile.compiler import build_timeline, compile_level
from audioroutine.compile.timeline import Say, Window
from audioroutine.core.errors import ScriptError
from audioroutine.model.script import parse_script

from ..conftest import MINIMAL

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
    # the count's wording varies (coaching that varies: test_wording.py), its numbers never do
    assert texts(program, "rep") == ["Rep 1 of 3. Hold.", "Number 2 of 3. Hold.", "Last one. Hold."]


def test_alternating_sides_name_the_side_each_rep():
    script = MINIMAL.replace("reps: 2", "reps: 4\n      sides: alternating")
    program = compile_level(parse_script(script), "beginner")
    assert texts(program, "rep") == [
        "Rep 1 of 4, right side. Hold.", "Number 2 of 4, left side. Hold.",
        "Repetition 3 of 4, right side. Hold.", "Last one, left side. Hold."]


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


def test_every_window_starts_when_its_cue_ends_and_lasts_exactly_its_seconds():
    routine = parse_script(MINIMAL)
    timeline = build_timeline(compile_level(routine, "beginner"), per_char, RATE)
    spans = [(s.role, s.length) for s in timeline.spans]
    assert spans == [("get_ready", 3 * RATE), ("hold", 3 * RATE), ("rest", 2 * RATE), ("hold", 3 * RATE)]
    for span in timeline.spans:
        cue = next(e for e in timeline.events if e.end == span.start)
        assert cue.kind == "speech" and (span.cue_start, span.cue_end) == (cue.start, cue.end)
        inside = [e for e in timeline.events if span.start <= e.start < span.end]
        assert {e.kind for e in inside} == {"silence"}
        after = next(e for e in timeline.events if e.start >= span.end and e.kind == "speech")
        assert after.start == span.end                 # the next cue starts exactly at the window's end


def test_a_long_hold_cue_never_shortens_the_hold():
    routine = parse_script(MINIMAL.replace("    hold: Hold.", "    hold: " + "Very long words " * 30))
    timeline = build_timeline(compile_level(routine, "beginner"), per_char, RATE)
    for span in (s for s in timeline.spans if s.role == "hold"):
        assert span.cue_end - span.cue_start > 4 * RATE
        assert span.start == span.cue_end and span.length == 3 * RATE


def test_move_time_comes_between_the_cue_and_the_hold():
    routine = parse_script(MINIMAL.replace("rest: 2s", "rest: 2s\n      move: 1500ms"))
    timeline = build_timeline(compile_level(routine, "beginner"), per_char, RATE)
    moves = [s for s in timeline.spans if s.role == "move"]
    holds = [s for s in timeline.spans if s.role == "hold"]
    assert len(moves) == len(holds) == 2
    for move, hold in zip(moves, holds):
        assert (move.start, move.length) == (move.cue_end, 1500 * RATE // 1000)
        assert hold.start == move.end and hold.cue_end == move.cue_end and hold.length == 3 * RATE


def test_hold_sounds_mark_the_start_and_the_end_of_the_hold():
    routine = parse_script(MINIMAL + "sounds: {hold_start: chime, hold_end: bell}\n")
    timeline = build_timeline(compile_level(routine, "beginner"), per_char, RATE)
    for span in (s for s in timeline.spans if s.role == "hold"):
        first = next(e for e in timeline.events if e.start == span.start)
        after = next(e for e in timeline.events if e.start == span.end)
        assert (first.kind, first.text, after.kind, after.text) == ("sound", "chime", "sound", "bell")


def test_halfway_and_countdown_sit_on_their_marks():
    routine = parse_script(MINIMAL.replace("hold: 3s", "hold: 10s\n      countdown: 3\n      halfway: true"))
    timeline = build_timeline(compile_level(routine, "beginner"), per_char, RATE)
    hold = next(s for s in timeline.spans if s.role == "hold")
    marks = [(e.text, e.start - hold.start) for e in timeline.events
             if e.kind == "speech" and hold.start <= e.start < hold.end]
    assert marks == [("Halfway.", 5 * RATE), ("3", 7 * RATE), ("2", 8 * RATE), ("1", 9 * RATE)]


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


def test_a_timed_cue_that_runs_into_the_countdown_is_an_error_naming_the_exercise():
    routine = parse_script(MINIMAL.replace("hold: 3s", "hold: 6s\n      countdown: 1\n      halfway: true")
                           + "phrases:\n  halfway: " + "Halfway there. " * 14 + "\n", "r.yaml")
    with pytest.raises(ScriptError) as err:
        build_timeline(compile_level(routine, "beginner"), per_char, RATE)
    assert str(err.value) == (
        "r.yaml:7: exercise 'Press': dosage (beginner): the cue '" + ("Halfway there. " * 14).strip()
        + "' runs 89 ms into the timed cue '1' of its 6 s hold: shorten the cue or the countdown")


def test_a_sound_that_runs_past_a_short_hold_is_an_error():
    routine = parse_script(MINIMAL.replace("hold: 3s", "hold: 500ms") + "sounds: {hold_start: gong}\n", "r.yaml")
    with pytest.raises(ScriptError) as err:
        build_timeline(compile_level(routine, "beginner"), per_char, RATE)
    assert str(err.value) == (
        "r.yaml:7: exercise 'Press': dosage (beginner): the cue '[gong]' runs 200 ms past the end of its "
        "0.5 s hold: shorten the cue or lengthen the hold")


def test_a_single_hold_is_announced_as_a_hold():
    routine = parse_script(MINIMAL.replace("reps: 2", "reps: 1").replace("hold: 3s", "hold: 60s")
                           .replace("    hold: Hold.\n", ""))
    program = compile_level(routine, "beginner")
    assert texts(program, "dosage") == ["One hold of 60 seconds."]
    assert texts(program, "rep") == ["Hold for 60 seconds."]


def test_alternating_reps_can_count_per_side_and_say_so():
    script = MINIMAL.replace("reps: 2", "reps: 2\n      sides: alternating")
    total = compile_level(parse_script(script), "beginner")
    assert texts(total, "dosage") == ["2 reps in total, holding each for 3 seconds, alternating sides."]
    per_side = compile_level(parse_script(script.replace("alternating", "alternating\n      count: per_side")), "beginner")
    assert texts(per_side, "dosage") == ["2 reps on each side, holding each for 3 seconds, alternating sides."]
    assert texts(per_side, "rep") == [
        "Rep 1 of 2, right side. Hold.", "Number 1 of 2, left side. Hold.",
        "Last one, right side. Hold.", "Last one, left side. Hold."]


def test_sides_have_a_rest_of_their_own_and_exercises_a_transition():
    script = MINIMAL.replace("reps: 2", "reps: 2\n      sides: each\n      side_rest: 15s") \
        + "  - name: Pull\n    dosage: {rep_time: 2s, reps: 3}\ntransition: 20s\n"
    program = compile_level(parse_script(script), "beginner")
    windows = [(s.role, s.ms, s.cues[0].text) for c in program.chapters for s in c.steps
               if isinstance(s, Window) and s.role in ("side_rest", "transition")]
    assert windows == [("side_rest", 15000, "Rest before the left side."), ("transition", 20000, "Good work.")]
    assert texts(program, "dosage")[1] == "3 reps, 2 seconds each."


def test_work_intervals_alternate_work_and_rest():
    script = MINIMAL.replace("hold: 3s", "work: 30s").replace("rest: 2s", "rest: 15s").replace("reps: 2", "reps: 3")
    program = compile_level(parse_script(script), "beginner")
    steps = [(s.role, s.ms, s.cues[0].text) for s in program.chapters[1].steps if isinstance(s, Window)]
    assert steps[1:] == [("work", 30000, "Interval 1 of 3. Go."), ("rest", 15000, "Rest."),
                         ("work", 30000, "Interval 2 of 3. Go."), ("rest", 15000, "Take a short rest."),
                         ("work", 30000, "Last interval. Go.")]
    assert texts(program, "dosage") == ["3 intervals, 30 seconds of work and 15 seconds of rest each."]


def test_unknown_placeholder_in_a_phrase_is_one_line_with_its_line():
    with pytest.raises(ScriptError) as err:
        parse_script(MINIMAL + "phrases:\n  rep: Rep {n} of {totl}.\n", "r.yaml")
    assert str(err.value) == (
        "r.yaml:12: phrases.rep: unknown placeholder '{totl}' (this phrase knows: {n}, {total})")


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


CIRCUIT = MINIMAL + """  - name: Pull
    dosage: {reps: 2, rep_time: 2s, rest: 1s}
  - name: Squat
    dosage: {reps: 2, rep_time: 2s}
circuits:
  - name: Core circuit
    exercises: [press, pull]
    rounds: {beginner: 3, progressed: 2}
    rest: 45s
transition: 5s
"""


def test_a_circuit_repeats_its_exercises_with_a_rest_between_rounds():
    program = compile_level(parse_script(CIRCUIT), "beginner")
    assert [c.title for c in program.chapters] == [
        "Introduction", "Press", "Pull", "Press, round 2", "Pull, round 2", "Press, round 3", "Pull, round 3",
        "Squat", "Closing"]
    assert texts(program, "circuit") == ["Core circuit: 3 rounds."]
    assert texts(program, "announce") == [
        "Exercise 1 of 3: Press.", "Exercise 2 of 3: Pull.", "Round 2 of 3: Press.", "Round 2 of 3: Pull.",
        "Round 3 of 3: Press.", "Round 3 of 3: Pull.", "Exercise 3 of 3: Squat."]
    windows = [(s.role, s.ms, s.cues[0].text) for c in program.chapters for s in c.steps
               if isinstance(s, Window) and s.role in ("round_rest", "transition")]
    assert windows == [
        ("transition", 5000, "Good work."), ("round_rest", 45000, "Rest now. Round 2 of 3 is next."),
        ("transition", 5000, "Good work."), ("round_rest", 45000, "Rest now. Round 3 of 3 is next."),
        ("transition", 5000, "Good work."), ("transition", 5000, "Good work.")]
    assert len(texts(compile_level(parse_script(CIRCUIT), "progressed"), "announce")) == 5


def test_later_rounds_skip_the_setup_and_movement_descriptions():
    script = CIRCUIT.replace("    hold: Hold.\n", "    hold: Hold.\n    setup: Stand tall.\n")
    program = compile_level(parse_script(script), "beginner")
    assert texts(program, "setup") == ["Stand tall."]


@pytest.mark.parametrize("edit, message", [
    (("[press, pull]", "[press, squat]"), "r.yaml:17: circuits[0].exercises: a circuit's exercises must follow each "
     "other in the script, in the same order (exercises in order: press, pull, squat)"),
    (("[press, pull]", "[press, pul]"), "r.yaml:17: circuits[0].exercises[1]: no exercise with id 'pul' (did you mean 'pull'?)"),
    (("rounds: {beginner: 3, progressed: 2}", "rounds: 0"), "r.yaml:18: circuits[0].rounds: must be at least 1, got 0"),
    (("    rest: 45s\n", "    rest: 45s\n    laps: 2\n"), "r.yaml:20: circuits[0].laps: unknown key 'laps' (allowed: name, exercises, rounds, rest)"),
])
def test_circuit_errors_name_the_line(edit, message):
    with pytest.raises(ScriptError) as err:
        parse_script(CIRCUIT.replace(*edit), "r.yaml")
    assert str(err.value) == message


@pytest.mark.parametrize("gap", ["600 ms", "0 s"])
def test_a_pause_between_sentences_ends_on_the_frame_grid_and_windows_stay_exact(gap):
    """issue 22: a pause between sentences (`gap:`, half of it after an announcement, 600 ms
    after a last release) is lengthened by under one MP3 frame (576 samples at 22,050 Hz) so
    the cue after it starts on the grid; `gap: 0` stays none; windows keep their lengths."""
    routine = parse_script(MINIMAL.replace("title: Mini", f"title: Mini\ngap: {gap}"))
    timeline = build_timeline(compile_level(routine, routine.levels[0].id), per_char, RATE)
    nominal = RATE * int(gap.split()[0]) // 1000
    lengths = {n for n in (nominal, nominal // 2, RATE * 600 // 1000) if n}
    gaps = [(e, after) for e, after in zip(timeline.events, timeline.events[1:]) if e.role == "gap"]
    assert gaps
    for event, after in gaps:
        assert after.start % 576 == 0
        assert any(event.length - n in range(576) for n in lengths), event
    assert {span.length for span in timeline.spans} <= {RATE * ms // 1000 for ms in (500, 1000, 2000, 3000, 5000)}
