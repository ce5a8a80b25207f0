"""Shared fixtures. Tests never see the user's HOME or cache; no test may use the network
(pytest-socket is on for the whole run, see pyproject.toml)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import requests  # noqa: F401  urllib3 probes IPv6 with a local socket on import: do it before sockets are blocked

from audioroutine.engines.fake import FakeEngine
from audioroutine.ffmpeg import configure_pydub

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "scripts_yaml" / "upper_middle_back.yaml"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME and phrase cache for every test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("AUDIOROUTINE_CACHE_DIR", str(tmp_path / "cache"))
    FakeEngine.calls.clear()
    configure_pydub()
    return tmp_path


@pytest.fixture
def write_script(tmp_path: Path):
    """Write a dedented YAML script into tmp_path and return its path."""

    def write(text: str, name: str = "routine.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


MINIMAL = """id: mini
title: Mini
voice: {engine: fake}
exercises:
  - name: Press
    hold: Hold.
    dosage:
      reps: 2
      hold: 3s
      rest: 2s
"""


@pytest.fixture
def mini_script(write_script) -> Path:
    """A one-exercise script on the fake engine."""
    return write_script(MINIMAL)


@pytest.fixture(scope="session")
def clean_mini(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(script, cache, out) of one clean build of MINIMAL, shared read-only by tests that
    compare a damaged or interrupted build against it."""
    from audioroutine import BuildOptions, build, load_script

    configure_pydub()
    root = tmp_path_factory.mktemp("clean")
    script = root / "mini.yaml"
    script.write_text(MINIMAL)
    build(load_script(script), BuildOptions(out_dir=root / "out", cache_dir=root / "cache"))
    return script, root / "cache", root / "out"
