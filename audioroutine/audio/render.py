"""Render: a timeline's speech, sounds and silence as one mono session, sample-exactly, played
out in chunks and never held whole. A session is its unique pieces (each phrase and sound
once) and where they sound; with loudness on, each speech clip is phase-rotated first
(loudness.rotate_phase: same sound, lower peaks, same length) and the pieces are levelled
together (loudness.level); with loudness off, a clip is the engine's samples (trimmed, see
speech.trim_quiet) with only the edge fades (pieces.EDGE_FADE_MS)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..compile.timeline import Timeline
from ..core.errors import BuildError
from ..speech.clips import Speech
from .loudness import Analysis, Levelled, piece_bytes
from .pieces import speech_piece
from .tones import synthesize

if TYPE_CHECKING:
    from .music import Bed

CHUNK_BYTES = 1 << 18     # what the stream hands on at a time (about 6 s at 22,050 Hz)

Piece = tuple[str, str, int]   # (kind, text or sound name, samples)


@dataclass
class Mix:
    """A session as pieces (int16 mono PCM, each once) and the sample offsets where they
    start; everything else is digital silence. `chunks()` plays it out. `analyses`: the
    pieces' loudness analyses already known (from the phrase cache)."""

    pieces: Mapping[Piece, bytes]
    places: list[tuple[int, Piece]]
    total: int
    sample_rate: int
    analyses: dict[Piece, Analysis] = field(default_factory=dict)
    bed: Bed | None = None         # music under it all (music.py); None: digital silence between pieces
    _digests: dict[Piece, bytes] = field(default_factory=dict, repr=False, compare=False)

    def length(self, piece: Piece) -> int:
        """Samples in `piece`, without reading or levelling it (Pieces, loudness.Levelled)."""
        return piece_bytes(self.pieces, piece) // 2

    def digest(self, piece: Piece) -> bytes:
        """sha256 naming what `piece` sounds like, without levelling it (Levelled.digest;
        else of its samples)."""
        if isinstance(self.pieces, Levelled):
            return self.pieces.digest(piece)
        found = self._digests.get(piece)
        if found is None:
            found = self._digests[piece] = hashlib.sha256(self.pieces[piece]).digest()
        return found

    def chunks(self) -> Iterator[bytes]:
        """The session's PCM in order, about CHUNK_BYTES at a time; exactly `total` samples."""
        if self.bed is None:
            return self._pieces()
        return self.bed.mixed(self._pieces())

    def _pieces(self) -> Iterator[bytes]:
        buffer, position = bytearray(), 0
        for start, piece in self.places:
            if start < position:
                raise BuildError(f"internal: '{piece[1]}' starts before the previous piece ends")
            yield from _silence(buffer, 2 * (start - position))
            buffer += self.pieces[piece]
            position = start + len(self.pieces[piece]) // 2
            if len(buffer) >= CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
        if position > self.total:
            raise BuildError("internal: rendered length differs from the timeline")
        yield from _silence(buffer, 2 * (self.total - position))
        if buffer:
            yield bytes(buffer)

    def pcm(self) -> bytes:
        """The whole session at once (tests and short clips; builds stream `chunks()`)."""
        return b"".join(self.chunks())

    @classmethod
    def of_clip(cls, pcm: bytes, sample_rate: int) -> Mix:
        """A session that is one clip (int16 mono) from start to end."""
        piece: Piece = ("speech", "", len(pcm) // 2)
        return cls({piece: pcm}, [(0, piece)], len(pcm) // 2, sample_rate)

    def with_pieces(self, pieces: Mapping[Piece, bytes]) -> Mix:
        return Mix(pieces, self.places, self.total, self.sample_rate, self.analyses, self.bed)


class Pieces(Mapping[Piece, bytes]):
    """A session's pieces, each made (a phrase's: read from its cache entry and checked,
    pieces.SpeechPiece) when first played, so a segment found in the MP3 cache reads none of
    its pieces; `size` says how long each is without making it."""

    def __init__(self) -> None:
        self._sizes: dict[Piece, int] = {}
        self._pcm: dict[Piece, bytes | Callable[[], bytes]] = {}

    def add(self, piece: Piece, samples: int, pcm: bytes | Callable[[], bytes]) -> None:
        """`pcm`: the samples, or what gives them (made once however often and from whichever
        thread it is asked: SpeechPiece.pcm)."""
        self._sizes[piece] = 2 * samples
        self._pcm[piece] = pcm

    def __getitem__(self, piece: Piece) -> bytes:
        pcm = self._pcm[piece]
        return pcm if isinstance(pcm, bytes) else pcm()

    def __iter__(self) -> Iterator[Piece]:
        return iter(self._sizes)

    def __len__(self) -> int:
        return len(self._sizes)

    def size(self, piece: Piece) -> int:
        """Bytes in `piece`."""
        return self._sizes[piece]


def _silence(buffer: bytearray, size: int) -> Iterator[bytes]:
    """Append `size` zero bytes to `buffer`, handing on full chunks as they fill."""
    while size > 0:
        step = min(size, CHUNK_BYTES - len(buffer))
        buffer += bytes(step)
        size -= step
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()


def mix(timeline: Timeline, speech: Speech, rotate: bool = True) -> Mix:
    """The session of `timeline`: every distinct phrase fetched (and rotated and analysed,
    when the session is to be loudness-levelled: `rotate`; see pieces.py) and faded once,
    every sound made once. Raises if a piece's length is not the timeline's."""
    rate = timeline.sample_rate
    pieces = Pieces()
    analyses: dict[Piece, Analysis] = {}
    places: list[tuple[int, Piece]] = []
    for event in timeline.events:
        if event.kind == "silence":
            continue
        piece: Piece = (event.kind, event.text, event.length)
        if piece not in pieces:
            data: bytes | Callable[[], bytes]
            if event.kind == "speech":
                found = speech_piece(speech, event.text, rotate)
                if found.analysis is not None:
                    analyses[piece] = found.analysis
                samples, data = found.samples, found.pcm
            else:
                data = synthesize(event.text, rate, event.length)
                samples = len(data) // 2
            if samples != event.length:
                raise BuildError(f"internal: '{event.text}' is {samples} samples, timeline says {event.length}")
            pieces.add(piece, samples, data)
        places.append((event.start, piece))
    return Mix(pieces, places, timeline.total, rate, analyses)
