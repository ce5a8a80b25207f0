"""Commands that read built sessions: inspect one MP3, publish a folder as a web site."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    pass
from .app import cli, echo_json, info, output_options


@cli.command("inspect")
@click.argument("mp3", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@output_options
def inspect_cmd(mp3: Path, as_json: bool) -> None:
    """Show an MP3's tags, chapters, duration, loudness and build provenance.

    Example: audioroutine inspect output/upper_middle_back-beginner.mp3
    """
    from ..output.probe import format_report, probe

    info_ = probe(mp3)
    if as_json:
        echo_json(info_)
    else:
        click.echo(format_report(info_))


@cli.command("publish")
@click.argument("output_dir", type=click.Path(path_type=Path))
@click.option("--base-url", required=True, help="Address the site will be served at, e.g. https://clinic.example/ex/.")
@click.option("--to", "site_dir", type=click.Path(path_type=Path), required=True, help="Folder to write the site into.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@output_options
def publish_cmd(output_dir: Path, base_url: str, site_dir: Path, as_json: bool) -> None:
    """Write a static site from built sessions: player pages, index pages, a podcast feed, QR codes.

    Example: audioroutine publish output --base-url https://clinic.example/ex/ --to site
    """
    from ..publish import publish

    done = publish(output_dir, base_url, site_dir)
    if as_json:
        echo_json({
            "site": str(done.site), "feeds": done.feeds, "pages": done.pages,
            "sessions": [{"path": str(s.mp3), "title": s.title, "samples": s.samples, "sample_rate": s.sample_rate,
                          "seconds": s.seconds} for s in done.sessions],
            "written": [str(p) for p in done.written], "unchanged": len(done.unchanged),
            "removed": [str(p) for p in done.removed],
        })
        return
    for path in done.written:
        info(f"  {path}  written")
    for path in done.removed:
        info(f"  {path}  removed")
    for feed in done.feeds:
        info(f"  {feed}  podcast feed")
    info(f"{len(done.sessions)} session(s) in {len(done.folders)} folder(s): {len(done.written)} file(s) written, "
         f"{len(done.unchanged)} unchanged, {len(done.removed)} removed")
