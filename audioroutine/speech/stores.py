"""Where the phrase cache keeps its entries: a local folder (plain file operations, the fast
path), or any fsspec URL (`s3://bucket/prefix`, `memory://name`, `gs://`, `sftp://`...) that
workers on several machines share.

Writes are atomic on every backend: a folder writes a temp file and renames it
(`files.write_atomic`); object stores (S3, GCS, Azure) and `memory://` store a whole object
in one PUT; other fsspec filesystems write a temp file and move it into place. fsspec (and
s3fs for `s3://`) are imported only when a URL is given (extra `audioroutine[cluster]`).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.request import url2pathname

from ..core.errors import CacheError, printable
from ..core.files import StrPath, checkpoint, remove_stale_temps, write_atomic
from ..core.redact import remember_url

CacheLocation = Path | str    # a folder, or an fsspec URL exactly as given

URL = re.compile(r"^(?P<protocol>[a-zA-Z][a-zA-Z0-9+.-]*)://")
BUCKETS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})   # first path part: a bucket
WHOLE_PUT = BUCKETS | {"memory"}                    # an object is written whole or not at all
# Entries are small: one GET each (s3fs would otherwise HEAD first, to split large objects).
OPTIONS: dict[str, dict[str, Any]] = {"s3": {"max_concurrency": 1}, "s3a": {"max_concurrency": 1}}
EXTRA = "pip install 'audioroutine[cluster]'"   # fsspec and s3fs


def cache_location(value: StrPath) -> CacheLocation:
    """A cache location as given: a URL string stays a string (`file://` becomes its folder),
    anything else is a folder Path. (`Path("s3://b/p")` would mangle a URL into `s3:/b/p`.)"""
    if not isinstance(value, str) or (match := URL.match(value)) is None:
        return Path(value)
    remember_url(value)   # its password is masked in every message from now on (core/redact.py)
    if match["protocol"].lower() == "file":
        return Path(url2pathname(value[match.end():]))
    return value


class Store(Protocol):
    """Entries by relative name (`phrases/ab/KEY.wav`)."""

    def read(self, name: str) -> bytes | None:
        """The bytes, None when there is no entry; IsADirectoryError when a folder is in its place."""

    def read_head(self, name: str, size: int) -> bytes | None:
        """The first `size` bytes (all of a shorter entry), as `read`."""

    def write(self, name: str, data: bytes) -> None:
        """Store `data` atomically: a reader sees the old entry (or none) or all of `data`."""

    def remove(self, name: str) -> None:
        """Remove the entry (or a folder in its place); nothing when it is gone already."""

    def remove_stale_temps(self, ours: Callable[[str], bool]) -> list[str]:
        """Remove temp files killed writers left behind; what was removed."""


def open_store(location: CacheLocation) -> Store:
    return FolderStore(location) if isinstance(location, Path) else FsspecStore(location)


class FolderStore:
    """A local (or mounted network) folder: temp file + rename, as every file the tool writes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._prefix = os.path.join(root, "")     # names joined as strings: a Path per read cost more than the read

    def read(self, name: str) -> bytes | None:
        return self.read_head(name, -1)

    def read_head(self, name: str, size: int) -> bytes | None:
        """(`size` -1: all of it.) Plain reads into one bytes object of the file's size: a
        buffered `read_bytes` cost a third more, and an entry is often read for its head."""
        try:
            fd = os.open(self._prefix + name, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            whole = size < 0
            want = os.fstat(fd).st_size + 1 if whole else size    # whole: a byte more, so one read sees the end
            parts: list[bytes] = []
            got = 0
            while got < want:
                more = os.read(fd, want - got)
                if not more:
                    break
                parts.append(more)
                got += len(more)
                if whole and got == want:                          # it grew since: read on
                    want += 1 << 20
            return parts[0] if len(parts) == 1 else b"".join(parts)
        finally:
            os.close(fd)

    def write(self, name: str, data: bytes) -> None:
        # Not flushed to disk (fsync: about 9 ms an entry on a disk, 154 segments a warm build):
        # every entry carries a checksum that is verified when read (cache.py, pieces.py,
        # segments.py), so an entry a power cut truncated or emptied is a miss, dropped and made again.
        write_atomic(self.root / name, data, stage="synthesis", durable=False)

    def remove(self, name: str) -> None:
        path = self.root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def remove_stale_temps(self, ours: Callable[[str], bool]) -> list[str]:
        removed = []
        for kind in ("phrases", "pieces", "segments", "sessions", "covers"):
            try:
                folders = [Path(e.path) for e in os.scandir(self.root / kind) if e.is_dir(follow_symlinks=False)]
            except (FileNotFoundError, NotADirectoryError):
                continue
            removed += [str(p) for folder in folders for p in remove_stale_temps(folder, ours)]
        return removed


class FsspecStore:
    """Any filesystem fsspec knows, opened on first use (so the store pickles as its URL, for
    workers). The URL's container is checked once: a missing bucket or an unreachable
    endpoint is a CacheError, never a silent miss. Endpoint and credentials come from the
    standard environment and fsspec config (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        match = URL.match(url)
        self.protocol = match["protocol"].lower() if match else ""
        self._fs: Any = None
        self._root = ""

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fs": None}

    def read(self, name: str) -> bytes | None:
        return self.read_head(name, -1)

    def read_head(self, name: str, size: int) -> bytes | None:
        fs, path = self._open(name)
        try:
            data = fs.cat_file(path) if size < 0 else self._ranged(fs, path, size)
        except IsADirectoryError:   # the cache removes the folder: not a store failure
            raise
        except FileNotFoundError:
            return None
        except Exception as err:
            raise self._error("cannot read", err) from err
        return bytes(data)

    @staticmethod
    def _ranged(fs: Any, path: str, size: int) -> bytes:
        """The first `size` bytes in one ranged GET; an object too short for any range (S3
        answers "not satisfiable" for an empty object, or a range of nothing) is read whole."""
        if not size:
            fs.info(path)               # FileNotFoundError when there is none
            return b""
        try:
            return bytes(fs.cat_file(path, start=0, end=size))
        except (FileNotFoundError, IsADirectoryError):
            raise
        except OSError:
            return bytes(fs.cat_file(path))[:size]

    def write(self, name: str, data: bytes) -> None:
        fs, path = self._open(name)
        checkpoint("synthesis")
        try:
            if self.protocol in WHOLE_PUT:
                fs.pipe_file(path, data)
            else:   # sftp, smb, local://...: a temp file beside (unique per writer), then a rename
                folder, _, file = path.rpartition("/")
                temp = f"{folder}/.{file}.{uuid.uuid4().hex}.tmp"
                fs.makedirs(folder, exist_ok=True)
                fs.pipe_file(temp, data)
                fs.mv(temp, path)
        except Exception as err:
            raise self._error("cannot write", err) from err

    def remove(self, name: str) -> None:
        fs, path = self._open(name)
        try:
            fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass
        except Exception as err:
            raise self._error("cannot remove a damaged entry", err) from err

    def remove_stale_temps(self, ours: Callable[[str], bool]) -> list[str]:
        """Nothing: whole-object PUTs leave no temps, and a temp on a shared filesystem may
        belong to a live writer on another machine (such temps are never read as entries)."""
        return []

    def _open(self, name: str) -> tuple[Any, str]:
        if self._fs is None:
            self._fs, self._root = self._connect()
        return self._fs, f"{self._root}/{name}"

    def _connect(self) -> tuple[Any, str]:
        try:
            import fsspec
        except ImportError:
            raise CacheError(f"phrase cache {self.url}: needs the fsspec package ({EXTRA})") from None
        try:
            fs, root = fsspec.core.url_to_fs(self.url, **OPTIONS.get(self.protocol, {}))
        except ImportError as err:   # fsspec knows the protocol, its package is missing
            missing = f"needs the s3fs package ({EXTRA})" if self.protocol in ("s3", "s3a") else str(err)
            raise CacheError(printable(f"phrase cache {self.url}: {missing}")) from None
        except ValueError as err:
            raise CacheError(f"phrase cache {self.url}: {printable(str(err))} (see docs/scaling.md)") from None
        root, bucket = root.rstrip("/"), root.split("/", 1)[0]
        try:   # a missing bucket would read as misses, then fail at the first write: say so now
            if self.protocol in BUCKETS:
                fs.info(bucket)
            elif self.protocol not in WHOLE_PUT:
                fs.makedirs(root, exist_ok=True)
        except FileNotFoundError as err:
            if self.protocol not in BUCKETS:
                raise self._error("cannot create the folder", err) from err
            raise CacheError(f"phrase cache {self.url}: bucket '{bucket}' not found "
                             f"(create it, or check the URL and {self._endpoint_hint()})") from None
        except Exception as err:
            raise self._error("cannot reach the store", err) from err
        return fs, root

    def _endpoint_hint(self) -> str:
        return "AWS_ENDPOINT_URL" if self.protocol in ("s3", "s3a") else "the storage options"

    def _error(self, action: str, err: Exception) -> CacheError:
        if isinstance(err, PermissionError):
            what = "access denied"
            hint = ("check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
                    if self.protocol in ("s3", "s3a") else "check the credentials")
        else:
            what = f"{action}: {str(err) or type(err).__name__}"
            hint = f"check {self._endpoint_hint()}, the credentials and the network"
        return CacheError(printable(f"phrase cache {self.url}: {what} ({hint}; docs/scaling.md)"))
