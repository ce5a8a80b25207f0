"""The segment encoder (segments.py, mp3frames.py): a session encoded as independent LAME
streams cut inside silence and joined behind one Info/LAME tag decodes to every sample of
the session, equals each segment's own decode, reads right in mutagen, is cached by content
and checked for peaks per segment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mutagen.mp3 import MP3

from audioroutine.audio import lame, loudness, peakcheck, segments
from audioroutine.audio.lame import encode_segment
from audioroutine.audio.loudness import LoudnessSettings, Model, choose_gain, integrated
from audioroutine.audio.mp3 import ENCODER_GAIN_DB, decode_mp3, encode_mp3, encode_normalized
from audioroutine.audio.mp3frames import crc16, crc16_combine, frames_crc, silent_frames, silent_run, split_frames
from audioroutine.audio.render import Mix
from audioroutine.core.errors import BuildError
from audioroutine.core.ffmpeg import ffmpeg_exe
from audioroutine.core.files import sealed, unsealed

RATE = 22050


def voice(seconds: float, seed: int, level: float = 0.3) -> bytes:
    """Speech-like: a wobbling tone and a little noise under a Hann window (silent edges)."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    rng = np.random.default_rng(seed)
    x = (level * np.sin(2 * np.pi * (170 + 15 * seed) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
         + 0.05 * rng.standard_normal(n)) * np.hanning(n)
    return (x.clip(-1, 1) * 32767).astype("<i2").tobytes()


def session(seconds: int = 150, last: bytes | None = None) -> Mix:
    """Five phrases in turn every 4.3 s (gaps of 2.3 s), the last one `last` if given."""
    pieces = {("speech", str(i), 2 * RATE): voice(2.0, i) for i in range(5)}
    keys = list(pieces)
    total = RATE * seconds + 123
    starts = list(range(1000, total - 3 * RATE, int(RATE * 4.3)))
    places = [(start, keys[n % 5]) for n, start in enumerate(starts)]
    if last is not None:
        piece = ("speech", "last", len(last) // 2)
        pieces[piece] = last
        places[-1] = (places[-1][0], piece)
    return Mix(pieces, places, total, RATE)


class DictCache:
    def __init__(self) -> None:
        self.entries: dict[str, bytes] = {}

    def load_segment(self, key: str) -> bytes | None:
        return self.entries.get("s" + key)

    def put_segment(self, key: str, data: bytes) -> None:
        self.entries["s" + key] = data

    def drop_segment(self, key: str) -> None:
        self.entries.pop("s" + key, None)

    def load_note(self, key: str) -> bytes | None:
        return self.entries.get("n" + key)

    def put_note(self, key: str, data: bytes) -> None:
        self.entries["n" + key] = data


def samples(path: Path) -> np.ndarray:
    return np.frombuffer(decode_mp3(path, RATE).raw_data, dtype="<i2").astype(np.int32)


def test_the_joined_file_decodes_every_sample_and_equals_a_whole_encode_at_every_cut(tmp_path):
    mix = session()
    plan = segments.plan(mix)
    assert len(plan) >= 4 and all(s.start % 576 == 0 for s in plan)
    path = tmp_path / "joined.mp3"
    stats = segments.encode(mix, path, "64k", None)
    assert stats.encoded_samples == sum(s.end - s.head for s in plan) < mix.total and stats.encodes == len(plan)
    pcm = mix.pcm()
    joined = samples(path)
    assert len(joined) == mix.total
    whole_path = tmp_path / "whole.mp3"
    encode_mp3([pcm], whole_path, RATE, "64k")
    whole = samples(whole_path)
    for segment in plan[1:]:                       # 10 ms either side of every cut: the same samples
        near = slice(segment.start - RATE // 100, segment.start + RATE // 100)
        assert np.array_equal(joined[near], whole[near])
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)

    def snr(decoded: np.ndarray) -> float:
        decoded = decoded.astype(np.float64)
        scale = np.dot(decoded, x) / np.dot(decoded, decoded)
        return float(10 * np.log10(np.sum(x ** 2) / np.sum((decoded * scale - x) ** 2)))

    assert abs(snr(joined) - snr(whole)) <= 0.3
    # Each segment's own decode, where the joined file plays it, sample for sample; its
    # leading silence (silent frames, not encoded) decodes to zeros.
    assert any(segment.silent for segment in plan)
    for segment in plan:
        own = segments.encode_segment(pcm[2 * segment.head:2 * segment.end], RATE, "64k")
        decoded = subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "mp3", "-i", "pipe:0", "-f", "s16le", "-"],
                                 input=own, capture_output=True, check=True).stdout
        mine = np.frombuffer(decoded, dtype="<i2")[segments.LEAD:segments.LEAD + segment.end - segment.head]
        assert np.array_equal(joined[segment.head:segment.end], mine)
        assert not joined[segment.start:segment.head].any()
        if segment.silent:
            assert not np.frombuffer(pcm, dtype="<i2")[segment.start:segment.head + segments.GUARD_FRAMES * 576].any()
    assert round(MP3(str(path)).info.length * RATE) == mix.total      # mutagen reads the LAME tag
    errors = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True)
    assert errors.returncode == 0 and not errors.stderr


@pytest.mark.parametrize("seconds", [1, 40, 61])
def test_every_length_decodes_exactly(tmp_path, seconds):
    """Lengths ending anywhere in a frame; one segment or several."""
    mix = session(seconds) if seconds > 10 else Mix.of_clip(voice(1.0, 1)[:-2 * 17], RATE)
    path = tmp_path / "n.mp3"
    segments.encode(mix, path, "64k", None)
    assert len(samples(path)) == mix.total


def test_segments_are_cached_by_content_and_an_edit_reencodes_its_segment_alone(tmp_path):
    cache = DictCache()
    settings = LoudnessSettings()
    first = encode_normalized(session(), tmp_path / "a.mp3", "64k", settings, cache, session_key="k" * 64)
    again = encode_normalized(session(), tmp_path / "b.mp3", "64k", settings, cache, session_key="k" * 64)
    assert first.cached == 0 and again.cached == again.segments and again.encodes == again.decodes == 0
    assert (tmp_path / "a.mp3").read_bytes() == (tmp_path / "b.mp3").read_bytes()
    edited = session(last=voice(2.0, 9, 0.32))            # the last phrase only: the session gain is kept
    changed = encode_normalized(edited, tmp_path / "c.mp3", "64k", settings, cache, session_key="k" * 64)
    assert changed.cached == changed.segments - 1 and changed.encodes == 1
    assert changed.encoded_samples < 0.5 * edited.total
    fresh = encode_normalized(edited, tmp_path / "d.mp3", "64k", settings, DictCache(), session_key="k" * 64)
    assert fresh.cached == 0
    lufs, peak = integrated(decode_mp3(tmp_path / "c.mp3", RATE).raw_data, RATE, peak=True)
    assert abs(lufs - settings.target) <= 0.5 and peak <= settings.true_peak


def test_the_same_bytes_with_one_encoder_thread_or_several(tmp_path, monkeypatch):
    encode_normalized(session(), tmp_path / "a.mp3", "64k", LoudnessSettings())
    monkeypatch.setattr(segments, "_pool", None)
    monkeypatch.setattr(segments, "workers", lambda: 1)
    encode_normalized(session(), tmp_path / "b.mp3", "64k", LoudnessSettings())
    monkeypatch.setattr(segments, "_pool", None)
    assert (tmp_path / "a.mp3").read_bytes() == (tmp_path / "b.mp3").read_bytes()


def test_a_segment_over_the_ceiling_is_encoded_again_there_alone(tmp_path, monkeypatch):
    """No headroom and loud noise in one phrase: coding lifts its peaks over the ceiling; only
    the part of that segment around it is encoded again, and the file meets the ceiling."""
    monkeypatch.setattr(loudness, "HEADROOM_DB", 0.0)
    rng = np.random.default_rng(5)
    loud = (rng.normal(0, 0.3, 2 * RATE).clip(-1, 1) * np.hanning(2 * RATE) * 32767).astype("<i2").tobytes()
    mix = session(150, last=loud)
    path = tmp_path / "p.mp3"
    lengths: list[int] = []
    for module in (lame, peakcheck, segments):   # every encoder and decoder run is logged
        monkeypatch.setattr(module, "log_run", lambda kind, samples, started: lengths.append(samples))
    stats = encode_normalized(mix, path, "64k", LoudnessSettings(target=-12, true_peak=-1))
    assert stats.encodes > stats.segments                       # something was encoded again
    shortest = min(s.end - s.start for s in segments.plan(mix))
    assert min(lengths) < shortest                              # a part of a segment, not all of it
    decoded = decode_mp3(path, RATE).raw_data
    assert len(decoded) == 2 * mix.total
    _, peak = integrated(decoded, RATE, peak=True)
    assert peak <= -1.0
    errors = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True)
    assert not errors.stderr


def test_a_previous_gain_is_kept_within_the_tolerance_only():
    mix = session()
    model = Model(mix.pieces, mix.places, RATE)
    settings = LoudnessSettings()
    found = choose_gain(model, settings, ENCODER_GAIN_DB)
    assert found is not None
    assert choose_gain(model, settings, ENCODER_GAIN_DB, found + 0.05, 0.1) == found + 0.05
    assert choose_gain(model, settings, ENCODER_GAIN_DB, found + 1.0, 0.1) == found


def test_crc16_in_blocks_equals_the_plain_one_and_combines():
    data = np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    plain = 0
    for byte in data:
        plain ^= byte
        for _ in range(8):
            plain = (plain >> 1) ^ 0xA001 if plain & 1 else plain >> 1
    assert crc16(data) == plain
    assert crc16_combine(crc16(data[:12345]), crc16(data[12345:]), len(data) - 12345) == plain
    assert crc16(data[12345:], crc16(data[:12345])) == plain       # a long input continuing a CRC
    assert crc16(data[:20000] + data[20001:], 99) == crc16(data[20001:], crc16(data[:20000], 99))


def test_silent_frames_crc_steps_equal_the_crc_of_their_bytes():
    header = int.from_bytes(encode_segment(bytes(8000), RATE, "64k")[:4], "big")
    for first, count in ((0, 1), (3, 50), (1000, 777)):
        frames = silent_frames(header, first, count)
        for start in (0, 12345):
            assert frames_crc(frames, start) == crc16(b"".join(frames), start)


@pytest.mark.parametrize("bitrate", ["64k", "56k", "32k"])
def test_a_run_of_silent_frames_made_a_period_at_a_time_is_the_frames_one_by_one(bitrate):
    """mp3frames.silent_run (bytes, sizes, CRC) against silent_frames, across whole padding
    periods, parts of one and every phase."""
    header = int.from_bytes(encode_segment(bytes(8000), RATE, bitrate)[:4], "big")
    for first in (0, 1, 48, 49, 1000):
        for count in (0, 1, 48, 49, 98, 99, 1000):
            frames = silent_frames(header, first, count)
            parts, sizes, crc = silent_run(header, first, count)
            data = b"".join(parts)
            assert data == b"".join(frames) and list(sizes) == [len(f) for f in frames], (first, count)
            assert crc == crc16(data), (first, count)


def test_a_joined_file_is_whole_frames_behind_one_tag(tmp_path):
    """Silent frames and cached segments included: the tag's music CRC is the audio's."""
    mix = session(60)
    long_gap = Mix(mix.pieces, mix.places[:3] + [(p + 8 * RATE, k) for p, k in mix.places[3:]], mix.total + 8 * RATE,
                   RATE)
    cache = DictCache()
    for n in range(2):
        path = tmp_path / f"f{n}.mp3"
        stats = segments.encode(long_gap, path, "64k", None, cache)
        assert stats.cached == n * stats.segments
        data = path.read_bytes()
        frames = split_frames(data)
        assert frames[0][13:17] == b"Info" and int.from_bytes(frames[0][21:25], "big") == len(frames) - 1
        assert int.from_bytes(frames[0][25:29], "big") == len(data)
        assert int.from_bytes(frames[0][165:167], "big") == crc16(b"".join(frames[1:]))
        assert sum(s.silent for s in segments.plan(long_gap)) >= 6 * RATE
        assert len(samples(path)) == long_gap.total


def test_the_check_decodes_only_near_loud_blocks_and_sees_there_what_a_whole_decode_returns():
    """The frames around blocks near the ceiling, decoded in one run with warm-up frames
    before each run of them, give the peaks a decode of the whole stream gives there; other
    blocks are 0, and the PCM there is far enough under the ceiling."""
    mix = session(40)
    settings = LoudnessSettings()
    pcm = loudness.level(mix.pieces, mix.places, RATE, settings, ENCODER_GAIN_DB)
    levelled = mix.with_pieces(pcm).pcm()
    data, peaks = peakcheck.encode_and_check(levelled, RATE, "64k", 37, settings)
    assert b"".join(data) == segments.encode_segment(levelled, RATE, "64k")
    whole = peakcheck.decode_peaks(data, RATE, 37, len(levelled) // 2, settings)
    checked = peaks > 0
    assert 0 < checked.sum() < 0.8 * len(peaks)
    assert np.array_equal(peaks[checked], whole[checked])
    ceiling = 10 ** ((settings.true_peak - loudness.PEAK_MARGIN_DB) / 20)
    assert whole[~checked].max() < ceiling * 10 ** ((1.70 - peakcheck.CODING_RISE_DB) / 20)   # the largest rise seen


def test_checks_decoded_in_one_run_see_what_each_sees_alone():
    """Several segments' checks in one decoder run (silent frames between them): each gets
    the peaks it gets in a run of its own, its first frames included."""
    settings = LoudnessSettings()
    checks = []
    loud = (np.random.default_rng(3).normal(0, 0.25, 3 * RATE).clip(-0.8, 0.8) * 32767).astype("<i2").tobytes()
    for n, seconds in enumerate((9, 13, 7)):
        pcm = (np.frombuffer(session(seconds).pcm(), dtype="<i2") * (1.2 + 0.1 * n)).astype("<i2").tobytes()
        pcm = loud + pcm if n == 1 else pcm                  # loud from its first sample
        frames = split_frames(segments.encode_segment(pcm, RATE, "64k"))
        checks.append(peakcheck.Check(frames, pcm, RATE, 11 * n, settings))
    together = peakcheck.decode_checks(checks)
    assert checks[1].runs[0][0] == 0
    for check, peaks in zip(checks, together):
        assert check.runs and peaks.max() > 0
        assert np.array_equal(peaks, peakcheck.decode_checks([check])[0])
        whole = peakcheck.decode_peaks(check.frames, RATE, check.lead, check.samples, settings)
        assert np.array_equal(peaks[peaks > 0], whole[peaks > 0])


def test_a_decode_that_drops_frames_falls_back_to_decoding_it_all(monkeypatch):
    pcm = (np.frombuffer(session(20).pcm(), dtype="<i2") * 1.3).astype("<i2").tobytes()   # peaks near -2 dBFS
    settings = LoudnessSettings()
    data = segments.encode_segment(pcm, RATE, "64k")
    real = peakcheck.decoder.decode
    calls: list[int] = []

    def short(frames, rate, consume):
        out = real(frames, rate, consume)
        calls.append(1)
        return out[:-2] if len(calls) == 1 else out

    monkeypatch.setattr(peakcheck.decoder, "decode", short)
    peaks = peakcheck.check(split_frames(data), pcm, RATE, 0, settings)
    assert len(calls) == 2 and peaks.max() > 0
    assert np.array_equal(peaks, peakcheck.decode_peaks(split_frames(data), RATE, 0, len(pcm) // 2, settings))


def test_a_damaged_segment_entry_is_dropped_and_encoded_again(tmp_path):
    cache = DictCache()
    encode_normalized(session(60), tmp_path / "a.mp3", "64k", LoudnessSettings(), cache)
    key = next(k for k in cache.entries if k.startswith("s"))
    entry = bytearray(cache.entries[key])
    entry[-5] ^= 0x10                                   # one bit of one frame
    cache.entries[key] = bytes(entry)
    stats = encode_normalized(session(60), tmp_path / "b.mp3", "64k", LoudnessSettings(), cache)
    assert stats.encodes == 1 and stats.cached == stats.segments - 1
    assert (tmp_path / "a.mp3").read_bytes() == (tmp_path / "b.mp3").read_bytes()


@pytest.mark.parametrize("change", ["sizes", "count", "old format"])
def test_a_sealed_entry_whose_sizes_do_not_hold_its_frames_is_dropped(tmp_path, change):
    """An entry that verifies but whose frame sizes do not add up to its frames (or one in
    the format before sizes were stored) is dropped and encoded again: the same file."""
    cache = DictCache()
    encode_normalized(session(60), tmp_path / "a.mp3", "64k", LoudnessSettings(), cache)
    key = next(k for k in cache.entries if k.startswith("s"))
    body = bytearray(unsealed(segments.MAGIC, cache.entries[key]))
    count = int.from_bytes(body[2:6], "big")
    if change == "sizes":
        body[6] ^= 0x01                                 # the first frame one byte off
        cache.entries[key] = sealed(segments.MAGIC, bytes(body))
    elif change == "count":
        body[2:6] = (count + 1).to_bytes(4, "big")
        cache.entries[key] = sealed(segments.MAGIC, bytes(body))
    else:                                               # format 2: CRC, then the frames
        cache.entries[key] = sealed(b"ARSEG002", bytes(body[:2] + body[6 + 2 * count:]))
    stats = encode_normalized(session(60), tmp_path / "b.mp3", "64k", LoudnessSettings(), cache)
    assert stats.encodes == 1 and stats.cached == stats.segments - 1
    assert (tmp_path / "a.mp3").read_bytes() == (tmp_path / "b.mp3").read_bytes()


@pytest.mark.parametrize("rate,bitrate", [(24000, "8k"), (48000, "96k")])
def test_other_rates_and_bitrates_decode_exactly_and_mutagen_agrees(tmp_path, rate, bitrate):
    """At 8 kbit/s the encoder's signature spans several frames; at 48 kHz a frame is 1152."""
    n = 2 * rate
    t = np.arange(n) / rate
    piece = ((0.3 * np.sin(2 * np.pi * 200 * t)) * np.hanning(n) * 32767).astype("<i2").tobytes()
    key = ("speech", "x", n)
    total = rate * 75 + 77
    mix = Mix({key: piece}, [(start, key) for start in range(500, total - 3 * rate, int(rate * 4.3))], total, rate)
    path = tmp_path / "r.mp3"
    segments.encode(mix, path, bitrate, None)
    assert len(decode_mp3(path, rate).raw_data) == 2 * total
    assert round(MP3(str(path)).info.length * rate) == total


def test_lame_in_the_process_gives_the_same_bytes_every_way(monkeypatch):
    """lamelib: LAME through ctypes (GIL let go: encoder threads run side by side) gives, byte
    for byte, what lameenc's own Encoder gives (the fallback where the library hides its C
    functions), whole or fed in odd chunks, from one thread or four at once; a bitrate LAME
    cannot take is one clear error."""
    import threading

    from audioroutine.audio import lamelib

    rng = np.random.default_rng(2)
    pcms = [(rng.standard_normal(n) * 3000).astype("<i2").tobytes() for n in (22050, 700, 300_000)]
    stats = lame.Stats()
    made = [lame.encode_segment(pcm, RATE, "64k", stats) for pcm in pcms]
    assert (stats.encodes, stats.encoded_samples) == (3, sum(len(pcm) for pcm in pcms) // 2)
    assert lamelib._library() is not None                    # the fast path is the one tested here
    assert made == [lamelib.encode(pcm, RATE, "64k") for pcm in pcms]
    cut = [pcms[2][:1001], pcms[2][1001:90_000], pcms[2][90_000:]]   # odd byte counts: samples split
    assert b"".join(lamelib.encode_chunks(cut, RATE, "64k")) == made[2]
    side_by_side: dict[int, bytes] = {}
    threads = [threading.Thread(target=lambda i=i: side_by_side.__setitem__(i, lamelib.encode(pcms[i % 3], RATE,
                                                                                                 "64k")))
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [side_by_side[i] for i in range(4)] == [made[i % 3] for i in range(4)]
    monkeypatch.setitem(sys.modules, "lameenc", None)         # not installed: one clear error
    with pytest.raises(BuildError, match="pip install lameenc"):
        lamelib._lameenc()
    monkeypatch.delitem(sys.modules, "lameenc")
    monkeypatch.setattr(lamelib, "_library", lambda: None)   # lameenc's Encoder instead
    assert [lamelib.encode(pcm, RATE, "64k") for pcm in pcms] == made
    with pytest.raises(BuildError, match="LAME cannot encode at bitrate 'abc'"):
        lame.encode_segment(pcms[0], RATE, "abc")


def test_a_segment_from_the_cache_is_byte_for_byte_what_encoding_it_gives(tmp_path):
    """Segments are named without rendering them (their pieces' digests and places, the gain):
    whatever the cache holds from other sessions, a build gives the bytes of a build from an
    empty cache, and a piece changed by one sample value misses exactly its segments."""
    settings = LoudnessSettings()

    def levelled(mix: Mix, gain_db: float) -> Mix:
        return mix.with_pieces(loudness.level(mix.pieces, mix.places, RATE, settings, ENCODER_GAIN_DB, gain_db=gain_db))

    short = session(90)                                              # its phrases, 4 s apart: a segment each
    places = [(1000 + n * 6 * RATE, short.places[n % 5][1]) for n in range(14)]
    base = Mix(short.pieces, places, 86 * RATE, RATE)
    nudged = bytearray(base.pieces[("speech", "2", 2 * RATE)])
    nudged[2 * RATE] ^= 1                                          # one sample value, in the middle
    spf = 576
    variants = {
        "base": levelled(base, -1.0),
        "other gain": levelled(base, -1.01),
        "one sample": levelled(Mix({**base.pieces, ("speech", "2", 2 * RATE): bytes(nudged)}, base.places,
                                   base.total, RATE), -1.0),
        "moved a frame": levelled(Mix(base.pieces, [(at + spf, p) for at, p in base.places], base.total + spf,
                                      RATE), -1.0),
        "moved a sample": levelled(Mix(base.pieces, [(at + 1, p) for at, p in base.places], base.total + 1,
                                       RATE), -1.0),
    }
    cache = DictCache()
    found = {}
    for name, mix in variants.items():
        found[name] = segments.encode(mix, tmp_path / f"{name}.mp3", "64k", settings, cache)
        segments.encode(mix, tmp_path / f"{name}-fresh.mp3", "64k", settings, DictCache())
        assert (tmp_path / f"{name}.mp3").read_bytes() == (tmp_path / f"{name}-fresh.mp3").read_bytes(), name
    assert found["base"].cached == 0 and found["other gain"].cached == 0
    uses = sum(p == ("speech", "2", 2 * RATE) for _, p in base.places)
    assert found["base"].segments >= 10 and found["base"].segments - found["one sample"].cached == uses
    assert found["moved a frame"].cached >= found["moved a frame"].segments - 1      # the first keeps its signature
    assert found["moved a sample"].cached <= 1
