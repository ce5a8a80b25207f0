"""audioroutine: exercise scripts in YAML → voice-guided, tagged MP3 sessions.

The library API (docs/api.md): `load_script` (and `settings_for`), `plan`, `build` for one
script, `build_batch` for several (with a playlist), `dry_run`, `inspect`. The stages and
where each one lives: docs/architecture.md.

Names are imported on first use, so `import audioroutine.model.script` (parsing a script) pulls in
no audio library.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# pydub looks for an ffmpeg on PATH when imported; ours comes from imageio-ffmpeg and is
# handed to pydub explicitly (ffmpeg.configure_pydub), so this one warning is noise.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv", category=RuntimeWarning)

_EXPORTS = {
    "load_script": "model.script", "parse_script": "model.script", "Routine": "model.script",
    "load_settings": "model.settings", "settings_for": "model.settings", "Settings": "model.settings",
    "compile_level": "compile.compiler", "Timeline": "compile.timeline",
    "BuildOptions": "run.options", "BuildResult": "run.results", "SessionResult": "run.options",
    "BatchResult": "run.results", "BatchPlan": "run.results", "Parallel": "run.executors",
    "build": "run.pipeline", "build_batch": "run.builds", "explain": "run.builds", "plan": "run.pipeline",
    "dry_run": "run.pipeline",
    "inspect": "output.probe", "Probe": "output.probe",
    "Engine": "engines", "VoiceOptions": "engines", "Clip": "engines", "get_engine": "engines",
    "AudioRoutineError": "core.errors", "ScriptError": "core.errors", "BuildError": "core.errors",
    "EngineError": "core.errors", "Failure": "run.results",
}
__all__ = ["AudioRoutineError", "BatchPlan", "BatchResult", "BuildError", "BuildOptions", "BuildResult",
    "Clip", "Engine", "EngineError", "Failure", "Parallel", "Probe", "Routine", "ScriptError", "SessionResult",
    "Settings",
    "Timeline", "VoiceOptions", "build", "build_batch", "compile_level", "dry_run", "explain", "get_engine",
    "inspect",
    "load_script", "load_settings", "parse_script", "plan", "settings_for"]

if TYPE_CHECKING:
    from .compile.compiler import compile_level
    from .compile.timeline import Timeline
    from .core.errors import AudioRoutineError, BuildError, EngineError, ScriptError
    from .engines import Clip, Engine, VoiceOptions, get_engine
    from .model.script import Routine, load_script, parse_script
    from .model.settings import Settings, load_settings, settings_for
    from .output.probe import Probe, inspect
    from .run.builds import build_batch, explain
    from .run.executors import Parallel
    from .run.options import BuildOptions, SessionResult
    from .run.pipeline import build, dry_run, plan
    from .run.results import BatchPlan, BatchResult, BuildResult, Failure


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'audioroutine' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
