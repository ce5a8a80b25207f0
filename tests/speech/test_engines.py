"""The engine interface: the Protocol every engine meets, engines from other packages
(entry points, group `audioroutine.engines`), and speech left as the engine made it when
loudness is off."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from audioroutine import BuildOptions, build, load_script, plan
from audioroutine.audio.pieces import EDGE_FADE_MS
from audioroutine.audio.render import mix
from audioroutine.core.errors import EngineError
from audioroutine.engines import BUILTIN, Engine, VoiceOptions, engine_class, engine_names, get_engine
from audioroutine.speech.cache import PhraseCache
from audioroutine.speech.clips import Speech, trim_quiet

TINY = '''
"""A third-party engine: square waves, 8000 Hz, 10 ms per character."""
from audioroutine.engines import Clip, EngineInfo, VoiceOptions


class TinyEngine:
    name = "tiny"
    online = False
    privacy = ""
    sample_rate = 8000

    def __init__(self, options: VoiceOptions) -> None:
        self.options = options

    def identity(self):
        return {"engine": "tiny", "rate": self.options.rate}

    def synthesize(self, text):
        n = 80 * len(text)
        return Clip(pcm=b"".join((6000 if i // 20 % 2 else -6000).to_bytes(2, "little", signed=True)
                                 for i in range(n)), sample_rate=8000)

    def estimate_seconds(self, text):
        return 0.01 * len(text)

    @staticmethod
    def info():
        return EngineInfo("tiny", False, True, "square waves, for the entry point test")
'''


PLAIN = """
    id: plain
    title: Plain
    voice: {engine: fake}
    loudness: false
    exercises:
      - name: Press
        hold: Hold.
        dosage: {reps: 2, hold: 3s, rest: 2s}
    """


@pytest.fixture
def tiny_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package installed the way pip installs one: the module and a .dist-info folder
    whose entry_points.txt declares the engine, on sys.path (importlib.metadata finds it
    exactly as it finds an installed wheel)."""
    site = tmp_path / "site"
    (site / "tiny_engine-1.0.dist-info").mkdir(parents=True)
    (site / "tiny_engine.py").write_text(textwrap.dedent(TINY), encoding="utf-8")
    (site / "tiny_engine-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tiny-engine\nVersion: 1.0\n", encoding="utf-8")
    (site / "tiny_engine-1.0.dist-info" / "entry_points.txt").write_text(
        '[audioroutine.engines]\ntiny = tiny_engine:TinyEngine\nfake = tiny_engine:TinyEngine\n', encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("tiny_engine", None)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_engine_meets_the_protocol(name):
    cls = engine_class(name)
    for member in ("name", "online", "privacy", "identity", "synthesize", "estimate_seconds", "info"):
        assert hasattr(cls, member), member
    assert cls.name == name and cls.online == bool(cls.privacy)


def test_a_third_party_engine_builds_a_session(tiny_engine, write_script, tmp_path):
    assert "tiny" in engine_names()
    engine = get_engine("tiny", VoiceOptions())
    assert isinstance(engine, Engine)
    script = write_script("""
        id: squares
        title: Squares
        voice: {engine: tiny}
        exercises:
          - name: Press
            hold: Hold.
            dosage: {reps: 2, hold: 3s, rest: 2s}
        """)
    routine = load_script(script)
    options = BuildOptions(out_dir=tmp_path / "out", levels=("beginner",))
    estimate = plan(routine, "beginner", options)
    assert estimate.estimated > 0
    result = build(routine, options)
    assert [s.path.name for s in result.sessions] == ["squares-beginner.mp3"]
    assert result.stats.synthesized > 0


def test_a_third_party_engine_cannot_take_a_builtin_name(tiny_engine):
    assert type(get_engine("fake")).__module__ == "audioroutine.engines.fake"


def test_a_broken_third_party_engine_is_named(tiny_engine):
    entry = tiny_engine / "tiny_engine-1.0.dist-info" / "entry_points.txt"
    entry.write_text("[audioroutine.engines]\nbroken = tiny_engine:Missing\n", encoding="utf-8")
    with pytest.raises(EngineError, match=r"engine 'broken' \(tiny_engine:Missing\) could not be loaded"):
        get_engine("broken")


def test_without_loudness_speech_is_the_engines_clip_except_the_edge_fades(write_script, tmp_path):
    """Regression: every clip used to be phase-rotated even with `loudness: false` (sample
    values moved by up to 16,737). Control: with loudness on, the clip is rotated."""
    script = write_script(PLAIN)
    routine = load_script(script)
    assert routine.loudness.enabled is False
    options = BuildOptions(out_dir=tmp_path / "out")
    timeline = plan(routine, "beginner", options, exact=True)
    engine = get_engine("fake", VoiceOptions(rate=1.0))
    speech = Speech(engine, PhraseCache(tmp_path / "cache"), timeline.sample_rate)
    fade = timeline.sample_rate * EDGE_FADE_MS // 1000
    for rotate, same in ((False, True), (True, False)):
        session = np.frombuffer(mix(timeline, speech, rotate=rotate).pcm(), dtype="<i2")
        for event in (e for e in timeline.events if e.kind == "speech"):
            made = np.frombuffer(trim_quiet(engine.synthesize(event.text).pcm, timeline.sample_rate), dtype="<i2")
            heard = session[event.start:event.end]
            assert len(heard) == len(made)
            assert np.array_equal(heard[fade:-fade], made[fade:-fade]) is same, event.text


def test_a_build_without_loudness_renders_without_rotation(write_script, tmp_path, monkeypatch):
    import audioroutine.audio.pieces as render_module

    seen = []
    original = render_module.rotate_phase
    monkeypatch.setattr(render_module, "rotate_phase", lambda pcm, rate: seen.append(1) or original(pcm, rate))
    script = write_script(PLAIN)
    build(load_script(script), BuildOptions(out_dir=tmp_path / "out", levels=("beginner",)))
    assert seen == []
