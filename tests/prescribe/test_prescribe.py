"""Prescriptions and progressions (issue 14): dosage tables, decoded holds per week, one
folder per patient, file:row:column errors, privacy of names, handouts, up-to-date rebuilds."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioroutine.cli import cli
from audioroutine.compile.compiler import compile_level
from audioroutine.core.errors import ScriptError
from audioroutine.engines.fake import FakeEngine
from audioroutine.output.tags import read_tags
from audioroutine.prescribe.build import build_folder, build_prescriptions
from audioroutine.prescribe.prescription import load_prescriptions
from audioroutine.prescribe.progression import (
    dosage_table,
    format_table,
    fractions,
    load_progression,
    parse_programme,
    round_ms,
)
from audioroutine.run.pipeline import BuildOptions, plan

from ..audio.test_timing import RATE, decoded
from ..segments import check_windows, measure_windows

# Two exercises, short enough to build six sessions quickly on the fake engine.
ROUTINE = """
id: knee
title: Knee care
voice: {engine: fake}
get_ready: 2s
safety: [Stop if it hurts.]
exercises:
  - id: press
    name: Quad press
    setup: Sit with your leg long.
    movement: Press the back of your knee down.
    hold: Press.
    release: Relax.
    variants:
      towel: {name: Quad press on a towel}
    dosage:
      rest: 2s
      beginner: {reps: 2, hold: 3s, variant: towel}
      progressed: {reps: 4, hold: 8s}
  - id: stretch
    name: Calf stretch
    hold: Lean in.
    release: Step back.
    dosage:
      beginner: {hold: 20s}
      progressed: {hold: 50s}
"""
PROGRAMME = """
id: knee-6
script: knee.yaml
weeks: 6
switch: {press: 4}
"""
# Week by week: t = 0, .2, .4, .6, .8, 1; holds to whole seconds, above 30 s to 5 s steps.
TABLE = [
    ["", "press", "stretch"],
    ["Week 1", "2 x 3 s, rest 2 s, towel", "1 x 20 s"],
    ["Week 2", "2 x 4 s, rest 2 s, towel", "1 x 26 s"],
    ["Week 3", "3 x 5 s, rest 2 s, towel", "1 x 30 s"],
    ["Week 4", "3 x 6 s, rest 2 s", "1 x 40 s"],
    ["Week 5", "4 x 7 s, rest 2 s", "1 x 45 s"],
    ["Week 6", "4 x 8 s, rest 2 s", "1 x 50 s"],
]
HOLDS = {1: [3000] * 2 + [20000], 2: [4000] * 2 + [26000], 3: [5000] * 3 + [30000],
         4: [6000] * 3 + [40000], 5: [7000] * 4 + [45000], 6: [8000] * 4 + [50000]}


def run(*args: str):
    return CliRunner(mix_stderr=False).invoke(cli, list(args))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture
def programme(tmp_path: Path) -> Path:
    write(tmp_path, "knee.yaml", ROUTINE)
    return write(tmp_path, "knee-6.yaml", PROGRAMME)


def test_rounding_is_what_a_clinician_writes() -> None:
    assert [round_ms(ms) for ms in (2400, 2500, 29_600, 30_000, 32_400, 32_500, 47_600)] == \
        [2000, 3000, 30_000, 30_000, 30_000, 35_000, 50_000]


def test_six_week_programme_dosage_table(programme: Path) -> None:
    _, routine = load_progression(programme)
    assert dosage_table(routine) == TABLE
    assert [lv.id for lv in routine.levels] == [f"week-{n}" for n in range(1, 7)]
    result = run("programme", str(programme), "--plan")
    assert result.exit_code == 0 and result.stdout == format_table(TABLE) + "\n"


def test_plateau_weeks_repeat_the_week_before() -> None:
    found = parse_programme("script: x.yaml\nweeks: 5\nplateau: [3]\n")
    assert fractions(found) == [0, 1 / 3, 1 / 3, 2 / 3, 1]


def test_programme_keys_are_strict(tmp_path: Path) -> None:
    with pytest.raises(ScriptError) as err:
        parse_programme("script: x.yaml\nweeks: 6\nplatau: [3]\n", "p.yaml")
    assert str(err.value) == "p.yaml:3: platau: unknown key 'platau' (did you mean 'plateau'?)"
    with pytest.raises(ScriptError) as err:
        parse_programme("script: x.yaml\nweeks: 1\n", "p.yaml")
    assert str(err.value) == "p.yaml:2: weeks: expected a whole number from 2 to 52, got 1"


def test_six_sessions_one_album_and_decoded_holds_match_each_week(programme: Path, tmp_path: Path) -> None:
    _, routine = load_progression(programme)
    folder = build_folder(routine, BuildOptions(out_dir=tmp_path / "out"), base_url=None)
    sessions = folder.result.sessions
    assert [s.path.name for s in sessions] == [f"knee-6-week-{n}.mp3" for n in range(1, 7)]
    assert folder.playlist.read_text().split("\n")[2::2][:6] == [s.path.name for s in sessions]
    for week, session in enumerate(sessions, 1):
        tags = read_tags(session.path)
        assert (tags["album"], tags["track"], tags["title"]) == ("Knee care", f"{week}/6", f"Knee care — Week {week}")
        found = measure_windows(decoded(session.path), RATE, compile_level(routine, f"week-{week}"))
        check_windows(found, RATE, tolerance_ms=10)
        assert [m.prescribed_ms for m in found if m.role == "hold"] == HOLDS[week]
    assert [len(f) for f in (folder.handouts,)] == [12]          # a PDF and an HTML page per week


def test_a_changed_programme_rewrites_its_sessions_and_an_unchanged_one_nothing(programme: Path,
                                                                             tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run("programme", str(programme), "--out", str(out), "--week", "2")
    assert first.exit_code == 0, first.stderr
    again = run("programme", str(programme), "--out", str(out), "--week", "2")
    assert "1 session(s), 0 written, 0 handout file(s) written" in again.stdout
    programme.write_text(PROGRAMME + "plateau: [2]\n")        # week 2 now repeats week 1
    changed = run("programme", str(programme), "--out", str(out), "--week", "2")
    assert "1 session(s), 1 written, 2 handout file(s) written" in changed.stdout


PATIENTS = """\
ref,script,exercises,level,press.hold,press.reps,stretch.hold,first_name
P-0001,knee.yaml,press,beginner,6s,3,,Zebediah
P-0002,knee.yaml,stretch;press,progressed,,,15s,
P-0003,knee.yaml,,beginner,,2,25s,Philippa
"""


@pytest.fixture
def patients(tmp_path: Path) -> Path:
    write(tmp_path, "knee.yaml", ROUTINE)
    return write(tmp_path, "patients.csv", PATIENTS)


def test_three_patients_three_folders_with_their_dosages_spoken(patients: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("prescribe", str(patients), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [".audioroutine-files.json", "P-0001", "P-0002", "P-0003"]
    assert sorted(p.name for p in (out / "P-0002").iterdir()) == [
        "knee-progressed.html", "knee-progressed.lrc", "knee-progressed.mp3", "knee-progressed.pdf",
        "knee-progressed.vtt", "knee.m3u8"]
    found = load_prescriptions(patients)
    expected = {  # dosage sentences as spoken, and every hold in the decoded audio
        "P-0001": (["3 reps, holding each for 6 seconds."], [6000] * 3),
        "P-0002": (["One hold of 15 seconds.", "4 reps, holding each for 8 seconds."], [15000] + [8000] * 4),
        "P-0003": (["2 reps, holding each for 3 seconds.", "One hold of 25 seconds."], [3000] * 2 + [25000]),
    }
    for patient in found.patients:
        level = patient.levels[0]
        sheet = plan(patient.routine, level, BuildOptions()).cue_sheet()
        assert [c["text"] for c in sheet if c["role"] == "dosage"] == expected[patient.ref][0]
        mp3 = out / patient.ref / f"knee-{level}.mp3"
        windows = measure_windows(decoded(mp3), RATE, compile_level(patient.routine, level))
        check_windows(windows, RATE, tolerance_ms=10)
        assert [m.prescribed_ms for m in windows if m.role == "hold"] == expected[patient.ref][1]
        assert (out / patient.ref / "knee.m3u8").read_text().splitlines()[2] == f"knee-{level}.mp3"


def test_a_bad_row_names_file_row_and_column_and_writes_nothing(patients: Path, tmp_path: Path) -> None:
    patients.write_text(PATIENTS.replace("P-0002,knee.yaml,stretch;press,progressed,,,15s,",
                                         "P-0002,knee.yaml,stretch;press,progressed,,,15 parsecs,"))
    out = tmp_path / "out"
    result = run("prescribe", str(patients), "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr == f"error: {patients}:3:7: patient 'P-0002': stretch.hold: " \
                            "expected a duration like 5s, 1m30s or 500ms, got '15 parsecs'\n"
    assert not out.exists() and result.stdout == ""


@pytest.mark.parametrize("row, message", [
    ("P-0004,knee.yaml,press;lunge,beginner,,,,", "5:3: patient 'P-0004': exercises: no exercise 'lunge' in {knee} (exercises: press, stretch)"),
    ("P-0004,knee.yaml,,beginer,,,,", "5:4: patient 'P-0004': level: no level 'beginer' in {knee} "
                                      "(did you mean 'beginner'? levels: beginner, progressed)"),
    ("P-0004,knee.yaml,stretch,beginner,6s,,,", "5:5: patient 'P-0004': press.hold: no exercise 'press' in "
                                                "this prescription (exercises: stretch)"),
    ("P-0001,knee.yaml,,beginner,,,,", "5:1: patient 'P-0001': ref: reference 'P-0001' is also used on row 2"),
    ("Jane Doe,knee.yaml,,beginner,,,,", "5:1: ref: a reference becomes a folder name: use 1 to 64 ASCII "
                                         "letters, digits, '-' and '_', starting with a letter or digit"),
    ("P-0004,knee.yaml,,beginner,,101,,", "5:6: patient 'P-0004': press.reps: expected a whole number from 1 "
                                          "to 100, got '101'"),
])
def test_bad_cells(patients: Path, tmp_path: Path, row: str, message: str) -> None:
    patients.write_text(PATIENTS + row + "\n")
    result = run("prescribe", str(patients), "--out", str(tmp_path / "out"))
    knee = tmp_path / "knee.yaml"
    assert (result.exit_code, result.stderr) == (2, f"error: {patients}:{message.format(knee=knee)}\n")
    assert not (tmp_path / "out").exists()


def test_an_unknown_column_has_a_hint(patients: Path, tmp_path: Path) -> None:
    patients.write_text(PATIENTS.replace("press.hold", "press.hodl"))
    result = run("prescribe", str(patients), "--check")
    assert result.stderr.startswith(f"error: {patients}:1:5: press.hodl: unknown column 'press.hodl' "
                                    "(did you mean 'hold'?")


def test_names_are_spoken_only_with_opt_in_and_never_printed(patients: Path, tmp_path: Path) -> None:
    result = run("prescribe", str(patients), "--out", str(tmp_path / "a"), "-v")
    said = " ".join(text for text, *_ in map(lambda c: (c,) if isinstance(c, str) else c, FakeEngine.calls))
    assert "Zebediah" not in said and "Philippa" not in said
    assert "2 first name(s) not spoken" in result.stderr
    FakeEngine.calls.clear()
    patients.write_text("# speak_first_names: yes\n" + PATIENTS)
    opted = run("prescribe", str(patients), "--out", str(tmp_path / "b"), "-v")
    assert opted.exit_code == 0, opted.stderr
    said = " ".join(str(c) for c in FakeEngine.calls)
    assert "Hello Zebediah." in said and "Hello Philippa." in said
    for output in (result.stdout, result.stderr, opted.stdout, opted.stderr):
        assert "Zebediah" not in output and "Philippa" not in output
    tags = read_tags(tmp_path / "b" / "P-0001" / "knee-beginner.mp3")
    assert "Zebediah" not in str({k: v for k, v in tags.items() if k != "lyrics"})   # only the transcript says it
    bad = patients.read_text().replace("Zebediah", "Zebediah\x1b[31m")
    patients.write_text(bad)
    failed = run("prescribe", str(patients), "--out", str(tmp_path / "c"))
    assert failed.exit_code == 2 and "Zebediah" not in failed.stderr
    assert failed.stderr == f"error: {patients}:3:8: patient 'P-0001': first_name: not a usable first name " \
                            "(at most 60 characters, letters, no control characters)\n"


def test_yaml_prescriptions(tmp_path: Path) -> None:
    write(tmp_path, "knee.yaml", ROUTINE)
    write(tmp_path, "knee-6.yaml", PROGRAMME)
    path = write(tmp_path, "patients.yaml", """
        patients:
          - ref: P-0010
            programme: knee-6.yaml
            week: 5
            dosage: {stretch: {hold: 35s}}
          - ref: P-0011
            script: knee.yaml
            exercises: [stretch]
            dosage: {stretch: {hodl: 35s}}
        """)
    with pytest.raises(ScriptError) as err:
        load_prescriptions(path)
    assert str(err.value) == f"{path}:9: patients[1].dosage.stretch.hodl: unknown key 'hodl' (did you mean 'hold'?)"
    path.write_text(path.read_text().replace("hodl", "hold"))
    found = load_prescriptions(path)
    first = found.patients[0]
    assert first.levels == ("week-5",)
    assert dosage_table(first.routine)[5] == ["Week 5", "4 x 7 s, rest 2 s", "1 x 35 s"]


def test_rebuilding_unchanged_prescriptions_writes_nothing_and_a_change_only_its_patient(
        patients: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    options = BuildOptions(out_dir=out)
    build_prescriptions(load_prescriptions(patients), options)
    again = build_prescriptions(load_prescriptions(patients), options)
    assert [s.written for f in again for s in f.result.sessions] == [False] * 3
    assert [f.handouts for f in again] == [[], [], []]
    patients.write_text(PATIENTS.replace("P-0002,knee.yaml,stretch;press,progressed,,,15s,",
                                         "P-0002,knee.yaml,stretch;press,progressed,,,16s,"))
    changed = build_prescriptions(load_prescriptions(patients), options)
    assert [s.written for f in changed for s in f.result.sessions] == [False, True, False]
    assert [len(f.handouts) for f in changed] == [0, 2, 0]


def test_handout_pdf_reads_back_and_its_qr_code_opens_the_player_page(patients: Path, tmp_path: Path) -> None:
    pypdf = pytest.importorskip("pypdf")
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    out = tmp_path / "out"
    result = run("prescribe", str(patients), "--out", str(out), "--base-url", "https://clinic.example/a/")
    assert result.exit_code == 0, result.stderr
    reader = pypdf.PdfReader(out / "P-0002" / "knee-progressed.pdf")
    assert len(reader.pages) <= 2
    text = " ".join(page.extract_text() for page in reader.pages)
    for expected in ("Knee care", "Progressed", "1. Calf stretch", "One hold of 15 seconds.", "2. Quad press",
                     "4 reps, holding each for 8 seconds.", "Setup: Sit with your leg long.",
                     "Movement: Press the back of your knee down.", "Stop if it hurts.", "Reference: P-0002"):
        assert expected in text
    image = Image.open(io.BytesIO(reader.pages[0].images[0].data))
    url = "https://clinic.example/a/P-0002/knee-progressed.html"   # the page publish writes
    assert [code.text for code in zxingcpp.read_barcodes(image)] == [url]
    page = (out / "P-0002" / "knee-progressed.html").read_text()
    assert "One hold of 15 seconds." in page and f'href="{url}"' in page and "<svg" in page


@pytest.mark.parametrize("name", ["prescriptions.csv", "prescriptions.yaml"])
def test_the_examples_check(name: str) -> None:
    from ..conftest import ROOT

    result = run("prescribe", str(ROOT / "examples" / name), "--check", "--engine", "fake")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok  ")


def test_the_example_programme_table_is_the_documented_one() -> None:
    from ..conftest import ROOT

    result = run("programme", str(ROOT / "examples" / "back-6-weeks.yaml"), "--plan")
    assert result.exit_code == 0
    assert result.stdout in (ROOT / "docs" / "programmes.md").read_text(encoding="utf-8")


def test_the_report_lists_every_patient_and_a_failing_one_does_not_stop_the_others(
        patients: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`prescribe --report`: one row per patient (reference, counts, the reason redacted:
    no phrase, no name, no path), a failing patient costs only its own sessions, exit 1; the
    rerun writes only what is missing."""
    import csv
    import json

    out, report = tmp_path / "out", tmp_path / "night.json"
    monkeypatch.setenv("AUDIOROUTINE_FAKE_FAIL_ON", "One hold of 15 seconds.")   # spoken to P-0002 only
    night = run("prescribe", str(patients), "--out", str(out), "--report", str(report), "--jobs", "1")
    assert night.exit_code == 1, night.stderr
    rows = {r["reference"]: r for r in json.loads(report.read_text())["patients"]}
    assert list(rows) == ["P-0001", "P-0002", "P-0003"]
    assert [(r["written"], r["up_to_date"], r["failed"]) for r in rows.values()] == [(1, 0, 0), (0, 0, 1), (1, 0, 0)]
    reason = rows["P-0002"]["reason"]
    assert reason == "EngineError: fake engine failed on '...' (as a test asked)"
    assert f"failed: P-0002: {reason}" in night.stderr
    text = report.read_text()
    assert not any(private in text for private in ("Zebediah", "Philippa", "15 seconds", "knee.yaml"))
    assert not list(tmp_path.glob(".night.json.*"))                # written atomically: no temp left
    monkeypatch.delenv("AUDIOROUTINE_FAKE_FAIL_ON")
    morning = run("prescribe", str(patients), "--out", str(out), "--report", str(tmp_path / "morning.csv"),
                  "--jobs", "1")
    assert morning.exit_code == 0, morning.stderr
    with open(tmp_path / "morning.csv", newline="", encoding="utf-8") as fh:
        again = list(csv.DictReader(fh))
    assert [(r["reference"], r["written"], r["up_to_date"], r["failed"], r["reason"]) for r in again] == [
        ("P-0001", "0", "1", "0", ""), ("P-0002", "1", "0", "0", ""), ("P-0003", "0", "1", "0", "")]


def test_the_report_never_overwrites_a_file_the_tool_did_not_write(patients: Path, tmp_path: Path) -> None:
    """The report goes through the write guard like every output: a user's file at its path is
    refused with one error line, exit 2, and left as it was; a report it wrote is rewritten."""
    mine = tmp_path / "notes.csv"
    mine.write_text("the coordinator's own notes\n", encoding="utf-8")
    refused = run("prescribe", str(patients), "--out", str(tmp_path / "out"), "--report", str(mine), "--jobs", "1")
    assert refused.exit_code == 2, refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {mine}"), refused.stderr
    assert "Traceback" not in refused.stderr
    assert mine.read_text(encoding="utf-8") == "the coordinator's own notes\n"
    report = tmp_path / "night.csv"
    for _ in range(2):
        again = run("prescribe", str(patients), "--out", str(tmp_path / "out"), "--report", str(report), "--jobs", "1")
        assert again.exit_code == 0, again.stderr
        assert report.read_text(encoding="utf-8").startswith("reference,")
