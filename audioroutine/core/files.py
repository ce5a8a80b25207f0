"""Writing files so that a crash or Ctrl-C never leaves a half-written one in place, and
removing the temp files a killed build (SIGKILL, power cut) could not remove itself."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ScriptError
from .limits import MAX_FILE_BYTES

StrPath = str | os.PathLike[str]   # what the library accepts wherever it takes a path

TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]{1,10})(?:-[0-9]{1,20})?\.tmp$")   # atomic_path's temps
STALE_AFTER_S = 24 * 3600    # a temp this old is stale even if its PID now belongs to another process
KILL_AT_ENV = "AUDIOROUTINE_TEST_KILL_AT"


def temp_path(final: Path) -> Path:
    """Where `final` is written before it is renamed into place: `.NAME.PID.tmp` beside it;
    `.NAME.PID-THREAD.tmp` in other threads, so threads writing one file (two workers putting
    the same cache entry) never share a temp."""
    thread = "" if threading.current_thread() is threading.main_thread() else f"-{threading.get_native_id()}"
    return final.with_name(f".{final.name}.{os.getpid()}{thread}.tmp")


@contextmanager
def atomic_path(final: Path, stage: str | None = None, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success it is renamed onto `final`,
    on any exception (KeyboardInterrupt included) it is removed. The data is flushed to
    disk before the rename (`durable`), so a power cut cannot leave an empty file under the
    final name. `stage` names the moment before the rename for the test hook (`checkpoint`)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    try:
        yield tmp
        commit_temp(tmp, final, stage, durable)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def commit_temp(tmp: Path, final: Path, stage: str | None = None, durable: bool = True) -> None:
    """Rename a complete temp file onto `final`, flushed to disk first (see `atomic_path`)."""
    if durable:
        flush_to_disk(tmp)
    if stage:
        checkpoint(stage)
    os.replace(tmp, final)


def flush_to_disk(path: Path) -> None:
    """Flush `path`'s data to disk (fsync)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sealed(magic: bytes, payload: bytes) -> bytes:
    """`payload` behind `magic` and the payload's sha256: a cache entry (segment, cover)
    that `unsealed` checks when it is read (a piece and a trimmed clip: `sealed_in_two`)."""
    return magic + hashlib.sha256(payload).digest() + payload


def unsealed(magic: bytes, data: bytes) -> memoryview | None:
    """The payload of a `sealed` entry (a view into `data`, hashed in place); None unless it
    starts with `magic` and its checksum matches (a truncated or altered entry)."""
    head = len(magic) + 32
    payload = memoryview(data)[head:]
    if data[:len(magic)] != magic or hashlib.sha256(payload).digest() != data[len(magic):head]:
        return None
    return payload


def sealed_in_two(magic: bytes, head: bytes, body: bytes) -> bytes:
    """An entry whose small `head` is checked on its own when it is read (`Parted`) and whose
    `body` (samples) only when it is used: `magic`, the sha256 of the front, then the front
    (the head's length, the head, the body's length and sha256) and the body."""
    front = len(head).to_bytes(4, "big") + head + len(body).to_bytes(8, "big") + hashlib.sha256(body).digest()
    return magic + hashlib.sha256(front).digest() + front + body


class Parted:
    """A `sealed_in_two` entry whose front checked: `head`, and `seal` (the front's sha256,
    which names all of the entry: the head and the body's digest). `body()` checks the body
    when it is first asked for; an entry read for its front alone (`front`) reads the whole
    entry again then, which must carry the same seal."""

    __slots__ = ("magic", "head", "seal", "body_size", "body_digest", "_body")

    def __init__(self, magic: bytes, head: memoryview, seal: bytes, body_size: int, body_digest: bytes,
                 body: memoryview | Callable[[], bytes | None]) -> None:
        self.magic, self.head, self.seal, self.body_size, self.body_digest = magic, head, seal, body_size, body_digest
        self._body = body

    def body(self) -> bytes | None:
        """The body's bytes; None when they are not what the front says (a damaged entry)."""
        body = self._body
        if callable(body):
            again = Parted.read(self.magic, body() or b"")
            if again is None or again.seal != self.seal:
                return None
            body = again._body
        assert not callable(body)
        return bytes(body) if hashlib.sha256(body).digest() == self.body_digest else None

    @staticmethod
    def front_size(magic: bytes, data: bytes) -> int:
        """Bytes from the start of an entry to the end of its front, from its first bytes."""
        at = len(magic) + 32
        return at + 4 + int.from_bytes(data[at:at + 4], "big") + 40 if len(data) >= at + 4 else at + 4

    @classmethod
    def read(cls, magic: bytes, data: bytes) -> Parted | None:
        """The entry in `data`; None unless it starts with `magic`, its front checks and the
        body has the length the front says (a truncated or altered entry)."""
        found, end = cls.front(magic, data, lambda: None), cls.front_size(magic, data)
        if found is None or len(data) - end != found.body_size:
            return None
        found._body = memoryview(data)[end:]
        return found

    @classmethod
    def front(cls, magic: bytes, data: bytes, whole: Callable[[], bytes | None]) -> Parted | None:
        """The entry whose first bytes are `data` (at least `front_size`), its body read by
        `whole()` (all of the entry) when asked for; None unless the front checks."""
        at, end = len(magic) + 32, cls.front_size(magic, data)
        if end > len(data) or data[:len(magic)] != magic:
            return None
        view = memoryview(data)
        if hashlib.sha256(view[at:end]).digest() != data[len(magic):at]:
            return None
        seal, body_size = bytes(data[len(magic):at]), int.from_bytes(data[end - 40:end - 32], "big")
        return cls(magic, view[at + 4:end - 40], seal, body_size, bytes(data[end - 32:end]), whole)


def write_atomic(final: Path, data: bytes, stage: str | None = None, durable: bool = True) -> None:
    """`data` to `final` through a temp file (`atomic_path`). `durable=False` skips the flush
    to disk, for files that are checked when read (cache entries: a power cut can lose one,
    which is then a miss, but never leave one that reads as valid and is not)."""
    with atomic_path(final, stage, durable) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def remove_stale_temps(folder: Path, ours: Callable[[str], bool]) -> list[Path]:
    """Remove the temp files killed builds left in `folder` (not its subfolders): regular
    files named `.NAME.PID.tmp` where `ours(NAME)` holds and process PID is gone (or the file
    is older than STALE_AFTER_S). Anything else is left alone. Returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        match = TEMP_NAME.match(entry.name)
        if not match or not ours(match["name"]) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            old = time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S
            if old or not pid_alive(int(match["pid"])):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except FileNotFoundError:   # another build removed or renamed it meanwhile
            continue
    return removed


def pid_alive(pid: int) -> bool:
    """True when process `pid` exists on this machine (or might: not ours to signal)."""
    if pid <= 0:
        return True   # never signal a process group; such a name is not one of ours anyway
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


_passed: dict[str, int] = {}


def checkpoint(stage: str) -> None:
    """Test hook: with $AUDIOROUTINE_TEST_KILL_AT set to `stage` (or `stage:N`, the N-th
    time), the process kills itself with SIGKILL here, as a crash or power cut would.
    Stages: synthesis, render, encode, tags (docs/reliability.md)."""
    wanted = os.environ.get(KILL_AT_ENV)
    if not wanted:
        return
    name, _, nth = wanted.partition(":")
    if name == stage:
        _passed[stage] = _passed.get(stage, 0) + 1
        if _passed[stage] >= int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)


def read_input(path: Path, what: str = "file") -> bytes:
    """The bytes of a script or settings file; a missing, unreadable or too large one is a
    ScriptError. At most MAX_FILE_BYTES + 1 bytes are read, so /dev/zero fails at once."""
    try:
        if stat.S_ISFIFO(path.stat().st_mode):   # opening a pipe would wait for a writer
            raise ScriptError(f"{what} is a pipe, not a file", file=str(path))
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScriptError(f"{what} not found", file=str(path), hint="check the path") from None
    except OSError as err:
        raise ScriptError(f"cannot read: {err.strerror}", file=str(path)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScriptError(f"{what} is larger than the limit of {MAX_FILE_BYTES:,} bytes", file=str(path))
    return raw


def decode_input(raw: bytes, path: str) -> str:
    """UTF-8 text (a UTF-8 BOM is allowed); anything else is a ScriptError with the line."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ScriptError("the file is UTF-16: save it as UTF-8", file=path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ScriptError("not UTF-8 text: save it as UTF-8", file=path, line=line) from None
    if "\0" in text:
        raise ScriptError("not a text file (NUL byte)", file=path, line=text[:text.index("\0")].count("\n") + 1)
    return text
