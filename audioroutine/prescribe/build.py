"""Building programmes and prescriptions through the ordinary build: `build_batch` per
folder (album, track numbers, playlist, cache, up-to-date checks), then a handout per session.

All or nothing across patients: every row is read, derived and compiled, and every session's
estimated length checked, before the first file is written.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..core.errors import AudioRoutineError, ScriptError
from ..core.guard import Legacy, open_guard, write_file
from ..core.redact import redact
from ..core.urls import public_url
from ..model.names import inside
from ..model.script import Routine
from ..output.playlist import playlist_path
from ..output.prune import legacy_ours
from ..run.executors import NoWorkerError, Parallel, close_shared, shared_executor
from ..run.pipeline import BatchPlan, BuildOptions, BuildResult, build_batch, build_files, chosen_levels, dry_run, plan
from ..run.prepare import check_length
from ..speech.cache import PhraseCache
from ..speech.clips import remember_lengths
from .handout import TICK_WEEKS, handout_for, handout_paths, legacy_handout, write_handout
from .prescription import Patient, Prescriptions, RowError


@dataclass
class FolderResult:
    """One folder built: its sessions, playlist and the handouts written."""

    folder: Path
    result: BuildResult
    playlist: Path
    handouts: list[Path] = field(default_factory=list)
    reference: str | None = None


def folders_to_dict(folders: Sequence[FolderResult]) -> dict[str, Any]:
    """Folders built, as JSON data (what `programme --json` and `prescribe --json` print)."""
    sessions = [s for folder in folders for s in folder.result.sessions]
    return {
        "folders": [{"folder": str(f.folder), "reference": f.reference, "playlist": str(f.playlist),
                     "sessions": [{"path": str(s.path), "level": s.level, "samples": s.samples,
                                   "sample_rate": s.sample_rate, "seconds": s.seconds, "written": s.written,
                                   "title": s.title} for s in f.result.sessions],
                     "handouts": [str(h) for h in f.handouts]} for f in folders],
        "phrases": {"synthesized": sum(f.result.stats.synthesized for f in folders),
                    "cached": sum(f.result.stats.cached for f in folders)},
        "summary": {"folders": len(folders), "sessions": len(sessions), "built": sum(s.written for s in sessions),
                    "handouts": sum(len(f.handouts) for f in folders)},
    }


@dataclass
class FolderPlan:
    """One folder as a dry run sees it: what `build_folder` would write."""

    folder: Path
    plan: BatchPlan
    handouts: list[Path] = field(default_factory=list)
    reference: str | None = None


def plans_to_dict(folders: Sequence[FolderPlan]) -> dict[str, Any]:
    """What a programme or prescription build would write, as JSON data (`--dry-run --json`)."""
    return {
        "dry_run": True,
        "folders": [{"folder": str(f.folder), "reference": f.reference, "playlist": str(f.plan.playlist),
                     "sessions": [{"path": str(s.path), "level": s.level, "samples": s.samples,
                                   "seconds": s.seconds, "estimated_phrases": s.estimated, "state": s.state}
                                  for s in f.plan.sessions],
                     "handouts": [str(h) for h in f.handouts]} for f in folders],
        "phrases": {"to_synthesize": sum(f.plan.to_synthesize for f in folders),
                    "cached": sum(f.plan.cached for f in folders)},
    }


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
    with open_guard(options.out_dir) as guard:
        guard.check_all(folder_files(routine, options, handouts))
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


def folder_files(routine: Routine, options: BuildOptions, handouts: bool) -> list[tuple[Path, Legacy]]:
    """Every file `build_folder` writes (the build's, then each session's handout), with the
    test that accepts one an earlier version wrote (core/guard.py)."""
    files: list[tuple[Path, Legacy]] = [
        (path, legacy_ours) for path in build_files([routine], [options], playlist_path([routine], options.out_dir))]
    sessions = [path for path, _ in files if path.suffix == ".mp3"] if handouts else []
    return files + [(path, legacy_handout) for mp3 in sessions for path in handout_paths(mp3)]


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


QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
MAX_REASON = 300


@dataclass
class PatientRow:
    """One patient of a prescription run, as the coordinator's report shows it: the
    reference and counts only (no name, no dosage, no path beyond the reference)."""

    reference: str
    sessions: int
    written: int = 0
    up_to_date: int = 0
    failed: int = 0
    reason: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {"reference": self.reference, "sessions": self.sessions, "written": self.written,
                "up_to_date": self.up_to_date, "failed": self.failed, "reason": self.reason,
                "seconds": round(self.seconds, 3)}


def failure_reason(err: BaseException, patient: Patient) -> str:
    """A failure's reason for the report: its kind and message, first line, redacted, with
    quoted text (phrases, which may speak the first name) and the script's path left out."""
    message = (str(err).strip().splitlines() or [""])[0]
    for private in filter(None, (patient.first_name, str(patient.routine.path or ""))):
        message = message.replace(private, "...")
    message = QUOTED.sub("'...'", redact(message))
    return f"{type(err).__name__}: {message}"[:MAX_REASON]


PATIENTS_PER_WORKER = 3   # patients built at once per Dask worker (see `patients_at_once`)
MAX_PATIENTS_AT_ONCE = 32


def patients_at_once(parallel: Parallel) -> int:
    """How many patients to build at once: on a shared Dask client, PATIENTS_PER_WORKER per
    worker (at most MAX_PATIENTS_AT_ONCE), so the workers always have units while the client
    compiles, lays out, writes and renders the handouts of the others; one at a time otherwise
    (in this process, or a local pool that each patient's batch sizes for itself)."""
    executor = parallel.executor
    if executor is None or not hasattr(executor, "stop"):
        return 1
    return max(2, min(MAX_PATIENTS_AT_ONCE, PATIENTS_PER_WORKER * int(executor.workers)))


def build_prescriptions(prescriptions: Prescriptions, options: BuildOptions, base_url: str | None = None,
                        handouts: bool = True, parallel: Parallel | None = None,
                        rows: list[PatientRow] | None = None,
                        done: Callable[[PatientRow], None] | None = None) -> list[FolderResult]:
    """Each patient's sessions, playlist and handouts in `options.out_dir/<ref>/`.

    On Dask, every patient's batch runs on one client (`shared_executor`), several patients
    at once (`patients_at_once`: a bounded window, so the client's memory does not grow with
    the file), each committed as soon as it is done. With `rows` (a list to fill, kept in the
    file's order), a patient whose build fails (an engine or file error, a lost store) is
    recorded there with the reason and the others are still built; without it the first
    failure stops the run, as before. `done(row)` is called after each patient, in this
    thread. A phrase's length, once known, is remembered for the run (`remember_lengths`):
    the client reads each cached phrase once, not once per patient."""
    if base_url:
        public_url(base_url)
    with remember_lengths():
        check_patients(prescriptions, options)
        parallel = shared_executor(parallel or Parallel())
        if parallel.executor is not None:   # once for the run, not once per patient (batch.run_batch)
            PhraseCache(options.cache_dir).remove_stale_temps()
        cancel = True
        try:
            with open_guard(options.out_dir) as guard:   # one lock and one record for every patient's folder
                guard.check_all(item for patient in prescriptions.patients   # every refusal, before any work
                                for item in folder_files(patient.routine, patient_options(patient, options), handouts))
                folders = _build_patients(prescriptions, options, base_url, handouts, parallel, rows, done)
            cancel = False
        finally:
            close_shared(parallel, cancel)
    return folders


def _build_patients(prescriptions: Prescriptions, options: BuildOptions, base_url: str | None, handouts: bool,
                    parallel: Parallel, rows: list[PatientRow] | None,
                    done: Callable[[PatientRow], None] | None) -> list[FolderResult]:
    patients = prescriptions.patients
    results: dict[int, tuple[PatientRow, FolderResult | None]] = {}

    def build_one(n: int) -> tuple[PatientRow, FolderResult | None]:
        patient = patients[n]
        opts = patient_options(patient, options)
        row = PatientRow(patient.ref, len(chosen_levels(patient.routine, opts)))
        started = time.monotonic()
        folder = None
        try:
            folder = build_folder(patient.routine, opts, base_url, options.out_dir, patient.ref, handouts,
                                  patient.clinician, patient.date, parallel)
        except (AudioRoutineError, OSError) as err:
            if rows is None or isinstance(err, (ScriptError, NoWorkerError)):
                raise
            row.failed, row.reason = row.sessions, failure_reason(err, patient)
        else:
            row.written = sum(s.written for s in folder.result.sessions)
            row.up_to_date = len(folder.result.sessions) - row.written
        row.seconds = time.monotonic() - started
        return row, folder

    def finished(n: int, outcome: tuple[PatientRow, FolderResult | None]) -> None:
        results[n] = outcome
        if rows is not None:   # the file's order, also for a report written after an interruption
            rows[:] = [results[i][0] for i in sorted(results)]
        if done is not None:
            done(outcome[0])

    at_once = patients_at_once(parallel)
    if at_once == 1:
        for n in range(len(patients)):
            finished(n, build_one(n))
    else:
        _in_threads(build_one, finished, len(patients), at_once, parallel.executor)
    return [folder for _, (_, folder) in sorted(results.items()) if folder is not None]


def _in_threads(build_one: Callable[[int], tuple[PatientRow, FolderResult | None]],
                finished: Callable[[int, tuple[PatientRow, FolderResult | None]], None],
                count: int, at_once: int, executor: Any) -> None:
    """`build_one(n)` for n in range(count), at most `at_once` at a time, in threads sharing
    the Dask client; `finished` in this thread as each ends. A patient that raises (a
    ScriptError, no worker left, any failure without a report) or Ctrl-C stops the others:
    their batches drop their units and temp files (executors.Stopped), what is done stays."""
    pool = ThreadPoolExecutor(at_once, thread_name_prefix="audioroutine-patient")
    running: dict[Future[tuple[PatientRow, FolderResult | None]], int] = {}
    following = iter(range(count))
    try:
        for n in itertools.islice(following, at_once):
            running[pool.submit(build_one, n)] = n
        while running:
            finished_now = wait_futures(running, return_when=FIRST_COMPLETED).done
            for future in sorted(finished_now, key=running.__getitem__):
                n = running.pop(future)
                finished(n, future.result())   # a patient's error that stops the run is raised here
                for following_n in itertools.islice(following, 1):
                    running[pool.submit(build_one, following_n)] = following_n
    except BaseException:
        executor.stop()   # the other patients' batches stop waiting, drop their units and temp files
        for future in running:
            future.cancel()
        pool.shutdown(wait=True)
        for future in running:   # patients that completed meanwhile are theirs to keep (committed)
            if future.done() and not future.cancelled() and future.exception() is None:
                finished(running[future], future.result())
        raise
    pool.shutdown(wait=True)


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


REPORT_FIELDS = ("reference", "sessions", "written", "up_to_date", "failed", "reason", "seconds")


def write_report(path: Path, rows: list[PatientRow]) -> None:
    """The coordinator's report, one row per patient: JSON (`.json`) or CSV (any other
    name), written through the guard like every output (atomically: a reader sees the last
    report or this one, never part; never over a file the tool did not write)."""
    if path.suffix.lower() == ".json":
        data = json.dumps({"patients": [row.to_dict() for row in rows],
                           "summary": {"patients": len(rows), "failed": sum(1 for r in rows if r.failed),
                                       "written": sum(r.written for r in rows),
                                       "up_to_date": sum(r.up_to_date for r in rows)}}, indent=2) + "\n"
    else:
        text = io.StringIO()
        writer = csv.DictWriter(text, REPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(row.to_dict() for row in rows)
        data = text.getvalue()
    write_file(path, data.encode("utf-8"))
