"""Playlists and track numbers across a build: levels outer, scripts in the order given."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from mutagen.id3 import ID3

from audioroutine.cli import cli

from ..ffmeta import decoded_samples

OTHER = """
id: neck
title: Neck Care
voice: {engine: fake}
exercises:
  - name: Nod
    dosage: {reps: 2, rep_time: 3s}
"""


def test_programme_playlist_order_tracks_and_durations(mini_script: Path, write_script, tmp_path: Path) -> None:
    other = write_script(OTHER, "neck.yaml")
    out = tmp_path / "out" / "phone"
    result = CliRunner().invoke(cli, ["build", str(mini_script), str(other), "--out", str(out), "--no-sidecars"])
    assert result.exit_code == 0, result.output
    assert f"  {out / 'programme.m3u8'}  playlist" in result.output
    order = ["mini-beginner.mp3", "neck-beginner.mp3", "mini-progressed.mp3", "neck-progressed.mp3"]
    lines = (out / "programme.m3u8").read_bytes().decode("utf-8").splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines[2::2] == order                     # relative paths, the order a patient plays them
    for n, (extinf, name) in enumerate(zip(lines[1::2], order), 1):
        id3 = ID3(str(out / name))
        seconds = round(decoded_samples(out / name) / 22050)
        assert extinf == f"#EXTINF:{seconds},audioroutine - {id3['TIT2'].text[0]}"
        assert str(id3["TRCK"].text[0]) == f"{n}/4"
        assert str(id3["TALB"].text[0]) == "Exercise programme"


def test_one_script_playlist_is_named_after_it(mini_script: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["build", str(mini_script), "--out", str(tmp_path / "o"), "--no-sidecars"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "o" / "mini.m3u8").read_text(encoding="utf-8")
    assert text.count("#EXTINF:") == 2
    assert text.splitlines()[2::2] == ["mini-beginner.mp3", "mini-progressed.mp3"]
    assert str(ID3(str(tmp_path / "o" / "mini-beginner.mp3"))["TALB"].text[0]) == "Mini"


def test_scripts_by_different_authors_share_one_album_and_album_artist(write_script, tmp_path: Path) -> None:
    from audioroutine import BuildOptions, load_script
    from audioroutine.run.pipeline import build_batch

    first = load_script(write_script(OTHER.replace("voice:", "author: Ana\nvoice:"), "neck.yaml"))
    second = load_script(write_script(OTHER.replace("id: neck", "id: hips").replace("voice:", "author: Ben\nvoice:"),
                                      "hips.yaml"))
    out = tmp_path / "o"
    options = [BuildOptions(out_dir=out, levels=("beginner",), sidecars=False)] * 2
    build_batch([first, second], options)
    tags = [ID3(str(out / name)) for name in ("neck-beginner.mp3", "hips-beginner.mp3")]
    assert [str(t["TPE1"].text[0]) for t in tags] == ["Ana", "Ben"]                  # each keeps its artist
    assert {(str(t["TALB"].text[0]), str(t["TPE2"].text[0])) for t in tags} == {("Exercise programme", "Ana")}
    control = build_batch([second], [BuildOptions(out_dir=tmp_path / "c", levels=("beginner",), sidecars=False)])
    alone = ID3(str(control.results[0].sessions[0].path))
    assert (str(alone["TALB"].text[0]), str(alone["TPE2"].text[0])) == ("Neck Care", "Ben")
