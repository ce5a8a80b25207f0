"""Every hostile or mistaken input in cases.py, run through the CLI: the exact one-line
message(s), exit 2, and an output folder left empty."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from mutagen.id3 import ID3

from audioroutine.cli import cli
from audioroutine.core.errors import BuildError
from audioroutine.engines.fake import FakeEngine
from audioroutine.model.names import inside
from audioroutine.output.tags import read_tags

from .cases import CASES, FAKE, Case


def write_files(case: Case, folder: Path) -> None:
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


def run(args: list[str]):
    return CliRunner(mix_stderr=False).invoke(cli, args)


def test_the_table_covers_enough_cases():
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case: Case, tmp_path: Path) -> None:
    write_files(case, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    result = run([arg.format(d=tmp_path) for arg in case.args] + ["--out", str(out)])
    assert result.stderr == case.message.format(d=tmp_path) + "\n"
    assert result.exit_code == 2
    assert result.stdout == ""
    assert list(out.iterdir()) == []


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "s.yaml")
    result = run(["validate", str(tmp_path / "s.yaml")])
    assert (result.exit_code, result.stderr) == (2, f"error: {tmp_path / 's.yaml'}: file is a pipe, not a file\n")


def test_a_later_script_failing_after_synthesis_leaves_no_file_of_an_earlier_one(tmp_path: Path) -> None:
    """Control for 'second-script-overruns': the first script was synthesized, yet nothing is written."""
    case = next(case for case in CASES if case.name == "second-script-overruns")
    write_files(case, tmp_path)
    result = run(["build", str(tmp_path / "s.yaml"), str(tmp_path / "t.yaml"), "--out", str(tmp_path / "out"),
                  "--jobs", "1"])   # in this process, where FakeEngine.calls sees the synthesis
    assert result.exit_code == 2
    assert "Rep 1 of 2. Hold." in FakeEngine.calls         # s.yaml's own cue: its speech was made
    assert not (tmp_path / "out").exists()
    good = run(["build", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out")])
    assert good.exit_code == 0, good.stderr
    assert max(p.name for p in (tmp_path / "out").iterdir()) == "mini.m3u8"


SLOW_BEFORE = ["dev-zero", "settings-dev-zero", "hold-huge-seconds", "reps-ten-million", "deep-flow",
               "alias-bomb", "session-ten-hours", "cue-100kb", "too-large", "session-long-speech",
               "session-900kb-of-safety-notes"]


@pytest.mark.parametrize("name", SLOW_BEFORE)
def test_validate_answers_within_a_second(name: str, tmp_path: Path) -> None:
    case = next(case for case in CASES if case.name == name)
    write_files(case, tmp_path)
    args = ["validate" if arg == "build" else arg.format(d=tmp_path) for arg in case.args]
    # CPU time of this process (the CLI runs in it): other work on a shared machine does not count.
    start = time.process_time()
    result = run(args)
    elapsed = time.process_time() - start
    assert result.exit_code == 2, result.stderr
    assert result.stderr == case.message.format(d=tmp_path) + "\n"
    assert elapsed < 1.0


def test_validate_reports_every_file_and_says_ok_for_the_good_ones(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(FAKE.replace("title: Mini", "title: '...'"))
    (tmp_path / "b.yaml").write_text(FAKE.replace("id: mini", "id: b"))
    (tmp_path / "c.yaml").write_text(FAKE.replace("id: mini", "id: c/d"))
    result = run(["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stdout.startswith(f"ok  {tmp_path / 'b.yaml'}: 1 exercises")
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'a.yaml'}:2: title: text must contain a letter or digit to be spoken, got '...'",
        (f"error: {tmp_path / 'c.yaml'}:1: id: use 1 to 64 ASCII letters, digits, '-' and '_', "
        "starting with a letter or digit, got 'c/d'"),
    ]


@pytest.mark.parametrize("name", ["../x.mp3", "/tmp/x.mp3", "a/b.mp3", ".", ""])
def test_nothing_is_written_outside_the_output_folder(name: str, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="refusing to write outside"):
        inside(tmp_path, name)
    assert inside(tmp_path, "ok-beginner.mp3") == tmp_path / "ok-beginner.mp3"   # control


def frame_header(path: Path) -> tuple[int, int]:
    """(kbit/s, Hz) of the first audio frame after the ID3 tag and the Xing/LAME frame."""
    data = path.read_bytes()
    offset = ID3(str(path)).size
    for _ in range(2):      # the Xing frame first, then audio
        header = int.from_bytes(data[offset:offset + 4], "big")
        mpeg1 = (header >> 19) & 3 == 3
        kbps = ((0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320) if mpeg1 else
                (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160))[(header >> 12) & 15]
        rate = ((44100, 48000, 32000) if mpeg1 else (22050, 24000, 16000))[(header >> 10) & 3]
        padding = (header >> 9) & 1
        offset += (144 if mpeg1 else 72) * kbps * 1000 // rate + padding
    return kbps, rate


@pytest.mark.parametrize("bitrate, rate", [("320k", "44100"), ("160k", "22050"), ("8k", "16000")])
def test_an_accepted_bitrate_is_the_one_in_the_frames_and_the_provenance(bitrate, rate, tmp_path: Path) -> None:
    """Control for the bitrate cases: what is accepted is what LAME writes and what is recorded."""
    (tmp_path / "s.yaml").write_text(FAKE)
    out = tmp_path / "out"
    result = run(["build", str(tmp_path / "s.yaml"), "-l", "beginner", "--bitrate", bitrate,
                  "--sample-rate", rate, "--out", str(out), "--no-sidecars"])
    assert result.exit_code == 0, result.stderr
    mp3 = out / "mini-beginner.mp3"
    assert frame_header(mp3) == (int(bitrate[:-1]), int(rate))
    assert read_tags(mp3)["provenance"]["bitrate"] == bitrate
