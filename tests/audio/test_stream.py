"""Streaming render: a session is played into the encoder in chunks, never held whole; its
loudness comes from a model of its pieces (checked here against two meters), and the MP3's
peaks are checked by a decoder in the same ffmpeg run."""

from __future__ import annotations

import shutil
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audioroutine.audio import loudness
from audioroutine.audio.loudness import (
    Envelope,
    LoudnessSettings,
    Model,
    _block_true_peaks,
    integrated,
    peak_fix,
    stream_peak_fix,
    stream_true_peaks,
)
from audioroutine.audio.mp3 import ENCODER_GAIN_DB, decode_mp3, encode_mp3, encode_normalized
from audioroutine.audio.render import CHUNK_BYTES, Mix, mix
from audioroutine.compile.compiler import build_timeline, compile_level
from audioroutine.model.script import load_script

RATE = 22050


def lufs(pcm: bytes) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(RATE).integrated_loudness(np.frombuffer(pcm, dtype="<i2") / 32768))


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    """`data` in pieces of the given sizes (in samples), cycling; the rest at the end."""
    out, at, i = [], 0, 0
    while at < len(data):
        step = 2 * sizes[i % len(sizes)]
        out.append(data[at:at + step])
        at, i = at + step, i + 1
    return out


def noise(seconds: float, level: float = 0.5, seed: int = 3) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, level / 3, int(RATE * seconds)).clip(-1, 1)
    return np.round(x * 32767).astype("<i2").tobytes()


def session(tmp_path, write_script, engine: str = "espeak") -> Mix:
    from audioroutine.run.pipeline import BuildOptions, speech_for
    from audioroutine.speech.clips import SpeechStats

    path = write_script(f"""
        id: s
        title: S
        voice: {{engine: {engine}}}
        exercises:
          - name: Cobra
            hold: Push up slowly and hold.
            release: And down.
            dosage: {{reps: 3, hold: 4s, rest: 3s}}
          - name: Bird dog
            hold: Reach out long.
            dosage: {{reps: 2, hold: 5s, rest: 2s, sides: each}}
    """)
    routine = load_script(path)
    options = BuildOptions(cache_dir=tmp_path / "cache").for_script(routine)
    program = compile_level(routine, routine.levels[0].id)
    speech = speech_for(routine, program, options, SpeechStats())
    return mix(build_timeline(program, speech.measure, RATE), speech)


@given(st.lists(st.integers(1, 5000), min_size=1, max_size=6))
@settings(max_examples=30, deadline=None)
def test_stream_true_peaks_do_not_depend_on_how_the_stream_is_cut(sizes):
    pcm = noise(1.3)
    whole = _block_true_peaks(np.frombuffer(pcm, dtype="<i2").astype(np.float32) / np.float32(32768),
                              RATE * loudness.BLOCK_MS // 1000, 0.2)
    assert np.array_equal(stream_true_peaks(cut(pcm, sizes), RATE, 20 * np.log10(0.2)), whole)


@pytest.mark.parametrize("level", [0.3, 0.95])      # no block over the ceiling; some over it
def test_the_streamed_peak_fix_is_the_fix_of_the_whole_array(level):
    """stream_peak_fix keeps only the blocks over the ceiling: same fix as peak_fix over every block."""
    pcm = (np.frombuffer(noise(2.0), dtype="<i2").astype(np.float64) * level / 0.3)
    pcm = np.clip(pcm, -32768, 32767).astype("<i2").tobytes()
    found = stream_true_peaks(cut(pcm, [3000, 77, 5000]), RATE, -6.0)
    fix = stream_peak_fix(cut(pcm, [3000, 77, 5000]), RATE, -6.0, LoudnessSettings())
    expected = peak_fix(found, LoudnessSettings())
    assert (fix is None) == (expected is None) == (level < 0.5)
    assert fix is None or np.array_equal(fix, expected)


@given(st.lists(st.integers(1, 5000), min_size=1, max_size=6))
@settings(max_examples=30, deadline=None)
def test_envelope_gives_every_sample_the_same_gain_however_the_stream_is_cut(sizes):
    pcm = noise(1.0)
    gains = np.ones(-(-len(pcm) // 2 // 220))
    gains[30:40] = 0.25
    envelope = Envelope(gains, RATE)
    whole = b"".join(envelope.apply([pcm]))
    assert b"".join(envelope.apply(cut(pcm, sizes))) == whole
    y = np.frombuffer(whole, dtype="<i2").astype(float)
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    assert np.abs(y[35 * 220:36 * 220]).max() <= 0.25 * np.abs(x[35 * 220:36 * 220]).max() + 1
    assert np.array_equal(y[:20 * 220], x[:20 * 220])            # untouched far from the dip


def test_mix_plays_out_in_bounded_chunks_the_exact_session(tmp_path, write_script):
    session_mix = session(tmp_path, write_script, engine="fake")
    chunks = list(session_mix.chunks())
    biggest_piece = max(len(p) for p in session_mix.pieces.values())
    assert max(len(c) for c in chunks) <= CHUNK_BYTES + biggest_piece
    pcm = b"".join(chunks)
    assert len(pcm) == 2 * session_mix.total
    samples = np.frombuffer(pcm, dtype="<i2")
    for start, piece in session_mix.places:        # every piece where the timeline puts it
        data = np.frombuffer(session_mix.pieces[piece], dtype="<i2")
        assert np.array_equal(samples[start:start + len(data)], data)
    placed = sum(len(session_mix.pieces[p]) // 2 for _, p in session_mix.places)
    assert np.count_nonzero(samples) <= placed      # silence everywhere else


def test_the_model_predicts_what_meters_measure_in_the_mp3(tmp_path, write_script):
    """The build measures nothing: the gain comes from the model. Two meters (ffmpeg's
    ebur128 and pyloudnorm) read the decoded MP3 within 0.2 LU of the prediction."""
    session_mix = session(tmp_path, write_script)
    target = LoudnessSettings(target=-16, true_peak=-1)
    model = Model(session_mix.pieces, session_mix.places, RATE)
    found = model.gain(target, ENCODER_GAIN_DB)
    assert found is not None
    predicted = found[1]
    assert abs(predicted - -16) <= 0.05
    path = tmp_path / "s.mp3"
    encode_normalized(session_mix, path, "64k", target)
    decoded = decode_mp3(path, RATE).raw_data
    assert len(decoded) == 2 * session_mix.total
    measured, peak = integrated(decoded, RATE, peak=True)
    assert abs(measured - predicted) <= 0.2
    assert abs(lufs(decoded) - predicted) <= 0.3
    assert peak <= -1.0


def test_the_peak_check_sees_exactly_what_a_decoder_of_the_file_returns(tmp_path):
    pcm = noise(3.0, 0.3)
    path = tmp_path / "n.mp3"
    got = encode_mp3(cut(pcm, [4000]), path, RATE, "64k", decoded=lambda chunks: b"".join(chunks))
    assert got == decode_mp3(path, RATE).raw_data
    assert len(got) == len(pcm)


def test_mp3_peaks_over_the_ceiling_are_lowered_and_reencoded(tmp_path, monkeypatch):
    """With no headroom the limiter aims at the ceiling itself, and MP3 coding lifts peaks
    of heavily limited noise over it: the check of the decoded file finds them and the session is
    encoded again, lower there."""
    monkeypatch.setattr(loudness, "HEADROOM_DB", 0.0)
    pcm = noise(4.0, 0.6)                                  # loud enough to need the limiter
    path = tmp_path / "c.mp3"
    stats = encode_normalized(Mix.of_clip(pcm, RATE), path, "64k", LoudnessSettings(target=-10, true_peak=-1))
    assert stats.encodes >= 2
    _, peak = integrated(decode_mp3(path, RATE).raw_data, RATE, peak=True)
    assert peak <= -1.0


def traced_peak(minutes: int, tmp_path) -> int:
    """Peak Python heap (numpy arrays included) while a session of `minutes` of sparse
    speech-like pieces is levelled, encoded and checked."""
    total = RATE * 60 * minutes
    pieces = {("speech", str(i), RATE * 2): noise(2.0, 0.4, seed=i) for i in range(4)}
    keys = list(pieces)
    places = [(start, keys[n % 4]) for n, start in enumerate(range(0, total - RATE * 2, RATE * 6))]
    tracemalloc.start()
    try:
        encode_normalized(Mix(pieces, places, total, RATE), tmp_path / "long.mp3", "64k", LoudnessSettings())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow   # ~15 s: two whole sessions traced (bench/bench_memory.py measures longer ones)
def test_memory_does_not_grow_with_the_session(tmp_path):
    """8 and 24 minutes: 16 more minutes are 42 MB more PCM (2.6 MB a minute), and under
    0.25 MB a minute more heap (the per-10 ms arrays of the loudness model and peak check,
    the frame sizes: about 0.1 MB a minute); neither session is ever held whole
    (bench/bench_memory.py measures 10 to 120 minutes). Both are longer than the encoder's
    working set (segments in flight and a peak check of up to peakcheck.CHECK_SECONDS), which
    a 2-minute session does not fill."""
    short, long = traced_peak(8, tmp_path), traced_peak(24, tmp_path)
    assert (long - short) / 16 < 0.25e6, f"{short / 1e6:.1f} MB -> {long / 1e6:.1f} MB"
    assert long < 2 * RATE * 60 * 24 / 4
    assert len(decode_mp3(tmp_path / "long.mp3", RATE).raw_data) == 2 * RATE * 60 * 24


def test_an_encoder_refusing_is_one_clear_error(tmp_path):
    from audioroutine.core.errors import BuildError

    with pytest.raises(BuildError, match="LAME cannot encode at bitrate 'nonsense'"):
        encode_mp3([noise(1.0)] * 3, tmp_path / "x.mp3", RATE, "nonsense")
    assert not (tmp_path / "x.mp3").exists()


def test_a_levelled_piece_is_analysed_once_then_read_from_the_cache(mini_script, tmp_path, monkeypatch):
    """A rebuild neither rotates nor analyses a phrase it has seen; a piece entry made from
    another clip is made again as it is read, one whose samples are damaged as they are
    played; the MP3 is the same bytes every time."""
    import audioroutine.audio.pieces as pieces
    from audioroutine.run.pipeline import BuildOptions, build

    made = []
    real = pieces.analyse
    monkeypatch.setattr(pieces, "analyse", lambda pcm, rate: made.append(1) or real(pcm, rate))
    routine = load_script(mini_script)
    options = BuildOptions(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", force=True)
    first = build(routine, options)
    mp3s = {s.path: s.path.read_bytes() for s in first.sessions}
    entries = sorted((tmp_path / "cache" / "pieces").rglob("*-v[0-9]*.npz"))    # not the trimmed clips (-t...)
    assert len(made) == len(entries) > 0
    segment_entries = set((tmp_path / "cache" / "segments").rglob("*.*"))
    made.clear()
    build(routine, options)
    assert made == []
    assert {p: p.read_bytes() for p in mp3s} == mp3s
    # A piece read back is named as when it was made (its entry's digest): every segment found.
    assert set((tmp_path / "cache" / "segments").rglob("*.*")) == segment_entries
    damaged = bytearray(entries[0].read_bytes())
    damaged[-100] ^= 0x01                                 # in its samples, behind the head
    entries[0].write_bytes(bytes(damaged))
    other = entries[1].read_bytes()
    entries[2].write_bytes(other)                         # a verifying entry, of another phrase's clip
    build(routine, options)
    assert len(made) == 1                                 # the other clip's: found as its head is read
    assert {p: p.read_bytes() for p in mp3s} == mp3s
    assert entries[0].read_bytes() == bytes(damaged)      # samples no segment needed are not read
    shutil.rmtree(tmp_path / "cache" / "segments")        # every segment encoded: every piece played
    build(routine, options)
    assert len(made) == 2 and entries[0].read_bytes() != bytes(damaged)   # found as it is played, made again
    assert {p: p.read_bytes() for p in mp3s} == mp3s
