"""Commands that read built sessions: inspect one MP3, publish a folder as a web site."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..core.errors import BuildError

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
@click.option("--list-folders", is_flag=True,
              help="Index pages link their sub-folders [default: not: a patient folder is found only by its address].")
@click.option("--listed", is_flag=True, help="Let podcast directories list the feeds [default: itunes:block].")
@click.option("--owner-email", default=None, help="Contact email in the feeds' itunes:owner (not shown to listeners).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@output_options
def publish_cmd(output_dir: Path, base_url: str, site_dir: Path, list_folders: bool, listed: bool,
                owner_email: str | None, as_json: bool) -> None:
    """Write a static site from built sessions: player pages, index pages, a podcast feed, QR codes.

    Example: audioroutine publish output --base-url https://clinic.example/ex/ --to site
    """
    from ..publish import publish

    done = publish(output_dir, base_url, site_dir, list_folders, listed, owner_email)
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


@cli.command("serve")
@click.argument("site_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@output_options
def serve_cmd(site_dir: Path, port: int, host: str) -> None:
    """Preview a published site on this machine, with byte ranges so chapters seek (Ctrl-C stops).

    Example: audioroutine serve site --port 8000
    """
    from ..publish.serve import make_server

    try:
        server = make_server(site_dir, host, port)
    except OSError as err:
        raise BuildError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    info(f"serving {site_dir} at http://{host}:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
