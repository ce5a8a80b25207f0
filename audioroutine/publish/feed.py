"""The podcast feed of one folder: RSS 2.0 with the iTunes namespace and Podcasting 2.0
chapters and transcripts, made with feedgen (which escapes every text it writes)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from .. import __version__
from .site import Folder, Session

PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
CHAPTERS_TYPE = "application/json+chapters"


class Podcast2Extension(BaseExtension):  # type: ignore[misc]
    """The channel tags feedgen writes in an older form or not at all: `itunes:explicit`
    as true/false (Apple's current spec; feedgen knows yes/no/clean only), `itunes:owner`
    with or without an email, `itunes:block`."""

    def __init__(self) -> None:
        self.owner: tuple[str, str | None] | None = None
        self.block = False

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def extend_rss(self, rss_feed: Any) -> Any:
        channel = rss_feed.find("channel")
        etree.SubElement(channel, f"{{{ITUNES_NS}}}explicit").text = "false"
        if self.owner:
            owner = etree.SubElement(channel, f"{{{ITUNES_NS}}}owner")
            etree.SubElement(owner, f"{{{ITUNES_NS}}}name").text = self.owner[0]
            if self.owner[1]:
                etree.SubElement(owner, f"{{{ITUNES_NS}}}email").text = self.owner[1]
        if self.block:
            etree.SubElement(channel, f"{{{ITUNES_NS}}}block").text = "Yes"
        return rss_feed


class Podcast2EntryExtension(BaseEntryExtension):  # type: ignore[misc]
    """`podcast:chapters` and `podcast:transcript` on an item."""

    def __init__(self) -> None:
        self.elements: list[tuple[str, dict[str, str]]] = []

    def chapters(self, url: str) -> None:
        self.elements.append(("chapters", {"url": url, "type": CHAPTERS_TYPE}))

    def transcript(self, url: str, language: str) -> None:
        self.elements.append(("transcript", {"url": url, "type": "text/vtt", "language": language, "rel": "captions"}))

    def extend_rss(self, item: Any) -> Any:
        for name, attrs in self.elements:
            etree.SubElement(item, f"{{{PODCAST_NS}}}{name}", attrs)
        return item


def chapters_json(session: Session) -> str:
    """Podcasting 2.0 chapters (https://github.com/Podcastindex-org/podcast-namespace, chapters.md)."""
    return json.dumps({
        "version": "1.2.0",
        "chapters": [{"startTime": c.start_ms / 1000, "endTime": c.end_ms / 1000, "title": c.title}
                     for c in session.chapters],
    }, indent=2, ensure_ascii=False) + "\n"


def _date(timestamp: float) -> datetime:
    return datetime.fromtimestamp(int(timestamp), UTC)


def episode_guid(session: Session, url: str) -> str:
    """Changes when the audio does, so a podcast app fetches a rebuilt session again."""
    return f"{url}#{hashlib.sha256(f'{session.size}:{session.samples}:{int(session.mtime)}'.encode()).hexdigest()[:12]}"


def make_feed(folder: Folder, url: Callable[[str], str], listed: bool = False, owner_email: str | None = None) -> bytes:
    """RSS for `folder`; `url(name)` is the public address of a file in the folder's site folder.
    Unless `listed`, the feed asks directories not to list it (`itunes:block`): a clinic's
    feeds are for its patients (a patient's folder above all), found by the address it gives.
    Episodes are numbered by their track number (week 4 of a programme is episode 4, also
    when the weeks were built and published one at a time)."""
    first = folder.sessions[0]
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.register_extension("podcast2", Podcast2Extension, Podcast2EntryExtension)
    fg.title(folder.title)
    fg.link(href=url("feed.xml"), rel="self")
    fg.link(href=url("index.html"), rel="alternate")   # the last link set is RSS's <link>
    fg.description(" ".join(filter(None, [folder.title, first.publisher and f"— {first.publisher}"])))
    fg.language(first.language)
    fg.generator(f"audioroutine {__version__}")
    fg.lastBuildDate(_date(max(s.mtime for s in folder.sessions)))
    if first.copyright:
        fg.copyright(first.copyright)
    fg.podcast.itunes_author(first.artist or first.publisher or "audioroutine")
    fg.podcast.itunes_category("Health & Fitness", "Fitness")
    fg.podcast2.owner = (first.publisher or first.artist or "audioroutine", owner_email)
    fg.podcast2.block = not listed
    fg.podcast.itunes_type("serial")     # play in order: oldest (first session) first
    if first.cover_name:
        fg.podcast.itunes_image(url(first.cover_name))
        fg.image(url=url(first.cover_name), title=folder.title, link=url("index.html"))
    for number, session in enumerate(folder.sessions, 1):
        entry = fg.add_entry(order="append")
        mp3 = url(f"{session.stem}.mp3")
        entry.title(session.title)
        entry.guid(episode_guid(session, mp3), permalink=False)
        entry.link(href=url(f"{session.stem}.html"))
        entry.description(session.notes or session.title)
        entry.enclosure(mp3, str(session.size), "audio/mpeg")
        entry.pubDate(_date(session.mtime))
        entry.podcast.itunes_duration(round(session.seconds))   # whole seconds: all iTunes allows
        entry.podcast.itunes_episode(session.track or number)
        if session.cover_name:
            entry.podcast.itunes_image(url(session.cover_name))
        if session.chapters:
            entry.podcast2.chapters(url(f"{session.stem}.chapters.json"))
        if session.vtt:
            entry.podcast2.transcript(url(f"{session.stem}.vtt"), session.language)
    return bytes(fg.rss_str(pretty=True))
