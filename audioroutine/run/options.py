"""How a build is asked for: `BuildOptions`, the precedence of options, script and settings
(options, then the script, then the settings, then the defaults), the year tag, and what a
build reports per session. No audio library: the CLI decides a no-op build (manifest.py)
from these alone, and pipeline.py builds with them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import ScriptError
from ..core.files import StrPath
from ..model.bitrates import DEFAULT_BITRATE
from ..model.music_settings import Music, MusicError, parse_music
from ..model.names import inside
from ..model.script import Routine
from ..model.settings import BESIDE_SCRIPT, Settings, settings_for
from ..speech.stores import CacheLocation, cache_location

if TYPE_CHECKING:
    from ..output.tags import Provenance

DEFAULT_ENGINE = "piper"
SESSION_RATE = 22050
OUTPUT_SUFFIXES = (".mp3", ".vtt", ".lrc", ".m3u8")   # what a build writes into out_dir


@dataclass
class BuildOptions:
    """How to build. Precedence, everywhere: these options, then the script, then the
    settings, then the defaults. Paths may be given as `str` or any path-like object."""

    out_dir: Path = Path("output")
    engine: str | None = None          # overrides the script's voice.engine
    voice: str | None = None
    levels: tuple[str, ...] = ()       # empty: every level
    cache_dir: CacheLocation | None = None  # folder or URL (s3://...); None: $AUDIOROUTINE_CACHE_DIR, else user cache
    bitrate: str | None = None         # None: the settings' bitrate, else DEFAULT_BITRATE
    sample_rate: int = SESSION_RATE
    id3_version: int = 3               # 3 or 4
    force: bool = False                # rewrite files even when up to date
    settings: Settings = BESIDE_SCRIPT  # default: the audioroutine.toml beside each script, if any
    sidecars: bool = True              # write .vtt and .lrc beside each MP3
    album: str | None = None           # album tag for a batch of several scripts
    album_artist: str | None = None    # album artist for a batch of several scripts
    music: str | None = None           # a bed under every session (bed, audio file, "none"): before script, settings

    def __init__(
        self, out_dir: StrPath = "output", engine: str | None = None, voice: str | None = None,
        levels: Iterable[str] = (), cache_dir: StrPath | None = None, bitrate: str | None = None,
        sample_rate: int = SESSION_RATE, id3_version: int = 3, force: bool = False,
        settings: Settings = BESIDE_SCRIPT, sidecars: bool = True, album: str | None = None,
        album_artist: str | None = None, music: str | None = None,
    ) -> None:
        # Written out (the dataclass keeps it) to accept what a Python caller naturally
        # passes, "out" or any PathLike, a list of levels, while the fields stay exact.
        self.out_dir = Path(out_dir)
        self.engine, self.voice, self.levels = engine, voice, tuple(levels)
        self.cache_dir = None if cache_dir is None else cache_location(cache_dir)
        self.bitrate, self.sample_rate, self.id3_version, self.force = bitrate, sample_rate, id3_version, force
        self.settings, self.sidecars, self.album, self.album_artist = settings, sidecars, album, album_artist
        self.music = music

    def for_script(self, routine: Routine) -> BuildOptions:
        """These options with the settings decided: the default (BESIDE_SCRIPT) becomes the
        settings file beside the routine's script, if any."""
        if self.settings is not BESIDE_SCRIPT:
            return self
        found = settings_for(routine.path) if routine.path else Settings()
        return replace(self, settings=found)


@dataclass
class SessionResult:
    level: str
    path: Path
    samples: int
    sample_rate: int
    written: bool                      # False when the file on disk was already up to date
    title: str = ""
    artist: str = ""
    phrases: tuple[str, ...] = ()      # the phrase cache keys of the session's distinct phrases
    provenance: Provenance | None = None   # what the MP3's provenance tag holds

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        """The session as JSON data (one of `audioroutine build --json`'s sessions)."""
        return {"path": str(self.path), "level": self.level, "samples": self.samples,
                "sample_rate": self.sample_rate, "seconds": self.seconds, "written": self.written,
                "title": self.title}


def output_path(routine: Routine, level: str, out_dir: Path) -> Path:
    return inside(out_dir, f"{routine.id}-{level}.mp3")


def engine_name(routine: Routine, options: BuildOptions) -> str:
    return options.engine or routine.voice.engine or options.settings.engine or DEFAULT_ENGINE


def voice_name(routine: Routine, options: BuildOptions) -> str | None:
    """The voice asked for (None: the engine's default)."""
    return options.voice or routine.voice.voice or options.settings.voice


def music_for(routine: Routine, options: BuildOptions) -> Music | None:
    """The bed a session gets. Precedence: `--music` (BuildOptions.music), then the script's
    `music:`, then the settings file's `music`; none of them: no bed (the default). Any of
    them may say none."""
    for value, base in ((options.music, ""), (routine.music, str(Path(routine.path).parent)),
                        (options.settings.music, str(Path(options.settings.path or ".").parent))):
        if value is None:
            continue
        if isinstance(value, Music):
            return value
        try:
            return parse_music(value, base)
        except MusicError as err:
            raise ScriptError(f"music: {err}", file=routine.path, key="music") from None
    return None


def chosen_levels(routine: Routine, options: BuildOptions) -> tuple[str, ...]:
    """The levels a build makes, as the script names them (asked for in any letter case),
    else all; an unknown level is a ScriptError."""
    return tuple(routine.level(level).id for level in options.levels) or tuple(lv.id for lv in routine.levels)


def bitrate(options: BuildOptions) -> str:
    return options.bitrate or options.settings.bitrate or DEFAULT_BITRATE


def year_tag() -> str:
    """The year tag: SOURCE_DATE_EPOCH's year (reproducible builds), else this year."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return time.strftime("%Y", time.gmtime(int(epoch) if epoch else None))
