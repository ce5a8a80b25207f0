"""The seed routine end to end with the real default engine (Piper, offline). Building both
seed sessions with Piper takes over a minute, so those tests are `slow` (run by .ci/run);
the same checks run on a short script with the fake engine in test_build.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from audioroutine import BuildOptions, build, load_script, plan
from audioroutine.audio.mp3 import decode_mp3
from audioroutine.cli import cli
from audioroutine.core.ffmpeg import ffmpeg_exe
from audioroutine.output.tags import read_tags

from ..conftest import SEED


@pytest.fixture(scope="session")
def seed_build(tmp_path_factory):
    """Both seed sessions, built once for this test run with a private cache."""
    root = tmp_path_factory.mktemp("seed")
    options = BuildOptions(out_dir=root / "out", cache_dir=root / "cache")
    routine = load_script(SEED)
    return routine, options, build(routine, options)


def ffmpeg_chapters(path: Path) -> list[tuple[str, float]]:
    """Chapters as ffmpeg's own demuxer reports them (independent of mutagen). Its ffmetadata
    output shifts chapters by the encoder delay, so read the `ffmpeg -i` listing instead."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    found = re.findall(r"Chapter #\d+:\d+: start ([\d.]+), end [\d.]+\n\s+Metadata:\n\s+title\s+: (.*)",
                       proc.stderr)
    return [(title, float(start)) for start, title in found]


@pytest.mark.slow
def test_seed_sessions_are_mono_2_to_20_minutes_and_progressed_is_longer(seed_build):
    routine, options, result = seed_build
    beginner, progressed = result.sessions
    for session in result.sessions:
        audio = decode_mp3(session.path)
        assert audio.channels == 1 and audio.frame_rate == 22050
        assert 120 <= audio.frame_count() / 22050 <= 1200
        assert int(audio.frame_count()) == session.samples
    assert progressed.samples > beginner.samples


@pytest.mark.slow
def test_seed_sessions_contain_speech_where_planned(seed_build):
    routine, options, result = seed_build
    timeline = plan(routine, "beginner", options)
    pcm = np.array(decode_mp3(result.sessions[0].path).get_array_of_samples(), dtype=np.float64)
    speech = [e for e in timeline.events if e.kind == "speech"]
    loud = [np.sqrt(np.mean(pcm[e.start:e.end] ** 2)) for e in speech]
    assert min(loud) > 300                       # every cue has audible voice
    quiet = [e for e in timeline.events if e.kind == "silence" and e.length > 2000]
    assert max(np.sqrt(np.mean(pcm[e.start + 500:e.end - 500] ** 2)) for e in quiet) < 30


@pytest.mark.slow
def test_plan_json_total_equals_decoded_duration_within_50ms(seed_build):
    routine, options, result = seed_build
    for session in result.sessions:
        out = CliRunner(mix_stderr=False).invoke(cli, [
            "plan", str(SEED), "--json", "--level", session.level, "--cache-dir", str(options.cache_dir)])
        data = json.loads(out.stdout)
        assert data["estimated_phrases"] == 0
        decoded = decode_mp3(session.path).frame_count() / 22050
        assert abs(data["total_seconds"] - decoded) < 0.050


@pytest.mark.slow
def test_chapters_match_the_plan_in_mutagen_and_ffmpeg(seed_build):
    routine, options, result = seed_build
    for session in result.sessions:
        timeline = plan(routine, session.level, options)
        names = [e.cues_for(session.level).name for e in routine.exercises]
        expected = [("Introduction", 0)] + list(zip(names, [c.start for c in timeline.chapters[1:-1]])) \
            + [("Closing", timeline.chapters[-1].start)]
        tags = read_tags(session.path)
        assert [(c["title"], c["start_ms"]) for c in tags["chapters"]] == [
            (title, start * 1000 // 22050) for title, start in expected]
        demuxed = ffmpeg_chapters(session.path)
        assert [t for t, _ in demuxed] == [t for t, _ in expected]
        for (_, seconds), (_, start) in zip(demuxed, expected):
            assert abs(seconds - start / 22050) < 0.001


@pytest.mark.slow
def test_rebuild_synthesizes_nothing_and_is_byte_identical(seed_build):
    routine, options, first = seed_build
    before = [s.path.read_bytes() for s in first.sessions]
    again = build(routine, BuildOptions(out_dir=options.out_dir, cache_dir=options.cache_dir, force=True))
    assert again.stats.synthesized == 0
    assert again.stats.cached == again.phrases
    assert [s.path.read_bytes() for s in again.sessions] == before


def test_piper_is_deterministic_and_rate_changes_length(tmp_path):
    from audioroutine.engines import VoiceOptions, get_engine

    normal = get_engine("piper", VoiceOptions())
    assert normal.synthesize("Rep 3 of 8.").pcm == normal.synthesize("Rep 3 of 8.").pcm
    slow = get_engine("piper", VoiceOptions(rate=0.8)).synthesize("Rep 3 of 8.")
    clip = normal.synthesize("Rep 3 of 8.")
    assert clip.sample_rate == 22050
    assert 1.05 < slow.samples / clip.samples < 1.35
