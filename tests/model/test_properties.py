"""Property: any valid dosage compiles and lays out to a timeline that is exact in samples.

Asserts only on the public result (`Timeline.events`, `.spans`, `.total`), never on where a
window starts relative to its cues: that contract belongs to the compiler."""

from __future__ import annotations

import zlib
from itertools import pairwise

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from audioroutine.compile.compiler import compile_level
from audioroutine.compile.timeline import layout, ms_to_samples
from audioroutine.model.script import SIDES, parse_script

GET_READY_MS = 3000                                       # the script default
durations = st.integers(5, 120).map(lambda n: n * 100)    # 0.5-12 s in 100 ms steps


@st.composite
def dosages(draw: st.DrawFn) -> dict[str, object]:
    dose: dict[str, object] = {"reps": draw(st.integers(1, 5)), "sets": draw(st.integers(1, 3)),
                               "sides": draw(st.sampled_from(SIDES))}
    kind = draw(st.sampled_from(["hold", "breath", "rep_time"]))
    if kind == "hold":
        hold = draw(durations)
        dose["hold"] = f"{hold}ms"
        countdown = draw(st.integers(0, max(0, (hold - 500) // 1000)))   # leaves 0.5 s before the count
        if countdown:
            dose["countdown"] = countdown
    elif kind == "breath":
        dose["breath"] = {"in": f"{draw(durations)}ms", "out": f"{draw(durations)}ms"}
    else:
        dose["rep_time"] = f"{draw(durations)}ms"
    if draw(st.booleans()):
        dose["rest"] = f"{draw(durations)}ms"
    if draw(st.booleans()):
        dose["set_rest"] = f"{draw(durations)}ms"
    return dose


def _ms(value: object) -> int:
    return int(str(value).removesuffix("ms"))


def expected_span_ms(dose: dict[str, object]) -> dict[str, int]:
    """The prescribed length of every kind of timed window, from the dosage."""
    out = {"get_ready": GET_READY_MS, "set_rest": _ms(dose.get("set_rest", "30000ms"))}
    for key, role in (("hold", "hold"), ("rest", "rest"), ("rep_time", "rep")):
        if key in dose:
            out[role] = _ms(dose[key])
    if "rest" in dose:
        out["side_rest"] = _ms(dose["rest"])      # between sides: as `rest` unless given
    if "breath" in dose:
        breath = dose["breath"]
        assert isinstance(breath, dict)
        out["breath_in"], out["breath_out"] = _ms(breath["in"]), _ms(breath["out"])
    return out


@settings(max_examples=60, deadline=None, database=None)   # no .hypothesis/ in the tree
@given(dose=dosages(), rate=st.sampled_from([16000, 22050, 44100]),
       lengths=st.lists(st.integers(1, 400), min_size=1, max_size=12))
def test_any_dosage_lays_out_exactly(dose: dict[str, object], rate: int, lengths: list[int]) -> None:
    script = {"id": "prop", "title": "Prop", "voice": {"engine": "fake"},
              "exercises": [{"name": "Press", "dosage": dose}]}
    routine = parse_script(yaml.safe_dump(script))

    def measure(text: str) -> int:   # short, text-dependent speech lengths (at most 25 ms)
        return lengths[zlib.crc32(text.encode()) % len(lengths)]

    timeline = layout(compile_level(routine, "beginner"), measure, rate)
    events = timeline.events

    # Events are contiguous from 0 to total and none overlaps another.
    assert events[0].start == 0
    assert all(b.start == a.end for a, b in pairwise(events))
    assert all(e.length > 0 for e in events)
    assert timeline.total == sum(e.length for e in events) == events[-1].end
    for e in events:
        if e.kind == "speech":
            assert e.length == measure(e.text)

    # Every timed window is exactly its prescribed length, on event boundaries, and windows
    # do not overlap.
    prescribed = expected_span_ms(dose)
    assert timeline.spans
    boundaries = {e.start for e in events} | {timeline.total}
    for span in timeline.spans:
        assert span.length == ms_to_samples(prescribed[span.role], rate), span
        assert span.start in boundaries and span.start + span.length in boundaries
    spans = sorted(timeline.spans, key=lambda s: s.start)
    assert all(a.start + a.length <= b.start for a, b in pairwise(spans))

    # One window per rep, set and side.
    per_rep = "hold" if "hold" in dose else "breath_in" if "breath" in dose else "rep"
    reps, sets = dose["reps"], dose["sets"]
    assert isinstance(reps, int) and isinstance(sets, int)
    assert sum(s.role == per_rep for s in timeline.spans) == reps * sets * (2 if dose["sides"] == "each" else 1)
