"""Clinic settings: strict keys with file:line, found beside the script or named by --settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mutagen.id3 import ID3
from PIL import Image

from audioroutine.cli import cli
from audioroutine.core.errors import ScriptError
from audioroutine.model.settings import Settings, load_settings, parse_settings


def test_full_file(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8), (200, 30, 30)).save(tmp_path / "c.png")
    path = tmp_path / "audioroutine.toml"
    path.write_text(
        '# Riverside\nclinic = "Riverside Physio"\ncontact = "Call   us."\nbitrate = "96k"\n'
        'engine = "fake"\ncover = "c.png"\n', encoding="utf-8")
    settings = load_settings(path)
    assert settings == Settings(clinic="Riverside Physio", contact="Call us.", bitrate="96k", engine="fake",
                                cover=tmp_path / "c.png", path=str(path))


@pytest.mark.parametrize("text, message", [
    ('clinic = "A"\n\ncontcat = "x"\n',
     "s.toml:3: contcat: unknown key 'contcat' (did you mean 'contact'?)"),
    ('clinic = "A"\n[voice]\nengine = "fake"\n',
     "s.toml:2: voice: tables are not used here (write flat lines like engine = \"piper\")"),
    ('bitrate = 64\n', "s.toml:1: bitrate: expected some text in quotes"),
    ('clinic = "A\n', "s.toml:1: TOML syntax error: Illegal character '\\n' (write key = \"text\")"),
    ('cover = "missing.png"\n',
     "s.toml:1: cover: cover image not found: missing.png (give a PNG or JPEG path relative to this file)"),
])
def test_errors_name_file_line_and_key(text: str, message: str) -> None:
    with pytest.raises(ScriptError) as err:
        parse_settings(text, "s.toml")
    assert str(err.value) == message


def test_settings_beside_script_used_by_cli(mini_script: Path, tmp_path: Path) -> None:
    (tmp_path / "audioroutine.toml").write_text('clinic = "Riverside Physio"\nbitrate = "32k"\n')
    result = CliRunner().invoke(cli, ["build", str(mini_script), "-l", "beginner", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    id3 = ID3(str(tmp_path / "o" / "mini-beginner.mp3"))
    assert str(id3["TPUB"].text[0]) == "Riverside Physio"
    assert '"bitrate":"32k"' in str(id3["TXXX:audioroutine"].text[0])


def test_bad_settings_file_is_one_line_exit_2(mini_script: Path, tmp_path: Path) -> None:
    bad = tmp_path / "other.toml"
    bad.write_text('clinc = "x"\n')
    result = CliRunner().invoke(cli, ["validate", str(mini_script), "--settings", str(bad)])
    assert result.exit_code == 2
    assert result.output == f"error: {bad}:1: clinc: unknown key 'clinc' (did you mean 'clinic'?)\n"
    assert not (tmp_path / "o").exists()
