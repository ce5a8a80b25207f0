"""MPEG audio Layer III frames: split a stream into frames, and write the one Xing/Info + LAME
tag frame that makes a joined stream gapless (encoder delay and padding), with the CRC-16s
the tag carries. No audio library; numpy only for the CRC of whole streams.

Layout of the tag frame (the layout ffmpeg's muxer and LAME write): a frame header, zeroed
side information, "Info" (CBR), flags 0x0F, frame count (audio frames, the tag frame not
counted), byte count (the tag frame counted), a 100-entry TOC, a quality word, then LAME's
36 bytes: a 9-byte version, revision/VBR method, lowpass, peak, two replay gains, flags,
bitrate, encoder delay and padding (12 bits each), misc, MP3 gain, preset, music length,
music CRC (CRC-16/ARC of the audio frames) and the tag's own CRC (CRC-16/ARC of the
frame's first 190 bytes, this field zero). A decoder skips delay + 529 samples and drops padding - 529 at
the end (mutagen: frames x samples per frame - delay - padding)."""

from __future__ import annotations

import math
import re
import struct
from array import array
from functools import lru_cache
from itertools import accumulate

import numpy as np

from ..compile.timeline import frame_samples

# Bitrates (kbit/s) by header index: MPEG-1 Layer III, and MPEG-2/2.5 Layer III.
_BITRATES = {True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
             False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
ENCODER_DELAY = 576           # LAME's, in the tag
DECODER_DELAY = 529           # the synthesis filterbank's, added by every decoder
TAG_CRC_BYTES = 190


def samples_per_frame(sample_rate: int) -> int:
    """1152 for MPEG-1 rates (32 kHz and up), 576 below (the timeline's rule: it lays out
    pauses and the session's end on the same frames)."""
    return frame_samples(sample_rate)


def frame_length(header: int) -> int:
    """Bytes in the Layer III frame starting with the 4-byte `header`; ValueError if it is none."""
    version = (header >> 19) & 3
    if header >> 21 != 0x7FF or version == 1 or (header >> 17) & 3 != 1:
        raise ValueError(f"not an MPEG Layer III frame header: {header:08x}")
    mpeg1 = version == 3
    bitrate = _BITRATES[mpeg1][(header >> 12) & 15] * 1000
    rate_index = (header >> 10) & 3
    if not bitrate or rate_index == 3:
        raise ValueError(f"free-format or reserved MPEG frame header: {header:08x}")
    return (144 if mpeg1 else 72) * bitrate // _RATES[version][rate_index] + ((header >> 9) & 1)


def split_frames(data: bytes) -> list[bytes]:
    """The frames of a bare Layer III stream (no tags); ValueError unless it is one exactly."""
    frames: list[bytes] = []
    at, sizes = 0, dict[int, int]()
    while at < len(data):
        if at + 4 > len(data):
            raise ValueError("a truncated MPEG frame header")
        header = int.from_bytes(data[at:at + 4], "big")
        size = sizes.get(header)
        if size is None:
            size = sizes[header] = frame_length(header)
        if at + size > len(data):
            raise ValueError("a truncated MPEG frame")
        frames.append(data[at:at + size])
        at += size
    return frames


def lame_version(stream: bytes) -> bytes:
    """The 9-byte LAME version for the tag, from the signature the encoder writes into the
    ancillary data of a stream's first frames (`LAME4.1 (alpha 0)` -> `LAME4.1`; at low
    bitrates it spans several frames, so it is looked for in their payloads joined);
    `LAME3.100`, the last release, if there is none."""
    frames = split_frames(stream)[:64]
    payloads = b"".join(frame[main_data(frame)[0]:] for frame in frames)
    found = re.search(rb"LAME(\d)\.(\d{1,3})", payloads)
    version = b"LAME" + (found.group(1) + b"." + found.group(2) if found else b"3.100")
    return version[:9].ljust(9, b"\0")


def info_frame(first_header: int, frames: int, audio_bytes: int, toc_offsets: list[int], padding: int,
               music_crc: int, version: bytes) -> bytes:
    """The Info (CBR) + LAME tag frame for `frames` audio frames of `audio_bytes` bytes in
    all, the first of which starts with `first_header`. `toc_offsets`: byte offset (within
    the audio) of the frame at each percent 0..99 of the frames."""
    mpeg1 = (first_header >> 19) & 3 == 3
    side = _side_bytes(first_header)
    needed = 4 + side + 4 + 4 + 4 + 4 + 100 + 4 + 36
    header = _roomy_header(first_header, needed - 4 - side)    # a higher bitrate if the tag does not fit
    size = frame_length(header)
    total = size + audio_bytes
    toc = bytes(min(255, 256 * (size + offset) // total) if i else 0 for i, offset in enumerate(toc_offsets))
    kbps = min(255, _BITRATES[mpeg1][(first_header >> 12) & 15])
    lame = (version + bytes([0x01, 0]) + bytes(4) + bytes(4) + bytes([0, kbps])
            + ((ENCODER_DELAY << 12) | padding).to_bytes(3, "big") + bytes(4)
            + struct.pack(">IH", total, music_crc))
    frame = bytearray(size)
    body = (struct.pack(">I", header) + bytes(side) + b"Info" + struct.pack(">III", 0x0F, frames, total) + toc
            + bytes(4) + lame)
    frame[:len(body)] = body
    # LAME's tag CRC: of the frame's first 190 bytes (this field still zero), after them.
    frame[len(body):len(body) + 2] = struct.pack(">H", crc16(bytes(frame[:TAG_CRC_BYTES])))
    return bytes(frame)


# CRC-16/ARC (polynomial 0x8005 reflected, init 0): LAME's and ffmpeg's for the tag.
def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _table()
BLOCK = 64        # bytes per block at least: numpy steps block / 2 times over len / block blocks at once


@lru_cache(maxsize=1)
def _word_table() -> np.ndarray:
    """The CRC after two bytes from state `v ^ (b0 | b1 << 8)`, for every 16-bit value: a
    16-bit CRC state is all consumed by two bytes, so two steps are one lookup."""
    v = np.arange(1 << 16, dtype=np.uint32)
    table = np.array(_TABLE, dtype=np.uint32)
    once = (v >> 8) ^ table[v & 0xFF]
    return np.asarray((once >> 8) ^ table[once & 0xFF], dtype=np.uint32)


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC of `data`, continuing from `crc`. Long inputs run block-parallel in numpy
    (a CRC is linear: a block's CRC from zero, combined with what came before shifted over
    the block's length), two bytes a step, the blocks' CRCs combined pairwise (a tree), so
    a segment's frames take a fraction of a millisecond and a session's milliseconds."""
    if len(data) < 16 * BLOCK:
        for byte in data:
            crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
        return crc
    power = max(BLOCK.bit_length() - 1, len(data).bit_length() // 2 - 1)    # blocks of about sqrt(len) / 2
    block = 1 << power
    count = 1 << (-(-len(data) // block) - 1).bit_length()      # a power of two of blocks, for the tree
    padded = np.zeros(count * block, dtype=np.uint8)
    padded[len(padded) - len(data):] = np.frombuffer(data, dtype=np.uint8)   # leading zeros: a CRC from zero stays
    words = np.ascontiguousarray(padded.view("<u2").reshape(count, block // 2).T, dtype=np.uint32)
    table = _word_table()
    crcs = np.zeros(count, dtype=np.uint32)
    for column in words:
        crcs = table[crcs ^ column]
    while len(crcs) > 1:
        low, high = _shift_arrays(power)
        first, second = crcs[0::2], crcs[1::2]
        crcs = low[first & 0xFF] ^ high[first >> 8] ^ second
        power += 1
    return crc16_combine(crc, int(crcs[0]), len(data))


@lru_cache(maxsize=64)
def _shift_arrays(power: int) -> tuple[np.ndarray, np.ndarray]:
    low, high = _shift_tables(power)
    return np.array(low, dtype=np.uint32), np.array(high, dtype=np.uint32)


def crc16_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """The CRC of A followed by B from the CRCs of both and B's length."""
    return shift(crc_a, length_b) ^ crc_b


def shift(crc: int, length: int) -> int:
    """`crc` carried over `length` zero bytes: linear in `crc`, so one pair of byte tables
    per power of two of the length."""
    power = 0
    while length:
        if length & 1:
            low, high = _shift_tables(power)
            crc = low[crc & 0xFF] ^ high[crc >> 8]
        length >>= 1
        power += 1
    return crc


def frames_crc(frames: list[bytes], crc: int = 0) -> int:
    """CRC-16 of `frames` that are a header then zeros (`silent_frames`), continuing from
    `crc`: each frame is one affine step on the CRC (`_frame_step`), not a pass over its bytes."""
    for frame in frames:
        low, high, const = _frame_step(frame[:4], len(frame))
        crc = low[crc & 0xFF] ^ high[crc >> 8] ^ const
    return crc


@lru_cache(maxsize=16)
def _frame_step(head: bytes, length: int) -> tuple[list[int], list[int], int]:
    """The CRC carried over `head` and `length - 4` zero bytes, as tables: a CRC is linear in
    the CRC it starts from, so crc -> low[crc & 0xFF] ^ high[crc >> 8] ^ const."""
    const = shift(crc16(head), length - 4)
    return (*_byte_tables([shift(crc16(head, 1 << bit), length - 4) ^ const for bit in range(16)]), const)


def _byte_tables(images: list[int]) -> tuple[list[int], list[int]]:
    """A linear map of a CRC given by the image of each of its 16 bits, as tables of its
    low and high byte: crc -> low[crc & 0xFF] ^ high[crc >> 8]."""
    low, high = [0] * 256, [0] * 256
    for byte in range(1, 256):
        bit, rest = (byte & -byte).bit_length() - 1, byte & (byte - 1)     # its lowest bit set, and the rest
        low[byte], high[byte] = low[rest] ^ images[bit], high[rest] ^ images[bit + 8]
    return low, high


@lru_cache(maxsize=64)
def _shift_tables(power: int) -> tuple[list[int], list[int]]:
    """Tables carrying a CRC's low and high byte over 2**power zero bytes."""
    if power == 0:    # one zero byte: crc -> (crc >> 8) ^ _TABLE[crc & 0xFF]
        return [_TABLE[b] for b in range(256)], [b ^ _TABLE[0] for b in range(256)]
    low, high = _shift_tables(power - 1)

    def twice(value: int) -> int:
        value = low[value & 0xFF] ^ high[value >> 8]
        return low[value & 0xFF] ^ high[value >> 8]

    return _byte_tables([twice(1 << bit) for bit in range(16)])


def main_data(frame: bytes) -> tuple[int, int, int]:
    """(payload start in the frame, main_data_begin, main data bytes) of a mono Layer III
    frame: the payload follows the header (and CRC) and the side information; its main data
    starts main_data_begin bytes before the payload, in earlier frames (the bit reservoir)."""
    header = int.from_bytes(frame[:4], "big")
    mpeg1 = (header >> 19) & 3 == 3
    if (header >> 6) & 3 != 3:
        raise ValueError("not a mono frame")
    side = 4 + (0 if header >> 16 & 1 else 2)
    bits = int.from_bytes(frame[side:side + _side_bytes(header)], "big")
    size = 136 if mpeg1 else 72
    begin = bits >> (size - (9 if mpeg1 else 8))
    granules = (size - 18, size - 18 - 59) if mpeg1 else (size - 9,)
    length = sum((bits >> (start - 12)) & 0xFFF for start in granules)
    return side + _side_bytes(header), begin, -(-length // 8)


def _side_bytes(header: int) -> int:
    """Bytes of side information in a mono frame starting with `header`: 17 for MPEG-1, 9 below."""
    return 17 if (header >> 19) & 3 == 3 else 9


def _roomy_header(first_header: int, payload: int) -> int:
    """`first_header` (version, rate, mono) without padding or CRC, at the lowest bitrate whose
    frame has `payload` bytes after the side information."""
    header = (first_header & ~((1 << 9) | (0xF << 12))) | (1 << 16)
    for index in range((first_header >> 12) & 15, 15):
        if frame_length(header | (index << 12)) - 4 - _side_bytes(header) >= payload:
            return header | (index << 12)
    raise ValueError(f"no bitrate gives a frame {payload} bytes of payload")


def xing_frame(first_header: int, frames: int) -> bytes:
    """A Xing tag frame giving the count of the `frames` frames after it (no LAME tag: no
    encoder delay or padding), so that a decoder knows a bare stream's length without
    guessing it from its size; it decodes to nothing."""
    header = _roomy_header(first_header, 12)
    frame = bytearray(frame_length(header))
    frame[:4] = header.to_bytes(4, "big")
    at = 4 + _side_bytes(header)
    frame[at:at + 12] = b"Xing" + struct.pack(">II", 1, frames)
    return bytes(frame)


def reservoir_frame(first_header: int, before: list[bytes], reach: int) -> bytes:
    """A frame that decodes to silence (side information all zero: it reads no main data)
    and ends with the last `reach` bytes of the payloads of the frames `before` (every
    byte a frame after it can reach back to through main_data_begin): the frame that lets a
    decoder start in the middle of a stream and decode the frame after it as in the whole."""
    payloads: list[bytes] = []
    held = 0
    for frame in reversed(before):
        if held >= reach:
            break
        payloads.append(frame[main_data(frame)[0]:])
        held += len(payloads[-1])
    joined = b"".join(reversed(payloads))
    data = joined[max(0, len(joined) - reach):]
    header = _roomy_header(first_header, len(data))
    made = bytearray(frame_length(header))
    made[:4] = header.to_bytes(4, "big")
    made[len(made) - len(data):] = data
    return bytes(made)


def splice(new: list[bytes], replaced: list[bytes], rest: list[bytes]) -> list[bytes] | None:
    """`new` frames (a fresh stream's, as long as `replaced`) in place of `replaced`, followed
    by `rest`; None if that cannot be done. `rest`'s first frames may take main data from
    the bytes before them (the bit reservoir), in `replaced`: those bytes are copied into the
    free space at the end of `new`'s payloads (after the last main data there, where an
    encoder puts stuffing or data of a frame that was cut off), when there is room."""
    if not new or not rest:
        return new + rest
    reach, position = 0, 0
    for frame in rest:
        offset, begin, _ = main_data(frame)
        reach = max(reach, begin - position)
        position += len(frame) - offset
        if position > 1024:                # main_data_begin reaches back 511 bytes at most
            break
    if reach <= 0:
        return new + rest
    before = b"".join(frame[main_data(frame)[0]:] for frame in replaced)
    offsets, starts, end, at = [], [], 0, 0
    for frame in new:
        offset, begin, length = main_data(frame)
        offsets.append(offset)
        starts.append(at)
        end = max(end, at - begin + length)
        at += len(frame) - offset
    if reach > at - end or reach > len(before):
        return None
    needed, patched, remaining = before[-reach:], list(new), reach
    for i in range(len(new) - 1, -1, -1):   # into the last payloads, back to front
        buffer = bytearray(patched[i])
        take = min(len(buffer) - offsets[i], remaining)
        buffer[len(buffer) - take:] = needed[remaining - take:remaining]
        patched[i] = bytes(buffer)
        remaining -= take
        if not remaining:
            break
    return patched + rest


MAX_PERIOD = 1024    # frames: past this, a run of silent frames is made frame by frame


def silent_run(header: int, first: int, count: int) -> tuple[list[bytes], array[int], int]:
    """The bytes (in parts), frame sizes and CRC-16 (from 0) of `silent_frames(header, first,
    count)`, made from one padding period (49 frames at 22,050 Hz and 64 kbit/s: the frames'
    lengths repeat with it, `_period`): the rest of the period `first` falls in, whole
    periods (one bytes object, repeated in the parts) and the start of one more, the CRC
    combined from theirs (`crc16_combine`)."""
    period = _padding_period(header)
    phase = first % period
    if period > MAX_PERIOD or count < period - phase:           # a few frames: one by one
        frames = silent_frames(header, first, count)
        return [b"".join(frames)], array("I", map(len, frames)), frames_crc(frames)
    one, sizes, starts, head_crcs, tail_crcs, (low, high, const) = _period(header)
    whole, rest = divmod(count - (period - phase), period)
    crc = tail_crcs[phase]                                       # frames phase.. of the period
    for _ in range(whole):
        crc = low[crc & 0xFF] ^ high[crc >> 8] ^ const
    crc = crc16_combine(crc, head_crcs[rest], starts[rest])      # frames ..rest of one more
    return ([one[starts[phase]:], *[one] * whole, one[:starts[rest]]],
            sizes[phase:] + sizes * whole + sizes[:rest], crc)


def _padding_period(header: int) -> int:
    """Frames after which the padding of `silent_frames` repeats."""
    rate, slots = _slots(header)
    return rate // math.gcd(slots, rate)


def _slots(header: int) -> tuple[int, int]:
    """(sample rate, bytes per frame times the rate) of frames starting with `header`."""
    mpeg1 = (header >> 19) & 3 == 3
    version, rate_index = (header >> 19) & 3, (header >> 10) & 3
    return _RATES[version][rate_index], (144 if mpeg1 else 72) * _BITRATES[mpeg1][(header >> 12) & 15] * 1000


@lru_cache(maxsize=16)
def _period(header: int) -> tuple[bytes, array[int], list[int], list[int], list[int],
                                  tuple[list[int], list[int], int]]:
    """One padding period of silent frames from a period's start: its bytes, frame sizes,
    where each frame starts, the CRC (from 0) of its first k frames and of its frames from
    k on, and its CRC as an affine map of the CRC it starts from (crc -> low[crc & 0xFF] ^
    high[crc >> 8] ^ const, the tables made from the image of each bit)."""
    frames = silent_frames(header, 0, _padding_period(header))
    one = b"".join(frames)
    starts = [0, *accumulate(map(len, frames))]
    head_crcs, tail_crcs = [0], [0]
    for frame in frames:
        head_crcs.append(frames_crc([frame], head_crcs[-1]))
    for k in range(len(frames) - 1, -1, -1):
        tail_crcs.insert(0, crc16_combine(frames_crc([frames[k]]), tail_crcs[0], starts[-1] - starts[k + 1]))
    const = head_crcs[-1]
    low, high = _byte_tables([frames_crc(frames, 1 << bit) ^ const for bit in range(16)])
    return one, array("I", map(len, frames)), starts, head_crcs, tail_crcs, (low, high, const)


def silent_frames(header: int, first: int, count: int) -> list[bytes]:
    """`count` frames that decode to digital silence, to stand as frames `first`.. of a
    stream whose frames start with `header`: side information all zero (no main data, no
    bit reservoir: main_data_begin 0, no spectral values), so a decoder outputs zeros and
    keeps zeros for the next frame's overlap. Padded like a CBR stream (the padding bit on
    as the byte count per frame runs ahead, by the frame's place in the stream), so the
    stream keeps its bitrate."""
    rate, slots = _slots(header)
    plain = (header & ~(1 << 9)) | (1 << 16)          # no padding, no CRC
    frames = {padded: bytearray(frame_length(plain | (padded << 9))) for padded in (0, 1)}
    for padded, frame in frames.items():
        frame[:4] = (plain | (padded << 9)).to_bytes(4, "big")
    made = [bytes(frames[0]), bytes(frames[1])]
    return [made[((j + 1) * slots // rate - j * slots // rate) - slots // rate] for j in range(first, first + count)]
