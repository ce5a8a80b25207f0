"""An independent listener checks the timing contract word by word: pocketsphinx aligns the
words of each hold (its cue, the countdown, the release) to the decoded MP3, and the last
word of the hold cue must end before the hold starts, the release's first word start at its end."""

from __future__ import annotations

import numpy as np
import pytest

from audioroutine.model.script import load_script
from audioroutine.run.pipeline import BuildOptions, build, plan

from ..listener import RATE, decode_16k, normalize
from .test_timing import SCRIPT

FRAME_S = 0.01                  # pocketsphinx reports word edges in 10 ms frames
EDGE_TOLERANCE_S = 0.06         # an aligner's word edge is good to a few frames


def align(pcm: np.ndarray, words: list[str]) -> list[tuple[str, float, float]]:
    """(word, start s, end s) of each word, aligned to `pcm` (16 kHz int16)."""
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=RATE, loglevel="FATAL")
    decoder.set_align_text(" ".join(words))
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    return [(seg.word, seg.start_frame * FRAME_S, (seg.end_frame + 1) * FRAME_S) for seg in decoder.seg()
            if seg.word not in ("<s>", "</s>", "<sil>", "(NULL)")]


@pytest.mark.slow
def test_hold_cue_words_end_before_the_hold_and_the_release_starts_at_its_end(write_script, tmp_path):
    routine = load_script(write_script(SCRIPT.replace("voice: {engine: fake}\n", "")))
    result = build(routine, BuildOptions(out_dir=tmp_path / "out", levels=("one",)))
    timeline = plan(routine, "one", BuildOptions())
    pcm = decode_16k(result.sessions[0].path)
    rate = timeline.sample_rate
    holds = [s for s in timeline.spans if s.role == "hold"]
    assert len(holds) == 12
    for span in holds:
        speech = [e for e in timeline.events if e.kind == "speech"]
        cue = next(e for e in speech if e.start == span.cue_start)
        inside = [e for e in speech if span.start <= e.start < span.end]
        release = next(e for e in speech if e.start >= span.end)
        cue_words, release_words = normalize(cue.text), normalize(release.text)
        words = cue_words + [w for e in inside for w in normalize(e.text)] + release_words
        a = (cue.start - rate // 4) * RATE // rate
        b = (release.end + rate // 4) * RATE // rate
        aligned = align(pcm[a:b], words)
        assert [w for w, _, _ in aligned] == words, aligned
        offset = a / RATE
        hold_start, hold_end = span.start / rate, span.end / rate
        last_cue_word_end = aligned[len(cue_words) - 1][2] + offset
        release_start = aligned[len(words) - len(release_words)][1] + offset
        assert last_cue_word_end <= hold_start + EDGE_TOLERANCE_S, (cue.text, last_cue_word_end, hold_start)
        # control: a hold counted from the start of its cue would begin long before the words end
        assert last_cue_word_end > cue.start / rate + 0.5
        assert abs(release_start - hold_end) <= EDGE_TOLERANCE_S, (release.text, release_start, hold_end)
