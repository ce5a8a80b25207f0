"""The peak check's MP3 decoder (audio/decoder.py): libsndfile in the process, ffmpeg where that
library reads no MP3; the frames that let it start in the middle of a stream (mp3frames)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from mutagen.mp3 import MP3

from audioroutine.audio import decoder, loudness, peakcheck
from audioroutine.audio.lame import encode_segment
from audioroutine.audio.loudness import LoudnessSettings
from audioroutine.audio.mp3 import ENCODER_GAIN_DB
from audioroutine.audio.mp3frames import (
    DECODER_DELAY,
    main_data,
    reservoir_frame,
    samples_per_frame,
    silent_frames,
    split_frames,
    xing_frame,
)
from tests.audio.test_segments import RATE, session

SPF = samples_per_frame(RATE)


@pytest.fixture
def ffmpeg_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback: a soundfile whose libsndfile reads no MP3."""
    soundfile = pytest.importorskip("soundfile")
    decoder._soundfile.cache_clear()
    monkeypatch.setattr(soundfile, "available_formats", lambda: {"WAV": "Microsoft"})
    yield
    decoder._soundfile.cache_clear()


def loud_frames(seconds: int = 30) -> tuple[list[bytes], bytes]:
    """A levelled speech-like session's bare MP3 frames (its peaks near the ceiling) and its PCM."""
    mix = session(seconds)
    pcm = loudness.level(mix.pieces, mix.places, RATE, LoudnessSettings(), ENCODER_GAIN_DB)
    levelled = mix.with_pieces(pcm).pcm()
    return split_frames(encode_segment(levelled, RATE, "64k")), levelled


def decoded(frames: list[bytes]) -> np.ndarray:
    return np.frombuffer(decoder.decode(frames, RATE, b"".join), dtype="<i2")


def test_libsndfile_is_the_decoder_here_and_names_itself():
    assert decoder._soundfile() is not None
    assert decoder.identity().startswith("libsndfile 1.")


def test_both_decoders_give_every_frame_at_the_same_place_within_one():
    frames, _ = loud_frames()
    ours = decoded(frames)
    decoder._soundfile.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decoder, "_soundfile", lambda: None)
        theirs = decoded(frames)
    assert len(ours) == len(theirs) == len(frames) * SPF
    assert not ours[:DECODER_DELAY].any() and not theirs[:DECODER_DELAY].any()
    assert np.abs(ours.astype(int) - theirs).max() <= 1
    assert np.abs(ours).max() > 10000                     # it decoded sound, not silence


def test_a_run_from_the_middle_decodes_as_in_the_whole_stream_and_the_decoder_stays_quiet(capfd):
    """After a reservoir frame (the bytes the next frames reach back to) and two frames of
    overlap, at the same index modulo PHASE_FRAMES: sample for sample what the whole stream
    gives; no decoder message about a missing bit reservoir."""
    frames, _ = loud_frames()
    whole = decoded(frames)
    header = int.from_bytes(frames[0][:4], "big")
    reach = peakcheck.RESERVOIR_BYTES[False]
    assert max(main_data(frame)[1] for frame in frames) > len(frames[1]) - 13   # the reservoir reaches past a frame
    for a in (3, 40, 41, 117, 250):
        run = [reservoir_frame(header, frames[:a - 2], reach), *frames[a - 2:a + 30]]
        pad = (a - 3) % peakcheck.PHASE_FRAMES
        out = decoded(silent_frames(header, 0, pad) + run)
        at = (pad + 3) * SPF
        assert np.array_equal(out[at:at + 30 * SPF], whole[a * SPF:(a + 30) * SPF]), a
        assert not out[pad * SPF:(pad + 1) * SPF].any()          # the reservoir frame plays silence
    assert capfd.readouterr().err == ""


def test_a_reservoir_frame_holds_the_last_bytes_of_the_payloads_before_it():
    frames, _ = loud_frames(10)
    header = int.from_bytes(frames[0][:4], "big")
    made = reservoir_frame(header, frames[:20], 255)
    payloads = b"".join(frame[main_data(frame)[0]:] for frame in frames[:20])
    assert made.endswith(payloads[-255:]) and main_data(made)[1:] == (0, 0)
    assert len(made) - main_data(made)[0] >= 255


def test_a_xing_frame_tells_a_reader_the_stream_length():
    frames, _ = loud_frames(10)
    data = xing_frame(int.from_bytes(frames[0][:4], "big"), len(frames)) + b"".join(frames)
    assert MP3(io.BytesIO(data)).info.length == pytest.approx(len(frames) * SPF / RATE, abs=1e-6)


def test_the_check_sees_the_same_peaks_through_the_fallback(ffmpeg_only):
    """ffmpeg decodes the check (reservoir frames and phase padding included) and the whole
    segment to the same peaks where the check looked."""
    assert decoder.identity() == "ffmpeg"
    frames, pcm = loud_frames(40)
    settings = LoudnessSettings()
    check = peakcheck.Check(frames, pcm, RATE, 37, settings)
    peaks = peakcheck.decode_checks([check])[0]
    whole = peakcheck.decode_peaks(frames, RATE, 37, len(pcm) // 2, settings)
    assert len(check.runs) > 1 and peaks.max() > 0
    assert np.array_equal(peaks[peaks > 0], whole[peaks > 0])


def test_an_unreadable_stream_is_a_build_error():
    from audioroutine.core.errors import BuildError

    with pytest.raises(BuildError, match="MP3 decoder"):
        decoder.decode([b"\xff\xf3\x84\xc4" + bytes(200)] * 3 + [b"junk" * 50], RATE, b"".join)
