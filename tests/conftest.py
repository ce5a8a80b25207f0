"""Shared fixtures. Tests never see the user's HOME or cache; no test may use the network
(pytest-socket is on for the whole run, see pyproject.toml)."""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests  # noqa: F401  urllib3 probes IPv6 with a local socket on import: do it before sockets are blocked

from audioroutine.core.ffmpeg import configure_pydub
from audioroutine.engines.fake import FakeEngine

from .cache_backends import BACKENDS

ROOT = Path(__file__).resolve().parent.parent

# Speed of the run, not what it tests (set before pytest makes a temporary folder or xdist
# starts its workers, which inherit the environment):
# - temporary folders on tmpfs where the machine has one: every output file is fsynced
#   (core/files.py), about 9 ms a file on this disk and under 1 ms on tmpfs;
# - bytecode written and reused: with PYTHONDONTWRITEBYTECODE set, every worker, CLI
#   subprocess and process pool compiles the package and its dependencies from source again
#   (about 1.5 s each).
if "PYTEST_DEBUG_TEMPROOT" not in os.environ and os.access("/dev/shm", os.W_OK):
    os.environ["PYTEST_DEBUG_TEMPROOT"] = "/dev/shm"
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False
SEED = ROOT / "scripts_yaml" / "upper_middle_back.yaml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (--dist loadgroup), tests that share a costly session or module
    fixture run on one worker, so it is made once: the moto S3 server, test_manifest's build."""
    for item in items:
        if "[s3-" in item.nodeid and "every_kind_of_damage" in item.nodeid and not item.nodeid.endswith("[s3-truncated]"):
            item.add_marker(pytest.mark.slow)   # every damage on S3 in the slow suite; one here, all on folder/memory
        if "[s3" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group("s3"))
        elif item.nodeid.startswith("tests/run/test_manifest.py"):
            item.add_marker(pytest.mark.xdist_group("manifest"))


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


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """An S3 server (moto) on 127.0.0.1 at a free port, for the tests that share a cache."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def use_s3_endpoint(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point botocore (so s3fs) at `endpoint` with test credentials, as a clinic network's
    workers would be configured, and forget S3 filesystems made for another endpoint."""
    import s3fs

    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`s3://BUCKET` of a new bucket on the moto server (a test using it needs the marks of
    cache_backends.S3: sockets to 127.0.0.1 only)."""
    import s3fs

    use_s3_endpoint(monkeypatch, moto_endpoint)
    bucket = f"cache-{uuid.uuid4().hex[:16]}"
    s3fs.S3FileSystem().mkdir(bucket)
    yield f"s3://{bucket}"
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(params=BACKENDS)
def cache_root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """A fresh phrase cache location on each backend: a folder, memory://, S3 (moto)."""
    if request.param == "folder":
        yield tmp_path / "shared-cache"
    elif request.param == "memory":
        import fsspec

        top = f"/{uuid.uuid4().hex}"
        yield f"memory://{top}/cache"
        memory = fsspec.filesystem("memory")
        if memory.exists(top):
            memory.rm(top, recursive=True)
    else:
        yield request.getfixturevalue("s3_bucket") + "/cache"
