"""A built MP3 in a real browser: headless Chromium loads it through an <audio> element served on
127.0.0.1, plays it, and reports the duration we built (within one MP3 frame, as mutagen does).

Needs the Debian package `chromium` (.ci/run installs it); skipped only where no Chromium is found.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import pytest
from mutagen.mp3 import MP3

from audioroutine.model.script import load_script
from audioroutine.run.pipeline import BuildOptions, build
from tools.screenshot import CHROMIUM_ARGS, chromium, serve

PAGE = """<!doctype html><html><body><div id="out">pending</div>
<audio id="a" src="{src}" preload="auto"></audio>
<script>
const a = document.getElementById('a'), out = document.getElementById('out'), r = {{}};
const show = () => {{ out.textContent = JSON.stringify(r); }};
a.addEventListener('loadedmetadata', () => {{ r.metadata = a.duration; show(); }});
a.addEventListener('error', () => {{ r.error = a.error && a.error.code; show(); }});
a.addEventListener('timeupdate', () => {{ if (a.currentTime > 0) {{ r.time = a.currentTime; show(); }} }});
a.play().then(() => {{ r.played = a.duration; show(); }}, e => {{ r.play_error = String(e); show(); }});
</script></body></html>
"""


@pytest.mark.slow
@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
@pytest.mark.skipif(chromium() is None, reason="no Chromium found (apt-get install -y chromium)")
def test_chromium_plays_the_mp3_with_our_duration(mini_script: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = build(load_script(mini_script), BuildOptions(out_dir=site, levels=("beginner",)))
    session = result.sessions[0]
    (site / "index.html").write_text(PAGE.format(src=html.escape(session.path.name)), encoding="utf-8")

    with serve(site) as base:           # the byte-range server the docs' screenshot uses
        proc = subprocess.run([str(chromium()), *CHROMIUM_ARGS, f"--user-data-dir={tmp_path / 'profile'}",
                               "--virtual-time-budget=5000", "--dump-dom", f"{base}index.html"],
                              capture_output=True, timeout=90, check=False)
    dom = proc.stdout.decode(errors="replace")
    match = re.search(r'<div id="out">(.*?)</div>', dom)
    assert match, f"no page output; chromium exit {proc.returncode}: {proc.stderr.decode()[-500:]}"
    report = json.loads(html.unescape(match.group(1)))
    assert "error" not in report and "play_error" not in report, report
    # issue 22: the browser's duration, mutagen's length and ours agree within one MP3 frame
    frame = 576 / 22050
    info = MP3(str(session.path)).info
    assert info is not None
    for found in (report["metadata"], report["played"], info.length):
        assert abs(found - session.seconds) < frame, (report, info.length, session.seconds)
    assert report["time"] > 0          # the playhead moved: it really plays
