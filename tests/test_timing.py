"""Timing contract, checked on the decoded MP3 (not the timeline): holds, countdowns, silences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audioroutine.build import BuildOptions, build, plan
from audioroutine.cache import PhraseCache
from audioroutine.engines import VoiceOptions
from audioroutine.engines.fake import FakeEngine, fake_samples
from audioroutine.errors import ScriptError
from audioroutine.mp3 import decode_mp3
from audioroutine.script import load_script
from audioroutine.speech import Speech

RATE = 22050
SCRIPT = """
id: timing
title: Timing
voice: {engine: fake}
gap: 400ms
get_ready: 2s
sounds: {hold_start: chime, hold_end: true, exercise: false}
exercises:
  - name: Press
    hold: Hold.
    dosage: {reps: 2, hold: 5s, rest: 2s, sides: each, countdown: true}
  - name: Lift
    dosage: {reps: 2, rep_time: 3s, rest: 1s}
levels: [one]
"""


def onsets(x: np.ndarray, threshold: float = 0.02, quiet_ms: int = 30) -> np.ndarray:
    """First sample above `threshold` after at least `quiet_ms` below it."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    gaps = np.diff(loud) > RATE * quiet_ms // 1000
    return np.concatenate((loud[:1], loud[1:][gaps]))


@pytest.fixture
def built(write_script, tmp_path):
    routine = load_script(write_script(SCRIPT))
    result = build(routine, BuildOptions(out_dir=tmp_path / "out"))
    timeline = plan(routine, "one", BuildOptions())
    pcm = decode_mp3(result.sessions[0].path, RATE).raw_data
    return timeline, np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768


def near(found: np.ndarray, sample: int) -> float:
    """Distance in ms from `sample` to the closest onset."""
    return float(np.abs(found - sample).min()) * 1000 / RATE


def test_mp3_sample_count_equals_timeline(built):
    timeline, x = built
    assert len(x) == timeline.total


def test_rebuild_is_byte_identical(write_script, tmp_path):
    routine = load_script(write_script(SCRIPT))
    first = build(routine, BuildOptions(out_dir=tmp_path / "a")).sessions[0].path.read_bytes()
    second = build(routine, BuildOptions(out_dir=tmp_path / "b")).sessions[0].path.read_bytes()
    assert first == second


def test_holds_last_exactly_their_seconds_in_the_decoded_audio(built):
    timeline, x = built
    found = onsets(x)
    holds = [s for s in timeline.spans if s.role == "hold"]
    assert len(holds) == 4                                  # 2 reps x 2 sides
    for span in holds:
        start = found[np.abs(found - span.start).argmin()]
        end = found[np.abs(found - span.start - span.length).argmin()]
        assert abs((end - start) * 1000 / RATE - 5000) <= 5, span


def test_countdown_numbers_start_on_their_second(built):
    timeline, x = built
    found = onsets(x)
    for span in (s for s in timeline.spans if s.role == "hold"):
        for k in (3, 2, 1):                                 # countdown: true -> last 3 s
            assert near(found, span.start + span.length - k * RATE) <= 20


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


def test_sounds_sit_inside_windows(built):
    timeline, _ = built
    kinds = {(e.role, e.text) for e in timeline.events if e.kind == "sound"}
    assert kinds == {("hold_start_sound", "chime"), ("hold_end_sound", "bell")}
    for span in (s for s in timeline.spans if s.role == "hold"):
        first = next(e for e in timeline.events if e.start == span.start)
        assert (first.kind, first.text) == ("sound", "chime")
        assert span.length == 5 * RATE


def test_plan_text_shows_windows_with_exact_lengths(write_script):
    timeline = plan(load_script(write_script(SCRIPT)), "one", BuildOptions())
    sheet = timeline.format_sheet()
    assert sheet.count("== hold 5.000 s, until ") == 4
    assert "[chime sound]" in sheet


@pytest.mark.parametrize("engine_rate", [16000, 24000])
def test_clips_resampled_once_exactly(engine_rate, tmp_path):
    engine = FakeEngine(VoiceOptions(extra=(("rate", engine_rate),)))
    speech = Speech(engine, PhraseCache(tmp_path / "c"), RATE)
    n = speech.measure("Rep 1 of 8.")
    native = fake_samples("Rep 1 of 8.", engine_rate)
    assert abs(n - native * RATE / engine_rate) <= 1
    again = Speech(engine, PhraseCache(tmp_path / "c"), RATE).pcm("Rep 1 of 8.")
    assert again == speech.pcm("Rep 1 of 8.")               # from cache: same bytes


def test_rate_changes_clip_length_through_the_engine():
    slow = FakeEngine(VoiceOptions(rate=0.5)).synthesize("Hold.")
    normal = FakeEngine(VoiceOptions()).synthesize("Hold.")
    assert slow.samples == 2 * normal.samples
    assert slow.sample_rate == normal.sample_rate           # no time-stretch: same rate, more samples


def test_bad_sound_name_is_one_clear_error(write_script):
    path = write_script(SCRIPT.replace("exercise: false", "exercise: trumpet"))
    with pytest.raises(ScriptError) as err:
        load_script(path)
    assert str(err.value) == (
        f"{path}:6: sounds.exercise: expected true, false or one of chime, bell, gong, got 'trumpet'")


def test_countdown_that_cannot_fit_names_the_exercise(write_script):
    path = write_script(SCRIPT.replace("hold: 5s", "hold: 2s").replace("countdown: true", "countdown: 1"))
    with pytest.raises(ScriptError, match=r"exercise 'Press'.*runs \d+ ms into the timed cue '1' of its 2 s hold"):
        plan(load_script(path), "one", BuildOptions())


PIPER = """
id: piper_timing
title: Timing
gap: 300ms
get_ready: 2s
exercises:
  - name: Press
    hold: Hold.
    release: Relax.
    dosage: {reps: 2, hold: 6s, rest: 3s, sides: each, countdown: 3}
levels: [one]
"""


@pytest.mark.slow
def test_real_piper_holds_and_countdown_in_the_decoded_audio(write_script, tmp_path):
    """Piper's words have their own pauses; onsets after silence still land on the plan."""
    routine = load_script(write_script(PIPER))
    result = build(routine, BuildOptions(out_dir=tmp_path / "out"))
    timeline = plan(routine, "one", BuildOptions())
    assert timeline.estimated == 0
    pcm = decode_mp3(result.sessions[0].path, RATE).raw_data
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
    assert len(x) == timeline.total
    found = onsets(x, threshold=0.03)
    holds = [s for s in timeline.spans if s.role == "hold"]
    assert len(holds) == 4
    for span in holds:
        start = found[np.abs(found - span.start).argmin()]
        end = found[np.abs(found - span.start - span.length).argmin()]
        assert abs((end - start) * 1000 / RATE - 6000) <= 5, span
        for k in (3, 2, 1):
            assert near(found, span.start + span.length - k * RATE) <= 20, (span, k)


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
