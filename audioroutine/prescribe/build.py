"""Building programmes and prescriptions through the ordinary build: `build_batch` per
folder (album, track numbers, playlist, cache, up-to-date checks), then a handout per session.

All or nothing across patients: every row is read, derived and compiled, and every session's
estimated length checked, before the first file is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

from ..core.errors import AudioRoutineError, ScriptError
from ..core.guard import open_guard
from ..model.names import inside
from ..model.script import Routine
from ..run.pipeline import BuildOptions, BuildResult, build_batch, chosen_levels, plan
from ..run.prepare import check_length
from .handout import handout_for, write_handout
from .prescription import Patient, Prescriptions, RowError


@dataclass
class FolderResult:
    """One folder built: its sessions, playlist and the handouts written."""

    folder: Path
    result: BuildResult
    playlist: Path
    handouts: list[Path] = field(default_factory=list)
    reference: str | None = None


def audio_url(base_url: str | None, out_dir: Path, mp3: Path) -> str | None:
    """`base_url` + the MP3's path below the output folder, or None without a base URL."""
    if not base_url:
        return None
    relative = mp3.resolve().relative_to(out_dir.resolve()).as_posix()
    return base_url.rstrip("/") + "/" + quote(relative)


def build_folder(routine: Routine, options: BuildOptions, base_url: str | None = None, url_root: Path | None = None,
                 reference: str | None = None, handouts: bool = True) -> FolderResult:
    """Build `routine` (its chosen levels) into `options.out_dir` with a handout per session,
    every file through the folder's guard (core/guard.py; the one of `prescribe --out` when
    it is open)."""
    with open_guard(options.out_dir):
        programme = build_batch([routine], [options])
        result = programme.results[0]
        out = FolderResult(options.out_dir, result, programme.playlist, reference=reference)
        if handouts:
            for session in result.sessions:
                url = audio_url(base_url, url_root or options.out_dir, session.path)
                handout = handout_for(routine, session.level, options.settings, session.seconds, reference, url)
                out.handouts += write_handout(session.path, handout)
    return out


def patient_options(patient: Patient, options: BuildOptions) -> BuildOptions:
    return replace(options, out_dir=inside(options.out_dir, patient.ref), levels=patient.levels,
                   engine=patient.engine or options.engine, voice=patient.voice or options.voice)


def check_patients(prescriptions: Prescriptions, options: BuildOptions) -> None:
    """Every session of every patient compiled and its estimated length checked: nothing written."""
    for patient in prescriptions.patients:
        opts = patient_options(patient, options)
        try:
            for level in chosen_levels(patient.routine, opts):
                try:
                    timeline = plan(patient.routine, level, opts)
                except ScriptError as err:   # speech that may not fit by its estimate: the exact layout decides
                    if "estimated" in (err.hint or ""):
                        continue
                    raise
                check_length(patient.routine, timeline)
        except AudioRoutineError as err:   # an engine without the language, a session too long...
            raise RowError(str(err), file=prescriptions.path, row=patient.row, ref=patient.ref) from None


def build_prescriptions(prescriptions: Prescriptions, options: BuildOptions, base_url: str | None = None,
                        handouts: bool = True) -> list[FolderResult]:
    """Each patient's sessions, playlist and handouts in `options.out_dir/<ref>/`."""
    check_patients(prescriptions, options)
    with open_guard(options.out_dir):   # one lock and one record for every patient's folder
        return [build_folder(p.routine, patient_options(p, options), base_url, options.out_dir, p.ref, handouts)
                for p in prescriptions.patients]
