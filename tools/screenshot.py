"""Serve a published site on 127.0.0.1 and drive the system Chromium with Playwright; write
the README's screenshot of a player page.

    python -m tools.screenshot            # builds the seed's beginner level (Piper), publishes it,
                                          # writes docs/img/player.png (about a minute)

Playwright drives the Debian `chromium` package (`executable_path`); `playwright install` is
never needed. The flags keep a sandboxed, offline Chromium from reaching out to Google.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "img" / "player.png"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--mute-audio", "--autoplay-policy=no-user-gesture-required",
]
PHONE = {"width": 412, "height": 915}      # a common Android phone, CSS pixels


def chromium() -> str | None:
    for name in (os.environ.get("AUDIOROUTINE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class _Plain(SimpleHTTPRequestHandler):
    """`python -m http.server`: whole files only, no byte ranges; no logging."""

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(folder: Path, port: int = 0, ranges: bool = True) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1, yielding the base URL: with byte ranges, as a clinic's
    host and `publish --serve` do (`audioroutine.publish.serve`; Chromium can only seek in
    media served with ranges), or, with `ranges=False`, whole files only."""
    from audioroutine.publish.serve import make_server

    server = make_server(folder, port=port) if ranges else ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(_Plain, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def browser_page(profile: Path, viewport: dict[str, int] | None = None) -> Iterator[Any]:
    """A Playwright page in a fresh headless Chromium profile."""
    from playwright.sync_api import sync_playwright

    executable = chromium()
    if executable is None:
        raise RuntimeError("no Chromium found (apt-get install -y chromium)")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport=cast("ViewportSize", viewport or PHONE), device_scale_factor=1)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def until(page: Any, expression: str, timeout_s: float = 30) -> Any:
    """Poll `expression` until it is truthy. (Playwright's wait_for_function evaluates a string
    inside the page, which the pages' Content-Security-Policy rightly refuses.)"""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {timeout_s} s: {expression}")
        time.sleep(0.05)


def shoot(page: Any, url: str, out: Path, at_ms: int) -> None:
    """Open the player at `url`, seek to `at_ms` (a cue highlighted) and screenshot the page top."""
    page.goto(url)
    until(page, "document.getElementById('player').readyState >= 1")
    page.evaluate("""ms => new Promise(done => { const a = document.getElementById('player');
        a.addEventListener('seeked', () => done(), {once: true}); a.currentTime = ms / 1000; })""", at_ms)
    until(page, "document.querySelector('#transcript .current') !== null")
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.screenshot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=SCREENSHOT, help="PNG to write")
    parser.add_argument("--engine", default="piper", help="speech engine for the build (fake: no speech, fast)")
    args = parser.parse_args(argv)

    from audioroutine import BuildOptions, build, load_script
    from audioroutine.core.ffmpeg import configure_pydub
    from audioroutine.publish import publish
    from audioroutine.publish.site import read_session

    configure_pydub()
    with tempfile.TemporaryDirectory(prefix="audioroutine-shot-") as tmp:
        work = Path(tmp)
        os.environ.setdefault("SOURCE_DATE_EPOCH", "1767225600")
        script = load_script(ROOT / "scripts_yaml" / "upper_middle_back.yaml")
        result = build(script, BuildOptions(out_dir=work / "output", levels=("beginner",), engine=args.engine))
        session = read_session(result.sessions[0].path)
        chapter = session.chapters[1]     # the first exercise: a cue in it is highlighted
        cue = next(c for c in session.cues if c.start_ms >= chapter.start_ms)
        (work / "site").mkdir()
        with serve(work / "site") as base:
            publish(work / "output", base, work / "site")
            with browser_page(work / "profile") as page:
                shoot(page, f"{base}{session.stem}.html", args.out, (cue.start_ms + cue.end_ms) // 2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
