"""`audioroutine publish`: a static site (player pages, index pages, a podcast feed, QR codes)
read back from a built output folder. The fast half: feed, escaping, QR, idempotence, errors.
The browser half is tests/publish/test_publish_browser.py."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import feedparser
import jsonschema
import pytest
import zxingcpp
from click.testing import CliRunner
from mutagen.id3 import ID3
from PIL import Image

from audioroutine import BuildOptions, build, load_script
from audioroutine.cli import cli
from audioroutine.core.guard import SITE_RECORD_NAME, WriteRefused, peek
from audioroutine.output.tags import read_tags
from audioroutine.publish import publish
from audioroutine.publish.site import parse_vtt
from audioroutine.run.pipeline import build_batch
from tools.screenshot import serve

from ..conftest import MINIMAL
from ..ffmeta import decoded_samples

BASE = "https://clinic.example/exercises/"
EVIL = "Mini <script>alert('x')</script> & <b>bold</b>"

# Podcasting 2.0 chapters, version 1.2.0, from the namespace's docs/examples/chapters/jsonChapters.md:
# an object with `version` and `chapters`; each chapter has a numeric `startTime` (seconds) and
# optionally `title`, `img`, `url`, `toc`, `endTime` and `location`.
CHAPTERS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "chapters"],
    "properties": {
        "version": {"type": "string", "pattern": r"^1\.2\.0$"},
        "author": {"type": "string"}, "title": {"type": "string"}, "podcastName": {"type": "string"},
        "description": {"type": "string"}, "fileName": {"type": "string"}, "waypoints": {"type": "boolean"},
        "chapters": {"type": "array", "items": {
            "type": "object",
            "required": ["startTime"],
            "additionalProperties": False,
            "properties": {
                "startTime": {"type": "number", "minimum": 0},
                "endTime": {"type": "number", "minimum": 0},
                "title": {"type": "string"}, "img": {"type": "string"}, "url": {"type": "string"},
                "toc": {"type": "boolean"},
                "location": {"type": "object", "required": ["name", "geo"],
                             "properties": {"name": {"type": "string"}, "geo": {"type": "string"}}},
            },
        }},
    },
    "additionalProperties": False,
}


_BUILT: dict[str, Path] = {}   # script text -> a pristine output folder, built once per module


@pytest.fixture(scope="module", autouse=True)
def _pristine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    _BUILT["/"] = tmp_path_factory.mktemp("pristine")
    yield
    _BUILT.clear()


def built(tmp_path: Path, text: str = MINIMAL, folder: str = "out") -> Path:
    """tmp_path/folder holding the build of `text` (and the script beside it). Each text is
    built once per module and copied: publishing only reads the folder."""
    script = tmp_path / f"{folder.replace('/', '_')}.yaml"
    script.write_text(text, encoding="utf-8")
    if text not in _BUILT:
        home = _BUILT["/"] / str(len(_BUILT))
        home.mkdir()
        (home / script.name).write_text(text, encoding="utf-8")
        build_batch([load_script(home / script.name)], [BuildOptions(out_dir=home / "out")])   # with its playlist
        _BUILT[text] = home / "out"
    shutil.copytree(_BUILT[text], tmp_path / folder)
    return tmp_path / folder


def mtimes(folder: Path) -> dict[str, int]:
    """The site's files (not its record, which changes with them) and their mtimes."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".audioroutine-site.json"}


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_feed_parses_and_every_enclosure_is_served_with_its_length(tmp_path: Path) -> None:
    out = built(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    with serve(site) as base:
        result = publish(out, base, site)
        assert result.feeds == [f"{base}feed.xml"]
        feed = feedparser.parse(urllib.request.urlopen(result.feeds[0]).read())
        assert not feed.bozo, feed.bozo_exception
        assert feed.feed.title == "Mini" and feed.feed.link == f"{base}index.html"
        assert feed.namespaces["podcast"] == "https://podcastindex.org/namespace/1.0"
        assert [e.title for e in feed.entries] == ["Mini — Beginner", "Mini — Progressed"]   # play order
        for number, entry in enumerate(feed.entries, 1):
            (enclosure,) = entry.enclosures
            served = urllib.request.urlopen(enclosure.href).read()
            mp3 = out / Path(enclosure.href).name
            assert served == mp3.read_bytes() and int(enclosure.length) == len(served)
            assert enclosure.type == "audio/mpeg"
            assert entry.itunes_duration == str(round(decoded_samples(mp3) / 22050))
            assert entry.itunes_episode == str(number)
            chapters_url = entry["podcast_chapters"]["url"]
            chapters = json.loads(urllib.request.urlopen(chapters_url).read())
            jsonschema.validate(chapters, CHAPTERS_SCHEMA)
            tags = read_tags(mp3)["chapters"]
            assert [(c["startTime"], c["title"]) for c in chapters["chapters"]] == \
                [(c["start_ms"] / 1000, c["title"]) for c in tags]
            transcript = entry["podcast_transcript"]
            assert transcript["type"] == "text/vtt"
            assert urllib.request.urlopen(transcript["url"]).read() == mp3.with_suffix(".vtt").read_bytes()


def test_chapters_schema_rejects_what_the_spec_does() -> None:
    """Control: the schema is not vacuous."""
    for bad in ({"chapters": []}, {"version": "1.2.0", "chapters": [{"title": "no start"}]},
                {"version": "1.2.0", "chapters": [{"startTime": "0", "title": "text time"}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, CHAPTERS_SCHEMA)


def test_script_text_is_escaped_on_pages_and_in_the_feed(tmp_path: Path) -> None:
    out = built(tmp_path, MINIMAL.replace("title: Mini", f"title: \"{EVIL}\"").replace(
        "    hold: Hold.", "    hold: \"Hold. </li><script>alert(2)</script>\""))
    publish(out, BASE, tmp_path / "site")
    for name in ("mini-beginner.html", "index.html"):
        page = (tmp_path / "site" / name).read_text(encoding="utf-8")
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
        assert "<b>" not in page and "alert('x')" not in page and "<script>alert" not in page
        scripts = page.count("<script")
        assert scripts == (1 if name != "index.html" else 0)        # only our player.js
    page = (tmp_path / "site" / "mini-beginner.html").read_text(encoding="utf-8")
    assert "Hold. &lt;/li&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "script-src 'self'" in page                                 # and no inline script could run
    raw = (tmp_path / "site" / "feed.xml").read_text(encoding="utf-8")
    assert "<script>" not in raw and "&lt;script&gt;alert('x')&lt;/script&gt; &amp; &lt;b&gt;" in raw
    feed = feedparser.parse(raw.encode())
    assert feed.feed.title == EVIL                                     # a reader gets the text back, as text


def test_pages_show_exact_duration_chapters_cues_and_notes(tmp_path: Path) -> None:
    out = built(tmp_path, MINIMAL.replace("voice:", "safety: [Stop if it hurts.]\nvoice:"))
    publish(out, BASE, tmp_path / "site")
    page = (tmp_path / "site" / "mini-beginner.html").read_text(encoding="utf-8")
    samples = decoded_samples(out / "mini-beginner.mp3")
    ms = samples * 1000 // 22050
    assert f'data-duration-ms="{ms}"' in page and f'data-ms="{ms}">0:{ms // 1000:02d}<' in page
    for chapter in read_tags(out / "mini-beginner.mp3")["chapters"]:
        assert f'data-start="{chapter["start_ms"]}" data-end="{chapter["end_ms"]}"' in page
    cues = parse_vtt((out / "mini-beginner.vtt").read_text(encoding="utf-8"))
    assert len(cues) == 12 and page.count('<li id="cue-') == 12         # 10 + the safety notes spoken
    for n, cue in enumerate(cues, 1):
        assert f'<li id="cue-{n}" data-start="{cue.start_ms}" data-end="{cue.end_ms}">' in page
    assert "2 reps, holding each for 3 seconds." in page                # dosage under its chapter
    assert "Stop if it hurts." in page                                  # safety notes
    assert 'src="mini-beginner.cover.png"' in page
    assert (tmp_path / "site" / "mini-beginner.cover.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_qr_codes_open_the_pages(tmp_path: Path) -> None:
    publish(built(tmp_path), BASE, tmp_path / "site")
    for name in ("mini-beginner", "mini-progressed", "index"):
        (code,) = zxingcpp.read_barcodes(Image.open(tmp_path / "site" / f"{name}.qr.png"))
        assert code.format == zxingcpp.BarcodeFormat.QRCode and code.text == f"{BASE}{name}.html"


def test_republishing_unchanged_output_writes_nothing(tmp_path: Path) -> None:
    out = built(tmp_path)
    first = publish(out, BASE, tmp_path / "site")
    before = mtimes(tmp_path / "site")
    again = publish(out, BASE, tmp_path / "site")
    assert again.written == [] and again.removed == [] and len(again.unchanged) == len(first.written)
    assert mtimes(tmp_path / "site") == before


def test_one_changed_session_rewrites_only_its_files_the_feed_and_the_index(tmp_path: Path) -> None:
    out = built(tmp_path)
    publish(out, BASE, tmp_path / "site")
    before = mtimes(tmp_path / "site")
    script = tmp_path / "out.yaml"
    script.write_text(MINIMAL.replace("hold: 3s", "hold: 4s"), encoding="utf-8")
    build(load_script(script), BuildOptions(out_dir=out, levels=("beginner",)))   # only this MP3 changes
    after = publish(out, BASE, tmp_path / "site")
    changed = {str(p.relative_to(tmp_path / "site")) for p in after.written}
    assert changed == {"mini-beginner.mp3", "mini-beginner.vtt", "mini-beginner.chapters.json",
                       "mini-beginner.html", "feed.xml", "index.html"}
    now = mtimes(tmp_path / "site")
    assert {name for name in now if now[name] != before[name]} == changed


def test_a_folder_per_patient_gets_its_own_index_and_feed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    built(tmp_path, MINIMAL, "out/ana")
    built(tmp_path, MINIMAL.replace("id: mini", "id: neck").replace("title: Mini", "title: Neck"), "out/ben")
    result = publish(out, BASE, tmp_path / "site")
    assert result.feeds == [f"{BASE}ana/feed.xml", f"{BASE}ben/feed.xml"]
    top = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "ana" not in top and "ben" not in top and "feed.xml" not in top   # patient folders: not listed
    publish(out, BASE, tmp_path / "site", list_folders=True)                  # unless asked
    top = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'href="ana/index.html"' in top and 'href="ben/index.html"' in top and "feed.xml" not in top
    ben = (tmp_path / "site" / "ben" / "index.html").read_text(encoding="utf-8")
    assert 'href="neck-beginner.html"' in ben and 'href="../assets/player.css"' in ben
    assert f"{BASE}ben/feed.xml" in ben
    assert (tmp_path / "site" / "assets" / "player.js").is_file()
    feed = feedparser.parse((tmp_path / "site" / "ben" / "feed.xml").read_bytes())
    assert [e.enclosures[0].href for e in feed.entries] == [f"{BASE}ben/neck-beginner.mp3",
                                                             f"{BASE}ben/neck-progressed.mp3"]


def test_files_of_a_removed_session_are_removed(tmp_path: Path) -> None:
    out = built(tmp_path)
    publish(out, BASE, tmp_path / "site")
    (tmp_path / "site" / "notes.txt").write_text("the clinic's own file")
    for path in out.glob("mini-progressed.*"):
        path.unlink()
    result = publish(out, BASE, tmp_path / "site")
    assert sorted(p.name for p in result.removed) == sorted(
        f"mini-progressed.{ext}" for ext in ("mp3", "vtt", "html", "chapters.json", "qr.png", "cover.png"))
    assert (tmp_path / "site" / "notes.txt").exists()                 # not ours: left alone


def test_the_site_record_names_no_folder_and_no_file(tmp_path: Path) -> None:
    """The record is served with the site: it must not list the patients' folders (reached
    only by their own addresses). It still lets the next publish remove what it wrote."""
    out = tmp_path / "out"
    secret = "ana-7f3k9q2xw"                                # a folder name that cannot be guessed
    built(tmp_path, MINIMAL, f"out/{secret}")
    built(tmp_path, MINIMAL.replace("id: mini", "id: neck").replace("title: Mini", "title: Neck"), "out/ben")
    site = tmp_path / "site"
    first = publish(out, BASE, site)
    record = (site / ".audioroutine-site.json").read_text(encoding="utf-8")
    names = {p.relative_to(site).as_posix() for p in site.rglob("*")} - {".audioroutine-site.json"}
    assert len(first.written) > 20 and secret in " ".join(names)
    for part in {part for name in names for part in name.split("/")}:
        assert part not in record, part
    assert json.loads(record)["format"] == 3
    shutil.rmtree(out / secret)                              # the patient's sessions are gone
    (site / secret / "notes.txt").write_text("the clinic's own file")
    result = publish(out, BASE, site)
    assert sorted(p.relative_to(site).as_posix() for p in result.removed) == sorted(
        name for name in names if name.startswith(f"{secret}/"))
    assert sorted(p.name for p in (site / secret).iterdir()) == ["notes.txt"]


def test_a_site_record_that_lists_names_is_read_and_saved_without_them(tmp_path: Path) -> None:
    out = built(tmp_path)
    site = tmp_path / "site"
    publish(out, BASE, site)
    guard = peek(site, SITE_RECORD_NAME)
    plain = {"format": 2, "files": guard.files}                # as publish wrote it before
    (site / ".audioroutine-site.json").write_text(json.dumps(plain), encoding="utf-8")
    (site / "mini-beginner.html").write_text("edited by the clinic", encoding="utf-8")
    for path in out.glob("mini-progressed.*"):
        path.unlink()
    with pytest.raises(WriteRefused, match="mini-beginner.html: was changed since"):
        publish(out, BASE, site)                              # the names were read: the edit is the user's
    (site / "mini-beginner.html").unlink()
    result = publish(out, BASE, site)
    assert {p.name for p in result.removed} >= {"mini-progressed.mp3", "mini-progressed.html"}
    record = (site / ".audioroutine-site.json").read_text(encoding="utf-8")
    assert json.loads(record)["format"] == 3 and "mini" not in record
    assert set(peek(site, SITE_RECORD_NAME).files) == {p.relative_to(site).as_posix() for p in site.rglob("*")
                                                       if p.is_file() and not p.name.startswith(".")}


def test_an_mp3_without_a_tag_is_published_from_its_decode(tmp_path: Path) -> None:
    out = built(tmp_path)
    for path in out.glob("mini-progressed.*"):
        path.unlink()
    mp3 = out / "mini-beginner.mp3"
    ID3(str(mp3)).delete(str(mp3))                              # no tag: no title, cover or provenance
    result = publish(out, BASE, tmp_path / "site")
    (session,) = result.sessions
    assert session.title == "mini-beginner" and session.cover is None and session.chapters == []
    assert session.samples == decoded_samples(mp3)
    page = (tmp_path / "site" / "mini-beginner.html").read_text(encoding="utf-8")
    assert f'data-duration-ms="{session.samples * 1000 // 22050}"' in page
    assert not list((tmp_path / "site").glob("*.cover.png"))


def test_cli_publish(tmp_path: Path) -> None:
    out = built(tmp_path)
    runner = CliRunner(mix_stderr=False)
    result = runner.invoke(cli, ["publish", str(out), "--base-url", "https://clinic.example/ex", "--to",
                                 str(tmp_path / "site")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == [
        "  https://clinic.example/ex/feed.xml  podcast feed",
        "2 session(s) in 1 folder(s): 17 file(s) written, 0 unchanged, 0 removed"]
    again = runner.invoke(cli, ["publish", str(out), "--base-url", "https://clinic.example/ex/", "--to",
                                str(tmp_path / "site"), "--json"])
    report = json.loads(again.stdout)
    assert report["written"] == [] and report["unchanged"] == 17
    assert [s["samples"] for s in report["sessions"]] == [decoded_samples(out / f"mini-{lv}.mp3")
                                                          for lv in ("beginner", "progressed")]


@pytest.mark.parametrize("url", ["clinic.example", "ftp://clinic.example/", "https://", "https://x/?a=1",
                                 "https://x/a b"])
def test_cli_publish_rejects_a_bad_base_url(tmp_path: Path, url: str) -> None:
    out = built(tmp_path)
    result = CliRunner(mix_stderr=False).invoke(cli, ["publish", str(out), "--base-url", url, "--to",
                                                      str(tmp_path / "site")])
    assert result.exit_code == 2
    assert result.stderr == ("error: --base-url: expected an absolute http:// or https:// address such as "
                             f"https://clinic.example/exercises/, got {url!r}\n")
    assert not (tmp_path / "site").exists()


def test_cli_publish_of_a_folder_without_mp3s(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner(mix_stderr=False).invoke(cli, ["publish", str(tmp_path / "empty"), "--base-url", BASE,
                                                      "--to", str(tmp_path / "site")])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {tmp_path / 'empty'}: no MP3 files to publish "
                             f"(build first: audioroutine build SCRIPT --out {tmp_path / 'empty'})\n")


def test_cli_publish_into_the_output_folder_itself(tmp_path: Path) -> None:
    out = built(tmp_path)
    result = CliRunner(mix_stderr=False).invoke(cli, ["publish", str(out), "--base-url", BASE, "--to", str(out)])
    assert result.exit_code == 2
    assert result.stderr == f"error: --to: the site needs its own folder, not the output folder {out}\n"
    assert sorted(p.suffix for p in out.iterdir() if not p.name.startswith(".")) == [
        ".lrc", ".lrc", ".m3u8", ".mp3", ".mp3", ".vtt", ".vtt"]


def test_a_site_inside_the_output_folder_is_not_read_as_sessions(tmp_path: Path) -> None:
    out = built(tmp_path)
    publish(out, BASE, out / "site")
    again = publish(out, BASE, out / "site")
    assert again.written == [] and [s.stem for s in again.sessions] == ["mini-beginner", "mini-progressed"]


def test_sessions_follow_the_playlist_not_the_file_names(tmp_path: Path, write_script) -> None:
    first = load_script(write_script(MINIMAL, "mini.yaml"))
    second = load_script(write_script(MINIMAL.replace("id: mini", "id: neck").replace("title: Mini", "title: Neck"),
                                      "neck.yaml"))
    build_batch([first, second], [BuildOptions(out_dir=tmp_path / "out")] * 2)
    result = publish(tmp_path / "out", BASE, tmp_path / "site")
    order = ["mini-beginner", "neck-beginner", "mini-progressed", "neck-progressed"]   # programme.m3u8's order
    assert [s.stem for s in result.sessions] == order
    feed = feedparser.parse((tmp_path / "site" / "feed.xml").read_bytes())
    assert [Path(e.enclosures[0].href).stem for e in feed.entries] == order
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert [index.index(f'href="{stem}.html"') for stem in order] == sorted(index.index(f'href="{stem}.html"')
                                                                             for stem in order)
