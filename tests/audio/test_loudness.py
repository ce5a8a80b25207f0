"""Loudness: measured with pyloudnorm (BS.1770, independent of the ffmpeg meter the build uses)."""

from __future__ import annotations

import numpy as np
import pytest

from audioroutine.audio.loudness import LoudnessSettings, integrated, limit, normalize, true_peak
from audioroutine.model.script import load_script
from audioroutine.run.pipeline import BuildOptions, build

RATE = 22050


def lufs(x: np.ndarray) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(RATE).integrated_loudness(x))


def speechlike(seconds: int = 20) -> bytes:
    """Bursts of harmonic tone with loud transients and silences between them."""
    rng = np.random.default_rng(1)
    t = np.arange(RATE * seconds) / RATE
    x = 0.05 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0)
    x[rng.integers(0, len(x), 40)] = 0.95                   # clicks that gain alone would clip
    return np.round(x * 32767).astype("<i2").tobytes()


def test_normalize_hits_target_keeps_length_and_silence():
    pcm = speechlike()
    out = normalize(pcm, RATE, LoudnessSettings(target=-16, true_peak=-1))
    y = np.frombuffer(out, dtype="<i2").astype(np.float64) / 32768
    x = np.frombuffer(pcm, dtype="<i2")
    assert len(out) == len(pcm)
    assert np.array_equal(y == 0, x == 0)                   # silence stays digital zero
    assert abs(lufs(y) - -16) <= 0.5
    assert 20 * np.log10(true_peak(y)) <= -1.0


def test_mp3_meets_target_and_ceiling(tmp_path):
    """The encoder scales by 0.95 and lifts limited peaks: both are made up for."""
    from audioroutine.audio.mp3 import decode_mp3, encode_normalized
    from audioroutine.audio.render import Mix

    pcm = speechlike()
    path = tmp_path / "s.mp3"
    encode_normalized(Mix.of_clip(pcm, RATE), path, "64k", LoudnessSettings(target=-18, true_peak=-2))
    decoded = decode_mp3(path, RATE).raw_data
    assert len(decoded) == len(pcm)
    assert abs(lufs(np.frombuffer(decoded, dtype="<i2") / 32768) - -18) <= 0.5
    assert integrated(decoded, RATE, peak=True)[1] <= -2.0   # ffmpeg's true-peak meter


def test_normalize_is_deterministic_and_can_be_off():
    pcm = speechlike(5)
    assert normalize(pcm, RATE) == normalize(pcm, RATE)
    assert normalize(pcm, RATE, LoudnessSettings(enabled=False)) == pcm


def test_limiter_holds_true_peak_between_samples():
    t = np.arange(RATE) / RATE
    x = 2.0 * np.sin(2 * np.pi * 5000 * t + 0.3)            # peaks fall between samples
    y = limit(x, RATE, 0.5)
    assert true_peak(y) <= 0.5 + 1e-9 and len(y) == len(x)


def test_loudness_key_is_validated(write_script):
    from audioroutine.core.errors import ScriptError

    path = write_script("""
        id: a
        title: A
        loudness: {target: -5}
        exercises: [{name: X, dosage: {rep_time: 2s}}]
    """)
    with pytest.raises(ScriptError, match=r"loudness.target: expected a number from -30.0 to -10.0, got -5"):
        load_script(path)


@pytest.mark.slow
def test_seed_sessions_are_at_minus_16_lufs(tmp_path):
    """Real Piper, both levels of the seed routine (about 25 s warm, minutes cold)."""
    from audioroutine.audio.mp3 import decode_mp3
    from tests.conftest import SEED

    result = build(load_script(SEED), BuildOptions(out_dir=tmp_path / "out"))
    for session in result.sessions:
        pcm = decode_mp3(session.path, RATE).raw_data
        y = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
        assert abs(lufs(y) - -16) <= 0.5, session.level
        _, peak = integrated(pcm, RATE, peak=True)           # ffmpeg's true-peak meter
        assert peak <= -1.0, (session.level, peak)


def test_phase_rotation_keeps_length_and_energy_and_lowers_lopsided_peaks():
    from audioroutine.audio.loudness import rotate_phase

    t = np.arange(RATE) / RATE
    pulses = sum(np.cos(2 * np.pi * 120 * k * t) / k for k in range(1, 40))   # glottal-like, peaky
    x = np.round(pulses / np.abs(pulses).max() * 16000).astype("<i2")
    y = np.frombuffer(rotate_phase(x.tobytes(), RATE), dtype="<i2").astype(np.float64)
    assert len(y) == len(x)
    steady = slice(RATE // 10, None)                        # after the filter has settled
    energy_x, energy_y = np.sum(x[steady].astype(np.float64) ** 2), np.sum(y[steady] ** 2)
    assert abs(10 * np.log10(energy_y / energy_x)) < 0.1    # all-pass: same level
    assert np.abs(y[steady]).max() < 0.8 * np.abs(x[steady]).max()
