"""One guard for every file the tool writes or deletes in a folder the user named (`build
--out`, `--prune`, `publish --to`, `programme`/`prescribe --out`, `say --out`, `watch`).

A `Guard` is one folder, the *root*, held for one run:

- **Inside, never through a symlink.** Every path written or removed must lie below the
  root; the root, every folder between it and the file, and the file itself must not be
  symlinks (each is `lstat`ed just before the write or delete). A symlink, a `..`, an
  absolute path elsewhere or a folder where a file should be is refused.
- **Only over what the tool wrote.** The root holds a *record* (`.audioroutine-files.json`,
  or `.audioroutine-site.json` for a published site): for each file the tool wrote, its
  path below the root, sha256, size and mtime, and the inputs it was made from (`sources`,
  for `--prune`); a site's record, served with the site, keeps each path as a digest
  (`hidden_name`). A file may be overwritten or removed only when it is recorded and
  unchanged: same size and mtime, or else the same sha256. Anything else at that path is
  the user's: a `WriteRefused` (exit 2) naming it and what to do. Files written before the
  record existed are accepted for *overwriting* when the surface's `legacy` test says they
  are the tool's (an MP3 with audioroutine's provenance tag, ...), never for deleting.
- **One run at a time.** Opening a guard takes the folder's lock (`core/lock.py`): a second
  run waits, for at most 600 s ($AUDIOROUTINE_LOCK_TIMEOUT).
- **The record is written ahead.** Before a file is renamed into place, its new digest is
  saved with the digest it replaces (`prior`), so a run killed between the two never leaves
  a file of ours unrecorded or a user's file recorded.

Every write is atomic (`files.atomic_path`: a temp file beside the final name, flushed,
renamed). Guards nest within a process: opening one for a folder inside a guard already
open (a patient's folder inside `prescribe --out`) uses the open one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from . import lock
from .errors import WriteRefused as WriteRefused  # defined there: still importable from here
from .errors import collect
from .files import commit_temp, temp_path
from .reader import read_record

log = logging.getLogger("audioroutine.guard")

RECORD_NAME = ".audioroutine-files.json"   # what build, programme, prescribe and say wrote
SITE_RECORD_NAME = ".audioroutine-site.json"   # what publish wrote into a site
FORMAT = 2                 # the record's format (1: publish's old list of names without digests)
HIDDEN_FORMAT = 3          # a site's record: each name kept as a digest (`hidden_name`)
MAX_RECORD_BYTES = 50_000_000

Legacy = Callable[[Path], bool]   # True: an unrecorded file the tool wrote before the record existed


def _is_record(data: Any) -> bool:
    """A record in this format (files by name), or publish's list of names from before it."""
    if not isinstance(data, dict):
        return False
    if data.get("format") in (FORMAT, HIDDEN_FORMAT):
        return isinstance(data.get("files"), dict)
    files = data.get("files")
    return "format" not in data and isinstance(files, list) and all(isinstance(name, str) for name in files)


# Digests of files a guard will commit, taken by the thread that made each (`hash_ahead`):
# (path, inode, size, mtime_ns) -> sha256. Sessions are made side by side; their commit runs
# on one thread, which would otherwise read and hash every MP3 again, one after the other.
_ahead: dict[tuple[str, int, int, int], str] = {}
_ahead_lock = threading.Lock()
MAX_AHEAD = 10_000


def hash_ahead(path: Path) -> None:
    """Hash `path` (a temp file about to be committed) now, on this thread: the commit takes
    the digest if the file is the same inode, size and mtime then, else hashes it again."""
    before = _stamp(path)
    digest = _hash_file(path)
    if _stamp(path) == before:
        with _ahead_lock:
            if len(_ahead) >= MAX_AHEAD:   # files hashed and never committed (failed builds)
                _ahead.clear()
            _ahead[before] = digest


def _stamp(path: Path) -> tuple[str, int, int, int]:
    info = os.stat(path)
    return str(path), info.st_ino, info.st_size, info.st_mtime_ns


def _sha256(path: Path) -> str:
    with _ahead_lock:
        found = _ahead.pop(_stamp(path), None) if _ahead else None
    return found if found is not None else _hash_file(path)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _valid_rel(name: object) -> bool:
    if not isinstance(name, str) or not name or "\0" in name or "\\" in name:
        return False
    parts = PurePosixPath(name).parts
    return not PurePosixPath(name).is_absolute() and all(p not in ("..", ".", "") for p in parts)


def hidden_name(name: str) -> str:
    """How a site's record names a file: a site is served as it is, record included, so the
    record must not list its folders (a patient's folder is reached only by its own address,
    and a name that cannot be guessed must stay unguessed). The digest tells only whether a
    name already known is there, which asking the server for it tells as well."""
    return hashlib.sha256(f"audioroutine-site\0{name}".encode()).hexdigest()


def _valid_entry(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    sha, size, mtime = entry.get("sha256"), entry.get("size"), entry.get("mtime_ns")
    return (isinstance(sha, str) and len(sha) == 64 and isinstance(size, int) and isinstance(mtime, int)
            and all(isinstance(s, str) for s in entry.get("sources", []))
            and (entry.get("prior") is None or isinstance(entry.get("prior"), str)))


class Guard:
    """One root folder, locked, with its record (see the module docstring). Use `open_guard`
    (or `peek` to read a record without locking, for `--dry-run`)."""

    def __init__(self, root: Path, record: str = RECORD_NAME) -> None:
        self.root = Path(os.path.abspath(root))
        self.record_name = record
        self.hides_names = record == SITE_RECORD_NAME   # saved as HIDDEN_FORMAT
        self.files: dict[str, dict[str, Any]] = {}      # by name, whichever format it was read from
        self.old_names: set[str] = set()    # publish's format-1 record: names without digests
        self.changed = False                # the record must be saved
        self.touched = False                # a file was written or removed
        self._fd: int | None = None
        self._made_root = False
        self._mutex = threading.RLock()

    # -- opening and closing ---------------------------------------------------------------

    def check_root(self) -> None:
        """The root must be a folder (or not exist yet), not a symlink and not a file."""
        try:
            info = os.lstat(self.root)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(info.st_mode):
            raise WriteRefused(self.root, "is a symlink, and audioroutine never writes through one",
                               "give the folder it points to, or another folder")
        if not stat.S_ISDIR(info.st_mode):
            raise WriteRefused(self.root, "is a file, not a folder", "give a folder")

    def open(self) -> None:
        self.check_root()
        try:
            self.root.mkdir(parents=True)
            self._made_root = True
        except FileExistsError:   # there already, or made meanwhile by a run beside this one
            pass
        self.check_root()   # made meanwhile by someone else as something else
        self._fd = lock.acquire(self.root, self._remake_root)
        self.load()

    def _remake_root(self) -> None:
        """A run beside this one that wrote nothing removed the folder it made: make it again."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.check_root()

    def close(self) -> None:
        try:
            if self.changed:
                self.save()
        finally:
            if self._fd is not None:
                lock.release(self.root, self._fd)
                self._fd = None
            if self._made_root and not self.touched:
                try:
                    self.root.rmdir()   # a run that wrote nothing leaves no folder it made
                except OSError:
                    pass

    # -- the record --------------------------------------------------------------------------

    @property
    def record_path(self) -> Path:
        return self.root / self.record_name

    def load(self) -> None:
        """Read the record; a missing, damaged or foreign one counts as empty (nothing is
        then the tool's but what `legacy` accepts), and is replaced at the next save."""
        self.files, self.old_names = {}, set()
        path = self.record_path
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):   # the record is written here: never through a link
                raise WriteRefused(path, "is a symlink", "remove it")
        except OSError:
            return
        what = "site record" if self.record_name == SITE_RECORD_NAME else "file record"
        data = read_record(path, what, _is_record)   # the one reader
        if data is None:
            return
        if data.get("format") == FORMAT and isinstance(data.get("files"), dict):
            self.files = {name: dict(entry) for name, entry in data["files"].items()
                          if _valid_rel(name) and _valid_entry(entry)}
            self.changed = self.hides_names   # a site's record from before HIDDEN_FORMAT: saved hidden
        elif data.get("format") == HIDDEN_FORMAT and isinstance(data.get("files"), dict):
            # names found again among the files there: a recorded file that is gone has
            # nothing left to overwrite or remove
            found = self._hidden_names()
            self.files = {found[key]: dict(entry) for key, entry in data["files"].items()
                          if key in found and _valid_entry(entry)}
        elif "format" not in data and isinstance(data.get("files"), list):   # publish before the record
            self.old_names = {name for name in data["files"] if _valid_rel(name)}

    def _hidden_names(self) -> dict[str, str]:
        """`hidden_name` of every file below the root (not through a symlinked folder)."""
        found = {}
        for folder, _, names in os.walk(self.root):
            for name in names:
                rel = self.rel(Path(folder, name))
                found[hidden_name(rel)] = rel
        return found

    def save(self) -> None:
        with self._mutex:
            # compact: the record is saved before every rename, and a prescription run's holds
            # thousands of files (indented JSON took 4x as long: 57 ms for 6,000 files)
            if self.hides_names:
                record = {"format": HIDDEN_FORMAT,
                          "files": dict(sorted((hidden_name(name), entry) for name, entry in self.files.items()))}
            else:
                record = {"format": FORMAT, "files": dict(sorted(self.files.items()))}
            data = json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
            path = self.record_path
            self.confine(path)
            tmp = temp_path(path)
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data.encode("utf-8"))
                commit_temp(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self.changed = False

    # -- paths ---------------------------------------------------------------------------------

    def rel(self, path: Path) -> str:
        """`path` below the root as a relative POSIX name; a WriteRefused when it is not inside."""
        relative = os.path.relpath(os.path.abspath(path), self.root)
        if relative == "." or relative.startswith("..") or os.path.isabs(relative):
            raise WriteRefused(path, f"is outside {self.root}", "audioroutine writes only inside the folder you name")
        return PurePosixPath(Path(relative)).as_posix()

    def confine(self, path: Path) -> str:
        """The checks every write and delete makes: inside the root, no symlink on the way
        (root included), not a folder. Returns the relative name."""
        name = self.rel(path)
        self.check_root()
        here = self.root
        parts = PurePosixPath(name).parts
        for i, part in enumerate(parts):
            here = here / part
            try:
                info = os.lstat(here)
            except FileNotFoundError:
                return name
            if stat.S_ISLNK(info.st_mode):
                raise WriteRefused(here, "is a symlink, and audioroutine never writes or deletes through one",
                                   "remove the link, or choose another folder")
            last = i == len(parts) - 1
            if not last and not stat.S_ISDIR(info.st_mode):
                raise WriteRefused(here, "is a file where audioroutine needs a folder", "move it away")
            if last and not stat.S_ISREG(info.st_mode):
                raise WriteRefused(here, "is not a regular file (a folder?)", "move it away")
        return name

    def check_folder(self, folder: Path) -> None:
        """Refuse a folder inside the root reached through a symlink or that is a file."""
        if Path(os.path.abspath(folder)) == self.root:
            self.check_root()
            return
        here = self.root
        for part in PurePosixPath(self.rel(folder)).parts:
            here = here / part
            try:
                info = os.lstat(here)
            except FileNotFoundError:
                return
            if stat.S_ISLNK(info.st_mode):
                raise WriteRefused(here, "is a symlink, and audioroutine never writes through one",
                                   "remove the link, or choose another folder")
            if not stat.S_ISDIR(info.st_mode):
                raise WriteRefused(here, "is a file where audioroutine needs a folder", "move it away")

    def mkdirs(self, folder: Path) -> None:
        """Make `folder` (inside the root) and its parents, refusing symlinks on the way."""
        name = self.rel(folder) if Path(os.path.abspath(folder)) != self.root else ""
        here = self.root
        for part in PurePosixPath(name).parts:
            here = here / part
            try:
                here.mkdir()
                self.touched = True
            except FileExistsError:
                info = os.lstat(here)
                if stat.S_ISLNK(info.st_mode):
                    raise WriteRefused(here, "is a symlink, and audioroutine never writes through one",
                                       "remove the link, or choose another folder") from None
                if not stat.S_ISDIR(info.st_mode):
                    raise WriteRefused(here, "is a file where audioroutine needs a folder", "move it away") from None

    # -- whose is a file -------------------------------------------------------------------

    def ours(self, path: Path) -> bool:
        """True when `path` is recorded and unchanged since (size and mtime, else sha256)."""
        with self._mutex:
            try:
                name = self.confine(path)
            except WriteRefused:
                return False
            return self._unchanged(name, path)

    def _unchanged(self, name: str, path: Path) -> bool:
        entry = self.files.get(name)
        if entry is None:
            return False
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(info.st_mode):
            return False
        if entry.get("prior") is None and info.st_size == entry["size"] and info.st_mtime_ns == entry["mtime_ns"]:
            return True
        digest = _sha256(path)
        if digest in (entry["sha256"], entry.get("prior")):
            if digest == entry["sha256"] and (info.st_size, info.st_mtime_ns) != (entry["size"], entry["mtime_ns"]):
                entry.update(size=info.st_size, mtime_ns=info.st_mtime_ns)   # touched, same bytes
                self.changed = True
            return True
        return False

    def check(self, path: Path, legacy: Legacy | None = None) -> str:
        """Refuse (WriteRefused) unless `path` may be written: absent, or the tool's (recorded
        and unchanged, or accepted by `legacy`). Returns its relative name."""
        with self._mutex:
            name = self.confine(path)
            if not os.path.lexists(path) or self._unchanged(name, path):
                return name
            if name in self.files:
                raise WriteRefused(path, "was changed since audioroutine wrote it, so it is yours now",
                                   "move or rename it, then run again")
            if name in self.old_names or (legacy is not None and _safely(legacy, path)):
                return name
            raise WriteRefused(path, f"was not written by audioroutine (no record of it in {self.record_path.name})",
                               "move or rename it, or choose another folder")

    def check_all(self, items: Iterable[tuple[Path, Legacy | None]]) -> None:
        """`check` every (path, legacy) a run will write, before it does any work: every
        refusal raised together (one WriteRefused, or a ManyErrors), so nothing is written
        by a run that would stop at a file of the user's."""
        collect(lambda item: self.check(*item), items)

    # -- writing ---------------------------------------------------------------------------

    def write(self, path: Path, data: bytes, *, sources: Iterable[str] = (), legacy: Legacy | None = None,
              stage: str | None = None) -> bool:
        """Write `data` at `path` unless it already holds exactly that; True when written.
        An identical file is recorded only when it may be written (it is then the tool's)."""
        with self._mutex:
            self.confine(path)
            if holds(path, data):
                try:
                    self.adopt(path, sources=sources, legacy=legacy)
                except WriteRefused:
                    pass   # the user's file, with our bytes: not written, not claimed
                return False
            self.check(path, legacy)
            self.mkdirs(path.parent)
            tmp = temp_path(path)
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self.commit(tmp, path, sources=sources, legacy=legacy, stage=stage)
            return True

    def write_state(self, path: Path, data: bytes) -> None:
        """Write one of the tool's own state files (`.audioroutine-*`, such as the build
        manifest): inside, not through a symlink, atomic; not recorded, since the name is
        reserved and a damaged one is simply replaced."""
        with self._mutex:
            self.confine(path)
            if not path.name.startswith(".audioroutine-"):
                raise ValueError(f"not a state file name: {path.name}")
            tmp = temp_path(path)
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                commit_temp(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self.touched = True

    @contextmanager
    def atomic(self, path: Path, *, sources: Iterable[str] = (), legacy: Legacy | None = None,
               stage: str | None = None) -> Iterator[Path]:
        """Like `files.atomic_path`, through the guard: a temp path to write, committed after."""
        self.check(path, legacy)
        self.mkdirs(path.parent)
        tmp = temp_path(path)
        try:
            yield tmp
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.commit(tmp, path, sources=sources, legacy=legacy, stage=stage)

    def commit(self, tmp: Path, path: Path, *, sources: Iterable[str] = (), legacy: Legacy | None = None,
               stage: str | None = None) -> None:
        """Rename a complete temp file onto `path`, recording it first (see the module
        docstring); the temp is removed if the guard refuses or anything fails."""
        try:
            with self._mutex:
                name = self.check(path, legacy)
                prior = None
                if os.path.lexists(path):
                    entry = self.files.get(name)
                    prior = entry["sha256"] if entry and entry.get("prior") is None else _sha256(path)
                info = os.stat(tmp)
                self.files[name] = {"sha256": _sha256(tmp), "size": info.st_size, "mtime_ns": info.st_mtime_ns,
                                    "sources": sorted(set(sources)), "prior": prior}
                self.save()
                commit_temp(tmp, path, stage)   # keeps the temp's mtime: the recorded stamp
                self.files[name].pop("prior")
                self.changed = self.touched = True
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def adopt(self, path: Path, *, sources: Iterable[str] = (), legacy: Legacy | None = None) -> None:
        """Record an existing file as the tool's (an up-to-date session, an unchanged
        transcript); a WriteRefused when it is the user's."""
        with self._mutex:
            name = self.check(path, legacy)
            info = os.lstat(path)
            entry = self.files.get(name)
            wanted = sorted(set(sources))
            if entry is not None and entry.get("prior") is None and self._unchanged(name, path):
                if entry.get("sources") != wanted:
                    entry["sources"] = wanted
                    self.changed = True
                return
            self.files[name] = {"sha256": _sha256(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns,
                                "sources": wanted}
            self.changed = True

    def remove(self, path: Path) -> bool:
        """Delete `path` when it is recorded and unchanged (and inside, not through a
        symlink); True when removed. Anything else is left alone and False returned."""
        with self._mutex:
            try:
                name = self.confine(path)
            except WriteRefused:
                return False
            if not self._unchanged(name, path):
                if not os.path.lexists(path) and name in self.files:
                    del self.files[name]
                    self.changed = True
                return False
            os.unlink(path)
            del self.files[name]
            self.changed = self.touched = True
            return True

    def recorded(self) -> list[tuple[Path, dict[str, Any]]]:
        """Every recorded file with its entry, by name."""
        return [(self.root / Path(*PurePosixPath(name).parts), entry) for name, entry in sorted(self.files.items())]


def holds(path: Path, data: bytes) -> bool:
    """`path` holds exactly `data`: `Guard.write` leaves it as it is (recorded when it may be
    written; the user's file with the tool's bytes is not claimed, and not refused)."""
    try:
        return os.lstat(path).st_size == len(data) and path.read_bytes() == data
    except (FileNotFoundError, NotADirectoryError):
        return False


def _safely(legacy: Legacy, path: Path) -> bool:
    try:
        return bool(legacy(path))
    except Exception:   # an unreadable file is not provably ours
        return False


_open: list[Guard] = []
_open_mutex = threading.Lock()


def active(path: Path, record: str = RECORD_NAME) -> Guard | None:
    """The guard open in this process whose root holds `path` (the innermost), if any."""
    target = Path(os.path.abspath(path))
    with _open_mutex:
        for guard in reversed(_open):
            if guard.record_name == record and (target == guard.root or guard.root in target.parents):
                return guard
    return None


@contextmanager
def open_guard(root: Path, record: str = RECORD_NAME) -> Iterator[Guard]:
    """The guard of `root` for the duration of the block: locked, its record loaded, saved
    at the end. Inside a guard already open for `root` or a folder above it, that one."""
    outer = active(root, record)
    if outer is not None:
        outer.check_folder(Path(root))
        yield outer
        return
    guard = Guard(root, record)
    guard.open()
    with _open_mutex:
        _open.append(guard)
    try:
        yield guard
    finally:
        with _open_mutex:
            _open.remove(guard)
        guard.close()


def peek(root: Path, record: str = RECORD_NAME) -> Guard:
    """A root's record, read without locking or writing anything (for `--dry-run`)."""
    guard = Guard(root, record)
    if guard.root.is_dir():
        guard.load()
    return guard


def write_file(path: Path, data: bytes, *, sources: Iterable[str] = (), legacy: Legacy | None = None,
               record: str = RECORD_NAME) -> bool:
    """`Guard.write` through the guard open for `path`'s folder, or one opened for it now."""
    with open_guard(path.parent, record) as guard:
        return guard.write(path, data, sources=sources, legacy=legacy)


def write_state(path: Path, data: bytes) -> None:
    """`Guard.write_state` through the guard open for `path`'s folder, or one opened for it now."""
    with open_guard(path.parent) as guard:
        guard.write_state(path, data)


@contextmanager
def guarded_path(path: Path, *, sources: Iterable[str] = (), legacy: Legacy | None = None,
                 stage: str | None = None, record: str = RECORD_NAME) -> Iterator[Path]:
    """`Guard.atomic` through the guard open for `path`'s folder, or one opened for it now."""
    with open_guard(path.parent, record) as guard, guard.atomic(path, sources=sources, legacy=legacy,
                                                                stage=stage) as tmp:
        yield tmp
