"""Transcripts: SYLT lines, WebVTT and LRC sidecars, all timed from the timeline."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from mutagen.id3 import ID3

from audioroutine.cli import cli
from audioroutine.model.script import load_script
from audioroutine.output.transcript import Line, lrc_time, to_lrc, to_vtt, vtt_time
from audioroutine.run.pipeline import BuildOptions, plan


def test_time_formats() -> None:
    assert vtt_time(3_723_456) == "01:02:03.456"
    assert lrc_time(123_456) == "02:03.45"          # hundredths, rounded down
    assert lrc_time(59_999) == "00:59.99"


def test_vtt_and_lrc_text() -> None:
    spoken = [Line(0, 1500, "Hello.", 0), Line(2000, 2460, "Rep 1 of 2.", 1)]
    assert to_vtt(spoken, ["Introduction", "Press"]) == (
        "WEBVTT\n\n1 Introduction\n00:00:00.000 --> 00:00:01.500\nHello.\n\n"
        "2 Press\n00:00:02.000 --> 00:00:02.460\nRep 1 of 2.\n"
    )
    assert to_vtt([Line(0, 1, "a --> b", 0)]) == "WEBVTT\n\n1\n00:00:00.000 --> 00:00:00.001\na -> b\n"
    assert to_lrc(spoken, "T", "A", "B", 65_432) == (
        "[ti:T]\n[ar:A]\n[al:B]\n[length:01:05]\n[00:00.00]Hello.\n[00:02.00]Rep 1 of 2.\n"
    )


def test_sidecars_and_sylt_match_the_timeline(mini_script: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["build", str(mini_script), "--level", "beginner", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    timeline = plan(load_script(mini_script), "beginner", BuildOptions())
    speech = [e for e in timeline.events if e.kind == "speech"]
    ms = [(e.start * 1000 // 22050, e.end * 1000 // 22050, e.text) for e in speech]

    mp3 = tmp_path / "o" / "mini-beginner.mp3"
    sylt = ID3(str(mp3)).getall("SYLT")[0]
    assert (sylt.format, sylt.type, sylt.lang) == (2, 1, "eng")
    assert [(text, start) for text, start in sylt.text] == [(text, start) for start, _, text in ms]

    vtt = (tmp_path / "o" / "mini-beginner.vtt").read_text(encoding="utf-8")
    cues = re.findall(r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n(.+)\n", vtt)

    def to_ms(h: str, m: str, s: str, f: str) -> int:
        return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(f)

    assert [(to_ms(*c[:4]), to_ms(*c[4:8]), c[8]) for c in cues] == ms
    assert vtt.startswith("WEBVTT\n\n1 Introduction\n")

    lrc = (tmp_path / "o" / "mini-beginner.lrc").read_text(encoding="utf-8").splitlines()
    assert lrc[:4] == ["[ti:Mini — Beginner]", "[ar:audioroutine]", "[al:Mini]",
                       f"[length:00:{timeline.total // 22050:02d}]"]
    assert lrc[4:] == [f"[{start // 60000:02d}:{start % 60000 // 1000:02d}.{start % 1000 // 10:02d}]{text}"
                       for start, _, text in ms]


def test_no_sidecars_and_id3_options(mini_script: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["build", str(mini_script), "-l", "beginner", "--out", str(tmp_path / "o"),
                                      "--no-sidecars", "--id3", "2.4"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [".audioroutine-files.json",
                                                                  ".audioroutine-manifest.json", "mini-beginner.mp3",
                                                                  "mini.m3u8"]
    assert (tmp_path / "o" / "mini-beginner.mp3").read_bytes()[:4] == b"ID3\x04"
