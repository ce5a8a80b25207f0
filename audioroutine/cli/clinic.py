"""Commands for clinics: programme (weeks of one routine) and prescribe (a folder per patient)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..core.errors import ScriptError
from ..model.durations import format_ms
from ..run.options import BuildOptions, engine_name
from ..speech.stores import CacheLocation

if TYPE_CHECKING:
    from ..prescribe.build import FolderResult
from .app import cli, common, engine_detail, info, output_options, settings_of, settings_option, warn_online


def _folder_summary(folders: list[FolderResult]) -> None:
    """One line per file (MP3, handouts, playlist) and a summary; paths show references only."""
    sessions = [s for folder in folders for s in folder.result.sessions]
    for folder in folders:
        for session in folder.result.sessions:
            state = "written" if session.written else "up to date"
            info(f"  {session.path}  {format_ms(int(session.seconds * 1000))}  {state}")
        for handout in folder.handouts:
            info(f"  {handout}  handout")
        info(f"  {folder.playlist}  playlist")
    synthesized = sum(folder.result.stats.synthesized for folder in folders)
    cached = sum(folder.result.stats.cached for folder in folders)
    info(f"{len(folders)} folder(s), {len(sessions)} session(s), {sum(s.written for s in sessions)} written, "
         f"{sum(len(f.handouts) for f in folders)} handout file(s) written; "
         f"phrases: {synthesized} synthesized, {cached} from cache")


@cli.command("programme")
@click.argument("programme_file", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("output"), show_default=True,
              help="Folder for the MP3s, handouts and playlist.")
@click.option("--week", type=int, default=None, help="Build one week (or stage) only [default: all].")
@click.option("--plan", "table", is_flag=True, help="Print the dosage table per week; build nothing.")
@click.option("--base-url", default=None, help="Where the output folder will be served: handouts get a QR code.")
@click.option("--force", is_flag=True, help="Rewrite MP3s even when they are up to date.")
@settings_option
@common
@output_options
def programme_cmd(programme_file: Path, out_dir: Path, week: int | None, table: bool, base_url: str | None,
                  force: bool, settings_file: Path | None, engine: str | None, voice: str | None,
                  cache_dir: CacheLocation | None) -> None:
    """Build a progression programme: one session per week, one album, a playlist, handouts.

    Example: audioroutine programme examples/back-6-weeks.yaml --plan
    """
    from ..prescribe import build as prescribe_batch
    from ..prescribe import progression

    found, routine = progression.load_progression(programme_file)
    if table:
        click.echo(progression.format_table(progression.dosage_table(routine)))
        return
    levels = (progression.week_id(found, week),) if week else ()
    if week and not 1 <= week <= found.weeks:
        raise ScriptError(f"no week {week}: the programme has {found.weeks}", file=str(programme_file))
    options = BuildOptions(out_dir=out_dir, engine=engine, voice=voice, levels=levels, cache_dir=cache_dir,
                           force=force, settings=settings_of(programme_file, settings_file))
    engine_detail(routine, options)
    warn_online({engine_name(routine, options)})
    _folder_summary([prescribe_batch.build_folder(routine, options, base_url)])


@cli.command("prescribe")
@click.argument("prescription_file", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("output"), show_default=True,
              help="Folder that gets one folder per patient reference.")
@click.option("--base-url", default=None, help="Where the output folder will be served: handouts get a QR code.")
@click.option("--force", is_flag=True, help="Rewrite MP3s even when they are up to date.")
@click.option("--check", "check_only", is_flag=True, help="Check every row; build nothing.")
@settings_option
@common
@output_options
def prescribe_cmd(prescription_file: Path, out_dir: Path, base_url: str | None, force: bool, check_only: bool,
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
    warn_online({engine_name(p.routine, prescribe_batch.patient_options(p, options)) for p in found.patients})
    _folder_summary(prescribe_batch.build_prescriptions(found, options, base_url))
