"""Text that ends up spoken, in tags, transcripts and playlists: what is allowed in it (the
rule itself is the one reader's, core.reader.text_problem)."""

from __future__ import annotations

from ..core.reader import text_problem

__all__ = ["text_problem"]
