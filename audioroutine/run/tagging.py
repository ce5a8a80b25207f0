"""What the MP3 of a session says about itself (title, album, chapters, transcript, cover,
and the provenance of its bytes), and whether the file on disk is that MP3."""

from __future__ import annotations

import hashlib
import json

from .. import lang
from ..compile.compiler import level_title, phrases_for
from ..compile.timeline import Chapter, Timeline
from ..core.errors import ScriptError
from ..model.cover_image import load_cover
from ..model.music_settings import Music
from ..model.script import Routine
from ..model.settings import Settings
from ..output.cover import cover_entry, cover_key, generate_cover, read_cover_entry
from ..output.tags import ChapterTag, SessionTags, tags_digest
from ..output.transcript import lines, plain_text
from ..speech.cache import PhraseCache
from ..speech.clips import Speech
from .freshness import is_up_to_date as is_up_to_date  # was defined here: still importable from here
from .freshness import provenance
from .options import BuildOptions, music_for, year_tag


def session_tags(
    routine: Routine, level: str, timeline: Timeline, track: int, total: int, speech: Speech, options: BuildOptions
) -> SessionTags:
    say = phrases_for(routine)
    settings = options.settings
    clinic = routine.clinic or settings.clinic
    artist = _artist(routine, settings)
    title = f"{routine.title} — {level_title(routine, level, say)}"
    music = music_for(routine, options)
    comment = " ".join(filter(None, [*routine.safety, settings.disclaimer, routine.description, credit(music)]))
    spoken = lines(timeline)
    tags = SessionTags(
        title=title,
        artist=artist,
        album=settings.album or options.album or routine.title,
        track=track,
        track_total=total,
        genre=settings.genre or say("genre"),
        year=year_tag(),
        comment=comment,
        language=lang.iso639_2(routine.language),
        album_artist=options.album_artist or album_artist(routine, settings),
        publisher=clinic,
        copyright=settings.copyright,
        lyrics=plain_text(spoken),
        synced=[(line.text, line.start_ms) for line in spoken],
        chapters=[ChapterTag(c.title, timeline.ms(c.start), timeline.ms(c.end), _subtitle(timeline, c))
                  for c in timeline.chapters],
        toc_title=say("chapters"),
    )
    tags.cover, tags.cover_mime = _cover(routine, level, clinic, settings, speech.cache)
    tags.provenance = provenance(routine, level, options, speech.engine.identity(), timeline_hash(timeline),
                                 timeline.total, timeline.sample_rate, tags_digest(tags), list(speech.trim))
    return tags


def credit(music: Music | None) -> str:
    """'Music: TITLE by ARTIST' from a music file's tags ('' without them or for a built-in bed)."""
    if music is None or not music.is_file:
        return ""
    try:
        import mutagen

        tags = mutagen.File(str(music.path), easy=True)
    except Exception:   # noqa: BLE001  any unreadable tag: no credit, the audio is what matters
        return ""
    if tags is None or not tags.tags:
        return ""
    title = " / ".join(tags.tags.get("title", []))
    artist = " / ".join(tags.tags.get("artist", []))
    if not title and not artist:
        return ""
    return "Music: " + (f"{title} by {artist}" if title and artist else title or f"by {artist}") + "."


def _artist(routine: Routine, settings: Settings) -> str:
    return routine.author or settings.artist or routine.clinic or settings.clinic or "audioroutine"


def album_artist(routine: Routine, settings: Settings) -> str:
    return settings.artist or routine.clinic or settings.clinic or _artist(routine, settings)


def _subtitle(timeline: Timeline, chapter: Chapter) -> str | None:
    """The dosage sentence of an exercise chapter (its TIT3)."""
    for event in timeline.events:
        if chapter.start <= event.start < chapter.end and event.role == "dosage":
            return event.text
    return None


def _cover(routine: Routine, level: str, clinic: str | None, settings: Settings,
           cache: PhraseCache) -> tuple[bytes, str]:
    if settings.cover:
        try:
            return load_cover(settings.cover)
        except ValueError as err:   # checked when the settings were read; changed since
            raise ScriptError(f"{err}: {settings.cover}", file=settings.path, line=settings.line("cover"),
                              key="cover") from None
    index = [lv.id for lv in routine.levels].index(level)
    return _generated(cache, routine.title, level_title(routine, level), index, clinic), "image/png"


def _generated(cache: PhraseCache, title: str, level: str, index: int, footer: str | None) -> bytes:
    """`generate_cover(...)`, from the phrase cache when it holds it (drawing one is about
    0.13 s of CPU, and every build, even an up-to-date one, names its cover in the provenance)."""
    key = cover_key(title, level, index, footer)
    data = cache.load_cover(key)
    if data is not None:
        png = read_cover_entry(data)
        if png is not None:
            return png
        cache.drop_cover(key)
    png = generate_cover(title, level, index, footer)
    cache.put_cover(key, cover_entry(png))
    return png


def timeline_hash(timeline: Timeline) -> str:
    blob = json.dumps([(e.start, e.length, e.kind, e.text) for e in timeline.events]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
