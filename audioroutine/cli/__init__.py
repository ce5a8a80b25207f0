"""The command line: a thin click layer over the library, one module per command group
(`app` holds the group, its error boundary and the shared options)."""

from . import build, clinic, share, voices  # noqa: F401  (each module adds its commands to the group)
from .app import cli, main

__all__ = ["cli", "main"]
