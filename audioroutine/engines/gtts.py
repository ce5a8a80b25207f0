"""gTTS: Google Translate's voices. Online: every phrase's text is sent to Google.

The voice is a language code with an optional accent, given as Google's domain
(`en:co.uk`, `es:com.mx`, `fr:ca`); the routine's `language` is the default. gTTS has two
speeds, so a rate of 0.8 or less selects its slow mode and other rates change nothing.

Transient failures (timeouts, connection errors, HTTP 429 and 5xx) are retried with
exponential backoff and jitter; after the last try one line names the phrase and the cause.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from ..core.errors import AudioRoutineError, EngineError
from ..core.ffmpeg import mp3_to_pcm
from . import Clip, EngineInfo, VoiceOptions, estimate_seconds, installed

SAMPLE_RATE = 24000        # what Google sends; Speech resamples to the session rate
TIMEOUT_S = 8.0            # per request; gTTS's own default is to wait forever
ATTEMPTS = 4
BACKOFF_S = 0.5            # first pause; doubles each try, plus up to as much again of jitter
SLOW_RATE = 0.8
INSTALL_HINT = "pip install gTTS"
OFFLINE_HINT = "use --engine piper or espeak"
NO_AUDIO = "Google's answer held no audio (unsupported language, or has the service changed?)"


def parse_voice(voice: str | None, language: str) -> tuple[str, str]:
    """'en:co.uk' → ('en', 'co.uk'); no voice → (language, 'com')."""
    lang, _, tld = (voice or language).partition(":")
    return lang.strip() or language, tld.strip().lstrip(".") or "com"


def _languages() -> dict[str, str]:
    from gtts.lang import tts_langs  # a table inside the package: no request

    return dict(tts_langs())


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GTTSEngine:
    """One gTTS request per phrase (more for phrases over 100 characters), decoded to PCM."""

    name = "gtts"
    online = True
    privacy = "sends the text of every phrase to Google"
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        options: VoiceOptions,
        *,
        sleep: Callable[[float], None] | None = None,
        jitter: Callable[[], float] = random.random,
        timeout: float = TIMEOUT_S,
        attempts: int = ATTEMPTS,
    ) -> None:
        self.options = options
        extra = dict(options.extra)
        lang, tld = parse_voice(options.voice, options.language)
        self.tld = str(extra.get("tld", tld))
        self.slow = bool(extra.get("slow", options.rate <= SLOW_RATE))
        self.sleep = sleep or time.sleep
        self.jitter, self.timeout, self.attempts = jitter, timeout, attempts
        if not installed("gtts"):
            raise EngineError(f"gTTS is not installed: {INSTALL_HINT}")
        self.lang = self._check_language(lang)

    @staticmethod
    def _check_language(lang: str) -> str:
        langs = _languages()
        for candidate in (lang, lang.lower(), lang.replace("_", "-").split("-")[0].lower()):
            if candidate in langs:
                return candidate
        raise EngineError(f"gtts: language '{lang}' is not supported (see: audioroutine voices --engine gtts)")

    def identity(self) -> dict[str, Any]:
        return {"engine": "gtts", "lang": self.lang, "tld": self.tld, "slow": self.slow, "rate": SAMPLE_RATE}

    def estimate_seconds(self, text: str) -> float:
        return estimate_seconds(text, self.options.rate)   # not calibrated for Google's voices yet: Piper's

    def synthesize(self, text: str) -> Clip:
        mp3 = self._fetch(text)
        if not mp3:
            raise self._error(text, NO_AUDIO)
        try:
            pcm = mp3_to_pcm(mp3, SAMPLE_RATE)
        except AudioRoutineError:
            raise self._error(text, "Google's audio could not be decoded (has the service changed?)") from None
        return Clip(pcm=pcm, sample_rate=SAMPLE_RATE)

    def _fetch(self, text: str) -> bytes:
        """The MP3 bytes for `text`, trying again on failures that may pass."""
        from gtts import gTTS, gTTSError

        for attempt in range(1, self.attempts + 1):
            try:
                tts = gTTS(text, tld=self.tld, lang=self.lang, slow=self.slow, lang_check=False,
                           timeout=self.timeout)
                return b"".join(tts.stream())
            except gTTSError as err:
                cause, transient = _diagnose(err, self.timeout)
            except AssertionError:   # gTTS's checks that there is something to say
                raise self._error(text, "nothing to say once punctuation is removed") from None
            except ValueError:       # the audio in the answer is not base64
                raise self._error(text, NO_AUDIO) from None
            except Exception as err:  # noqa: BLE001 - anything else below gTTS, e.g. a blocked socket
                cause, transient = f"unexpected failure ({type(err).__name__}: {err})", False
            if not transient or attempt == self.attempts:
                raise self._error(text, cause)
            delay = BACKOFF_S * 2 ** (attempt - 1)
            self.sleep(delay + delay * self.jitter())
        raise AssertionError("unreachable")

    @staticmethod
    def _error(text: str, cause: str) -> EngineError:
        return EngineError(f"gtts: could not synthesize '{_short(text)}': {cause}")

    @staticmethod
    def info() -> EngineInfo:
        if not installed("gtts"):
            return EngineInfo("gtts", True, False, "Google Translate voices", install_hint=INSTALL_HINT)
        langs = sorted(_languages().items())
        return EngineInfo(
            "gtts", True, True,
            f"{len(langs)} languages ({', '.join(code for code, _ in langs[:8])}, ...); "
            "accents as LANG:TLD, e.g. en:co.uk",
            tuple(f"{code:8} {name}" for code, name in langs),
        )


def _diagnose(err: Exception, timeout: float) -> tuple[str, bool]:
    """(probable cause, worth another try) for a gTTSError; gTTS keeps the requests error
    as the exception's context and the HTTP response as `rsp`."""
    import requests

    response = getattr(err, "rsp", None)
    if response is None:
        context = err.__context__
        if isinstance(context, requests.exceptions.Timeout):
            return f"no answer from Google within {timeout:g} s ({OFFLINE_HINT})", True
        return f"no network ({OFFLINE_HINT})", True
    status = response.status_code
    if status == 429:
        return "Google is limiting requests (HTTP 429): wait, then rerun; finished phrases are cached", True
    if status >= 500:
        return f"Google's service failed (HTTP {status}): try again later", True
    if status == 200:
        return NO_AUDIO, False
    return f"Google refused the request (HTTP {status}) ({OFFLINE_HINT})", False
