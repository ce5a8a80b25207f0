"""An independent listener: pocketsphinx transcribes a built session so tests can check that
every cue can be understood. Used by tests/audio/test_intelligibility.py and bench/bench_listen.py.

Two checks, both on audio decoded from the MP3 at 16 kHz:
- session WER: the whole session, cut into utterances by pocketsphinx's own voice activity
  detector (not by our timeline), transcribed with the general English language model and
  compared with every spoken cue's text in order;
- per cue: each speech event of the timeline is cut out (start/length converted to 16 kHz)
  and decoded twice — with the general model (open vocabulary) and with a grammar whose only
  sentences are the session's own phrases (closed set). A cue is *heard* when the open decoder
  hears something there AND either the closed-set decoder names exactly this cue or the open
  transcript's WER is at most 0.8. Otherwise it is *missing or garbled*. Either decoder alone
  misjudges single words now and then ("three" as "breathe" in the closed set, "one" as
  "why" in the open one); a cue that is silent or another phrase fails both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from audioroutine.compile.timeline import Timeline

RATE = 16000                  # pocketsphinx's English model is trained on 16 kHz audio
PAD = np.zeros(RATE // 4, dtype="<i2")   # 250 ms of silence around each cut-out cue
MISSING_WER = 0.8             # open-vocabulary WER above this: the words were not heard
SILENT = 4                    # a cut-out cue whose peak is below this (int16) is silence, not decoded

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """0–999 999 in English words, as a recognizer writes them ("forty five")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + (" " + number_words(rest) if rest else "")
    if n < 1_000_000:
        rest = n % 1000
        return number_words(n // 1000) + " thousand" + (" " + number_words(rest) if rest else "")
    raise ValueError(f"number too large: {n}")


def _spell_number(match: re.Match[str]) -> str:
    whole, _, frac = match.group().partition(".")
    words = number_words(int(whole))
    if frac:
        words += " point " + " ".join(_ONES[int(d)] for d in frac)
    return f" {words} "


def normalize(text: str) -> list[str]:
    """Words for WER: lowercase, digits spelled out, punctuation and hyphens gone."""
    text = re.sub(r"\d+(?:\.\d+)?", _spell_number, text.lower())
    text = re.sub(r"[^a-z']+", " ", text)          # hyphens, commas, colons... → spaces
    return [w.strip("'") for w in text.split() if w.strip("'")]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def wer(ref: list[str], hyp: list[str]) -> float:
    """Word error rate of `hyp` against `ref` (both already normalized)."""
    if not ref:
        return float(bool(hyp))
    return edit_distance(ref, hyp) / len(ref)


@dataclass
class CueResult:
    index: int                # position among the session's speech events
    start: float              # seconds
    text: str
    open_hyp: str             # general language model
    closed_hyp: str           # grammar of the session's phrases
    expected: str             # this cue's words as the grammar knows them
    wer: float

    @property
    def heard(self) -> bool:
        named = bool(self.expected) and self.closed_hyp == self.expected   # no known word: cannot be named
        return bool(self.open_hyp) and (named or self.wer <= MISSING_WER)


@dataclass
class Report:
    cues: list[CueResult] = field(default_factory=list)
    session_hyp: list[str] = field(default_factory=list)
    session_ref: list[str] = field(default_factory=list)
    speech_seconds: float = 0.0

    @property
    def session_wer(self) -> float:
        return wer(self.session_ref, self.session_hyp)

    @property
    def cue_wer(self) -> float:
        """Corpus WER over the cut-out cues (errors / reference words)."""
        words = sum(len(normalize(c.text)) for c in self.cues)
        errors = sum(edit_distance(normalize(c.text), c.open_hyp.split()) for c in self.cues)
        return errors / words if words else 0.0

    @property
    def missing(self) -> list[CueResult]:
        return [c for c in self.cues if not c.heard]


class Listener:
    """Two pocketsphinx decoders (open vocabulary and closed set), loaded once."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        # Defaults otherwise (live CMN, no dither): dither made short words worse. Decoding is
        # deterministic, so the same MP3 always gets the same verdicts.
        self.open = Decoder(samprate=RATE, loglevel="FATAL")
        self.closed = Decoder(samprate=RATE, loglevel="FATAL")

    def in_dictionary(self, words: Iterable[str]) -> list[str]:
        return [w for w in words if self.closed.lookup_word(w) is not None]

    def _decode(self, decoder: Any, pcm: np.ndarray) -> str:   # pocketsphinx ships no type hints
        if not len(pcm) or int(np.abs(pcm.astype(np.int32)).max()) < SILENT:
            return ""     # digital silence: nothing to hear (and it would give NaN features)
        decoder.start_utt()
        decoder.process_raw(np.concatenate([PAD, pcm, PAD]).tobytes(), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return " ".join(hyp.hypstr.split()) if hyp else ""

    def transcribe(self, pcm: np.ndarray) -> list[str]:
        """Whole-session transcript: utterances found by pocketsphinx's voice activity detector."""
        from pocketsphinx import Segmenter

        segmenter = Segmenter(sample_rate=RATE)
        words: list[str] = []
        for segment in segmenter.segment(_Reader(pcm.tobytes())):
            words += self._decode(self.open, np.frombuffer(segment.pcm, dtype="<i2")).split()
        return words

    def transcribe_found(self, pcm: np.ndarray, over_bed: bool = False) -> list[str]:
        """Whole-session transcript cut where tests/segments.py finds sound in the audio itself
        (over a music bed: where it rises over the bed), not by the timeline: runs closer
        than MIN_QUIET_MS are one utterance. pocketsphinx's own detector does not end an
        utterance while a bed plays (docs/music.md), so over a bed this is the independent cut."""
        from .segments import sound_runs

        x = pcm.astype(np.float64) / 32768
        words: list[str] = []
        for start, end in sound_runs(x, RATE, over_bed=over_bed):
            words += self._decode(self.open, pcm[max(0, start - RATE // 20):end + RATE // 20]).split()
        return words

    def check(self, pcm: np.ndarray, cues: list[tuple[int, int, str]], rate: int, whole: bool = True) -> Report:
        """Listen to `pcm` (16 kHz int16 mono). `cues` are the timeline's speech events as
        (start, length, text) in samples at `rate`."""
        phrases = {text: " ".join(self.in_dictionary(normalize(text))) for _, _, text in cues}
        grammar = "#JSGF V1.0;\ngrammar cues;\npublic <cue> = " + " | ".join(
            f"( {words} )" for words in dict.fromkeys(phrases.values()) if words) + " ;\n"
        self.closed.add_jsgf_string("cues", grammar)
        self.closed.activate_search("cues")
        report = Report(speech_seconds=sum(length for _, length, _ in cues) / rate)
        for index, (start, length, text) in enumerate(cues):
            a, b = start * RATE // rate, -(-(start + length) * RATE // rate)
            piece = pcm[a:b]
            open_hyp = self._decode(self.open, piece)
            report.cues.append(CueResult(
                index, start / rate, text, open_hyp, self._decode(self.closed, piece), phrases[text],
                wer(normalize(text), open_hyp.split())))
        report.session_ref = [w for _, _, text in cues for w in normalize(text)]
        if whole:
            report.session_hyp = self.transcribe(pcm)
        return report


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk


def speech_cues(timeline: Timeline) -> list[tuple[int, int, str]]:
    """(start, length, text) of every speech event; chimes and silences are ignored."""
    return [(e.start, e.length, e.text) for e in timeline.events if e.kind == "speech" and e.text]


def decode_16k(path: Path) -> np.ndarray:
    from audioroutine.audio.mp3 import decode_mp3

    return np.frombuffer(decode_mp3(path, RATE).raw_data, dtype="<i2")


def format_report(report: Report, only_missing: bool = False) -> str:
    lines = []
    for c in report.cues:
        if only_missing and c.heard:
            continue
        mark = "ok " if c.heard else "MISSING"
        lines.append(f"{mark:7} {c.start:8.3f}s  wer {c.wer:4.2f}  {c.text!r} -> open {c.open_hyp!r}, closed {c.closed_hyp!r}")
    return "\n".join(lines)
