"""Publish a built output folder as a static site: a player page per session, an index page
and a podcast feed per folder, QR codes for handouts.

    from audioroutine.publish import publish
    result = publish(Path("output"), "https://clinic.example/exercises/", Path("site"))

Re-publishing rewrites only files whose content changed and removes files an earlier publish
wrote that are no longer part of the site. Every write and delete goes through the site
folder's guard (core/guard.py) with its record `.audioroutine-site.json`: a file is
overwritten or removed only when that record lists it, inside `--to`, not through a
symlink, unchanged since publish wrote it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..core.errors import ScriptError, collect
from ..core.guard import SITE_RECORD_NAME, Guard, WriteRefused, holds, open_guard
from ..core.urls import public_url
from .feed import chapters_json, make_feed
from .pages import ASSETS, render_index, render_session
from .qr import qr_png
from .site import Folder, PublishError, Session, read_output

__all__ = ["PublishError", "PublishResult", "check_base_url", "publish"]

MANIFEST = SITE_RECORD_NAME


@dataclass
class PublishResult:
    site: Path
    folders: list[Folder]
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)       # public feed addresses
    pages: list[str] = field(default_factory=list)       # public player page addresses

    @property
    def sessions(self) -> list[Session]:
        return [session for folder in self.folders for session in folder.sessions]


def check_base_url(base_url: str) -> str:
    """`base_url` ending in '/'; anything the one rule for published addresses refuses
    (core/urls.py: not http(s), credentials, a query...) is a PublishError."""
    try:
        return public_url(base_url)
    except ScriptError as err:
        raise PublishError(str(err)) from None


def publish(out_dir: Path, base_url: str, site_dir: Path, list_folders: bool = False, listed: bool = False,
            owner_email: str | None = None) -> PublishResult:
    """Write the site for the sessions in `out_dir` into `site_dir`, served at `base_url`.
    `list_folders`: index pages link their sub-folders (off: a patient's folder is reached
    only by its own address, so unguessable folder names stay unguessable). `listed`: feeds
    may appear in podcast directories (off: `itunes:block`). `owner_email`: the feeds'
    `itunes:owner` email (the name is the clinic's)."""
    base = check_base_url(base_url)
    if site_dir.resolve() == out_dir.resolve():
        raise PublishError(f"--to: the site needs its own folder, not the output folder {out_dir}")
    folders = read_output(out_dir, skip=site_dir)
    with open_guard(site_dir, SITE_RECORD_NAME) as guard:
        return _publish(folders, base, site_dir, guard, list_folders, listed, owner_email)


def _publish(folders: list[Folder], base: str, site_dir: Path, guard: Guard, list_folders: bool, listed: bool,
             owner_email: str | None) -> PublishResult:
    result = _Writer(guard)
    done = PublishResult(site_dir, folders)
    for folder in folders:
        where = "" if folder.depth == 0 else folder.rel.as_posix() + "/"

        def url(name: str, where: str = where) -> str:
            return base + quote(where + name)

        target = site_dir / folder.rel
        assets = "../" * folder.depth + "assets/"
        for session in folder.sessions:
            result.add(target / f"{session.stem}.mp3", session.mp3.read_bytes)
            if session.vtt:
                result.add(target / f"{session.stem}.vtt", session.vtt.read_bytes)
            if session.cover and session.cover_name:
                result.add(target / session.cover_name, partial(bytes, session.cover))
            result.add(target / f"{session.stem}.chapters.json", partial(_encoded, chapters_json, session))
            result.add(target / f"{session.stem}.qr.png", partial(qr_png, url(f"{session.stem}.html")))
            result.add(target / f"{session.stem}.html", partial(_encoded, render_session, folder, session, assets,
                                                                url(f"{session.stem}.html")))
            done.pages.append(url(f"{session.stem}.html"))
        if folder.sessions:
            result.add(target / "feed.xml", partial(make_feed, folder, url, listed, owner_email))
            done.feeds.append(url("feed.xml"))
        result.add(target / "index.qr.png", partial(qr_png, url("index.html")))
        result.add(target / "index.html", partial(_encoded, render_index, folder, assets, url("index.html"),
                                                  url("feed.xml") if folder.sessions else None, list_folders))
    for name, data in ASSETS.items():
        result.add(site_dir / "assets" / name, partial(bytes, data))
    result.write_all()
    done.written, done.unchanged, done.removed = result.written, result.unchanged, result.removed
    return done


def _encoded(render: Callable[..., str], *args: Any) -> bytes:
    return render(*args).encode()


def _is_site_record(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("files"), list) and all(
        isinstance(name, str) for name in data["files"])


class _Writer:
    """The site's files, each made when written: every one checked by the site's guard before
    the first is written (a file of the user's in the way stops the publish before it writes
    anything, with every such file named), then written where changed; what an earlier
    publish wrote that is no longer part of the site is removed."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.files: list[tuple[Path, Callable[[], bytes]]] = []
        self.written: list[Path] = []
        self.unchanged: list[Path] = []
        self.removed: list[Path] = []

    def add(self, path: Path, make: Callable[[], bytes]) -> None:
        self.files.append((path, make))

    def _check(self, path: Path, make: Callable[[], bytes]) -> None:
        try:
            self.guard.check(path)
        except WriteRefused:
            if not holds(path, make()):   # the user's file with the site's bytes is left as it is
                raise

    def write_all(self) -> None:
        collect(lambda file: self._check(*file), self.files)
        for path, make in self.files:
            (self.written if self.guard.write(path, make()) else self.unchanged).append(path)
        ours = {p.absolute() for p in self.written + self.unchanged}
        for path, _ in self.guard.recorded():
            if path.absolute() not in ours and self.guard.remove(path):
                self.removed.append(path)
