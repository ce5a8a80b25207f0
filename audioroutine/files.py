"""Writing files so that a crash or Ctrl-C never leaves a half-written one in place."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import ScriptError


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success it is renamed onto `final`,
    on any exception (KeyboardInterrupt included) it is removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(final: Path, data: bytes) -> None:
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def read_input(path: Path, what: str = "file") -> bytes:
    """The bytes of a script or settings file; a missing or unreadable one is a ScriptError."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ScriptError(f"{what} not found", file=str(path), hint="check the path") from None
    except OSError as err:
        raise ScriptError(f"cannot read: {err.strerror}", file=str(path)) from None
