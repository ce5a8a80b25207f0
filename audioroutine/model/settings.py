"""Clinic settings: `audioroutine.toml` beside the scripts (or named by `--settings`).

Flat `key = "text"` pairs; strict like scripts: unknown keys are errors with file:line and a
"did you mean". A script's own values win where both give one (intro, outro, clinic, engine...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..core.errors import ScriptError, ScriptErrors, key_hint
from ..core.files import StrPath
from ..core.reader import PathRefused, claims, inside_roots, load_toml, read_text, short
from ..engines import engine_names
from .bitrates import ALL_BITRATES
from .cover_image import load_cover
from .music_settings import MusicError, parse_music
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
    text, _ = read_text(path, "settings file")
    return parse_settings(text, str(path))


def parse_settings(text: str, path: str = FILE_NAME) -> Settings:
    """Validate settings given as text (the one reader's TOML, limits and text checks);
    every bad key is reported. `cover` is a file inside the allowed roots (core.reader)."""
    data = load_toml(text, path)
    if data and not claims(list(data), KEYS):   # not a settings file: quote nothing of it
        raise ScriptError(f"not a settings file: none of the keys {', '.join(KEYS[:3])}...", file=path)
    values: dict[str, Any] = {}   # text, or a Path for the cover: each checked below
    lines = tuple((key, _line_of(text, key)) for key in data)
    errors = []
    for key, value in data.items():
        try:
            values[key] = _value(key, value, path, dict(lines)[key])
        except ScriptError as err:
            errors.append(err)
    if not errors and "cover" in values:
        try:
            values["cover"] = _cover(str(values["cover"]), path, _line_of(text, "cover"))
        except ScriptError as err:
            errors.append(err)
    if errors:
        raise errors[0] if len(errors) == 1 else ScriptErrors(errors)
    return Settings(**values, path=path, lines=lines)


def _value(key: str, value: object, path: str, line: int | None) -> str:
    found = _text(key, value, path, line)
    if key == "music":
        try:
            parse_music(found, str(Path(path).parent))
        except MusicError as err:
            raise ScriptError(f"music: {err}", file=path, line=line, key="music") from None
    return found


def _text(key: str, value: object, path: str, line: int | None) -> str:
    if key not in KEYS:
        raise ScriptError(f"unknown key '{short(key)}'", file=path, line=line, key=short(key), hint=key_hint(key, KEYS))
    if isinstance(value, dict):
        raise ScriptError("tables are not used here", file=path, line=line, key=key,
                          hint='write flat lines like engine = "piper"')
    if not isinstance(value, str) or not value.strip():
        raise ScriptError("expected some text in quotes", file=path, line=line, key=key)
    problem = _problem(key, value)
    if problem:
        raise ScriptError(problem, file=path, line=line, key=key)
    return " ".join(value.split())


def _cover(entry: str, path: str, line: int | None) -> Path:
    try:
        cover = inside_roots(entry, Path(path).parent, "cover image")
    except PathRefused as err:
        message = str(err)
        if message.endswith(("not found", "is a folder, not a file")) or " not found (" in message:
            message = f"cover image not found: {Path(path).parent / entry}"
        raise ScriptError(message, file=path, line=line, key="cover",
                          hint="give a PNG or JPEG path relative to this file") from None
    try:
        load_cover(cover)
    except ValueError as err:
        raise ScriptError(f"{err}: {cover}", file=path, line=line, key="cover") from None
    return cover


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
