"""Timing contract, checked on the decoded MP3 (not the timeline): holds, countdowns, silences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audioroutine.audio.mp3 import decode_mp3
from audioroutine.compile.compiler import compile_level
from audioroutine.core.errors import ScriptError
from audioroutine.engines import VoiceOptions
from audioroutine.engines.fake import FakeEngine, fake_samples
from audioroutine.model.script import load_script
from audioroutine.run.pipeline import BuildOptions, build, plan
from audioroutine.speech.cache import PhraseCache
from audioroutine.speech.clips import Speech

from ..segments import EDGE_DB, Measured, check_windows, measure_windows

RATE = 22050
# Holds, reps, both sides, sets, a countdown, timed reps and alternating sides: every kind of
# window the contract covers. SOUNDS adds hold sounds and movement time.
SCRIPT = """
id: timing
title: Timing
voice: {engine: fake}
gap: 600ms
get_ready: 2s
transition: 3s
exercises:
  - name: Press
    hold: Hold.
    release: Relax.
    dosage: {reps: 2, sets: 2, set_rest: 3s, hold: 5s, rest: 2s, sides: each, side_rest: 4s, countdown: true}
  - name: Lift
    dosage: {reps: 2, rep_time: 3s, rest: 1s}
  - name: Reach
    hold: Reach.
    release: Lower.
    dosage: {reps: 2, hold: 4s, rest: 2s, sides: alternating, count: per_side, countdown: 2}
levels: [one]
"""
SOUNDS = SCRIPT.replace("transition: 3s", "transition: 3s\nsounds: {hold_start: chime, hold_end: bell}").replace(
    "countdown: true}", "countdown: true, move: 1500ms}").replace("countdown: 2}", "countdown: 2, move: 1500ms}")


def onsets(x: np.ndarray, threshold: float = 0.02, quiet_ms: int = 30) -> np.ndarray:
    """First sample above `threshold` after at least `quiet_ms` below it."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    gaps = np.diff(loud) > RATE * quiet_ms // 1000
    return np.concatenate((loud[:1], loud[1:][gaps]))


def decoded(path: Path) -> np.ndarray:
    return np.frombuffer(decode_mp3(path, RATE).raw_data, dtype="<i2").astype(np.float64) / 32768


def build_and_hear(path: Path, out: Path, edge_db: float = EDGE_DB, **options) -> tuple[object, np.ndarray, list[Measured]]:
    """Build level 'one', decode the MP3 and measure every window in the samples."""
    routine = load_script(path)
    result = build(routine, BuildOptions(out_dir=out, **options))
    x = decoded(result.sessions[0].path)
    program = compile_level(routine, "one")
    return routine, x, measure_windows(x, RATE, program, edge_db)


@pytest.fixture
def built(write_script, tmp_path):
    routine = load_script(write_script(SCRIPT))
    result = build(routine, BuildOptions(out_dir=tmp_path / "out"))
    timeline = plan(routine, "one", BuildOptions())
    return timeline, decoded(result.sessions[0].path)


def near(found: np.ndarray, sample: int) -> float:
    """Distance in ms from `sample` to the closest onset."""
    return float(np.abs(found - sample).min()) * 1000 / RATE


EXPECTED_WINDOWS = {"get_ready": 6, "hold": 12, "rest": 8, "set_rest": 2, "side_rest": 1, "rep": 2,
                    "transition": 2}


def test_every_window_is_quiet_for_its_prescribed_time_in_the_decoded_audio(write_script, tmp_path):
    """From the end of the cue that opens a window to the start of the next cue: the
    prescribed time within 50 ms; countdown numbers within 20 ms of their second."""
    _, _x, found = build_and_hear(write_script(SCRIPT), tmp_path / "out")
    assert check_windows(found, RATE) == EXPECTED_WINDOWS
    holds = [m for m in found if m.role == "hold"]
    assert [len(m.timed) for m in holds] == [3] * 8 + [2] * 4


def test_hold_sounds_mark_the_hold_and_movement_time_comes_before_it(write_script, tmp_path):
    _, _x, found = build_and_hear(write_script(SOUNDS), tmp_path / "out")
    assert check_windows(found, RATE) == EXPECTED_WINDOWS
    moves = [m.lead for m in found if m.role == "hold" and m.lead is not None]
    assert len(moves) == 12 and all(abs(n * 1000 / RATE - 1500) <= 50 for n in moves)


def test_a_silenced_cue_is_caught(write_script, tmp_path):
    """Control: the measurement fails when a cue is missing from the audio."""
    routine, x, _ = build_and_hear(write_script(SCRIPT), tmp_path / "out")
    timeline = plan(routine, "one", BuildOptions())
    release = next(e for e in timeline.events if e.role == "release")
    x = x.copy()
    x[release.start:release.end] = 0
    with pytest.raises(AssertionError, match="heard .* runs of sound, the script says"):
        measure_windows(x, RATE, compile_level(routine, "one"))


def test_a_hold_timed_from_the_cue_start_is_caught(write_script, tmp_path):
    """Control: the old contract (hold counted from the start of its cue) fails the check."""
    routine, _x, found = build_and_hear(write_script(SCRIPT), tmp_path / "out")
    hold = next(m for m in found if m.role == "hold")
    span = next(s for s in plan(routine, "one", BuildOptions()).spans if s.role == "hold")
    check_windows([hold], RATE)
    shifted = [Measured(hold.role, hold.prescribed_ms, span.cue_start, hold.end, [])]
    with pytest.raises(AssertionError):
        check_windows(shifted, RATE)


def test_mp3_sample_count_equals_timeline(built):
    timeline, x = built
    assert len(x) == timeline.total


def test_rebuild_is_byte_identical(write_script, tmp_path):
    routine = load_script(write_script(SCRIPT))
    first = build(routine, BuildOptions(out_dir=tmp_path / "a")).sessions[0].path.read_bytes()
    second = build(routine, BuildOptions(out_dir=tmp_path / "b")).sessions[0].path.read_bytes()
    assert first == second


def test_silence_and_speech_where_the_plan_says(built):
    timeline, x = built
    margin = RATE * 10 // 1000
    for event in timeline.events:
        inner = x[event.start + margin:event.end - margin]
        if len(inner) < margin:
            continue
        rms = float(np.sqrt(np.mean(inner ** 2)))
        if event.kind == "silence":
            assert rms < 0.003, event
        else:
            assert rms > 0.01, event


def test_plan_text_shows_windows_with_exact_lengths(write_script):
    timeline = plan(load_script(write_script(SOUNDS)), "one", BuildOptions())
    sheet = timeline.format_sheet()
    assert sheet.count("== hold 5.000 s ==") == 8 and sheet.count("== move 1.500 s ==") == 12
    assert "[chime sound]" in sheet


def test_plan_json_gives_both_edges_of_every_window(write_script):
    timeline = plan(load_script(write_script(SOUNDS)), "one", BuildOptions())
    rows = timeline.to_json()["spans"]
    assert isinstance(rows, list)
    for row in rows:
        assert row["cue_start_sample"] < row["cue_end_sample"] <= row["start_sample"] < row["end_sample"]
        assert row["end_sample"] - row["start_sample"] == row["length_sample"]
    holds = [r for r in rows if r["role"] == "hold"]
    moves = [r for r in rows if r["role"] == "move"]
    assert all(h["start_sample"] - h["cue_end_sample"] == 1500 * RATE // 1000 for h in holds)
    assert [m["end_sample"] for m in moves] == [h["start_sample"] for h in holds]


@pytest.mark.parametrize("engine_rate", [16000, 24000])
def test_clips_resampled_once_exactly(engine_rate, tmp_path):
    engine = FakeEngine(VoiceOptions(extra=(("rate", engine_rate),)))
    speech = Speech(engine, PhraseCache(tmp_path / "c"), RATE)
    n = speech.measure("Rep 1 of 8.")
    native = fake_samples("Rep 1 of 8.", engine_rate)
    assert abs(n - native * RATE / engine_rate) <= 1
    again = Speech(engine, PhraseCache(tmp_path / "c"), RATE).clip("Rep 1 of 8.")
    assert again == speech.clip("Rep 1 of 8.")              # from cache: same bytes


def test_rate_changes_clip_length_through_the_engine():
    slow = FakeEngine(VoiceOptions(rate=0.5)).synthesize("Hold.")
    normal = FakeEngine(VoiceOptions()).synthesize("Hold.")
    assert slow.samples == 2 * normal.samples
    assert slow.sample_rate == normal.sample_rate           # no time-stretch: same rate, more samples


def test_bad_sound_name_is_one_clear_error(write_script):
    path = write_script(SOUNDS.replace("hold_end: bell", "hold_end: bell, exercise: trumpet"))
    with pytest.raises(ScriptError) as err:
        load_script(path)
    assert str(err.value) == (
        f"{path}:7: sounds.exercise: expected true, false or one of chime, bell, gong, got 'trumpet'")


def test_countdown_that_cannot_fit_names_the_exercise(write_script):
    path = write_script(SOUNDS.replace("chime", "gong").replace("hold: 5s", "hold: 1500ms").replace(
        "countdown: true", "countdown: 1"))
    with pytest.raises(ScriptError, match=r"exercise 'Press'.*the cue '\[gong\]' runs 200 ms into the timed cue '1' "
                                          r"of its 1.5 s hold"):
        plan(load_script(path), "one", BuildOptions())


@pytest.mark.slow
def test_real_piper_windows_in_the_decoded_audio(write_script, tmp_path):
    """Piper's words have pauses and soft edges of their own; the windows still measure."""
    _, _x, found = build_and_hear(write_script(SCRIPT.replace("voice: {engine: fake}\n", "")), tmp_path / "out")
    assert check_windows(found, RATE) == EXPECTED_WINDOWS


def test_espeak_windows_in_the_decoded_audio(write_script, tmp_path):
    # espeak-ng ends its words on a loud pitch period (faded by speech.smooth_cuts), which the
    # MP3 coder smears over up to one granule (26 ms) at 35-45 dB under the voice: measured
    # 40 dB under the top, not 50, its edges are the voice's (50 finds cue ends up to 28 ms late).
    _, _x, found = build_and_hear(write_script(SCRIPT.replace("engine: fake", "engine: espeak")), tmp_path / "out",
                                  edge_db=40)
    assert check_windows(found, RATE) == EXPECTED_WINDOWS


def test_cli_sample_rate_option(mini_script, tmp_path):
    from click.testing import CliRunner

    from audioroutine.cli import cli

    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["build", str(mini_script), "--out", str(out), "--sample-rate", "16000"])
    assert result.exit_code == 0, result.output
    routine = load_script(mini_script)
    timeline = plan(routine, "beginner", BuildOptions(sample_rate=16000))
    assert timeline.estimated == 0 and timeline.sample_rate == 16000
    decoded = decode_mp3(out / "mini-beginner.mp3", 16000)
    assert int(decoded.frame_count()) == timeline.total
    bad = CliRunner().invoke(cli, ["build", str(mini_script), "--sample-rate", "12345"])
    assert bad.exit_code == 2 and "'12345' is not one of" in bad.output


STRUCTURES = """
id: structures
title: Structures
voice: {engine: fake}
gap: 600ms
get_ready: 2s
exercises:
  - id: plank
    name: Plank
    dosage: {hold: 8s, halfway: true, countdown: 2}
  - id: jacks
    name: Jacks
    dosage: {reps: 3, work: 4s, rest: 2s}
  - id: lunge
    name: Lunge
    hold: Lunge.
    release: Up.
    dosage: {reps: 2, hold: 3s, rest: 2s, move: 1s}
circuits:
  - name: Core circuit
    exercises: [plank, jacks]
    rounds: 2
    rest: 5s
levels: [one]
"""


def test_circuits_intervals_and_single_holds_in_the_decoded_audio(write_script, tmp_path):
    """Round rests, work intervals, a single hold with "halfway" and movement time: every
    window measured in the decoded MP3."""
    _, _, found = build_and_hear(write_script(STRUCTURES), tmp_path / "out")
    assert check_windows(found, RATE) == {"get_ready": 5, "hold": 4, "work": 6, "rest": 5, "round_rest": 1}
    plank = [m for m in found if m.role == "hold" and m.prescribed_ms == 8000]
    assert [[offset for offset, _ in m.timed] for m in plank] == [[4000, 6000, 7000]] * 2
