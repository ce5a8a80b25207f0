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

import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from pathlib import Path
from typing import Any

from ..core.errors import AudioRoutineError
from ..core.files import remove_stale_temps
from ..core.guard import write_state
from ..core.reader import read_record
from ..model.script import Routine
from ..output.playlist import Entry, playlist_path, to_m3u8, track_order
from ..output.transcript import sidecar_paths
from ..speech.cache import PhraseCache
from .freshness import Environment, Inputs, album_source, changes, is_up_to_date, session_inputs
from .options import OUTPUT_SUFFIXES, BuildOptions, SessionResult, chosen_levels, output_path

MANIFEST_NAME = ".audioroutine-manifest.json"
FORMAT = 2

Keys = dict[Path, Inputs]   # the inputs of every session, by MP3 path
Stamp = list[int]


@dataclass
class Fresh:
    """A build found to be a no-op: its sessions (none written), each with its script's
    index, and its playlist."""

    sessions: list[tuple[int, SessionResult]]
    playlist: Path


def input_keys(routines: Sequence[Routine], options: Sequence[BuildOptions]) -> Keys | None:
    """The inputs of every session a build of `routines` with `options` makes
    (freshness.session_inputs), by MP3 path; None when one cannot be known without loading an
    engine (an engine without a fingerprint, a voice that cannot be found, ...) or two
    sessions share a file name."""
    options = [opts.for_script(routine) for routine, opts in zip(routines, options)]
    try:
        environment = Environment()
        levels = [chosen_levels(routine, opts) for routine, opts in zip(routines, options)]
        album = album_source(list(routines), options, environment)
        keys: Keys = {}
        for track in track_order(routines, levels):
            routine, opts = routines[track.routine], options[track.routine]
            inputs = session_inputs(environment, routine, opts, track.level, (track.number, track.total), album)
            if inputs is None:
                return None
            keys[output_path(routine, track.level, opts.out_dir)] = inputs
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
                if not entry or entry["key"] != keys[path].key or entry["files"] != _file_stamps(path, opts.sidecars):
                    return None
                if any(_stamp(cache.path(key)) != stamp for key, stamp in entry["phrases"].items()):
                    return None
                sessions[(index, level)] = _result(entry, level, path)
        playlist = playlist_path(routines, out_dir)
        if not _playlist_holds(playlist, routines, options, sessions):
            return None
    except (KeyError, TypeError, ValueError, AttributeError, OSError, AudioRoutineError):
        return None   # a manifest not as written, a playlist missing...: the normal path decides
    remove_stale_temps(out_dir, lambda name: name.endswith(OUTPUT_SUFFIXES) or name == MANIFEST_NAME)
    cache.remove_stale_temps()
    return Fresh([(index, session) for (index, _), session in sessions.items()], playlist)


@dataclass
class Explanation:
    """Why a session would be built again: `changed` names what differs from what the
    manifest recorded (empty: up to date)."""

    path: Path
    changed: list[str]


UNRECORDED = "not recorded by an earlier build (first build, manifest deleted or damaged)"
NO_FINGERPRINT = "its engine's identity is known only once the engine is loaded: the MP3's provenance decides"


def explain(routines: Sequence[Routine], options: Sequence[BuildOptions],
            keys: Keys | None) -> tuple[list[Explanation], list[str]]:
    """Per session, what changed since the build the manifest recorded, and what changed in
    the batch as a whole (the playlist); nothing written. The words are freshness.LABELS',
    and for files: "output deleted", "output touched or replaced", "transcript deleted",
    "transcript touched or replaced", "phrase cache changed"."""
    options = [opts.for_script(routine) for routine, opts in zip(routines, options)]
    entries = _load(options[0].out_dir)
    cache = PhraseCache(options[0].cache_dir)
    found: list[Explanation] = []
    sessions: dict[tuple[int, str], SessionResult] = {}
    for track in track_order(routines, [chosen_levels(r, o) for r, o in zip(routines, options)]):
        routine, opts = routines[track.routine], options[track.routine]
        path = output_path(routine, track.level, opts.out_dir)
        entry = entries.get(path.name)
        inputs = keys.get(path) if keys else None
        if inputs is None:
            changed = [NO_FINGERPRINT]
        elif not entry or not isinstance(entry.get("inputs"), dict):
            changed = [UNRECORDED]
        else:
            changed = [*changes(entry["inputs"], inputs), *_touched(entry, path, opts.sidecars, cache)]
            sessions[(track.routine, track.level)] = _result(entry, track.level, path)
        if opts.force:
            changed.append("--force")
        found.append(Explanation(path, changed))
    batch = []
    playlist = playlist_path(routines, options[0].out_dir)
    try:
        unchanged = len(sessions) == len(found) and not any(session.changed for session in found)
        if unchanged and not _playlist_holds(playlist, routines, options, sessions):   # else rewritten anyway
            batch.append(f"{playlist}: playlist edited or deleted")
    except (KeyError, TypeError, ValueError, OSError):
        batch.append(f"{playlist}: playlist edited or deleted")
    return found, batch


def _touched(entry: dict[str, Any], path: Path, sidecars: bool, cache: PhraseCache) -> list[str]:
    """What happened to a session's files and cached phrases since the manifest recorded them."""
    found = []
    now = _file_stamps(path, sidecars)
    recorded = entry.get("files") or {}
    for kind, name in (("mp3", "output"), ("vtt", "transcript"), ("lrc", "transcript")):
        if kind not in now or now[kind] == recorded.get(kind):
            continue
        what = f"{name} deleted" if now[kind] is None else f"{name} touched or replaced"
        if what not in found:
            found.append(what)
    if sidecars and "vtt" not in recorded:
        found.append("transcripts not written before")
    if any(_stamp(cache.path(key)) != stamp for key, stamp in (entry.get("phrases") or {}).items()):
        found.append("phrase cache changed")
    return found


def _result(entry: dict[str, Any], level: str, path: Path) -> SessionResult:
    return SessionResult(level, path, int(entry["samples"]), int(entry["sample_rate"]), False, str(entry["title"]),
                         str(entry["artist"]), tuple(entry["phrases"]), entry.get("provenance"))


def _playlist_holds(playlist: Path, routines: Sequence[Routine], options: Sequence[BuildOptions],
                    sessions: dict[tuple[int, str], SessionResult]) -> bool:
    """Whether the playlist holds exactly the bytes a build of these sessions writes."""
    tracks = track_order(routines, [chosen_levels(r, o) for r, o in zip(routines, options)])
    listed = [sessions[(t.routine, t.level)] for t in tracks]
    expected = to_m3u8([Entry(s.path, s.seconds, s.title, s.artist) for s in listed], playlist.parent)
    return playlist.read_bytes() == expected.encode("utf-8")


def record(keys: Keys | None, sessions: Sequence[SessionResult], options: Sequence[BuildOptions]) -> None:
    """After a build: record `sessions` (written or found up to date) with their input keys,
    computed before the build, so that a file changed during the build never gets a key it
    does not match. An MP3 is recorded only if it carries the provenance the build decided
    (read between two identical stamps); entries of MP3s that are gone are dropped."""
    sidecars, cache_dir = options[0].sidecars, options[0].cache_dir
    if keys is None or not sessions or any(o.sidecars != sidecars or o.cache_dir != cache_dir for o in options):
        return
    out_dir = sessions[0].path.parent
    entries = {name: entry for name, entry in _load(out_dir).items() if (out_dir / name).exists()}
    cache = PhraseCache(cache_dir)
    if not isinstance(cache.root, Path):   # a cache at a URL has no local stamps: no fast path
        return
    for session in sessions:
        entries.pop(session.path.name, None)
        inputs, before = keys.get(session.path), _stamp(session.path)
        if inputs is None or before is None or session.provenance is None or session.path.parent != out_dir:
            continue
        carries = is_up_to_date(session.path, session.provenance)
        files = _file_stamps(session.path, sidecars)
        phrases = {phrase: _stamp(cache.path(phrase)) for phrase in session.phrases}
        if carries and files["mp3"] == before and None not in files.values() and None not in phrases.values():
            entries[session.path.name] = {
                "key": inputs.key, "inputs": inputs.parts, "files": files, "phrases": phrases,
                "samples": session.samples, "sample_rate": session.sample_rate, "title": session.title,
                "artist": session.artist, "provenance": session.provenance}
    data = json.dumps({"format": FORMAT, "sessions": entries}, ensure_ascii=False, sort_keys=True)
    remove_stale_temps(out_dir, lambda name: name == MANIFEST_NAME)
    write_state(out_dir / MANIFEST_NAME, data.encode("utf-8"))   # inside, never through a symlink


def _load(out_dir: Path) -> dict[str, Any]:
    """The manifest's entries by MP3 name; none when it is missing or not one we wrote (the
    one reader's `read_record`: a damaged or hostile manifest is absent, said with -v)."""
    data = read_record(out_dir / MANIFEST_NAME, "build manifest", _is_manifest)
    if data is None:
        return {}
    return {name: entry for name, entry in data["sessions"].items() if isinstance(entry, dict)}


def _is_manifest(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("sessions"), dict)


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
