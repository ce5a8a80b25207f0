"""Music settings: what bed a session gets (`music:` in a script, `music` in
audioroutine.toml, `--music`), without any audio library (audio/music.py makes the sound;
run/options.py `music_for` decides which one a session gets)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..core.reader import PathRefused, inside_roots

BEDS = ("calm", "warm", "dusk")
NONE = ("none", "off", "false", "no")
DEFAULT_LEVEL_LU = -20.0      # the undocked bed against the session's target loudness
DEFAULT_DUCK_DB = 12.0        # further down under every cue and sound


class MusicError(ValueError):
    """A `music:` value that cannot be used; str() says why."""


@dataclass(frozen=True)
class Music:
    """What to play under a session: `source` is a built-in bed's name or an audio file."""

    source: str
    level: float = DEFAULT_LEVEL_LU
    duck: float = DEFAULT_DUCK_DB
    base: str = ""            # folder a relative file path is relative to

    @property
    def is_file(self) -> bool:
        return self.source not in BEDS

    @property
    def path(self) -> Path:
        path = Path(self.source).expanduser()
        return path if path.is_absolute() or not self.base else Path(self.base) / path

    def identity(self) -> dict[str, Any]:
        """Everything that changes the bed's sound: a file by its content."""
        source: Any = self.source
        if self.is_file:
            source = {"file": self.path.name, "sha256": file_sha256(self.path)}
        return {"source": source, "level": self.level, "duck": self.duck}


def parse_music(value: object, base: str = "") -> Music | None:
    """A `music:` value: none/false (no bed), a bed name or a file path, or a mapping
    {source: ..., level: -20, duck: 12}. Raises MusicError."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in NONE):
        return None
    if isinstance(value, str):
        return _checked(Music(value.strip(), base=base))
    if isinstance(value, Mapping):
        unknown = set(value) - {"source", "level", "duck"}
        if unknown:
            raise MusicError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; expected source, level, duck")
        source = value.get("source")
        if not isinstance(source, str) or not source.strip():
            raise MusicError(f"source: expected a bed ({', '.join(BEDS)}) or an audio file, got {source!r}")
        if source.strip().lower() in NONE:
            return None
        level, duck = value.get("level", DEFAULT_LEVEL_LU), value.get("duck", DEFAULT_DUCK_DB)
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not -40 <= level <= -6:
            raise MusicError(f"level: expected LU against the voice, -40 to -6, got {level!r}")
        if isinstance(duck, bool) or not isinstance(duck, (int, float)) or not 0 <= duck <= 30:
            raise MusicError(f"duck: expected dB, 0 to 30, got {duck!r}")
        return _checked(Music(source.strip(), float(level), float(duck), base))
    raise MusicError(f"expected none, a bed ({', '.join(BEDS)}), an audio file or a mapping, got {value!r}")


def _checked(music: Music) -> Music:
    """`music` if its file exists; a file named by an input file (`base`: a script, settings
    or prescription) must also resolve inside the folders an input file may name (its own,
    the current folder, $AUDIOROUTINE_ROOTS; core.reader.inside_roots), like any other path
    in an input file. `--music` (no base) may name any file."""
    if not music.is_file:
        return music
    if not music.path.is_file():
        raise MusicError(f"'{music.source}' is not a built-in bed ({', '.join(BEDS)}) nor an audio file "
                         f"(looked for {music.path})")
    if music.base:
        try:
            inside_roots(str(music.path), Path(music.base), "music file")
        except PathRefused as err:
            raise MusicError(str(err)) from None
    return music


def file_sha256(path: Path) -> str:
    """The file's sha256 (remembered while its size and modification time stay the same)."""
    stat = path.stat()
    return _sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
