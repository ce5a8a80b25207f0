"""What a build's speech did: phrases synthesized, read from the cache, discarded. No audio
library, so a result can be made without loading one (a no-op build answered from the
manifest)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SpeechStats:
    synthesized: int = 0
    cached: int = 0
    discarded: int = 0     # damaged cache entries (each one warned about)
    outdated: int = 0      # entries in an older cache format (summed up in one warning)
