"""Helpers for tests that run against every phrase cache backend (the `cache_root` fixture:
a folder, memory://, S3 on moto): raw access to one entry, and copying a cache folder in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fsspec
import pytest

from audioroutine.speech.cache import PhraseCache

S3 = pytest.param("s3", marks=[pytest.mark.enable_socket, pytest.mark.allow_hosts(["127.0.0.1"])])
BACKENDS = ["folder", "memory", S3]   # the `cache_root` fixture's; a subset: indirect parametrize


class Entry:
    """One cache entry's raw bytes, wherever the cache is (for tests that damage entries)."""

    def __init__(self, cache: PhraseCache, key: str) -> None:
        self.fs: Any
        self.fs, self.path = fsspec.core.url_to_fs(cache.location(key))
        self.key = key

    def read_bytes(self) -> bytes:
        return bytes(self.fs.cat_file(self.path))

    def write_bytes(self, data: bytes) -> None:
        self.fs.pipe_file(self.path, data)

    def exists(self) -> bool:
        return bool(self.fs.exists(self.path))

    def replace_with_folder(self) -> None:
        self.fs.rm(self.path)
        self.fs.makedirs(self.path, exist_ok=True)
        self.fs.pipe_file(f"{self.path}/junk", b"x")


def copy_cache(folder: Path, root: Path | str) -> None:
    """Copy the cache in `folder` to `root` (a folder or a URL)."""
    fs, base = fsspec.core.url_to_fs(str(root))
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            target = f"{base}/{path.relative_to(folder).as_posix()}"
            fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            fs.pipe_file(target, path.read_bytes())
