"""`audioroutine inspect`: tags, chapters, exact duration, loudness, provenance; --json."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from audioroutine.audio.loudness import parse_ebur128
from audioroutine.cli import cli
from audioroutine.model.script import load_script
from audioroutine.run.pipeline import BuildOptions, plan

EBUR128_TAIL = """[Parsed_ebur128_0 @ 0x5] Summary:

  Integrated loudness:
    I:         -17.3 LUFS
    Threshold: -27.6 LUFS

  Loudness range:
    LRA:         0.9 LU

  True peak:
    Peak:      -12.6 dBFS
"""


def test_parse_ebur128_summary() -> None:
    assert parse_ebur128("t: 1.0 M: -20.0 S: -30.0 I: -99.0 LUFS\n" + EBUR128_TAIL) == {
        "integrated_lufs": -17.3, "true_peak_dbtp": -12.6}
    assert parse_ebur128("no summary") == {"integrated_lufs": None, "true_peak_dbtp": None}


def test_inspect_text_and_json(mini_script: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["build", str(mini_script), "-l", "beginner", "--out", str(tmp_path)]).exit_code == 0
    mp3 = tmp_path / "mini-beginner.mp3"
    routine = load_script(mini_script)
    timeline = plan(routine, "beginner", BuildOptions())
    total = timeline.total

    result = runner.invoke(cli, ["inspect", str(mp3), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert (info["samples"], info["sample_rate"], info["duration_ms"]) == (total, 22050, total * 1000 // 22050)
    assert -40 < info["loudness"]["integrated_lufs"] < -5
    assert info["loudness"]["true_peak_dbtp"] < 0
    assert info["tags"]["title"] == "Mini — Beginner"
    assert info["tags"]["cover"]["mime"] == "image/png"
    assert [c["title"] for c in info["chapters"]] == ["Introduction", "Press", "Closing"]
    assert info["provenance"]["script_sha256"] == routine.sha256
    assert info["provenance"]["level"] == "beginner"

    text = runner.invoke(cli, ["inspect", str(mp3)]).output.splitlines()
    minutes, rest = divmod(total * 1000 // 22050, 60000)
    assert text[0] == f"file          {mp3}"
    assert text[1] == f"duration      {minutes}:{rest // 1000:02d}.{rest % 1000:03d} ({total} samples at 22050 Hz)"
    assert "title         Mini — Beginner" in text
    assert "level         beginner" in text
    assert "engine        fake" in text
    assert text[-4] == "chapters      3"
    assert text[-2] == f"  0:{timeline.chapters[1].start * 1000 // 22050 // 1000:02d}." \
                       f"{timeline.chapters[1].start * 1000 // 22050 % 1000:03d}  Press  (2 reps, holding each for 3 seconds.)"


def test_inspect_bad_files_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"not audio at all" * 10)
    result = CliRunner().invoke(cli, ["inspect", str(junk)])
    assert (result.exit_code, result.output) == (2, f"error: {junk}: not an MP3 file\n")
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "none.mp3")])
    assert (result.exit_code, result.output) == (2, f"error: {tmp_path / 'none.mp3'}: no such file\n")
