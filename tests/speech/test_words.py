"""Every word whole (issue 23): a phrase keeps every sound its voice makes, and no sound starts
or ends by jumping between loud and silence (tests/cuts.py), for every engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audioroutine import BuildOptions, build, load_script
from audioroutine.audio.mp3 import decode_mp3
from audioroutine.speech.clips import FADE_OUT_MS, LOOKBACK_MS, audible_span, smooth_cuts, trim_quiet

from ..conftest import MINIMAL, ROOT
from ..cuts import abrupt_edges

RATE = 22050
SHIPPED = sorted((ROOT / "scripts_yaml").rglob("*.yaml"))


def ms(n: float) -> int:
    return int(RATE * n / 1000)


def tone(n: int, db: float, hz: float = 180.0) -> np.ndarray:
    return 10 ** (db / 20) * 32767 * np.sqrt(2) * np.sin(2 * np.pi * hz * np.arange(n) / RATE)


def noise(n: int, db: float, seed: int = 0) -> np.ndarray:
    return 10 ** (db / 20) * 32767 * np.random.default_rng(seed).standard_normal(n)


def pcm(*parts: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype(np.int16)


def padded(x: np.ndarray) -> np.ndarray:
    """As a session places it: digital silence around."""
    quiet = np.zeros(ms(100), dtype=np.int16)
    return np.concatenate((quiet, x, quiet))


def test_a_soft_onset_and_a_late_release_are_kept_whole():
    # "four": 25 ms of /f/ at -55 dBFS before a -12 dBFS vowel, and a -55 dBFS stop release
    # 80 ms after it, like Piper's "back." (measured: docs/timing.md)
    x = pcm(np.zeros(ms(70)), noise(ms(25), -55), tone(ms(300), -12), np.zeros(ms(80)), noise(ms(8), -55, 1),
            np.zeros(ms(150)))
    start, end = audible_span(x, RATE)
    fricative, release_end = ms(70), ms(70 + 25 + 300 + 80 + 8)
    assert fricative - ms(LOOKBACK_MS + 3) <= start <= fricative
    assert release_end <= end <= release_end + ms(20)
    # control: the old fixed -40 dBFS edge dropped both
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > 328)
    assert loud[0] - ms(5) >= fricative + ms(19) and loud[-1] + ms(5) < release_end - ms(80)


def test_the_threshold_follows_the_phrase_level():
    # the same word 10 dB quieter keeps the same span
    body = (np.zeros(ms(70)), noise(ms(25), -52), tone(ms(300), -12), np.zeros(ms(100)))
    quiet = (np.zeros(ms(70)), noise(ms(25), -62), tone(ms(300), -22), np.zeros(ms(100)))
    a, b = audible_span(pcm(*body), RATE), audible_span(pcm(*quiet), RATE)
    assert abs(a[0] - b[0]) <= ms(1) and abs(a[1] - b[1]) <= ms(1)


def test_cuts_an_engine_leaves_are_faded_and_nothing_else_changes():
    # espeak-ng stops words mid-wave: a loud tone ending and starting at digital silence
    x = pcm(tone(ms(200), -8), np.zeros(ms(60)), tone(ms(200), -8, 220), np.zeros(ms(60)), tone(ms(200), -40))
    assert len(abrupt_edges(padded(x), RATE)) >= 3                 # control: clicks as made
    y = smooth_cuts(x, RATE)
    assert len(y) == len(x)
    assert abrupt_edges(padded(y), RATE) == []
    # only within the fade lengths of a cut, and the soft part (-40 dBFS, no cut) untouched
    changed = np.flatnonzero(y != x)
    cuts = (0, ms(200), ms(260), ms(460))
    assert all(min(abs(i - c) for c in cuts) <= ms(FADE_OUT_MS) for i in changed)
    assert np.array_equal(y[ms(520) + ms(FADE_OUT_MS):], x[ms(520) + ms(FADE_OUT_MS):])


def test_trim_keeps_length_of_what_it_keeps():
    x = pcm(np.zeros(ms(70)), tone(ms(300), -12), np.zeros(ms(200)))
    start, end = audible_span(x, RATE)
    assert len(trim_quiet(x.tobytes(), RATE)) == 2 * (end - start)
    assert trim_quiet(np.zeros(500, dtype=np.int16).tobytes(), RATE) == bytes(1000)


def _cuts_in(paths: list[Path]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        decoded = decode_mp3(path)
        x = np.frombuffer(decoded.raw_data, dtype="<i2")
        found[path.name] = [f"{c.edge} at {c.at:.3f} s ({c.level_db:.1f} dBFS)" for c in abrupt_edges(x, decoded.frame_rate)]
    return found


def test_no_cut_words_with_the_test_engine(write_script, tmp_path):
    # the test engine's tones start and end at full level: every edge is a cut until faded
    result = build(load_script(write_script(MINIMAL)), BuildOptions(out_dir=tmp_path / "out"))
    assert _cuts_in([s.path for s in result.sessions]) == {s.path.name: [] for s in result.sessions}


def _shipped(engine: str | None) -> list[Path]:
    return [p for p in SHIPPED if engine != "piper" or load_script(p).language.startswith("en")]


@pytest.mark.slow   # real engines on whole sessions; the default suite checks the trim on phrases (above)
@pytest.mark.parametrize("engine", ["espeak", "piper"])
def test_no_cut_words_in_any_shipped_session(engine, tmp_path):
    """Issue 23: in every shipped script's sessions, no sound ends or starts by falling from
    above -15 dBFS to silence within 6 ms. (espeak: 35-62 such cuts per session before.)"""
    scripts = _shipped(engine) if engine == "piper" else [p for p in SHIPPED if "examples" in p.parts]
    paths = []
    for script in scripts:
        result = build(load_script(script), BuildOptions(out_dir=tmp_path / "out", engine=engine))
        paths += [s.path for s in result.sessions]
    assert paths
    assert _cuts_in(paths) == {p.name: [] for p in paths}


@pytest.mark.slow
def test_no_cut_words_in_the_seed_with_espeak(tmp_path):
    result = build(load_script(ROOT / "scripts_yaml" / "upper_middle_back.yaml"),
                   BuildOptions(out_dir=tmp_path / "out", engine="espeak"))
    paths = [s.path for s in result.sessions]
    assert _cuts_in(paths) == {p.name: [] for p in paths}
