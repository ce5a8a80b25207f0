"""Commands for clinics: programme (weeks of one routine) and prescribe (a folder per patient)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..core.errors import ScriptError
from ..model.durations import format_ms
from ..run.executors import Parallel
from ..run.options import BuildOptions, engine_name
from ..speech.stores import CacheLocation

if TYPE_CHECKING:
    from ..prescribe.build import FolderPlan, FolderResult, PatientRow
from .app import (
    EXIT_BUILD,
    ProgressBar,
    base_url_option,
    batch_options,
    cli,
    common,
    dry_run_options,
    echo_json,
    engine_detail,
    flag,
    info,
    output_options,
    settings_of,
    settings_option,
    warn_online,
)


def _folder_summary(folders: list[FolderResult], as_json: bool) -> None:
    """One line per file (MP3, handouts, playlist) and a summary; paths show references only."""
    sessions = [s for folder in folders for s in folder.result.sessions]
    synthesized = sum(folder.result.stats.synthesized for folder in folders)
    cached = sum(folder.result.stats.cached for folder in folders)
    if as_json:
        from ..prescribe.build import folders_to_dict

        echo_json(folders_to_dict(folders))
        return
    for folder in folders:
        for session in folder.result.sessions:
            state = "written" if session.written else "up to date"
            info(f"  {session.path}  {format_ms(int(session.seconds * 1000))}  {state}")
        for handout in folder.handouts:
            info(f"  {handout}  handout")
        info(f"  {folder.playlist}  playlist")
    info(f"{len(folders)} folder(s), {len(sessions)} session(s), {sum(s.written for s in sessions)} written, "
         f"{sum(len(f.handouts) for f in folders)} handout file(s) written; "
         f"phrases: {synthesized} synthesized, {cached} from cache")


def _folder_dry_run(folders: list[FolderPlan], as_json: bool) -> None:
    """What a programme or prescription build would write, as `build --dry-run` shows it."""
    to_synthesize = sum(f.plan.to_synthesize for f in folders)
    cached = sum(f.plan.cached for f in folders)
    if as_json:
        from ..prescribe.build import plans_to_dict

        echo_json(plans_to_dict(folders))
        return
    for folder in folders:
        for session in folder.plan.sessions:
            about = "~" if session.estimated else ""
            info(f"  {session.path}  {about}{format_ms(int(session.seconds * 1000))}  {session.state}")
        for handout in folder.handouts:
            info(f"  {handout}  handout")
        info(f"  {folder.plan.playlist}  playlist")
    info(f"dry run: nothing synthesized or written; phrases: {to_synthesize} to synthesize, {cached} in the cache"
         + (" (~ marks estimated lengths)" if to_synthesize else ""))


@cli.command("programme")
@click.argument("programme_file", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("output"), show_default=True,
              help="Folder for the MP3s, handouts and playlist.")
@click.option("--week", type=click.IntRange(min=1), default=None,
              help="Build one week (or stage) only [default: all].")
@click.option("--plan", "table", is_flag=True, help="Print the dosage table per week; build nothing.")
@base_url_option
@click.option("--force", is_flag=True, help="Rewrite MP3s even when they are up to date.")
@dry_run_options
@batch_options
@settings_option
@common
@output_options
def programme_cmd(programme_file: Path, out_dir: Path, week: int | None, table: bool, base_url: str | None,
                  force: bool, dry_run: bool, as_json: bool, parallel: Parallel, settings_file: Path | None,
                  engine: str | None, voice: str | None, cache_dir: CacheLocation | None) -> None:
    """Build a progression programme: one session per week, one album, a playlist, handouts.

    Example: audioroutine programme examples/back-6-weeks.yaml --plan
    """
    from ..prescribe import build as prescribe_batch
    from ..prescribe import progression

    found, routine = progression.load_progression(programme_file)
    if table:
        click.echo(progression.format_table(progression.dosage_table(routine)))
        return
    if week is not None and week > found.weeks:
        raise ScriptError(f"no week {week}: the programme has {found.weeks}", file=str(programme_file))
    levels = (progression.week_id(found, week),) if week is not None else ()
    options = BuildOptions(out_dir=out_dir, engine=engine, voice=voice, levels=levels, cache_dir=cache_dir,
                           force=force, settings=settings_of(programme_file, settings_file))
    engine_detail(routine, options)
    if dry_run:
        _folder_dry_run([prescribe_batch.dry_run_folder(routine, options)], as_json)
        return
    warn_online({engine_name(routine, options)})
    _folder_summary([prescribe_batch.build_folder(routine, options, base_url, parallel=parallel)], as_json)


@cli.command("prescribe")
@click.argument("prescription_file", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("output"), show_default=True,
              help="Folder that gets one folder per patient reference.")
@base_url_option
@click.option("--force", is_flag=True, help="Rewrite MP3s even when they are up to date.")
@click.option("--check", "check_only", is_flag=True, help="Check every row; build nothing.")
@click.option("--report", "report_file", type=click.Path(path_type=Path), default=None,
              help="Write a report per patient (reference, sessions written / up to date / failed and why, "
                   "time) to this .json or .csv file; a patient that fails no longer stops the others.")
@dry_run_options
@batch_options
@settings_option
@common
@output_options
def prescribe_cmd(prescription_file: Path, out_dir: Path, base_url: str | None, force: bool, check_only: bool,
                  report_file: Path | None, dry_run: bool, as_json: bool, parallel: Parallel,
                  settings_file: Path | None, engine: str | None, voice: str | None,
                  cache_dir: CacheLocation | None) -> None:
    """Build each patient's sessions, playlist and handouts into a folder named by their reference.

    Example: audioroutine prescribe examples/prescriptions.csv --out clinic-output
    """
    from ..prescribe import build as prescribe_batch
    from ..prescribe import prescription

    found = prescription.load_prescriptions(prescription_file)
    options = BuildOptions(out_dir=out_dir, engine=engine, voice=voice, cache_dir=cache_dir, force=force,
                           settings=settings_of(prescription_file, settings_file))
    if found.names_ignored:
        click.echo(f"note: {found.names_ignored} first name(s) not spoken: the file does not opt in "
                   "(speak_first_names)", err=True)
    if check_only:
        prescribe_batch.check_patients(found, options)
        info(f"ok  {prescription_file}: {len(found.patients)} patient(s)")
        return
    if dry_run:
        _folder_dry_run(prescribe_batch.dry_run_prescriptions(found, options), as_json)
        return
    warn_online({engine_name(p.routine, prescribe_batch.patient_options(p, options)) for p in found.patients})
    from ..run.pipeline import chosen_levels

    rows: list[PatientRow] | None = [] if report_file is not None else None
    total = sum(len(chosen_levels(p.routine, prescribe_batch.patient_options(p, options))) for p in found.patients)
    with ProgressBar(f"{len(found.patients)} patient(s)") as bar:   # one bar for the batch, by session
        sessions = 0

        def done(row: PatientRow) -> None:
            nonlocal sessions
            sessions += row.sessions
            if not as_json and not flag("quiet"):
                bar.update(sessions, total, row.reference)
        try:
            folders = prescribe_batch.build_prescriptions(found, options, base_url, parallel=parallel, rows=rows,
                                                          done=done)
        finally:   # an interrupted run still reports the patients done (the rerun does the rest)
            if report_file is not None and rows is not None:
                prescribe_batch.write_report(report_file, rows)
    _folder_summary(folders, as_json)
    failed = [row for row in rows or [] if row.failed]
    for row in failed:
        click.echo(f"failed: {row.reference}: {row.reason}", err=True)
    if report_file is not None:
        info(f"report: {report_file}: {len(rows or [])} patient(s), {len(failed)} failed")
    if failed:
        click.get_current_context().exit(EXIT_BUILD)
