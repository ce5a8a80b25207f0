"""Hostile files in a built folder met by `publish`: one line naming the file, exit 2, no
traceback, no site written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from audioroutine.cli import cli

from ..conftest import MINIMAL


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUDIOROUTINE_CACHE_DIR", str(tmp_path / "cache"))
    script = tmp_path / "mini.yaml"
    script.write_text(MINIMAL, encoding="utf-8")
    result = CliRunner(mix_stderr=False).invoke(cli, ["build", str(script), "--engine", "fake", "--out",
                                                      str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.stderr
    return tmp_path / "out"


@pytest.mark.parametrize("content", [b"WEBVTT\n\n\xff\xfe not UTF-8", b"\xff\xfeW\x00E\x00B\x00", b"WEBVTT\n\0\0\0"],
                         ids=["not-utf8", "utf16", "nul"])
def test_a_damaged_transcript_at_publish_is_one_line_naming_it(built: Path, tmp_path: Path, content: bytes) -> None:
    vtt = next(built.glob("*.vtt"))
    vtt.write_bytes(content)
    result = CliRunner(mix_stderr=False).invoke(cli, ["publish", str(built), "--base-url", "https://c.example/x/",
                                                      "--to", str(tmp_path / "site")])
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {vtt}"), result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "site").exists()
