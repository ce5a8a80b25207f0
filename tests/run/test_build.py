"""The whole pipeline on the fake engine: MP3s decoded back, tags read back, reruns."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from audioroutine import BuildOptions, build, load_script, plan
from audioroutine.audio.mp3 import decode_mp3
from audioroutine.audio.pieces import fade_edges
from audioroutine.core.errors import ScriptError
from audioroutine.engines import Clip
from audioroutine.engines.fake import FakeEngine, fake_samples
from audioroutine.output.tags import read_tags
from audioroutine.speech.cache import PhraseCache, phrase_key

from ..conftest import MINIMAL


@pytest.fixture
def built(mini_script, tmp_path):
    routine = load_script(mini_script)
    options = BuildOptions(out_dir=tmp_path / "out")
    return routine, options, build(routine, options)


def test_one_mp3_per_level_with_the_timelines_exact_sample_count(built):
    routine, options, result = built
    assert [s.path.name for s in result.sessions] == ["mini-beginner.mp3", "mini-progressed.mp3"]
    for session in result.sessions:
        timeline = plan(routine, session.level, options)
        assert timeline.estimated == 0
        audio = decode_mp3(session.path)
        assert audio.frame_rate == 22050 and audio.channels == 1
        assert int(audio.frame_count()) == timeline.total == session.samples


def test_speech_where_the_timeline_says_speech_and_silence_elsewhere(built):
    routine, options, result = built
    timeline = plan(routine, "beginner", options)
    pcm = np.array(decode_mp3(result.sessions[0].path).get_array_of_samples(), dtype=np.float64)
    margin = 300  # samples kept away from edges, where the codec smears a little
    for event in timeline.events:
        if event.length < 4 * margin:
            continue
        rms = np.sqrt(np.mean(pcm[event.start + margin:event.end - margin] ** 2))
        if event.kind == "speech":
            assert rms > 3000, event
        else:
            assert rms < 30, event


def test_phrases_are_synthesized_once_across_levels(built):
    _, _, result = built
    assert result.stats.synthesized == len(set(FakeEngine.calls)) == len(FakeEngine.calls)
    assert result.stats.synthesized + result.stats.cached == result.phrases


def test_second_build_synthesizes_nothing_and_keeps_the_files(built):
    routine, options, first = built
    before = [s.path.read_bytes() for s in first.sessions]
    FakeEngine.calls.clear()
    second = build(routine, options)
    assert FakeEngine.calls == []
    assert second.stats.synthesized == 0
    assert [s.written for s in second.sessions] == [False, False]
    assert [s.path.read_bytes() for s in second.sessions] == before


def test_forced_rebuild_from_cache_is_byte_identical(built):
    routine, options, first = built
    before = [s.path.read_bytes() for s in first.sessions]
    options.force = True
    again = build(routine, options)
    assert [s.written for s in again.sessions] == [True, True]
    assert [s.path.read_bytes() for s in again.sessions] == before


def test_an_edit_resynthesizes_only_the_changed_phrase(built, mini_script, tmp_path):
    routine, options, _ = built
    mini_script.write_text(mini_script.read_text().replace("hold: Hold.", "hold: Keep still."))
    FakeEngine.calls.clear()
    result = build(load_script(mini_script), options)
    assert sorted(set(FakeEngine.calls)) == ["Last one. Keep still.", "Rep 1 of 2. Keep still."]
    assert all(s.written for s in result.sessions)


def test_tags_and_chapters_read_back(built):
    routine, options, result = built
    tags = read_tags(result.sessions[0].path)
    assert tags["version"] == "2.3"
    assert tags["title"] == "Mini — Beginner"
    assert tags["album"] == "Mini"
    assert tags["artist"] == "audioroutine"
    assert tags["track"] == "1/2"
    assert read_tags(result.sessions[1].path)["track"] == "2/2"
    assert tags["provenance"]["level"] == "beginner"
    assert tags["provenance"]["script_sha256"] == routine.sha256
    timeline = plan(routine, "beginner", options)
    assert [(c["title"], c["start_ms"], c["end_ms"]) for c in tags["chapters"]] == [
        (c.title, c.start * 1000 // 22050, c.end * 1000 // 22050) for c in timeline.chapters]
    assert [c["title"] for c in tags["chapters"]] == ["Introduction", "Press", "Closing"]


def test_a_failing_level_leaves_no_file_for_any_level(write_script, tmp_path):
    script = write_script(MINIMAL.replace("      hold: 3s", "      beginner: {hold: 10s}\n      progressed: {hold: 500ms}")
                          + "sounds: {hold_start: gong}\n")
    out = tmp_path / "out"
    with pytest.raises(ScriptError, match=r"the cue '\[gong\]' runs 200 ms past the end of its 0.5 s hold"):
        build(load_script(script), BuildOptions(out_dir=out))
    assert not out.exists() or list(out.iterdir()) == []


def test_corrupt_cache_entry_is_resynthesized(tmp_path):
    cache = PhraseCache(tmp_path / "c")
    key = phrase_key({"engine": "x"}, "hello")
    cache.put(key, Clip(b"\x01\x00" * 100, 22050))
    assert cache.get(key) == Clip(b"\x01\x00" * 100, 22050)
    path = cache.path(key)
    path.write_bytes(path.read_bytes()[:60])           # truncated by a crash
    assert cache.get(key) is None
    assert list(path.parent.iterdir()) == []   # the damaged entry is discarded; no temp files left


def test_cache_entries_are_plain_wavs(tmp_path):
    cache = PhraseCache(tmp_path / "c")
    cache.put("ab" * 32, Clip(b"\x00\x10" * 50, 16000))
    with wave.open(str(cache.path("ab" * 32))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (16000, 1, 50)


def test_clips_at_another_rate_are_resampled_once_to_the_session_rate(write_script, tmp_path):
    from audioroutine.audio.pieces import speech_piece
    from audioroutine.engines import VoiceOptions, get_engine
    from audioroutine.speech.clips import Speech

    engine = get_engine("fake", VoiceOptions(extra=(("rate", 16000),)))
    speech = Speech(engine, PhraseCache(tmp_path / "c"), 22050)
    n16 = fake_samples("Rep 1 of 2.", 16000)
    assert abs(speech.measure("Rep 1 of 2.") - n16 * 22050 / 16000) <= 1
    piece = speech_piece(speech, "Rep 1 of 2.", rotate=True)
    assert speech.measure("Rep 1 of 2.") == piece.samples == len(piece.pcm()) // 2


def test_edge_fades_keep_the_length_and_silence_the_ends():
    pcm = (np.full(1000, 10000, dtype="<i2")).tobytes()
    out = np.frombuffer(fade_edges(pcm, 100), dtype="<i2")
    assert len(out) == 1000
    assert out[0] == 0 and out[-1] < 200 and out[500] == 10000


def test_a_programme_numbers_tracks_in_play_order_and_writes_one_playlist(write_script, tmp_path):
    from audioroutine.run.pipeline import build_batch

    first = load_script(write_script(MINIMAL, "a.yaml"))
    second = load_script(write_script(MINIMAL.replace("id: mini", "id: other").replace("title: Mini", "title: Other"),
                                      "b.yaml"))
    out = tmp_path / "out"
    options = [BuildOptions(out_dir=out, album="Programme"), BuildOptions(out_dir=out, album="Programme")]
    programme = build_batch([first, second], options)
    numbers = {s.path.name: read_tags(s.path)["track"] for r in programme.results for s in r.sessions}
    assert numbers == {"mini-beginner.mp3": "1/4", "other-beginner.mp3": "2/4",
                       "mini-progressed.mp3": "3/4", "other-progressed.mp3": "4/4"}
    assert programme.playlist == out / "programme.m3u8"
    listed = [line for line in programme.playlist.read_text().splitlines() if not line.startswith("#")]
    assert listed == ["mini-beginner.mp3", "other-beginner.mp3", "mini-progressed.mp3", "other-progressed.mp3"]
