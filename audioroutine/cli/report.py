"""Library warnings (the `audioroutine` logger) reach a CLI user as one redacted line on stderr."""

from __future__ import annotations

import logging

import click

from ..core.redact import redact


class _EchoWarnings(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"warning: {redact(record.getMessage())}", err=True)   # no secret, ever (core/redact.py)


def show_warnings() -> None:
    """Print every warning of the library as `warning: MESSAGE` on stderr (once per process)."""
    logger = logging.getLogger("audioroutine")
    if not any(isinstance(h, _EchoWarnings) for h in logger.handlers):
        logger.addHandler(_EchoWarnings(logging.WARNING))
