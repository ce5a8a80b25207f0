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
from ..core.urls import public_url
from ..model.names import inside
from ..model.script import Routine
from ..run.executors import Parallel
from ..run.pipeline import BatchPlan, BuildOptions, BuildResult, build_batch, chosen_levels, dry_run, plan
from ..run.prepare import check_length
from .handout import TICK_WEEKS, handout_for, write_handout
from .prescription import Patient, Prescriptions, RowError


@dataclass
class FolderResult:
    """One folder built: its sessions, playlist and the handouts written."""

    folder: Path
    result: BuildResult
    playlist: Path
    handouts: list[Path] = field(default_factory=list)
    reference: str | None = None


@dataclass
class FolderPlan:
    """One folder as a dry run sees it: what `build_folder` would write."""

    folder: Path
    plan: BatchPlan
    handouts: list[Path] = field(default_factory=list)
    reference: str | None = None


def page_url(base_url: str | None, out_dir: Path, mp3: Path) -> str | None:
    """The session's player page once the output folder is published at `base_url`
    (`audioroutine publish OUT --base-url URL`: `URL/<path below OUT>/<session>.html`), or
    None without a base URL. The base URL follows the one rule for published addresses
    (core/urls.py): http(s), no credentials."""
    if not base_url:
        return None
    relative = mp3.resolve().relative_to(out_dir.resolve()).with_suffix(".html").as_posix()
    return public_url(base_url) + quote(relative)


def build_folder(routine: Routine, options: BuildOptions, base_url: str | None = None, url_root: Path | None = None,
                 reference: str | None = None, handouts: bool = True, clinician: str | None = None,
                 date: str | None = None, parallel: Parallel | None = None) -> FolderResult:
    """Build `routine` (its chosen levels) into `options.out_dir` with a handout per session,
    every file through the folder's guard (core/guard.py; the one of `prescribe --out` when
    it is open)."""
    if base_url:
        public_url(base_url)   # before any work
    with open_guard(options.out_dir):
        programme = build_batch([routine], [options], parallel=parallel)
        result = programme.results[0]
        out = FolderResult(options.out_dir, result, programme.playlist, reference=reference)
        if handouts:
            for session in result.sessions:
                url = page_url(base_url, url_root or options.out_dir, session.path)
                weeks = 1 if session.level.startswith(("week-", "stage-")) else TICK_WEEKS   # a programme's week
                handout = handout_for(routine, session.level, options.settings, session.seconds, reference, url,
                                      clinician, date, weeks)
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
                        handouts: bool = True, parallel: Parallel | None = None) -> list[FolderResult]:
    """Each patient's sessions, playlist and handouts in `options.out_dir/<ref>/`."""
    if base_url:
        public_url(base_url)
    check_patients(prescriptions, options)
    with open_guard(options.out_dir):   # one lock and one record for every patient's folder
        return [build_folder(p.routine, patient_options(p, options), base_url, options.out_dir, p.ref, handouts,
                             p.clinician, p.date, parallel)
                for p in prescriptions.patients]


def dry_run_folder(routine: Routine, options: BuildOptions, reference: str | None = None,
                   handouts: bool = True) -> FolderPlan:
    """What `build_folder` would write: sessions (lengths estimated where phrases are not
    cached), playlist and handouts; nothing synthesized or written."""
    planned = dry_run([routine], [options])
    files = [s.path.with_suffix(suffix) for s in planned.sessions for suffix in (".pdf", ".html")] if handouts else []
    return FolderPlan(options.out_dir, planned, files, reference)


def dry_run_prescriptions(prescriptions: Prescriptions, options: BuildOptions,
                          handouts: bool = True) -> list[FolderPlan]:
    """`dry_run_folder` for every patient, once every row is checked."""
    check_patients(prescriptions, options)
    return [dry_run_folder(p.routine, patient_options(p, options), p.ref, handouts) for p in prescriptions.patients]
