"""Library warnings (the `audioroutine` logger) reach a CLI user as one redacted line on stderr;
its notes (INFO: a damaged build manifest or site record treated as absent) only with -v."""

from __future__ import annotations

import logging

import click

from ..core.redact import redact


class _EchoWarnings(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            click.echo(f"warning: {redact(record.getMessage())}", err=True)   # no secret, ever (core/redact.py)
            return
        ctx = click.get_current_context(silent=True)
        if ctx is not None and ctx.meta.get("audioroutine.verbose") and not ctx.meta.get("audioroutine.quiet"):
            click.echo(redact(record.getMessage()), err=True)


def show_warnings() -> None:
    """Print every warning of the library as `warning: MESSAGE` on stderr, and its notes with
    -v (once per process)."""
    logger = logging.getLogger("audioroutine")
    if not any(isinstance(h, _EchoWarnings) for h in logger.handlers):
        logger.addHandler(_EchoWarnings(logging.INFO))
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
