"""espeak-ng engine (the espeakng-loader wheel, in-process): real audio, fast enough to test
whole sessions. A session "has speech" when every speech event of its timeline is loud in
the decoded MP3 and the long silences between them are quiet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from audioroutine.audio.mp3 import decode_mp3
from audioroutine.cli import cli
from audioroutine.compile.timeline import Timeline
from audioroutine.core.errors import EngineError
from audioroutine.engines import VoiceOptions, get_engine
from audioroutine.engines.espeak import EspeakEngine
from audioroutine.model.script import load_script
from audioroutine.run.pipeline import BuildOptions, build, plan

from ..conftest import ROOT, SEED

SPANISH = ROOT / "scripts_yaml" / "examples" / "cobra_es.yaml"
SPEECH_RMS = 500       # espeak speech measures ~2000-4000; MP3 noise in silence stays under 20
SILENCE_RMS = 50


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0


def clip_rms(text: str, **options: object) -> tuple[int, float]:
    clip = EspeakEngine(VoiceOptions(**options)).synthesize(text)
    return clip.samples, rms(np.frombuffer(clip.pcm, dtype="<i2"))


def test_espeak_speaks_at_22050_hz() -> None:
    clip = get_engine("espeak", VoiceOptions()).synthesize("Rep 1 of 10. Hold.")
    assert clip.sample_rate == 22050
    assert 0.8 < clip.samples / 22050 < 3.0
    assert rms(np.frombuffer(clip.pcm, dtype="<i2")) > SPEECH_RMS


def test_espeak_same_text_same_samples_after_other_phrases() -> None:
    """Regression: espeak-ng carries state between utterances, so "Rest." came out 14978,
    15000, 15010... samples long on successive calls until each phrase got a fresh library."""
    engine = EspeakEngine(VoiceOptions())
    short = engine.synthesize("Rest.")
    longer = engine.synthesize("Rest now. Set 2 of 3 is next.")
    again = [engine.synthesize("Rest.") for _ in range(3)]
    assert all(clip.pcm == short.pcm for clip in again)
    assert longer.samples > 2 * short.samples


def test_espeak_rate_changes_the_length() -> None:
    text = "Press into your hands and slowly straighten your elbows."
    normal, _ = clip_rms(text)
    fast, _ = clip_rms(text, rate=1.5)
    slow, _ = clip_rms(text, rate=0.7)
    assert fast < 0.8 * normal < normal < 0.8 * slow


def test_espeak_spanish_from_the_routine_language() -> None:
    engine = EspeakEngine(VoiceOptions(language="es"))
    assert engine.identity()["voice"] == "es"
    samples, loudness = clip_rms("Repetición uno de diez. Sube y mantén.", language="es")
    english, _ = clip_rms("Repetición uno de diez. Sube y mantén.", language="en")
    assert loudness > SPEECH_RMS
    assert samples != english     # a different voice read it


def test_espeak_unknown_voice_is_one_line() -> None:
    with pytest.raises(EngineError) as err:
        EspeakEngine(VoiceOptions(voice="xx-yy")).synthesize("Hello.")
    assert str(err.value) == "espeak: no voice 'xx-yy' (list them: audioroutine voices --engine espeak)"


def test_every_language_code_voices_lists_is_a_voice_espeak_speaks() -> None:
    """`voices --engine espeak` lists language codes (en-gb, en-029...); each is accepted as a
    voice (regression: en-gb was refused, "no voice 'en-gb'"), and the accents differ."""
    listed = [line.split()[0] for line in EspeakEngine.info().voices]
    assert {"en-gb", "en-029", "en-gb-x-rp"} <= set(listed)
    lengths = {code: EspeakEngine(VoiceOptions(voice=code)).synthesize("Hello there, one two three.").samples
               for code in ("en", "en-gb", "en-029", "en-gb-x-rp")}
    assert all(samples > 0 for samples in lengths.values())
    assert len(set(lengths.values())) > 1


def assert_has_speech(path: Path, timeline: Timeline) -> None:
    pcm = np.frombuffer(decode_mp3(path, timeline.sample_rate).raw_data, dtype="<i2")
    assert len(pcm) == timeline.total
    margin = timeline.sample_rate // 20          # MP3 smears ~50 ms around each edge
    speech = [e for e in timeline.events if e.kind == "speech"]
    quiet = [e for e in timeline.events if e.kind == "silence" and e.length > 4 * margin]
    assert speech and quiet
    for event in speech:
        assert rms(pcm[event.start:event.end]) > SPEECH_RMS, event.text
    for event in quiet:
        assert rms(pcm[event.start + margin:event.end - margin]) < SILENCE_RMS, (event.start, event.role)


def test_spanish_routine_builds_with_espeak(tmp_path: Path) -> None:
    routine = load_script(SPANISH)
    assert (routine.language, routine.voice.engine) == ("es", "espeak")
    options = BuildOptions(out_dir=tmp_path / "out", levels=("beginner",))
    result = build(routine, options)
    [session] = result.sessions
    timeline = plan(routine, "beginner", options)
    assert timeline.estimated == 0
    texts = [e.text for e in timeline.events if e.kind == "speech"]
    assert "Repetición uno de diez. Sube y mantén." in texts
    assert "La última. Sube y mantén." in texts
    assert not [t for t in texts if "Rep " in t or "Hold" in t]     # no English mixed in
    assert session.samples == timeline.total
    assert_has_speech(session.path, timeline)


@pytest.mark.slow
def test_seed_routine_builds_with_espeak_cli(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner(mix_stderr=False).invoke(
        cli, ["build", str(SEED), "--engine", "espeak", "--level", "beginner", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""            # no progress bar off a terminal, no warnings
    timeline = plan(load_script(SEED), "beginner", BuildOptions(engine="espeak"))
    assert timeline.estimated == 0
    assert_has_speech(out / "upper_middle_back-beginner.mp3", timeline)
