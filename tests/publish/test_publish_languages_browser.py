"""Published pages and handouts in each shipped language, in headless Chromium: `lang` set,
no console error, a chapter seeks to its start (served by `audioroutine serve`'s handler, with
byte ranges), and axe-core (axe-playwright-python) finds no serious or critical violation on
the player, index and handout pages. Served without byte ranges, the page says it cannot seek.

Needs the Debian package `chromium` and the Python packages `playwright` and
`axe-playwright-python`; skipped only where one is missing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from audioroutine import lang
from audioroutine.cli import cli
from tools.screenshot import browser_page, chromium, serve, until

from ..lang.test_patient_language import CONTENT, SCRIPT

pytestmark = [
    pytest.mark.slow, pytest.mark.enable_socket, pytest.mark.allow_hosts(["127.0.0.1"]),
    pytest.mark.skipif(chromium() is None, reason="no Chromium found (apt-get install -y chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright not installed"),
    pytest.mark.skipif(importlib.util.find_spec("axe_playwright_python") is None,
                       reason="axe-playwright-python not installed (pip install -e '.[test]')"),
]


def build_and_publish(code: str, root: Path, base: str) -> tuple[Path, Path]:
    content = CONTENT[code]
    script = root / f"knee_{code}.yaml"
    script.write_text(SCRIPT.format(code=code, **content), encoding="utf-8")
    (root / "rx.yaml").write_text(f"clinician: M. Martin\ndate: 2026-12-01\nfrequency: {content['frequency']}\n"
                                  f"patients:\n  - ref: P-0001\n    script: {script.name}\n    level: beginner\n",
                                  encoding="utf-8")
    out, site = root / "out", root / "site"
    runner = CliRunner(mix_stderr=False)
    for args in (["prescribe", str(root / "rx.yaml"), "--out", str(out), "--base-url", base],
                 ["publish", str(out), "--base-url", base, "--to", str(site), "--list-folders"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.stderr
    return out, site


def watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    return problems


def serious(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in violations if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("code", lang.shipped())
def test_pages_and_handout_in_chromium(code: str, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with serve(site) as base, browser_page(tmp_path / "profile") as page:
        out, _ = build_and_publish(code, tmp_path, base)
        problems = watch(page)
        report: dict[str, list[str]] = {}
        page.goto(f"{base}P-0001/knee_{code}-beginner.html")
        assert page.evaluate("document.documentElement.lang") == code
        until(page, "document.getElementById('player').readyState >= 1")
        starts = page.eval_on_selector_all("#chapters button", "bs => bs.map(b => Number(b.dataset.start))")
        page.click("#chapters li:nth-child(2) button")
        at = until(page, "(a => a.currentTime > 0 && a.currentTime)(document.getElementById('player'))")
        assert abs(at * 1000 - starts[1]) < 500, (at, starts)
        page.evaluate("document.getElementById('player').pause()")
        assert page.is_hidden("#no-seek")
        report["player"] = serious(page)
        for name, url in (("index", f"{base}P-0001/index.html"), ("top", f"{base}index.html")):
            page.goto(url)
            assert page.evaluate("document.documentElement.lang") == code, name
            report[name] = serious(page)
        with serve(out) as handouts:
            page.goto(f"{handouts}P-0001/knee_{code}-beginner.html")
            assert page.evaluate("document.documentElement.lang") == code
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")   # no sideways scroll
            report["handout"] = serious(page)
        assert problems == []
        assert report == {name: [] for name in report}


def test_a_server_without_byte_ranges_is_named_on_the_page(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with serve(site, ranges=False) as base, browser_page(tmp_path / "profile") as page:
        build_and_publish("en", tmp_path, base)
        page.goto(f"{base}P-0001/knee_en-beginner.html")
        until(page, "document.getElementById('player').readyState >= 1")
        assert page.is_hidden("#no-seek")
        page.click("#chapters li:nth-child(2) button")
        until(page, "!document.getElementById('no-seek').hidden", timeout_s=15)
        assert "cannot jump" in page.inner_text("#no-seek")
        # the control: axe does report a serious violation where there is one
        page.set_content('<!doctype html><html><body><input type="text"><img src="data:,"></body></html>')
        assert serious(page)
