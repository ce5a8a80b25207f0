"""Feeds and pages up to the podcast apps' bar: the feed read strictly and by feedparser for
every required and recommended tag, 1400 px artwork, patient folders not listed unless asked,
`audioroutine serve` answering byte ranges, and a programme released week by week keeping its
track numbers, playlist and episode numbers."""

from __future__ import annotations

import io
import threading
import urllib.request
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner
from lxml import etree
from PIL import Image

from audioroutine.cli import cli
from audioroutine.output.tags import read_tags
from audioroutine.publish.serve import make_server

from ..conftest import MINIMAL

BASE = "https://clinic.example/site/"


def run(*args: str) -> None:
    result = CliRunner(mix_stderr=False).invoke(cli, list(args))
    assert result.exit_code == 0, result.stderr


@pytest.fixture
def programme(tmp_path: Path) -> Path:
    (tmp_path / "mini.yaml").write_text(MINIMAL.replace("title: Mini", "title: Mini\nclinic: Riverside Physio"),
                                        encoding="utf-8")
    path = tmp_path / "weeks.yaml"
    path.write_text("id: mini-weeks\nscript: mini.yaml\nweeks: 3\nfrequency: once a day\n", encoding="utf-8")
    return path


def test_weeks_released_one_at_a_time_keep_track_playlist_and_episode_numbers(programme: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run("programme", str(programme), "--out", str(out), "--week", "2")
    run("programme", str(programme), "--out", str(out), "--week", "3")
    assert [read_tags(out / f"mini-weeks-week-{w}.mp3")["track"] for w in (2, 3)] == ["2/3", "3/3"]
    playlist = (out / "mini-weeks.m3u8").read_text(encoding="utf-8")
    assert [line for line in playlist.splitlines() if not line.startswith("#")] == \
        ["mini-weeks-week-2.mp3", "mini-weeks-week-3.mp3"]
    assert "Mini — Week 2" in playlist and "Mini — Week 3" in playlist
    run("publish", str(out), "--base-url", BASE, "--to", str(tmp_path / "site"))
    feed = feedparser.parse((tmp_path / "site" / "feed.xml").read_bytes())
    assert [(e.title, e.itunes_episode) for e in feed.entries] == [("Mini — Week 2", "2"), ("Mini — Week 3", "3")]


def test_the_feed_has_every_required_and_recommended_podcast_tag(programme: Path, tmp_path: Path) -> None:
    out, site = tmp_path / "out", tmp_path / "site"
    run("programme", str(programme), "--out", str(out))
    run("publish", str(out), "--base-url", BASE, "--to", str(site), "--owner-email", "audio@clinic.example")
    data = (site / "feed.xml").read_bytes()
    root = etree.fromstring(data, etree.XMLParser(recover=False, resolve_entities=False))   # strict
    itunes = {"itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd"}
    channel = root.find("channel")
    assert channel.findtext("itunes:explicit", namespaces=itunes) == "false"
    assert channel.findtext("itunes:block", namespaces=itunes) == "Yes"
    assert channel.findtext("itunes:owner/itunes:email", namespaces=itunes) == "audio@clinic.example"
    feed = feedparser.parse(data)
    assert not feed.bozo, feed.bozo_exception
    info = feed.feed
    assert info.title == "Mini" and info.link == f"{BASE}index.html" and info.language == "en"
    assert info.subtitle.startswith("Mini")                    # description
    assert "itunes_explicit" in info   # feedparser 6 maps yes/no/clean only; the XML says "false" (above)
    assert info.image.href == f"{BASE}mini-weeks-week-1.cover.png"
    assert info.tags[0].term == "Health & Fitness"
    assert info.author == "Riverside Physio" and info.itunes_type == "serial"
    assert info.publisher_detail == {"name": "Riverside Physio", "email": "audio@clinic.example"}
    assert info.itunes_block == 1
    assert [e.itunes_episode for e in feed.entries] == ["1", "2", "3"]
    for entry in feed.entries:
        assert entry.title and entry.id and entry.published and entry.itunes_duration
        assert entry.enclosures[0].type == "audio/mpeg" and int(entry.enclosures[0].length) > 0
    with Image.open(site / "mini-weeks-week-1.cover.png") as cover:
        assert cover.size == (1400, 1400)


def test_listed_feeds_are_not_blocked(programme: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run("programme", str(programme), "--out", str(out), "--week", "1")
    run("publish", str(out), "--base-url", BASE, "--to", str(tmp_path / "site"), "--listed")
    assert b"itunes:block" not in (tmp_path / "site" / "feed.xml").read_bytes()


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_serve_answers_byte_ranges(tmp_path: Path) -> None:
    body = bytes(range(256)) * 40
    (tmp_path / "a.mp3").write_bytes(body)
    server = make_server(tmp_path, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/a.mp3"

    def get(byte_range: str | None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(url, headers={"Range": byte_range} if byte_range else {})
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), b""

    try:
        status, headers, data = get("bytes=100-199")
        assert (status, headers["Content-Range"], data) == (206, f"bytes 100-199/{len(body)}", body[100:200])
        assert headers["Content-Type"] == "audio/mpeg" and headers["Accept-Ranges"] == "bytes"
        assert get("bytes=10000-")[2] == body[10000:]
        assert get("bytes=-16")[2] == body[-16:]
        assert get(None)[:1] + (get(None)[2],) == (200, body)
        status, headers, _ = get(f"bytes={len(body)}-")
        assert (status, headers["Content-Range"]) == (416, f"bytes */{len(body)}")
    finally:
        server.shutdown()
        server.server_close()


def test_a_generated_cover_is_1400_px_square_png() -> None:
    from audioroutine.output.cover import generate_cover

    with Image.open(io.BytesIO(generate_cover("Knee", "Beginner"))) as image:
        assert (image.format, image.size) == ("PNG", (1400, 1400))
