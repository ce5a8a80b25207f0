"""Intelligibility: an independent recognizer (pocketsphinx) must understand a built session.

A small script with holds, a spoken countdown, breath cues and sides is built with the real
Piper voice; the MP3 is decoded at 16 kHz and every speech event of the timeline is checked
(see tests/listener.py for the criterion). The control proves the check can fail: the phrase
cache is tampered with (one phrase made silent, two others replaced by other phrases' audio,
same lengths) and the rebuilt MP3 must be reported with exactly those cues missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audioroutine import BuildOptions, build, load_script, plan
from audioroutine.compile.compiler import compile_level
from audioroutine.engines import Clip
from audioroutine.run.pipeline import speech_for
from audioroutine.speech.clips import SpeechStats, audible_span, trim_quiet

from ..listener import (
    MISSING_WER,
    Listener,
    decode_16k,
    edit_distance,
    format_report,
    normalize,
    speech_cues,
    wer,
)

SCRIPT = """
id: listen
title: Listening check
language: en
levels:
  beginner: {title: Beginner}
exercises:
  - id: press
    name: Wall press
    setup:
      - Stand facing a wall with your feet apart.
    hold: Push and hold.
    release: And relax your arms.
    dosage:
      reps: 2
      hold: 7s
      rest: 3s
      countdown: 3
  - id: cat-cow
    name: Cat cow
    inhale: Breathe in and lift your chest.
    exhale: Breathe out and round your back.
    dosage:
      breath: {in: 4s, out: 4s}
  - id: bird
    name: Bird dog
    hold: Reach and hold.
    dosage:
      sides: each
      reps: 1
      hold: 3s
      rest: 2s
"""

SILENCED = "2"                                                         # a countdown number, said twice
REPLACED = {
    "Stand facing a wall with your feet apart.": "Breathe out and round your back.",
    "And relax.": "Get ready.",
}


# --- the helpers themselves (fast) --------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ("Rep 3 of 8, left side.", "rep three of eight left side"),
    ("Exercise 1 of 5: Cat-cow.", "exercise one of five cat cow"),
    ("Hold for 2.5 seconds, 45 times; 120 in all.",
     "hold for two point five seconds forty five times one hundred twenty in all"),
    ("Don't 'rush' it!", "don't rush it"),
])
def test_normalize_spells_numbers_and_strips_punctuation(text: str, words: str) -> None:
    assert normalize(text) == words.split()


def test_wer_counts_substitutions_deletions_insertions() -> None:
    ref = ["rep", "one", "of", "three", "push", "and", "hold"]
    assert edit_distance(ref, ["rep", "one", "of", "three", "bush", "and", "old"]) == 2
    assert wer(ref, ref[:-2]) == pytest.approx(2 / 7)
    assert wer(ref, ref + ["now"]) == pytest.approx(1 / 7)
    assert wer(ref, []) == 1.0
    assert wer([], []) == 0.0


# --- the real thing (slow) ----------------------------------------------------------------

@pytest.fixture(scope="module")
def listener() -> Listener:
    pytest.importorskip("pocketsphinx")
    return Listener()


def _session(script: Path, tmp: Path, cache: Path, fresh: bool) -> tuple[Path, list[tuple[int, int, str]], int]:
    routine = load_script(script)
    result = build(routine, BuildOptions(out_dir=tmp / "out", cache_dir=cache, force=True))
    assert (result.stats.synthesized > 0) == fresh      # a rebuild takes every clip from the cache
    timeline = plan(routine, "beginner", BuildOptions(cache_dir=cache))
    assert timeline.estimated == 0
    return result.sessions[0].path, speech_cues(timeline), timeline.sample_rate


def _tamper(script: Path, cache: Path) -> None:
    """Rewrite cached clips in place, keeping each clip's length (so the timeline is unchanged)."""
    routine = load_script(script)
    speech = speech_for(routine, compile_level(routine, "beginner"), BuildOptions(cache_dir=cache), SpeechStats())

    def clip(text: str) -> Clip:
        found = speech.cache.get(speech.key(text))
        assert found is not None, text
        return found

    def put(text: str, pcm: bytes, rate: int) -> None:
        speech.cache.put(speech.key(text), Clip(pcm=pcm, sample_rate=rate))

    def same_edges(target: Clip, body: bytes) -> bytes:
        # Speech keeps each clip from a little before its first to a little after its last
        # audible moment (speech.audible_span): mark the victim's two edges with one sample
        # each, found by trying, so the trimmed clip, and so the timeline, stay as they were.
        rate = target.sample_rate
        x = np.frombuffer(target.pcm, dtype="<i2")
        span = audible_span(x, rate)
        assert span is not None
        margin = rate // 50                                  # 20 ms: wider than the look-back and the envelope
        out = np.zeros(len(x), dtype="<i2")
        b = np.frombuffer(body, dtype="<i2")
        assert span[0] + 2 * margin + len(b) <= span[1] - 2 * margin, "the replacement must fit in the victim"
        out[span[0] + 2 * margin:span[0] + 2 * margin + len(b)] = b

        def marked(first: int, last: int) -> np.ndarray:
            y = out.copy()
            y[first] = y[last] = 4000
            return y

        firsts = [m for m in range(span[0], span[0] + 2 * margin) if audible_span(marked(m, span[1] - 1), rate)[0] == span[0]]
        lasts = [m for m in range(span[1] - 2 * margin, span[1]) if audible_span(marked(firsts[0], m), rate) == span]
        assert firsts and lasts, "no marks give the victim's edges"
        return marked(firsts[0], lasts[0]).tobytes()

    silenced = clip(SILENCED)
    # One sample marks each edge; the rest of the cue is digital silence.
    put(SILENCED, same_edges(silenced, b""), silenced.sample_rate)
    for victim, source in REPLACED.items():
        target, other = clip(victim), clip(source)
        put(victim, same_edges(target, trim_quiet(other.pcm, other.sample_rate)), target.sample_rate)


@pytest.mark.slow
def test_session_is_understood_and_a_missing_cue_is_caught(
    write_script, tmp_path: Path, listener: Listener
) -> None:
    script = write_script(SCRIPT)
    cache = tmp_path / "cache"
    mp3, cues, rate = _session(script, tmp_path, cache, fresh=True)
    assert {SILENCED, *REPLACED, *REPLACED.values()} <= {text for _, _, text in cues}

    # Per-cue decoding only: the whole-session pass (cut by pocketsphinx's own voice detector)
    # would double the time; bench/bench_listen.py runs it on the seed routine.
    report = listener.check(decode_16k(mp3), cues, rate, whole=False)
    detail = format_report(report)
    assert report.missing == [], f"cues not understood:\n{detail}"
    assert report.cue_wer <= 0.35, detail
    assert len(report.cues) == len(cues) >= 25

    # Control: the same session with three phrases broken must fail, on exactly those cues.
    _tamper(script, cache)
    mp3, tampered_cues, _ = _session(script, tmp_path, cache, fresh=False)
    assert tampered_cues == cues                      # same timeline, only the audio differs
    report = listener.check(decode_16k(mp3), cues, rate, whole=False)
    missing = [(c.index, c.text) for c in report.missing]
    expected = [(i, text) for i, (_, _, text) in enumerate(cues) if text == SILENCED or text in REPLACED]
    assert len(expected) == 4        # "2" twice, the setup line, "And relax." (the bird's second release is worded otherwise)
    assert missing == expected, format_report(report)
    for cue in report.missing:
        assert cue.wer > MISSING_WER or not cue.open_hyp
