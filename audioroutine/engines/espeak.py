"""espeak-ng: a small formant synthesizer, offline, for 100+ languages.

The library and its data come from the `espeakng-loader` wheel (no system package) and are
driven in-process through ctypes. The voice is a language code (`es`, `pt-br`) or an
espeak voice name; the routine's `language` is the default. Robotic but deterministic.
"""

from __future__ import annotations

import _ctypes
import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from ..core.errors import EngineError
from . import Clip, EngineInfo, VoiceOptions, estimate_seconds, installed, package_versions

INSTALL_HINT = "pip install espeakng-loader"
AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_CHARS_UTF8 = 1
ESPEAK_RATE = 1            # espeak_PARAMETER: words per minute
POS_CHARACTER = 1
EE_OK = 0
DEFAULT_WPM = 175
MIN_WPM, MAX_WPM = 80, 450

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),   # (priority byte, NUL-terminated code) pairs, then a 0 byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


@contextmanager
def _espeak() -> Iterator[tuple[Any, int, bytearray]]:
    """A freshly loaded espeak-ng, its sample rate and the buffer its audio lands in.

    Its synthesizer keeps state from one utterance to the next (the same text comes out a
    few samples longer or shorter each time) and espeak_Terminate does not reset it;
    unloading the library does. So each phrase gets a fresh copy: about 10 ms."""
    if not installed("espeakng_loader"):
        raise EngineError(f"espeak-ng is not installed: {INSTALL_HINT}")
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    try:
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, str(espeakng_loader.get_data_path()).encode(), 0)
        if rate <= 0:
            raise EngineError("espeak-ng could not start: its data folder is missing (reinstall espeakng-loader)")
        pcm = bytearray()

        def collect(wav: Any, samples: int, events: Any) -> int:
            if wav and samples > 0:
                pcm.extend(ctypes.string_at(wav, samples * 2))
            return 0   # 0: carry on

        callback = _SynthCallback(collect)   # referenced here until the library is unloaded
        lib.espeak_SetSynthCallback(callback)
        yield lib, rate, pcm
    finally:
        lib.espeak_Terminate()
        _ctypes.dlclose(lib._handle)


def _set_language(lib: Any, code: str) -> bool:
    """Choose the voice for a language code as `voices --engine espeak` lists them (en-gb,
    en-029...: not voice names, which SetVoiceByName wants)."""
    language = ctypes.c_char_p(code.encode())
    spec = _Voice()
    spec.languages = ctypes.cast(language, ctypes.c_void_p)
    lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_Voice)]
    return bool(lib.espeak_SetVoiceByProperties(ctypes.byref(spec)) == EE_OK)


def _synthesize(voice: str, wpm: int, text: str) -> Clip:
    with _espeak() as (lib, rate, pcm):
        if lib.espeak_SetVoiceByName(voice.encode()) != EE_OK and not _set_language(lib, voice):
            raise EngineError(f"espeak: no voice '{voice}' (list them: audioroutine voices --engine espeak)")
        lib.espeak_SetParameter(ESPEAK_RATE, wpm, 0)
        data = text.encode()
        status = lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        if status != EE_OK:
            raise EngineError(f"espeak: could not synthesize '{text[:40]}' (error {status})")
        return Clip(pcm=bytes(pcm), sample_rate=rate)


@lru_cache(maxsize=1)
def _about() -> tuple[str, int, tuple[tuple[str, str], ...]]:
    """(version, sample rate, (language code, voice name) for every voice)."""
    with _espeak() as (lib, rate, _):
        voices = []
        table = lib.espeak_ListVoices(None)
        i = 0
        while table[i]:
            voice = table[i].contents
            code = ctypes.string_at(voice.languages + 1).decode()   # skip the priority byte
            voices.append((code, (voice.name or b"").decode()))
            i += 1
        return (lib.espeak_Info(None) or b"").decode(), rate, tuple(voices)


class EspeakEngine:
    """espeak-ng in-process; the same text, voice and rate always give the same samples."""

    name = "espeak"
    online = False
    privacy = ""

    def __init__(self, options: VoiceOptions) -> None:
        self.options = options
        self.voice = (options.voice or options.language).replace("_", "-").lower()
        self.wpm = max(MIN_WPM, min(MAX_WPM, round(DEFAULT_WPM * options.rate)))

    @property
    def sample_rate(self) -> int:
        return _about()[1]

    def identity(self) -> dict[str, Any]:
        return {"engine": "espeak", "voice": self.voice, "wpm": self.wpm, "version": _about()[0]}

    @staticmethod
    def fingerprint(options: VoiceOptions) -> dict[str, Any]:
        """What `identity()` depends on besides the options: espeak-ng's version, which comes
        with the espeakng-loader wheel (read from its metadata; nothing is loaded)."""
        return {"packages": package_versions("espeakng-loader")}

    def estimate_seconds(self, text: str) -> float:
        return estimate_seconds(text, self.options.rate)   # not calibrated for espeak yet: Piper's

    def synthesize(self, text: str) -> Clip:
        return _synthesize(self.voice, self.wpm, text)

    @staticmethod
    def info() -> EngineInfo:
        if not installed("espeakng_loader"):
            return EngineInfo("espeak", False, False, "espeak-ng voices", install_hint=INSTALL_HINT)
        voices = _about()[2]
        codes = sorted({code for code, _ in voices})
        sample = [code for code in ("en", "es", "de", "fr", "it", "pt", "nl", "pl", "tr", "ar", "hi", "zh")
                  if any(c == code or c.startswith(code + "-") for c in codes)]
        return EngineInfo(
            "espeak", False, True,
            f"{len(voices)} voices, {len(codes)} language codes ({', '.join(sample)}, ...); voice = language code",
            tuple(f"{code:12} {name}" for code, name in sorted(voices)),
        )
