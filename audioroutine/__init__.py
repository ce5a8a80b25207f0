"""audioroutine: exercise scripts in YAML → voice-guided, tagged MP3 sessions.

The library API (docs/api.md): `load_script` (and `settings_for`), `plan`, `build` for one
script, `build_batch` for several (with a playlist), `dry_run`, `inspect`. The stages and
where each one lives: docs/architecture.md.

Names are imported on first use, so `import audioroutine.script` (parsing a script) pulls in
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
    "load_script": "script", "parse_script": "script", "Routine": "script",
    "load_settings": "settings", "settings_for": "settings", "Settings": "settings",
    "compile_level": "compiler", "Timeline": "timeline",
    "BuildOptions": "options", "BuildResult": "pipeline", "SessionResult": "options",
    "BatchResult": "pipeline", "BatchPlan": "pipeline", "Parallel": "executors",
    "build": "pipeline", "build_batch": "pipeline", "plan": "pipeline", "dry_run": "pipeline",
    "inspect": "probe", "Probe": "probe",
    "Engine": "engines", "VoiceOptions": "engines", "Clip": "engines", "get_engine": "engines",
    "AudioRoutineError": "errors", "ScriptError": "errors", "BuildError": "errors", "EngineError": "errors",
}
__all__ = ["AudioRoutineError", "BatchPlan", "BatchResult", "BuildError", "BuildOptions", "BuildResult",
    "Clip", "Engine", "EngineError", "Parallel", "Probe", "Routine", "ScriptError", "SessionResult", "Settings",
    "Timeline", "VoiceOptions", "build", "build_batch", "compile_level", "dry_run", "get_engine", "inspect",
    "load_script", "load_settings", "parse_script", "plan", "settings_for"]

if TYPE_CHECKING:
    from .compiler import compile_level
    from .engines import Clip, Engine, VoiceOptions, get_engine
    from .errors import AudioRoutineError, BuildError, EngineError, ScriptError
    from .executors import Parallel
    from .options import BuildOptions, SessionResult
    from .pipeline import BatchPlan, BatchResult, BuildResult, build, build_batch, dry_run, plan
    from .probe import Probe, inspect
    from .script import Routine, load_script, parse_script
    from .settings import Settings, load_settings, settings_for
    from .timeline import Timeline


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'audioroutine' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
