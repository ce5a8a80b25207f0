"""The build manifest: a no-op rebuild answered before any audio library or engine is loaded.

After each build, `out/.audioroutine-manifest.json` records, per MP3 the build wrote or found
up to date (by file name): its *input key*, a digest of everything its bytes and its
sidecars' bytes depend on (this package's code and version, the versions of its
dependencies, Python, $AUDIOROUTINE_FFMPEG, the script with the library exercises it uses,
the settings and cover image, the level, every build option, the track number and total,
the album's source in a batch, the year tag, the engine and voice and the engine's
`fingerprint`); the MP3's and its sidecars' stamps (size, mtime, ctime, inode) as the build
left them; the cache entries of its phrases with their stamps; its length and title.

A later build asks `fresh()` first: when every requested session has an entry with the same
input key, every file still has its stamp, every phrase is still in the cache as it was, and
the playlist holds exactly what the build would write, the build is a no-op and its summary
is printed from the manifest (nothing written, nothing synthesized). Anything else (no
manifest, a changed input, a touched or missing file, an engine without a fingerprint,
`--force`, `--prune`, `--dry-run`) takes the normal path, which decides per session by the
MP3's provenance tag and then records the manifest again. See docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path
from typing import Any

from . import __version__
from .cache import PhraseCache
from .engines import VoiceOptions, engine_class
from .errors import AudioRoutineError
from .files import remove_stale_temps, write_atomic
from .music_settings import music_for
from .options import (
    OUTPUT_SUFFIXES,
    BuildOptions,
    SessionResult,
    chosen_levels,
    engine_name,
    output_path,
    voice_name,
    year_tag,
)
from .playlist import Entry, playlist_path, to_m3u8, track_order
from .script import Routine
from .settings import Settings
from .transcript import sidecar_paths

MANIFEST_NAME = ".audioroutine-manifest.json"
FORMAT = 1
PACKAGE = Path(__file__).resolve().parent
FFMPEG_ENV = "AUDIOROUTINE_FFMPEG"

Keys = dict[Path, str]   # input key per MP3 path
Stamp = list[int]


@dataclass
class Fresh:
    """A build found to be a no-op: its sessions (none written) and its playlist."""

    sessions: list[SessionResult]
    playlist: Path

    @property
    def cached(self) -> int:
        """Phrases a normal no-op build reads from the cache (each level's distinct phrases)."""
        return sum(len(session.phrases) for session in self.sessions)


def input_keys(routines: Sequence[Routine], options: Sequence[BuildOptions]) -> Keys | None:
    """The input key of every session a build of `routines` with `options` makes, by MP3
    path; None when one cannot be known without loading an engine (an engine without a
    fingerprint, a voice that cannot be found, ...) or two sessions share a file name."""
    options = [opts.for_script(routine) for routine, opts in zip(routines, options)]
    try:
        environment = _environment()
        levels = [chosen_levels(routine, opts) for routine, opts in zip(routines, options)]
        settings: dict[int, str] = {}

        def settings_key(found: Settings) -> str:
            if id(found) not in settings:
                settings[id(found)] = _settings_key(found)
            return settings[id(found)]

        head = None
        if len(routines) > 1:   # the album and album artist come from the first script
            head = [routines[0].sha256, settings_key(options[0].settings), options[0].album, options[0].album_artist]
        keys: Keys = {}
        for track in track_order(routines, levels):
            routine, opts = routines[track.routine], options[track.routine]
            engine = _engine_key(routine, opts)
            if engine is None:
                return None
            blob: dict[str, Any] = {
                "environment": environment, "script": routine.sha256, "level": track.level,
                "track": [track.number, track.total], "head": head, "settings": settings_key(opts.settings),
                "engine": engine, "year": year_tag(),
                "options": [opts.engine, opts.voice, opts.bitrate, opts.sample_rate, opts.id3_version,
                            opts.sidecars, opts.album, opts.album_artist],
            }
            music = music_for(routine, opts)
            if music is not None:         # the bed, a file by its content (no key change without one)
                blob["music"] = music.identity()
            keys[output_path(routine, track.level, opts.out_dir)] = _digest(blob)
    except (AudioRoutineError, OSError, ValueError, PackageNotFoundError):
        return None
    return keys if len(keys) == sum(map(len, levels)) else None


def fresh(routines: Sequence[Routine], options: Sequence[BuildOptions], keys: Keys | None) -> Fresh | None:
    """The build's result when it would write nothing (see the module docstring), else None.
    Like a build, it removes the temp files killed builds left in the output folder and cache."""
    out_dir, cache_dir = options[0].out_dir, options[0].cache_dir
    if keys is None or any(o.force or o.out_dir != out_dir or o.cache_dir != cache_dir for o in options):
        return None
    entries = _load(out_dir)
    cache = PhraseCache(cache_dir)
    sessions: dict[tuple[int, str], SessionResult] = {}
    try:
        for index, (routine, opts) in enumerate(zip(routines, options)):
            for level in chosen_levels(routine, opts):
                path = output_path(routine, level, out_dir)
                entry = entries.get(path.name)
                if not entry or entry["key"] != keys[path] or entry["files"] != _file_stamps(path, opts.sidecars):
                    return None
                if any(_stamp(cache.path(key)) != stamp for key, stamp in entry["phrases"].items()):
                    return None
                sessions[(index, level)] = SessionResult(
                    level, path, int(entry["samples"]), int(entry["sample_rate"]), False, str(entry["title"]),
                    str(entry["artist"]), tuple(entry["phrases"]))
        playlist = playlist_path(routines, out_dir)
        tracks = track_order(routines, [chosen_levels(r, o) for r, o in zip(routines, options)])
        listed = [sessions[(t.routine, t.level)] for t in tracks]
        expected = to_m3u8([Entry(s.path, s.seconds, s.title, s.artist) for s in listed], playlist.parent)
        if playlist.read_bytes() != expected.encode("utf-8"):
            return None
    except (KeyError, TypeError, ValueError, AttributeError, OSError, AudioRoutineError):
        return None   # a manifest not as written, a playlist missing...: the normal path decides
    remove_stale_temps(out_dir, lambda name: name.endswith(OUTPUT_SUFFIXES) or name == MANIFEST_NAME)
    cache.remove_stale_temps()
    return Fresh(list(sessions.values()), playlist)


def record(keys: Keys | None, sessions: Sequence[SessionResult], options: Sequence[BuildOptions]) -> None:
    """After a build: record `sessions` (written or found up to date) with their input keys,
    computed before the build, so that a file changed during the build never gets a key it
    does not match. An MP3 is recorded only if it carries the provenance the build decided
    (read between two identical stamps); entries of MP3s that are gone are dropped."""
    sidecars, cache_dir = options[0].sidecars, options[0].cache_dir
    if keys is None or not sessions or any(o.sidecars != sidecars or o.cache_dir != cache_dir for o in options):
        return
    from .pipeline import is_up_to_date  # the normal path has loaded it already

    out_dir = sessions[0].path.parent
    entries = {name: entry for name, entry in _load(out_dir).items() if (out_dir / name).exists()}
    cache = PhraseCache(cache_dir)
    if not isinstance(cache.root, Path):   # a cache at a URL has no local stamps: no fast path
        return
    for session in sessions:
        entries.pop(session.path.name, None)
        key, before = keys.get(session.path), _stamp(session.path)
        if key is None or before is None or session.provenance is None or session.path.parent != out_dir:
            continue
        carries = is_up_to_date(session.path, session.provenance)
        files = _file_stamps(session.path, sidecars)
        phrases = {phrase: _stamp(cache.path(phrase)) for phrase in session.phrases}
        if carries and files["mp3"] == before and None not in files.values() and None not in phrases.values():
            entries[session.path.name] = {
                "key": key, "files": files, "phrases": phrases, "samples": session.samples,
                "sample_rate": session.sample_rate, "title": session.title, "artist": session.artist}
    data = json.dumps({"format": FORMAT, "sessions": entries}, ensure_ascii=False, sort_keys=True)
    remove_stale_temps(out_dir, lambda name: name == MANIFEST_NAME)
    write_atomic(out_dir / MANIFEST_NAME, data.encode("utf-8"))


def _load(out_dir: Path) -> dict[str, Any]:
    """The manifest's entries by MP3 name; none when it is missing or not one we wrote."""
    try:
        data = json.loads((out_dir / MANIFEST_NAME).read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("sessions"), dict):
        return {}
    return {name: entry for name, entry in data["sessions"].items() if isinstance(entry, dict)}


def _stamp(path: Path) -> Stamp | None:
    """Size, mtime, ctime and inode: a file rewritten (atomically, as every build writes),
    edited or touched gets another stamp. None when it is missing or not a regular file."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino] if stat.S_ISREG(info.st_mode) else None


def _file_stamps(mp3: Path, sidecars: bool) -> dict[str, Stamp | None]:
    """The stamps of an MP3 and, when the build writes them, of its .vtt and .lrc."""
    stamps = {"mp3": _stamp(mp3)}
    if sidecars:
        vtt, lrc = sidecar_paths(mp3)
        stamps |= {"vtt": _stamp(vtt), "lrc": _stamp(lrc)}
    return stamps


def _digest(blob: object) -> str:
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def _environment() -> list[Any]:
    """What every session depends on beyond its inputs: this package's version and files
    (a source edit changes it), Python, the versions of the package's dependencies and the
    ffmpeg asked for. Raises PackageNotFoundError when the package's metadata is missing."""
    code = sorted([str(path.relative_to(PACKAGE)), *_file_info(path)] for path in PACKAGE.rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts)
    return [__version__, _digest(code), sys.version, _dependencies(), os.environ.get(FFMPEG_ENV)]


def _file_info(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


def _dependencies() -> dict[str, str | None]:
    """The installed version of every runtime dependency of audioroutine."""
    found: dict[str, str | None] = {}
    for requirement in requires("audioroutine") or []:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        if name and "extra ==" not in requirement:
            try:
                found[name.group()] = version(name.group())
            except PackageNotFoundError:
                found[name.group()] = None
    return found


def _settings_key(found: Settings) -> str:
    """Every settings value, and the cover image's bytes (read again by the build)."""
    values = {f.name: str(getattr(found, f.name)) for f in fields(found) if f.name != "lines"}
    if found.cover:
        values["cover bytes"] = hashlib.sha256(found.cover.read_bytes()).hexdigest()
    return _digest(values)


def _engine_key(routine: Routine, options: BuildOptions) -> list[Any] | None:
    """The engine, the voice asked for and the engine's fingerprint; None when the engine
    has no fingerprint (its identity needs the engine loaded)."""
    name = engine_name(routine, options)
    fingerprint = getattr(engine_class(name), "fingerprint", None)
    if fingerprint is None:
        return None
    voice = voice_name(routine, options)
    return [name, voice, fingerprint(VoiceOptions(voice=voice, language=routine.language))]
