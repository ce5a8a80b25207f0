"""A phrase cache shared through a URL (docs/scaling.md): builds with the cache on S3 (moto's
server on 127.0.0.1) give the same MP3s as with a local folder, a second machine (a fresh
output folder) synthesizes nothing, concurrent writers are harmless, and a store that is
unreachable, missing or not installed is one clear error line."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import fsspec
import pytest
from click.testing import CliRunner

from audioroutine import BuildOptions, build, load_script
from audioroutine.cli import cli
from audioroutine.core.errors import CacheError
from audioroutine.engines import Clip
from audioroutine.engines.fake import FakeEngine
from audioroutine.speech.cache import PhraseCache, entry_bytes
from audioroutine.speech.stores import FolderStore, FsspecStore, cache_location

from ..cache_backends import S3
from ..conftest import MINIMAL, ROOT, use_s3_endpoint

LOCALHOST = [pytest.mark.enable_socket, pytest.mark.allow_hosts(["127.0.0.1"])]


def _mp3s(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.mp3"))}


@pytest.mark.parametrize(("given", "expected"), [
    ("s3://bucket/a/prefix", "s3://bucket/a/prefix"),
    ("memory://x", "memory://x"),
    ("gs://b", "gs://b"),
    ("file:///srv/cache", Path("/srv/cache")),
    ("file://relative/cache", Path("relative/cache")),
    ("cache", Path("cache")),
    ("C:\\cache", Path("C:\\cache")),
    (Path("s3:/b/p"), Path("s3:/b/p")),      # a Path is a folder, whatever it looks like
])
def test_a_url_survives_unchanged_and_anything_else_is_a_folder(given, expected):
    assert cache_location(given) == expected
    assert BuildOptions(cache_dir=given).cache_dir == expected
    assert isinstance(PhraseCache(given).store, FsspecStore if isinstance(expected, str) else FolderStore)


@pytest.mark.parametrize("cache_root", ["memory", S3], indirect=True)
def test_the_cli_and_the_environment_take_a_url(mini_script, tmp_path, cache_root, monkeypatch):
    monkeypatch.setenv("AUDIOROUTINE_CACHE_DIR", cache_root)
    first = CliRunner(mix_stderr=False).invoke(cli, ["build", str(mini_script), "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.stderr
    assert first.stdout.splitlines()[-1].endswith("phrases: 11 synthesized, 9 from cache")
    fs, root = fsspec.core.url_to_fs(cache_root)
    found = fs.find(root)                                # every entry in the store, nothing else:
    segments = sum("/segments/" in f for f in found)     # each session's encoded segments
    assert len(found) == 22 + segments + 2 + 2           # each phrase's clip and its levelled piece,
    assert sum("/phrases/" in f for f in found) == sum("/pieces/" in f for f in found) == 11
    assert segments >= 2 and sum("/sessions/" in f for f in found) == 2   # each session's gain
    assert sum("/covers/" in f for f in found) == 2      # and each level's cover (no trimmed clip: remote)
    monkeypatch.delenv("AUDIOROUTINE_CACHE_DIR")
    again = CliRunner(mix_stderr=False).invoke(cli, ["build", str(mini_script), "--out", str(tmp_path / "b"),
                                                     "--cache-dir", cache_root])
    assert again.exit_code == 0, again.stderr
    assert again.stdout.splitlines()[-1].endswith("phrases: 0 synthesized, 20 from cache")
    assert not (tmp_path / "cache").exists()             # the default folder was never used


@pytest.mark.parametrize("cache_root", [S3], indirect=True)
def test_a_build_on_s3_equals_a_local_build_and_a_second_machine_synthesizes_nothing(
        write_script, tmp_path, cache_root):
    routine = load_script(write_script(MINIMAL))
    local = build(routine, BuildOptions(out_dir=tmp_path / "local", cache_dir=tmp_path / "folder"))
    FakeEngine.calls.clear()
    shared = build(routine, BuildOptions(out_dir=tmp_path / "worker1", cache_dir=cache_root))
    assert shared.stats.synthesized == 11 and len(FakeEngine.calls) == 11
    assert _mp3s(tmp_path / "worker1") == _mp3s(tmp_path / "local")
    FakeEngine.calls.clear()
    second = build(routine, BuildOptions(out_dir=tmp_path / "worker2", cache_dir=cache_root))
    assert (second.stats.synthesized, second.stats.cached, FakeEngine.calls) == (0, 20, [])   # 20: per level
    assert _mp3s(tmp_path / "worker2") == _mp3s(tmp_path / "local")
    assert local.stats.synthesized == 11 and [s.samples for s in second.sessions] == [
        s.samples for s in local.sessions]


@pytest.mark.parametrize("cache_root", ["folder", "memory", S3], indirect=True)
def test_concurrent_writers_of_one_key_are_harmless(cache_root):
    """Threads put the same key (same bytes, as content addressing makes them) while others
    read it: a reader sees no entry or the whole clip, never a damaged one."""
    key, clip = "5e" * 32, Clip(bytes(range(200)) * 50, 22050)
    seen, errors = [], []

    def writer() -> None:
        cache = PhraseCache(cache_root)
        for _ in range(5):
            cache.put(key, clip)

    def reader() -> None:
        cache = PhraseCache(cache_root)
        try:
            seen.extend(cache.load(key) for _ in range(10))
        except Exception as err:   # Damaged included: a reader must never see a partial entry
            errors.append(err)

    threads = [threading.Thread(target=f) for f in (writer, reader, writer, reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {c is None or c == clip for c in seen} == {True} and len(seen) == 20
    assert PhraseCache(cache_root).load(key) == clip
    fs, root = fsspec.core.url_to_fs(str(cache_root))
    assert [p.rsplit("/", 1)[-1] for p in fs.find(root)] == [f"{key}.wav"]   # no temp left


@pytest.mark.parametrize("cache_root", ["folder", "memory", S3], indirect=True)
def test_a_cache_pickles_as_its_location_for_workers(cache_root):
    cache = PhraseCache(cache_root)
    cache.put("6f" * 32, Clip(b"\x01\x02" * 64, 16000))
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.root == cache_root and copy.load("6f" * 32) == Clip(b"\x01\x02" * 64, 16000)


def test_a_rename_based_filesystem_writes_a_temp_and_moves_it(tmp_path):
    """fsspec filesystems without whole-object PUTs (sftp, smb; here local://) write a temp
    file beside the entry and move it into place."""
    cache = PhraseCache(f"local://{tmp_path}/c")
    cache.put("7a" * 32, Clip(b"\x03\x04" * 64, 16000))
    assert [p.name for p in (tmp_path / "c").rglob("*")] == ["phrases", "7a", f"{'7a' * 32}.wav"]
    assert (tmp_path / "c" / "phrases" / "7a" / f"{'7a' * 32}.wav").read_bytes() == entry_bytes(
        "7a" * 32, Clip(b"\x03\x04" * 64, 16000))
    assert cache.load("7a" * 32) == Clip(b"\x03\x04" * 64, 16000)


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])   # nothing listens there once it is closed


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_an_unreachable_store_is_one_error_line_and_exit_1(mini_script, tmp_path, monkeypatch):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    use_s3_endpoint(monkeypatch, endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")   # botocore's retries: the default 5 take ~3 s
    result = CliRunner(mix_stderr=False).invoke(cli, [
        "build", str(mini_script), "--out", str(tmp_path / "out"), "--cache-dir", "s3://clinic/phrases"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)   # no traceback
    assert result.stderr.splitlines() == [
        f'error: phrase cache s3://clinic/phrases: cannot reach the store: Could not connect to the endpoint URL: '
        f'"{endpoint}/clinic" (check AWS_ENDPOINT_URL, the credentials and the network; docs/scaling.md)']
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("cache_root", [S3], indirect=True)
def test_a_missing_bucket_is_one_error_line(mini_script, tmp_path, cache_root):
    result = CliRunner(mix_stderr=False).invoke(cli, [
        "plan", str(mini_script), "--cache-dir", "s3://no-such-bucket/phrases"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines() == [
        "error: phrase cache s3://no-such-bucket/phrases: bucket 'no-such-bucket' not found "
        "(create it, or check the URL and AWS_ENDPOINT_URL)"]


def test_a_missing_package_or_unknown_protocol_is_one_error_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "s3fs", None)   # as if s3fs were not installed
    monkeypatch.delitem(sys.modules["fsspec.registry"]._registry, "s3", raising=False)   # fsspec keeps imports
    with pytest.raises(CacheError, match=r"^phrase cache s3://b/p: needs the s3fs package "
                                         r"\(pip install 'audioroutine\[cluster\]'\)$"):
        PhraseCache("s3://b/p").load("ab" * 32)
    with pytest.raises(CacheError, match=r"^phrase cache nosuch://x: Protocol not known: nosuch"):
        PhraseCache("nosuch://x").load("ab" * 32)


def test_refused_credentials_name_the_variables_to_check():
    store = PhraseCache("s3://clinic/phrases").store
    assert isinstance(store, FsspecStore)
    assert str(store._error("cannot read", PermissionError("Access Denied"))) == (
        "phrase cache s3://clinic/phrases: access denied (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "or AWS_PROFILE; docs/scaling.md)")


def test_a_folder_cache_imports_no_fsspec(mini_script, tmp_path):
    code = ("import sys; from audioroutine import BuildOptions, build, load_script; "
            f"build(load_script({str(mini_script)!r}), BuildOptions(out_dir={str(tmp_path / 'o')!r}, "
            f"cache_dir={str(tmp_path / 'c')!r})); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fsspec', 's3fs', 'botocore')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]" and (tmp_path / "o" / "mini-beginner.mp3").exists()


def _build_in_a_process(script: str, out: str, cache: str) -> tuple[int, int]:
    result = build(load_script(script), BuildOptions(out_dir=out, cache_dir=cache))
    return result.stats.synthesized, result.stats.cached


@pytest.mark.slow   # two interpreters start and import everything: 5-12 s
@pytest.mark.parametrize("cache_root", [S3], indirect=True)
def test_two_processes_fill_and_read_one_s3_cache_at_once(write_script, tmp_path, cache_root):
    """Two worker processes build the same routine at the same time on one S3 cache: the same
    MP3s as a local build, and every entry in the store verifies."""
    script = write_script(MINIMAL)
    build(load_script(script), BuildOptions(out_dir=tmp_path / "local", cache_dir=tmp_path / "folder"))
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = [pool.submit(_build_in_a_process, str(script), str(tmp_path / f"w{n}"), cache_root) for n in (1, 2)]
        stats = [run.result() for run in runs]
    assert all(synthesized + cached == 20 for synthesized, cached in stats)   # 11 phrases, 20 uses over 2 levels
    assert _mp3s(tmp_path / "w1") == _mp3s(tmp_path / "w2") == _mp3s(tmp_path / "local")
    fs, root = fsspec.core.url_to_fs(cache_root)
    found = fs.find(root)
    names = sorted(p.rsplit("/", 1)[-1].removesuffix(".wav") for p in found if p.endswith(".wav"))
    assert len(names) == 11 and all(PhraseCache(cache_root).load(key) is not None for key in names)
    extra = sum(p.endswith((".mp3", ".json", ".png")) for p in found)   # segments, session gains, covers
    assert sum(p.endswith(".npz") for p in found) == 11 == len(found) - len(names) - extra   # each one's piece
