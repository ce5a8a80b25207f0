"""A published player page in a real browser: the site served from 127.0.0.1, headless
Chromium driven by Playwright. The page loads without console errors, plays, shows and reports
the MP3's exact duration, the third chapter seeks to its start, and the highlighted transcript
cue at a given time is the one the .vtt says.

Needs the Debian package `chromium` (.ci/run installs it) and the `playwright` Python package
(no `playwright install`: it drives the system Chromium); skipped only where either is missing.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from audioroutine import BuildOptions, build, load_script
from audioroutine.model.durations import format_clock
from audioroutine.output.tags import read_tags
from audioroutine.publish import publish
from tools.screenshot import PHONE, browser_page, chromium, serve, shoot, until

from ..conftest import MINIMAL
from ..ffmeta import decoded_samples

SCRIPT = MINIMAL.replace("title: Mini", "title: \"Mini <script>alert('x')</script>\"").replace(
    "voice:", "safety: [Stop if it hurts.]\nvoice:")


def vtt_cues(text: str) -> list[tuple[int, int, str]]:
    """(start ms, end ms, text) of each cue: a reader written here, apart from the publisher's."""
    def ms(stamp: str) -> int:
        h, m, s = stamp.split(":")
        return (int(h) * 3600 + int(m) * 60) * 1000 + round(float(s) * 1000)
    return [(ms(a), ms(b), body.strip()) for a, b, body in
            re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(.*?)(?:\n\n|\Z)", text, re.S)]


@pytest.mark.slow
@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
@pytest.mark.skipif(chromium() is None, reason="no Chromium found (apt-get install -y chromium)")
@pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright not installed (pip install -e '.[test]')")
def test_player_page_in_chromium(tmp_path: Path) -> None:
    script = tmp_path / "mini.yaml"
    script.write_text(SCRIPT, encoding="utf-8")
    out, site = tmp_path / "out", tmp_path / "site"
    build(load_script(script), BuildOptions(out_dir=out))
    mp3 = out / "mini-beginner.mp3"
    exact = decoded_samples(mp3) / 22050
    chapters = read_tags(mp3)["chapters"]
    cues = vtt_cues((out / "mini-beginner.vtt").read_text(encoding="utf-8"))
    site.mkdir()
    with serve(site) as base, browser_page(tmp_path / "profile") as page:
        publish(out, base, site)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        page.goto(f"{base}mini-beginner.html")
        report: dict[str, Any] = {}

        # Exact duration: the page holds it (and says it as a player does), and Chromium's
        # decoder agrees.
        until(page, "document.getElementById('player')?.readyState >= 1")
        report["duration"] = page.evaluate("document.getElementById('player').duration")
        assert page.get_attribute("#duration", "data-ms") == str(int(exact * 1000))
        assert page.inner_text("#duration") == format_clock(int(exact * 1000))
        assert abs(report["duration"] - exact) < 1e-5, (report, exact)      # Chromium reports microseconds

        # The playhead's time is written as the page's times are (player.js's clock is
        # durations.format_clock), an hour and more included: a stand-in currentTime.
        for ms in (59_999, 3_599_999, 3_600_000, 4_503_200):
            shown = page.evaluate("""ms => { const a = document.getElementById('player');
                Object.defineProperty(a, 'currentTime', {get: () => ms / 1000, configurable: true});
                a.dispatchEvent(new Event('timeupdate')); delete a.currentTime;
                return document.getElementById('position').textContent; }""", ms)
            assert shown == format_clock(ms), (ms, shown)

        # It plays: the playhead moves.
        page.evaluate("document.getElementById('player').play(), null")
        report["played_to"] = until(page, "(a => a.currentTime > 0.2 && a.currentTime)(document.getElementById('player'))")
        page.evaluate("document.getElementById('player').pause()")

        # Clicking the third chapter seeks to its start.
        page.evaluate("""() => { window.seekedTo = new Promise(done => document.getElementById('player')
            .addEventListener('seeking', e => done(e.target.currentTime), {once: true})); }""")
        page.click("#chapters li:nth-child(3) button")
        report["seek"] = page.evaluate("window.seekedTo")
        assert report["seek"] == chapters[2]["start_ms"] / 1000, (report, chapters[2])
        until(page, "document.querySelector('#chapters li:nth-child(3) button').classList.contains('current')")
        assert page.get_attribute("#chapters li:nth-child(3) button", "aria-current") == "true"
        page.evaluate("document.getElementById('player').pause()")

        # By keyboard: Tab to the second chapter and press Enter.
        page.focus("#chapters li:nth-child(1) button")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        until(page, f"Math.abs(document.getElementById('player').currentTime - {chapters[1]['start_ms'] / 1000}) < 0.5")
        page.evaluate("document.getElementById('player').pause()")

        # The highlighted cue at a time inside the fifth cue is that cue, as the .vtt says.
        start, end, text = cues[4]
        at = (start + end) / 2 / 1000
        page.evaluate("""at => new Promise(done => { const a = document.getElementById('player');
            a.addEventListener('seeked', () => setTimeout(done, 50), {once: true}); a.currentTime = at; })""", at)
        highlighted = page.query_selector_all("#transcript li.current")
        assert len(highlighted) == 1
        report["cue"] = (highlighted[0].get_attribute("data-start"), highlighted[0].get_attribute("data-end"),
                         highlighted[0].inner_text())
        assert report["cue"] == (str(start), str(end), f"{start // 60000}:{start // 1000 % 60:02d} {text}")
        # Chromium's own WebVTT parser, on the <track>, has the same cue active.
        page.evaluate("document.getElementById('player').textTracks[0].mode = 'hidden'")
        active = until(page, "(t => t.activeCues && t.activeCues.length && Array.from(t.activeCues, c => c.text))"
                             "(document.getElementById('player').textTracks[0])")
        assert active == [text]

        # Between cues (a hold) nothing is highlighted.
        gap = (cues[4][1] + cues[5][0]) / 2 / 1000
        page.evaluate("""at => new Promise(done => { const a = document.getElementById('player');
            a.addEventListener('seeked', () => setTimeout(done, 50), {once: true}); a.currentTime = at; })""", gap)
        assert page.query_selector_all("#transcript li.current") == []

        # The script's title is text, not markup; every control has a name for screen readers.
        assert page.inner_text("h1") == "Mini <script>alert('x')</script> — Beginner"
        assert page.evaluate("typeof window.alert === 'function' && document.scripts.length") == 1
        for button in page.query_selector_all("button"):
            assert (button.get_attribute("aria-label") or "").startswith("Play from ")
        assert page.get_attribute("#player", "aria-label") == "Play Mini <script>alert('x')</script> — Beginner"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]   # no sideways scrolling

        page.goto(f"{base}index.html")                                   # the index page too
        page.click("text=Mini <script>alert('x')</script> — Progressed")
        assert page.url == f"{base}mini-progressed.html"
        until(page, "document.getElementById('player')?.readyState >= 1")

        shot = tmp_path / "player.png"
        shoot(page, f"{base}mini-beginner.html", shot, (start + end) // 2)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert problems == []
    print(f"\nbrowser: duration {report['duration']!r} s (exact {exact!r} s); played to {report['played_to']:.3f} s; "
          f"chapter 3 seek {report['seek']!r} s (start {chapters[2]['start_ms'] / 1000}); cue {report['cue']}")
