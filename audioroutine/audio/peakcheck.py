"""The peak check after MP3 coding, decoding only where a peak could go over the ceiling
(`check`, `decode_checks`), or a whole segment (`decode_peaks`). Used by segments.py."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from ..model.loudness_settings import LoudnessSettings
from . import decoder
from .lame import LEAD, Stats, encode_segment, log_run, window
from .loudness import PEAK_MARGIN_DB, block_size, stream_true_peaks
from .mp3frames import reservoir_frame, samples_per_frame, silent_frames, split_frames

# Where the peak check decodes (measured on the seed routine, both levels, Piper and espeak,
# bench/bench_segments.py): a 10 ms block of a decode never rose more than 1.70 dB over the
# largest true peak of the PCM within NEAR_BLOCKS blocks of it (LAME's 0.95 scaling
# included; the quantization noise of a loud block spreads over its frame's window). So
# only the frames around blocks of the PCM within CODING_RISE_DB of the check's ceiling are
# decoded (on the seed 38-43 % of the samples, warm-up frames included); every other block cannot go over.
CODING_RISE_DB = 3.0
NEAR_BLOCKS = 6
RESERVOIR_BYTES = {True: 511, False: 255}    # main_data_begin's reach: MPEG-1, MPEG-2/2.5
OVERLAP_FRAMES = 2       # frames decoded before a run for the decoder's overlap and filterbank
PHASE_FRAMES = 8         # mpg123's synthesis buffer is a ring of 16 steps and a frame moves it 18: a
                         # frame decodes to the same samples (not 1 off) only at the same index modulo
                         # 8 (the ring's period; 4 sufficed on the seed, 2 did not)
SILENT_LEAD = 2          # silent frames before a check's frames: the decoder's overlap and filterbank emptied
CHECK_BATCH = 32         # segments checked in one decoder run at most,
CHECK_SECONDS = 120      # and this much audio (5 MB of PCM): what a batch holds does not grow with the session
                         # (smaller batches were no faster on the seed: a decoder run in the process starts in
                         # well under a millisecond)
PIECE_BYTES = 1 << 16    # PCM analysed at a time (memory stays flat, whatever a segment's length)


def encode_and_check(pcm: bytes, rate: int, bitrate: str, lead: int, settings: LoudnessSettings,
                     stats: Stats | None = None) -> tuple[list[bytes], np.ndarray]:
    """A segment's bare MP3 stream (its frames) and the true peaks per 10 ms block of its decode (on the
    session's grid: `lead` zeros first) wherever it could go over the ceiling: `check`."""
    frames = split_frames(encode_segment(pcm, rate, bitrate, stats))
    return frames, check(frames, pcm, rate, lead, settings, stats)


def check(frames: list[bytes], pcm: bytes, rate: int, lead: int, settings: LoudnessSettings,
          stats: Stats | None = None) -> np.ndarray:
    """True peaks per 10 ms block of the decode of `frames` (the stream of `pcm`), on the
    session's grid (`lead` zeros first), where it could go over the ceiling (`_Check`)."""
    return decode_checks([Check(frames, pcm, rate, lead, settings)], stats)[0]


class Check:
    """The peak check of one stream: true peaks per 10 ms block of its decode in every block
    within NEAR_BLOCKS of one whose PCM true peak is within CODING_RISE_DB of the ceiling
    (0 in blocks no decoder can lift over it). Only the frames that play those blocks are
    decoded, each run of them after enough frames before it to refill the bit reservoir
    and the decoder's overlap, and the whole after SILENT_LEAD silent frames that leave
    the decoder as a fresh one (their output dropped): what a decoder of the whole stream
    returns there, sample for sample (tests/audio/test_segments.py), wherever the check sits in a
    decoder run of several (`decode_checks`)."""

    def __init__(self, frames: list[bytes], pcm: bytes, rate: int, lead: int, settings: LoudnessSettings) -> None:
        self.frames, self.samples, self.rate, self.lead, self.settings = frames, len(pcm) // 2, rate, lead, settings
        spf, block = samples_per_frame(rate), block_size(rate)
        self.ceiling_db = settings.true_peak - PEAK_MARGIN_DB
        source = stream_true_peaks(window(_pieces(pcm), 0, len(pcm), bytes(2 * lead)), rate,
                                   self.ceiling_db - CODING_RISE_DB - 3.0, self.ceiling_db - CODING_RISE_DB)
        self.blocks = len(source)
        self.loud = source > 10 ** ((self.ceiling_db - CODING_RISE_DB) / 20)
        near = np.flatnonzero(self.loud)
        # Blocks [b - NEAR, b + NEAR] of the session grid are input samples from
        # (b - NEAR) * block - lead; input sample s is decoded at s + LEAD, in frame (s + LEAD) // spf;
        # one frame more either side: the true peak's interpolation reads past a block's edges.
        first = np.maximum(((near - NEAR_BLOCKS) * block - lead + LEAD) // spf - 1, 0)
        last = np.minimum(((near + NEAR_BLOCKS + 1) * block - lead + LEAD - 1) // spf + 1, len(frames) - 1)
        self.header = int.from_bytes(frames[0][:4], "big")
        self.reach = RESERVOIR_BYTES[(self.header >> 19) & 3 == 3]
        self.placed: list[int] = []         # where each run's first frame sits in the decode (`stream`)
        self.runs: list[list[int]] = []
        for a, b in zip(first.tolist(), last.tolist()):
            if self.runs and a - OVERLAP_FRAMES - 1 <= self.runs[-1][1] + 1:
                self.runs[-1][1] = max(self.runs[-1][1], b)
            else:
                self.runs.append([a, b])

    def stream(self, at: int = 0) -> list[bytes]:
        """The frames to decode (none when no block is near the ceiling), the first of them
        at index `at` of the decoder run: each run of frames (`_run`) after silent frames
        that put its frame a at an index equal to a's own modulo PHASE_FRAMES."""
        self.placed = []
        if not self.runs:
            return []
        out = silent_frames(self.header, 0, SILENT_LEAD)
        for a, b in self.runs:
            run = self._run(a, b)
            warm = len(run) - (b + 1 - a)
            out += silent_frames(self.header, 0, (a - at - len(out) - warm) % PHASE_FRAMES) + run
            self.placed.append(len(out) - (b + 1 - a))
        return out

    def _run(self, a: int, b: int) -> list[bytes]:
        """Frames a..b after their warm-up: OVERLAP_FRAMES frames for the decoder's overlap,
        and before them, unless they start the stream, a frame holding the bytes of the bit
        reservoir they reach back to (mp3frames.reservoir_frame): no decoder meets a frame
        whose main data lies before what it was given."""
        start = max(0, a - OVERLAP_FRAMES)
        if not start:
            return self.frames[:b + 1]
        return [reservoir_frame(self.header, self.frames[:start], self.reach), *self.frames[start:b + 1]]

    def peaks(self, out: bytes) -> np.ndarray:
        """The peaks from `out`, the decode of `stream()`."""
        if not self.runs:
            return np.zeros(self.blocks)
        spf = samples_per_frame(self.rate)

        def played() -> Iterator[bytes]:           # the stream's decode, zeros outside the runs
            position = 0
            for (a, b), at in zip(self.runs, self.placed):
                yield from _pieces(bytes(2 * (a * spf - position)))
                yield from _pieces(out[2 * at * spf:2 * (at + b + 1 - a) * spf])
                position = (b + 1) * spf

        found = stream_true_peaks(window(played(), 2 * LEAD, 2 * self.samples, bytes(2 * self.lead)), self.rate,
                                  self.ceiling_db - 3.0)
        return np.where(_widened(self.loud), found, 0.0)


def _pieces(data: bytes) -> Iterator[bytes]:
    """`data` PIECE_BYTES at a time: analysed a piece at a time, whatever a segment's length."""
    for at in range(0, len(data), PIECE_BYTES):
        yield data[at:at + PIECE_BYTES]


def decode_checks(checks: list[Check], stats: Stats | None = None) -> list[np.ndarray]:
    """The peaks of each check, all decoded in one decoder run (decoder.py; none when no block of any is
    near the ceiling). If the decoder returned other than a frame's samples per frame, each
    stream is decoded whole instead."""
    streams, frames = [], 0
    for check in checks:
        streams.append(check.stream(frames))
        frames += len(streams[-1])
    if not frames:
        return [check.peaks(b"") for check in checks]
    rate = checks[0].rate
    spf = samples_per_frame(rate)
    started = time.monotonic()
    out = decoder.decode([frame for stream in streams for frame in stream], rate, b"".join)
    if stats is not None:
        stats.add(decodes=1)
    log_run("decode", frames * spf, started)
    if len(out) != 2 * frames * spf:           # a decoder that dropped a frame: decode each whole
        return [decode_peaks(c.frames, rate, c.lead, c.samples, c.settings, stats) for c in checks]
    found, at = [], 0
    for check, stream in zip(checks, streams):
        found.append(check.peaks(out[at:at + 2 * len(stream) * spf]))
        at += 2 * len(stream) * spf
    return found


def _widened(mask: np.ndarray) -> np.ndarray:
    """`mask` with every True spread NEAR_BLOCKS blocks either way."""
    padded = np.concatenate((np.zeros(NEAR_BLOCKS, dtype=bool), mask, np.zeros(NEAR_BLOCKS, dtype=bool)))
    return np.asarray(np.lib.stride_tricks.sliding_window_view(padded, 2 * NEAR_BLOCKS + 1).any(axis=1))


def decode_peaks(frames: list[bytes], rate: int, lead: int, samples: int, settings: LoudnessSettings,
                 stats: Stats | None = None) -> np.ndarray:
    """True peaks per 10 ms block of a segment's own decode (its `samples` samples, after the
    stream's LEAD), on the session's grid: `lead` zeros first. All of it decoded."""
    started = time.monotonic()
    threshold = settings.true_peak - PEAK_MARGIN_DB - 3.0

    def peaks(chunks: Iterator[bytes]) -> np.ndarray:
        return stream_true_peaks(window(chunks, 2 * LEAD, 2 * samples, bytes(2 * lead)), rate, threshold)

    found = decoder.decode(frames, rate, peaks)
    if stats is not None:
        stats.add(decodes=1)
    log_run("decode", samples, started)
    return found
