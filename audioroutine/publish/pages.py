"""HTML pages from Jinja2 templates. Autoescaping is on for every template, and the pages
forbid inline scripts (Content-Security-Policy), so script text cannot run in a page."""

from __future__ import annotations

from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined

from .. import __version__, lang
from ..model.durations import format_clock
from .site import Folder, Session

_env = Environment(loader=PackageLoader("audioroutine.publish", "templates"), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
_env.filters["clock"] = lambda ms: format_clock(int(ms))

ASSETS = {name: resources.files("audioroutine.publish").joinpath("static", name).read_bytes()
          for name in ("player.css", "player.js")}


def render_session(folder: Folder, session: Session, assets: str, page_url: str) -> str:
    language = lang.labels_for(session.language)
    return _env.get_template("session.html.j2").render(
        folder=folder, session=session, assets=assets, page_url=page_url, version=__version__,
        lang=language.code, t=language.label)


def render_index(folder: Folder, assets: str, page_url: str, feed_url: str | None, list_folders: bool = False) -> str:
    language = lang.labels_for(folder_language(folder))
    return _env.get_template("index.html.j2").render(
        lang=language.code, t=language.label, folder=folder, assets=assets, page_url=page_url, feed_url=feed_url,
        version=__version__,
        total_ms=sum(s.duration_ms for s in folder.sessions), children=folder.children if list_folders else [])


def folder_language(folder: Folder) -> str:
    """The language of a folder's pages: its first session's, else (the top folder, which
    only lists folders) the language of the sessions under it when they all share one."""
    if folder.sessions:
        return folder.sessions[0].language
    return folder.language or "en"
