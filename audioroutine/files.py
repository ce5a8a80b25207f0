"""Writing files so that a crash or Ctrl-C never leaves a half-written one in place."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import ScriptError
from .limits import MAX_FILE_BYTES


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
