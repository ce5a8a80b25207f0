"""audioroutine: exercise scripts in YAML → voice-guided, tagged MP3 sessions.

The pipeline, one module each: script → compiler/timeline → speech (engines, cache) →
audio → mp3 + tags. `build` ties them together; `cli` is a thin layer over it.
"""

import warnings

__version__ = "0.1.0"

# pydub looks for an ffmpeg on PATH when imported; ours comes from imageio-ffmpeg and is
# handed to pydub explicitly (ffmpeg.configure_pydub), so this one warning is noise.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv", category=RuntimeWarning)

from .build import BuildOptions, BuildResult, build, plan  # noqa: E402
from .compiler import compile_level  # noqa: E402
from .script import load_script, parse_script  # noqa: E402

__all__ = ["BuildOptions", "BuildResult", "build", "compile_level", "load_script", "parse_script", "plan"]
