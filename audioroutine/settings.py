"""Clinic settings: `audioroutine.toml` beside the scripts (or named by `--settings`).

Flat `key = "text"` pairs; strict like scripts: unknown keys are errors with file:line and a
"did you mean". A script's own values win where both give one (intro, outro, clinic, engine...).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .bitrates import ALL_BITRATES
from .cover import load_cover
from .engines import engine_names
from .errors import ScriptError, key_hint
from .files import StrPath, decode_input, read_input
from .texts import text_problem

FILE_NAME = "audioroutine.toml"


@dataclass(frozen=True)
class Settings:
    clinic: str | None = None        # publisher (TPUB); artist when neither script nor settings name one
    contact: str | None = None       # spoken at the end of the closing chapter
    intro: str | None = None         # spoken when the script has no intro
    outro: str | None = None         # spoken when the script has no outro
    disclaimer: str | None = None    # spoken after the safety notes; also in the comment tag
    artist: str | None = None
    album: str | None = None         # album tag; default: the routine title (one script) or "Exercise programme"
    cover: Path | None = None        # PNG or JPEG, relative to the settings file
    copyright: str | None = None     # TCOP, e.g. "2025 Riverside Physio, CC BY-NC 4.0"
    genre: str | None = None
    engine: str | None = None
    voice: str | None = None
    bitrate: str | None = None
    music: str | None = None         # a bed under every session: a bed, an audio file (relative to this file), "none"
    path: str | None = None          # the file these came from
    lines: tuple[tuple[str, int | None], ...] = field(default=(), compare=False)   # key → line, for errors

    def line(self, key: str) -> int | None:
        return dict(self.lines).get(key)


KEYS = tuple(f.name for f in fields(Settings) if f.name not in ("path", "lines"))


def find_settings(script: Path) -> Path | None:
    """The settings file beside `script`, if there is one."""
    candidate = script.parent / FILE_NAME
    return candidate if candidate.is_file() else None


BESIDE_SCRIPT = Settings(path="(audioroutine.toml beside the script)")
"""The default of BuildOptions.settings: read the settings file beside each script, if any."""


def settings_for(script: StrPath, settings_file: StrPath | None = None) -> Settings:
    """The settings a script is built with: `settings_file` if given, else the
    audioroutine.toml beside the script, else none (`Settings()`). The CLI and the
    library decide it here, the same way."""
    found = Path(settings_file) if settings_file is not None else find_settings(Path(script))
    return load_settings(found) if found else Settings()


def load_settings(path: StrPath) -> Settings:
    """Read and validate a settings file."""
    path = Path(path)
    raw = read_input(path, "settings file")
    return parse_settings(decode_input(raw, str(path)), str(path))


def parse_settings(text: str, path: str = FILE_NAME) -> Settings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"\(at line (\d+)", str(err))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err))
        raise ScriptError(f"TOML syntax error: {message}", file=path,
                          line=int(match.group(1)) if match else None, hint='write key = "text"') from None
    except RecursionError:
        raise ScriptError("TOML nested too deeply", file=path, hint='write flat lines like engine = "piper"') from None
    values: dict[str, Any] = {}   # text, or a Path for the cover: each checked below
    lines = tuple((key, _line_of(text, key)) for key in data)
    for key, value in data.items():
        line = dict(lines)[key]
        if key not in KEYS:
            raise ScriptError(f"unknown key '{key}'", file=path, line=line, key=key, hint=key_hint(key, KEYS))
        if isinstance(value, dict):
            raise ScriptError("tables are not used here", file=path, line=line, key=key,
                              hint='write flat lines like engine = "piper"')
        if not isinstance(value, str) or not value.strip():
            raise ScriptError("expected some text in quotes", file=path, line=line, key=key)
        problem = _problem(key, value)
        if problem:
            raise ScriptError(problem, file=path, line=line, key=key)
        values[key] = " ".join(value.split())
    if "music" in values:
        from .music_settings import MusicError, parse_music

        try:
            parse_music(values["music"], str(Path(path).parent))
        except MusicError as err:
            raise ScriptError(f"music: {err}", file=path, line=_line_of(text, "music"), key="music") from None
    if "cover" in values:
        cover = Path(path).parent / str(values["cover"])
        if not cover.is_file():
            raise ScriptError(f"cover image not found: {cover}", file=path, line=_line_of(text, "cover"),
                              key="cover", hint="give a PNG or JPEG path relative to this file")
        try:
            load_cover(cover)
        except ValueError as err:
            raise ScriptError(f"{err}: {cover}", file=path, line=_line_of(text, "cover"), key="cover") from None
        values["cover"] = cover
    return Settings(**values, path=path, lines=lines)


def _problem(key: str, value: str) -> str | None:
    """Why `value` cannot be used for `key`, or None."""
    if key == "engine" and value not in engine_names():
        return f"unknown engine {value!r}: choose one of {', '.join(engine_names())}"
    if key == "bitrate" and value not in ALL_BITRATES:
        return f"expected a bitrate like 64k, got {value!r}"
    return text_problem(value)


def _line_of(text: str, key: str) -> int | None:
    """tomllib gives no positions: find the line that defines `key` (bare, quoted or a table)."""
    name = re.escape(key)
    pattern = re.compile(rf"""^\s*(?:\[+\s*)?(?:{name}|"{name}"|'{name}')\s*(?:=|\]|\.)""")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None
