"""The language guard (a voice or a prescription in another language than the script's words
is an error with file and line, unless the file says `mixed_languages: yes`), the frequency
field, and handouts read back: sizes, dosage, labels, date and clinician."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from audioroutine import lang
from audioroutine.cli import cli

SPANISH = """id: rodilla
title: Rodilla
language: es
voice:
  engine: espeak
  voice: {voice}
exercises:
  - id: press
    name: Prensa
    dosage: {{reps: 2, hold: 2s}}
"""


def run(*args: str):
    return CliRunner(mix_stderr=False).invoke(cli, list(args))


@pytest.mark.parametrize(("engine", "voice", "spoken"), [
    ("espeak", "en-us", "en"), ("espeak", "fr", "fr"), ("espeak", "es-419", "es"), ("gtts", "es:com.mx", "es"),
    ("piper", "/voices/de_DE-thorsten-medium.onnx", "de"), ("piper", None, None), ("espeak", "m1", None),
])
def test_the_language_of_a_voice_from_its_name(engine: str, voice: str | None, spoken: str | None) -> None:
    assert lang.voice_language(engine, voice) == spoken


def test_a_voice_in_another_language_is_an_error_with_the_line(tmp_path: Path) -> None:
    script = tmp_path / "rodilla.yaml"
    script.write_text(SPANISH.format(voice="en"), encoding="utf-8")
    result = run("build", str(script), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.stderr == (f"error: {script}:6: voice.voice: the voice speaks English but the routine's words "
                             "are Spanish (use a voice in the routine's language, or say 'mixed_languages: yes' "
                             "in the script)\n")
    assert not (tmp_path / "out").exists()


def test_a_voice_from_the_command_line_names_the_language_line(tmp_path: Path) -> None:
    script = tmp_path / "rodilla.yaml"
    script.write_text(SPANISH.format(voice="es"), encoding="utf-8")
    result = run("validate", str(script), "--voice", "de")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {script}:3: language: the voice speaks German but the routine's "
                                    "words are Spanish (voice 'de' from --voice)")
    assert run("validate", str(script), "--voice", "es-419").exit_code == 0      # a regional voice is the language


def test_mixed_languages_yes_allows_it(tmp_path: Path) -> None:
    script = tmp_path / "rodilla.yaml"
    script.write_text(SPANISH.format(voice="en") + "mixed_languages: yes\n", encoding="utf-8")
    result = run("validate", str(script))
    assert result.exit_code == 0, result.stderr


PRESCRIPTION = """patients:
  - ref: P-0001
    script: {script}
    language: {language}
{extra}"""


@pytest.mark.parametrize(("language", "extra", "error"), [
    ("es", "", "rx.yaml:4: patient 'P-0001': language: the patient's language is Spanish but the script speaks "
               "English ({script}) (give a script written in that language, or say 'mixed_languages: yes')"),
    ("en", "    engine: espeak\n    voice: fr\n",
     "rx.yaml:6: patient 'P-0001': voice: the voice speaks French but the routine's words are English "
     "(use a voice in the patient's language, or say 'mixed_languages: yes')"),
    ("es", "    mixed_languages: yes\n    engine: espeak\n    voice: es\n", None),
    ("en", "    date: 2026-13-01\n", "rx.yaml:5: patient 'P-0001': date: expected a date as YYYY-MM-DD, got '2026-13-01'"),
])
def test_a_prescription_in_another_language(tmp_path: Path, mini_script: Path, language: str, extra: str,
                                            error: str | None) -> None:
    rx = tmp_path / "rx.yaml"
    rx.write_text(PRESCRIPTION.format(script=mini_script.name, language=language, extra=extra), encoding="utf-8")
    result = run("prescribe", str(rx), "--check")
    if error is None:
        assert result.exit_code == 0, result.stderr
        return
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path}/{error.format(script=mini_script)}\n"


def test_the_examples_p0102_is_spanish_throughout() -> None:
    from ..conftest import ROOT

    result = run("prescribe", str(ROOT / "examples" / "prescriptions.yaml"), "--check", "--engine", "fake")
    assert result.exit_code == 0, result.stderr


KNEE = """id: knee
title: Knee care
voice: {engine: fake}
safety: Stop if it hurts.
exercises:
  - id: calf
    name: Calf stretch
    setup: Sit with your leg long.
    dosage: {reps: 3, sets: 2, hold: 15s, rest: 5s, set_rest: 20s, sides: each}
  - id: press
    name: Quad press
    movement: Press the back of your knee down.
    caution: Stop if it pinches.
    dosage: {reps: 4, hold: 8s, rest: 3s}
"""


@pytest.fixture(scope="module")
def handouts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("handouts")
    (root / "knee.yaml").write_text(KNEE, encoding="utf-8")
    (root / "rx.yaml").write_text(
        "clinician: J. Rivera\ndate: 2026-12-01\nfrequency: twice a day, 5 days a week\n"
        "patients:\n  - ref: P-0007\n    script: knee.yaml\n    level: beginner\n", encoding="utf-8")
    result = CliRunner(mix_stderr=False).invoke(cli, ["prescribe", str(root / "rx.yaml"), "--out", str(root / "out"),
                                                      "--base-url", "https://clinic.example/site/",
                                                      "--cache-dir", str(root / "cache")])
    assert result.exit_code == 0, result.stderr
    return root / "out" / "P-0007"


def font_sizes(pdf: Path) -> dict[str, float]:
    """Each text run of the PDF with the size it is drawn at, in points."""
    pypdf = pytest.importorskip("pypdf")
    sizes: dict[str, float] = {}

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip():
            sizes[text.strip()] = round(size * tm[3] * cm[3], 2)

    for page in pypdf.PdfReader(pdf).pages:
        page.extract_text(visitor_text=visit)
    return sizes


def test_the_handout_is_12_pt_with_the_full_dosage_frequency_date_and_clinician(handouts: Path) -> None:
    pypdf = pytest.importorskip("pypdf")
    pdf = handouts / "knee-beginner.pdf"
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(pdf).pages)
    for expected in ("Knee care", "Beginner", "How often: twice a day, 5 days a week", "Reference: P-0007",
                     "Clinician: J. Rivera", "Date: 2026-12-01", "1. Calf stretch", "Repetitions 3", "Sets 2",
                     "Hold 15 s", "Rest between repetitions 5 s", "Rest between sets 20 s", "Sides each side",
                     "2. Quad press", "Repetitions 4", "Hold 8 s", "Rest between repetitions 3 s",
                     "Setup: Sit with your leg long.", "Movement: Press the back of your knee down.",
                     "Caution: Stop if it pinches.", "Tick a box each time you do the session", "Week 4", "Sun",
                     "Stop if it hurts."):
        assert expected in text, expected
    sizes = font_sizes(pdf)
    small = {run: size for run, size in sizes.items() if size < 12}
    # only the QR code's caption and the address under the header are smaller (10 pt)
    assert set(small.values()) <= {10.0} and all("clinic.example" in run or "Scan" in run for run in small), small
    assert sizes["Setup: Sit with your leg long."] == 12.0
    assert sizes["1. Calf stretch"] > 12


def test_the_handout_qr_code_opens_the_player_page_and_the_html_fits_a_phone(handouts: Path) -> None:
    page = (handouts / "knee-beginner.html").read_text()
    assert '<html lang="en">' in page and 'name="viewport" content="width=device-width' in page
    assert 'href="https://clinic.example/site/P-0007/knee-beginner.html"' in page
    assert "Do this session twice a day, 5 days a week." in (handouts / "knee-beginner.vtt").read_text()
