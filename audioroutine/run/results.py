"""What a build gives back: per script (`BuildResult`), per batch (`BatchResult`, with the
scripts that failed alone: `Failure`), and what a dry run would write (`BatchPlan`); and their
JSON shapes (`to_dict`), the ones `audioroutine build --json` prints. No audio library: a
no-op build answered from the manifest returns these too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import AudioRoutineError
from ..speech.stats import SpeechStats
from .options import SessionResult

Progress = Callable[[int, int, str], None]   # (done, total, phrase)


@dataclass
class BuildResult:
    sessions: list[SessionResult] = field(default_factory=list)
    stats: SpeechStats = field(default_factory=SpeechStats)
    phrases: int = 0


@dataclass
class Failure:
    """A script that failed after every script was validated (build_batch(isolate=True))."""

    script: str | None
    message: str                       # one line: the script, then the error
    error: AudioRoutineError | OSError


@dataclass
class BatchResult:
    """Scripts built together: one BuildResult per script, one playlist."""

    results: list[BuildResult]
    playlist: Path
    failures: list[Failure] = field(default_factory=list)   # only with build_batch(isolate=True)
    pruned: list[Path] = field(default_factory=list)        # only with build_batch(prune=True)

    @property
    def sessions(self) -> list[SessionResult]:
        return [session for result in self.results for session in result.sessions]

    @property
    def synthesized(self) -> int:
        """Phrases synthesized by this build."""
        return sum(result.stats.synthesized for result in self.results)

    @property
    def cached(self) -> int:
        """Phrases read from the cache (each level's distinct phrases)."""
        return sum(result.stats.cached for result in self.results)

    def summary(self, pruned: Sequence[Path] = (), time: float | None = None) -> dict[str, Any]:
        """The counts of the build: built, up to date, failed, pruned, seconds of audio and
        (when given) the seconds the build took."""
        sessions = self.sessions
        return {"built": sum(s.written for s in sessions), "up_to_date": sum(not s.written for s in sessions),
                "failed": len(self.failures), "pruned": len(pruned), "seconds": sum(s.seconds for s in sessions),
                "time": None if time is None else round(time, 3)}

    def to_dict(self, pruned: Sequence[Path] = (), time: float | None = None) -> dict[str, Any]:
        """The result as JSON data (what `audioroutine build --json` prints); `pruned`: the
        files a prune removed after it, `time`: the seconds it took."""
        return {
            "sessions": [session.to_dict() for session in self.sessions],
            "playlist": str(self.playlist),
            "seconds": sum(session.seconds for session in self.sessions),
            "phrases": {"synthesized": self.synthesized, "cached": self.cached},
            "failed": [{"script": f.script, "error": f.message} for f in self.failures],
            "pruned": [str(p) for p in pruned],
            "summary": self.summary(pruned, time),
        }


@dataclass
class PlannedSession:
    """What `build` would write for one level; `state` is 'up to date' or 'would write'."""

    level: str
    path: Path
    samples: int
    sample_rate: int
    estimated: int                    # phrases of this session not synthesized yet
    state: str
    sidecars: tuple[Path, ...] = ()

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate


@dataclass
class BatchPlan:
    sessions: list[PlannedSession]
    playlist: Path
    to_synthesize: int                # distinct phrases not in the cache
    cached: int
    would_prune: list[Path] = field(default_factory=list)   # only with dry_run(prune=True)

    def to_dict(self, would_prune: Sequence[Path] | None = None) -> dict[str, Any]:
        """The plan as JSON data (what `audioroutine build --dry-run --json` prints)."""
        return {
            "dry_run": True,
            "sessions": [{"path": str(s.path), "level": s.level, "samples": s.samples, "seconds": s.seconds,
                          "estimated_phrases": s.estimated, "state": s.state,
                          "sidecars": [str(p) for p in s.sidecars]} for s in self.sessions],
            "playlist": str(self.playlist),
            "phrases": {"to_synthesize": self.to_synthesize, "cached": self.cached},
            "would_prune": [str(p) for p in (self.would_prune if would_prune is None else would_prune)],
        }
