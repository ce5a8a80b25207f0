"""Coaching that varies (issue 23): several wordings for the cues said again and again,
chosen deterministically and never the same twice in a row; encouragements inside long holds
that never meet the hold's other sounds, and that validation refuses when they cannot fit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioroutine import lang
from audioroutine.cli import cli
from audioroutine.compile import wording
from audioroutine.compile.compiler import build_timeline, compile_level
from audioroutine.compile.timeline import Program, Say, Sound, Window
from audioroutine.core.errors import ScriptError
from audioroutine.engines import estimate_seconds
from audioroutine.model.phrases import ENGLISH, Phrases
from audioroutine.model.routine import Encourage
from audioroutine.model.script import load_script, parse_script

from ..conftest import MINIMAL, ROOT

RATE = 22050
SHIPPED = sorted([*(ROOT / "scripts_yaml").rglob("*.yaml"), ROOT / "audioroutine" / "data" / "example.yaml"])
LANGUAGES = lang.shipped()


def cues(program: Program) -> list[Say | Sound]:
    """Every cue of a program in the order it is heard."""
    out: list[Say | Sound] = []
    for chapter in program.chapters:
        for step in chapter.steps:
            if isinstance(step, (Say, Sound)):
                out.append(step)
            elif isinstance(step, Window):
                out += [*step.cues, *(cue for _, cue in sorted(step.timed, key=lambda t: t[0]))]
    return out


def repeats(program: Program) -> list[tuple[str, str]]:
    """Wordings said twice in a row: for each kind of varied cue (rep count, hold, release,
    rest, encouragement), two consecutive cues of that kind with the same wording."""
    last: dict[str, str] = {}
    found = []
    for cue in cues(program):
        if not isinstance(cue, Say):
            continue
        for tag in filter(None, cue.wording.split(", ")):
            key = tag.split()[0]
            kind = wording.KIND.get(key, key)
            text = tag if kind == key else tag.replace(key, kind)
            if last.get(kind) == text:
                found.append((kind, cue.text))
            last[kind] = text
    return found


def every_language(path: Path):
    """The shipped script in its own language and in every other shipped one, with
    encouragements on (the table's) for every exercise that holds."""
    routine = load_script(path)
    for code in LANGUAGES:
        yield code, replace(routine, language=code, phrases={}, encourage=Encourage(on=True))


# --- the tables -----------------------------------------------------------------------------

@pytest.mark.parametrize("code", LANGUAGES)
def test_every_table_words_each_varied_cue_several_ways(code: str) -> None:
    language = lang.languages()[code]
    english = lang.english()
    assert set(language.wordings) == set(lang.VARIED)
    for key in lang.VARIED:
        wordings = language.wordings_of(key)
        assert wordings[0] == language.phrases[key], key              # the phrase itself first
        assert len(wordings) >= 3 and len(set(wordings)) == len(wordings), key
        for text in wordings:
            assert lang.placeholders(text) == lang.placeholders(english.phrases[key]), (key, text)
    assert len(language.wordings_of("rep")) == len(language.wordings_of("rep_side"))   # chosen in step
    assert len(language.encouragements) >= 4 and len(set(language.encouragements)) == len(language.encouragements)


@pytest.mark.parametrize("code", LANGUAGES)
def test_table_encouragements_are_short_enough_for_the_smallest_slot(code: str) -> None:
    """A built-in line fits any stretch of quiet that gets one, at the voice's own rate."""
    for text in lang.languages()[code].encouragements:
        need = estimate_seconds(text) * 1000
        assert need + 2 * wording.ROOM_MS <= wording.STRETCH_MS, text
        assert need <= 2200, text                                     # short: a countdown-heavy session


# The words of English coaching a table in another language must not use (besides the
# English table's own words, checked below): the obvious leaks of a half-translated table.
ENGLISH_COMMON = {"and", "the", "now", "rep", "hold", "rest", "relax", "release", "keep", "breathe", "breathing",
                  "number", "slowly", "gently", "steady", "soft", "shoulders", "good", "well", "let", "go", "take"}


def wording_words(language: lang.Language) -> set[str]:
    texts = [*(w for ws in language.wordings.values() for w in ws), *language.encouragements]
    return {w.casefold() for w in re.findall(r"[^\W\d_]+", re.sub(r"\{\w+\}", " ", " ".join(texts)))}


@pytest.mark.parametrize("code", [code for code in LANGUAGES if code != "en"])
def test_non_english_wordings_hold_no_english_word(code: str) -> None:
    language = lang.languages()[code]
    own = wording_words(language) | {w.casefold() for t in language.phrases.values() for w in re.findall(r"[^\W\d_]+", t)}
    english = wording_words(lang.english()) | {w.casefold() for t in ENGLISH.values()
                                                for w in re.findall(r"[^\W\d_]+", re.sub(r"\{\w+\}", " ", t))}
    leaked = wording_words(language) & ((english - own) | ENGLISH_COMMON)
    assert not leaked, sorted(leaked)


# --- the choice ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_no_wording_repeats_back_to_back_in_any_shipped_script_level_or_language(path: Path) -> None:
    for code, routine in every_language(path):
        for level in routine.levels:
            program = compile_level(routine, level.id)
            assert repeats(program) == [], (code, level.id)
            said = [tag for cue in cues(program) if isinstance(cue, Say) for tag in cue.wording.split(", ") if tag]
            kinds = {tag.split()[0] for tag in said}
            assert "rep" in kinds, (code, level.id, kinds)
            for kind in kinds:          # the choice varies: a kind said 3 times or more uses 2 wordings or more
                uses = [tag for tag in said if tag.split()[0] == kind]
                assert len(uses) < 3 or len(set(uses)) >= 2, (code, level.id, kind)


def test_the_seed_varies_its_counts_and_the_first_of_each_kind_is_the_phrase_itself() -> None:
    program = compile_level(load_script(ROOT / "scripts_yaml" / "upper_middle_back.yaml"), "beginner")
    reps = [cue.text for cue in cues(program) if isinstance(cue, Say) and cue.role == "rep"]
    assert reps[0] == "Rep 1 of 10. Lift up and hold it there."
    assert len({r.split()[0] for r in reps}) >= 3                       # "Rep", "Number", "Repetition", "Last"
    assert not any(a == b for a, b in zip(reps, reps[1:]))


def test_two_compiles_give_the_same_words_and_another_process_too() -> None:
    """Determinism: the same program twice, and the same words in a process with another
    hash seed (the choice hashes with sha256, never Python's salted hash)."""
    path = ROOT / "scripts_yaml" / "upper_middle_back.yaml"
    here = [compile_level(load_script(path), level) for level in ("beginner", "progressed")]
    assert here == [compile_level(load_script(path), level) for level in ("beginner", "progressed")]
    code = ("import sys, json; from audioroutine.model.script import load_script; "
            "from audioroutine.compile.compiler import compile_level; from tests.compile.test_wording import cues; "
            "r = load_script(sys.argv[1]); "
            "print(json.dumps([[c.text for c in cues(compile_level(r, l))] for l in ('beginner', 'progressed')]))")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, cwd=ROOT,
                         check=True).stdout
    assert json.loads(out) == [[c.text for c in cues(program)] for program in here]


def test_a_phrase_the_script_words_itself_is_said_as_written() -> None:
    program = compile_level(parse_script(MINIMAL.replace("reps: 2", "reps: 4") + "phrases: {release: Lower.}\n"),
                            "beginner")
    said = [c for c in cues(program) if isinstance(c, Say)]
    assert [c.text for c in said if c.role == "release"] == ["Lower."] * 4
    assert len({c.text.split()[0] for c in said if c.role == "rep"}) > 1       # the table's counts still vary


def test_the_choice_never_repeats_and_starts_with_the_phrase() -> None:
    coach = wording.Coach(Phrases("en"), "any-id")
    picks = [coach.pick("release", 4) for _ in range(200)]
    assert picks[0] == 0
    assert all(a != b for a, b in zip(picks, picks[1:]))
    assert set(picks) == {0, 1, 2, 3}
    other = wording.Coach(Phrases("en"), "another-id")
    assert [other.pick("release", 4) for _ in range(200)] != picks      # the seed is the routine's id
    assert [coach.pick("one", 1) for _ in range(3)] == [0, 0, 0]


# --- encouragements ------------------------------------------------------------------------

HOLDING = """id: holding
title: Holding
voice: {engine: fake}
exercises:
  - name: Plank
    hold: Hold the plank.
    dosage: {reps: 2, hold: HOLD, rest: 5s, countdown: COUNT, halfway: HALF}
"""


def holding(hold: int, countdown: int, halfway: bool, extra: str = "") -> str:
    return (HOLDING.replace("HOLD", f"{hold}s").replace("COUNT", str(countdown))
            .replace("HALF", "true" if halfway else "false") + extra)


def estimated(text: str) -> int:
    """The layout's measure at its worst: the estimate itself (every real voice is shorter)."""
    return round(estimate_seconds(text) * RATE)


GRID = [(hold, countdown, halfway) for hold in (10, 12, 15, 20, 30, 45, 60) for countdown in (0, 3, 5)
        for halfway in (False, True) if not halfway or hold / 2 + 1.5 <= hold - countdown]   # as validation allows


@pytest.mark.parametrize(("hold", "countdown", "halfway"), GRID)
@pytest.mark.parametrize("sounds", ["false", "true"])
def test_encouragements_never_meet_halfway_countdown_or_sounds(hold: int, countdown: int, halfway: bool,
                                                                sounds: str) -> None:
    routine = parse_script(holding(hold, countdown, halfway, f"encourage: true\nsounds: {sounds}\n"))
    program = compile_level(routine, "beginner")
    timeline = build_timeline(program, estimated, RATE)
    room = wording.ROOM_MS * RATE // 1000
    holds = [s for s in timeline.spans if s.role == "hold"]
    said = 0
    for span in holds:
        inside = [e for e in timeline.events if span.start <= e.start < span.end + 1 and e.kind != "silence"]
        for i, event in enumerate(inside):
            if event.role != "encourage":
                continue
            said += 1
            before = inside[i - 1].end if i else span.start
            after = inside[i + 1].start if i + 1 < len(inside) else span.end
            assert event.start - before >= room and after - event.end >= room, (event.text, hold, countdown)
            assert after <= span.end + 1
    if hold >= 15:
        assert said >= len(holds), "a long hold gets at least one"
    if hold - countdown >= 30.3 and not halfway:
        assert said >= 2 * len(holds), "a long stretch of quiet gets one line per 15 s"


def test_encouragements_are_off_by_default_and_per_exercise() -> None:
    plain = compile_level(parse_script(holding(20, 3, True)), "beginner")
    assert not [c for c in cues(plain) if c.role == "encourage"]
    on = compile_level(parse_script(holding(20, 3, True, "encourage: true\n")), "beginner")
    lines = [c.text for c in cues(on) if c.role == "encourage"]
    assert lines and set(lines) <= set(lang.english().encouragements)
    own = holding(20, 3, True).replace("    hold: Hold the plank.\n",
                                       "    hold: Hold the plank.\n    encourage: [Squeeze your glutes., Long neck.]\n")
    lines = [c.text for c in cues(compile_level(parse_script(own + "encourage: true\n"), "beginner"))
             if c.role == "encourage"]
    assert set(lines) == {"Squeeze your glutes.", "Long neck."}          # the exercise's own win
    off = own.replace("encourage: [Squeeze your glutes., Long neck.]", "encourage: false")
    assert not [c for c in cues(compile_level(parse_script(off + "encourage: true\n"), "beginner"))
                if c.role == "encourage"]
    short = compile_level(parse_script(holding(8, 0, False, "encourage: true\n")), "beginner")
    assert not [c for c in cues(short) if c.role == "encourage"]         # holds under 10 s: none


def test_a_too_long_encouragement_is_refused_with_its_line_and_nothing_is_written(write_script, tmp_path) -> None:
    long_line = "Keep breathing slowly and deeply and let your shoulders melt down away from your ears."
    path = write_script(holding(12, 3, True, f"encourage:\n  - Keep breathing.\n  - {long_line}\n"))
    runner = CliRunner(mix_stderr=False)
    result = runner.invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}:9: exercise 'Plank': encourage: the encouragement '{long_line}' "
                                    "(about 6.1 s said) does not fit in 6 s of quiet of a 12 s hold,")
    assert "of quiet of a 12 s hold, with 750 ms of quiet on either side: shorten it" in result.stderr
    out = tmp_path / "out"
    built = runner.invoke(cli, ["build", str(path), "--out", str(out)])
    assert built.exit_code == 2
    assert not out.exists() or not list(out.glob("*.mp3"))


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("encourage: []\n", "encourage: expected true, false, a line or a list of lines, got an empty list"),
    ("encourage: {every: 10s}\n", "encourage: expected a line of text or a list of lines"),
])
def test_a_malformed_encourage_is_a_validation_error(yaml_text: str, message: str) -> None:
    with pytest.raises(ScriptError) as err:
        parse_script(holding(20, 3, False, yaml_text))
    assert message in str(err.value) and ":8:" in str(err.value)


def test_encourage_needs_a_hold_and_a_language_with_lines() -> None:
    breath = MINIMAL.replace("    hold: Hold.\n", "    encourage: Keep going.\n").replace("hold: 3s", "rep_time: 3s")
    with pytest.raises(ScriptError, match=r":6: exercise 'Press': exercises\[0\]\.encourage: 'encourage' needs a 'hold'"):
        parse_script(breath)
    italian = {key: f"it-{key}" for key in ENGLISH}
    routine = replace(parse_script(holding(20, 3, False, "encourage: true\n")), language="it", phrases=italian)
    with pytest.raises(ScriptError, match="no encouragements for language 'it'"):
        compile_level(routine, "beginner")


def test_plan_shows_the_chosen_wordings(write_script) -> None:
    path = write_script(holding(20, 3, True, "encourage: true\n").replace("reps: 2", "reps: 4")
                        .replace("    hold: Hold the plank.\n", ""))
    runner = CliRunner(mix_stderr=False)
    text = runner.invoke(cli, ["plan", str(path)]).stdout
    assert "wordings (never the same twice in a row):" in text
    assert re.search(r"  release 1/4 +x\d+ +And relax\.", text)
    assert re.search(r"  encourage 1/6 +x\d+ +Keep breathing\.", text)
    sheet = json.loads(runner.invoke(cli, ["plan", str(path), "--json"]).stdout)
    assert [w["wording"] for w in sheet["wordings"]["hold"]] == list(lang.english().wordings_of("hold"))
    said = [(e["role"], e["wording"]) for e in sheet["events"] if e["wording"]]
    assert ("release", "release 1/4") in said and any(role == "encourage" for role, _ in said)
    assert sum(w["uses"] for w in sheet["wordings"]["release"]) == 4


def test_a_script_words_its_own_hold_and_release_several_ways() -> None:
    script = MINIMAL.replace("    hold: Hold.\n", "    hold: [Press and hold., Push into the wall., Keep pressing.]\n"
                                                  "    release: [And ease off., Let your arms soften.]\n"
                                                  "    variants:\n      one: {name: One-arm press}\n")
    script = script.replace("reps: 2", "reps: 6\n      progressed: {variant: one}")
    routine = parse_script(script)
    assert routine.exercises[0].cues.hold == "Press and hold."            # the first, as before, for handouts
    for level in ("beginner", "progressed"):                               # a variant inherits the lists
        said = [c for c in cues(compile_level(routine, level)) if isinstance(c, Say)]
        holds = [c.text.split(". ", 1)[1] for c in said if c.role == "rep"]
        releases = [c.text for c in said if c.role == "release"]
        assert holds[0] == "Press and hold." and releases[0] == "And ease off."
        assert set(holds) == {"Press and hold.", "Push into the wall.", "Keep pressing."}
        assert set(releases) == {"And ease off.", "Let your arms soften."}
        assert all(a != b for a, b in zip(holds, holds[1:])) and all(a != b for a, b in zip(releases, releases[1:]))
        assert {c.wording.split(", ")[-1].split()[0] for c in said if c.role == "rep"} == {"hold:press"}
        assert repeats(compile_level(routine, level)) == []


def test_an_encouragement_from_a_library_is_refused_naming_the_library(tmp_path: Path) -> None:
    library = tmp_path / "lib.yaml"
    library.write_text("library: Core\nexercises:\n  - name: Plank\n    id: plank\n"
                       "    encourage: [Keep breathing slowly and deeply and let your whole back grow long and wide.]\n"
                       "    dosage: {hold: 12s, countdown: 3, halfway: true}\n", encoding="utf-8")
    script = tmp_path / "routine.yaml"
    script.write_text("id: core\ntitle: Core\nvoice: {engine: fake}\nlibraries: [lib.yaml]\nexercises:\n  - use: plank\n",
                      encoding="utf-8")
    with pytest.raises(ScriptError) as err:
        compile_level(load_script(script), "beginner")
    assert str(err.value).startswith(f"{library}:5: exercise 'Plank': encourage: the encouragement 'Keep breathing")


# --- heard (slow: the real Piper voice and the recognizer) ----------------------------------

HEARD = """id: heard
title: Varied words
language: en
levels:
  beginner: {title: Beginner}
encourage: true
exercises:
  - name: Plank
    dosage: {reps: 10, hold: 16s, rest: 3s, countdown: 3}
  - name: Squats
    dosage: {reps: 8, rep_time: 3s, rest: 2s}
"""


@pytest.mark.slow
def test_every_english_wording_and_encouragement_is_heard(write_script, tmp_path: Path) -> None:
    """Each English wording of the varied cues and every table encouragement, said by Piper
    in a built session, is understood by the recognizer (tests/listener.py's criterion)."""
    pytest.importorskip("pocketsphinx")
    from audioroutine import BuildOptions, build, plan

    from ..listener import Listener, decode_16k, format_report, speech_cues

    routine = load_script(write_script(HEARD))
    options = BuildOptions(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", force=True)
    mp3 = build(routine, options).sessions[0].path
    timeline = plan(routine, "beginner", BuildOptions(cache_dir=tmp_path / "cache"))
    said = {tag for e in timeline.events for tag in e.wording.split(", ") if tag}
    every = {f"{key} {i}/{len(texts)}" for key, texts in timeline.wordings for i in range(1, len(texts) + 1)}
    assert said == every and {key for key, _ in timeline.wordings} == {"rep", "hold", "release", "rest", "encourage"}
    report = Listener().check(decode_16k(mp3), speech_cues(timeline), timeline.sample_rate, whole=False)
    detail = format_report(report)
    assert report.missing == [], f"cues not understood:\n{detail}"
    assert report.cue_wer <= 0.35, detail
