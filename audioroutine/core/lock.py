"""One run at a time per folder: an exclusive `flock` on `.audioroutine.lock` in the folder,
holding the process id. A second run waits, says which process holds the lock after
`LOCK_NOTICE_S`, and gives up after `LOCK_TIMEOUT_S` seconds ($AUDIOROUTINE_LOCK_TIMEOUT)
with one line (exit 1). The lock file is removed when the run ends. `flock` is per machine.
Used by the guard (core/guard.py) when it opens a folder."""

from __future__ import annotations

import errno
import fcntl
import logging
import multiprocessing
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from .errors import BuildError, WriteRefused, printable

log = logging.getLogger("audioroutine.guard")

LOCK_NAME = ".audioroutine.lock"
LOCK_TIMEOUT_ENV = "AUDIOROUTINE_LOCK_TIMEOUT"
LOCK_TIMEOUT_S = 600.0     # a second run waits this long for the first, then gives up (exit 1)
LOCK_NOTICE_S = 1.0        # ... and says whom it waits for after this long


def acquire(root: Path, remake_root: Callable[[], None]) -> int:
    """Lock `root` for this process; the locked file's descriptor. `remake_root` makes the
    folder again when a run beside this one removed it while this one waited."""
    path = root / LOCK_NAME
    timeout = _lock_timeout()
    started, noticed = time.monotonic(), False
    while True:
        try:
            fd = _open_lock(path)
        except FileNotFoundError:
            remake_root()
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if getattr(multiprocessing.current_process(), "_inheriting", False):
                # A worker process still importing the main script, which started a build at
                # its top level (no `if __name__ == "__main__":` guard): the parent holds the
                # lock and waits for this worker, so waiting here would never end. Die now;
                # the parent says why (run/batch.py).
                raise RuntimeError(f"{root}: a worker process started a build while it started") from None
            waited = time.monotonic() - started
            holder = _holder(path)
            if waited >= timeout:
                raise BuildError(printable(
                    f"{path}: process {holder} has been writing into {root} for more than {timeout:.0f} s; "
                    f"wait for it to finish (or raise ${LOCK_TIMEOUT_ENV})")) from None
            if waited >= LOCK_NOTICE_S and not noticed:
                log.warning("waiting for process %s, which is writing into %s (up to %.0f s)", holder, root, timeout)
                noticed = True
            time.sleep(0.05)
            continue
        try:   # the holder before us may have removed the file: lock the one at `path`
            same = os.fstat(fd).st_ino == os.lstat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd


def release(root: Path, fd: int) -> None:
    """Remove the lock file (while still locked: waiters check the inode), then unlock."""
    try:
        (root / LOCK_NAME).unlink(missing_ok=True)
    except OSError:
        pass
    os.close(fd)   # releases the flock


def _open_lock(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise WriteRefused(path, "is a symlink", "remove it") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or (info.st_size and not _holder_text(fd).isdigit()):
        os.close(fd)
        raise WriteRefused(path, "is not audioroutine's lock file", "move it away")
    return fd


def _lock_timeout() -> float:
    try:
        value = float(os.environ.get(LOCK_TIMEOUT_ENV, LOCK_TIMEOUT_S))
    except ValueError:
        return LOCK_TIMEOUT_S
    return value if 0 <= value < 1e7 else LOCK_TIMEOUT_S


def _holder_text(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()[:20]
    except OSError:
        text = ""
    return text if text.isdigit() else "(unknown)"
