"""gTTS engine: gTTS's own request and parsing code runs for real; only the HTTP transport
below it is faked (the `responses` library patches requests' adapter), answering the way
Google's batchexecute endpoint does. pytest-socket blocks every real socket."""

from __future__ import annotations

import base64
import json
import math
import socket
import struct
import urllib.parse
from pathlib import Path

import pytest
import requests
import responses
from click.testing import CliRunner

from audioroutine.audio.mp3 import encode_mp3
from audioroutine.cli import cli
from audioroutine.compile.compiler import compile_level
from audioroutine.core.errors import EngineError
from audioroutine.engines import VoiceOptions, get_engine
from audioroutine.engines.gtts import GTTSEngine, parse_voice
from audioroutine.model.script import load_script
from audioroutine.run.pipeline import BuildOptions, build

URL = "https://translate.google.com/_/TranslateWebserverUi/data/batchexecute"
PHRASE = "Rep 1 of 10."
JITTER = 0.5
GIVE_UP_SLEEPS = [0.75, 1.5, 3.0]          # 0.5 s doubling, each plus 50 % jitter
WARNING = "warning: engine 'gtts' sends the text of every phrase to Google; piper and espeak stay offline"


@pytest.fixture(scope="module")
def tone_mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """One second of 440 Hz at 24 kHz, encoded the way Google's clips are: MP3."""
    n = 24000
    pcm = struct.pack(f"<{n}h", *(int(9000 * math.sin(2 * math.pi * 440 * i / n)) for i in range(n)))
    path = tmp_path_factory.mktemp("gtts") / "tone.mp3"
    encode_mp3([pcm], path, n, "32k")
    return path.read_bytes()


def google_answer(mp3: bytes | None) -> str:
    """A batchexecute answer: XSSI guard, then length-prefixed compact JSON envelopes; the
    audio is base64 in a JSON string inside the jQ1olc envelope."""
    inner = json.dumps([base64.b64encode(mp3).decode()] if mp3 is not None else [], separators=(",", ":"))
    envelope = json.dumps([["wrb.fr", "jQ1olc", inner, None, None, None, "generic"]], separators=(",", ":"))
    tail = '[["di",42],["af.httprm",41,"-3938405384127562718",1]]'
    return f")]}}'\n\n{len(envelope)}\n{envelope}\n{len(tail)}\n{tail}\n25\n[[\"e\",4,null,null,{len(envelope)}]]\n"


def engine(sleeps: list[float], voice: str | None = None, language: str = "en", rate: float = 1.0) -> GTTSEngine:
    return GTTSEngine(VoiceOptions(voice=voice, language=language, rate=rate),
                      sleep=sleeps.append, jitter=lambda: JITTER)


def sent_phrase(call: responses.Call) -> list[object]:
    """The [text, lang, speed, "null"] parameter gTTS packed into the request body."""
    body = urllib.parse.unquote(call.request.body.removeprefix("f.req=").rstrip("&"))
    return json.loads(json.loads(body)[0][0][1])


@responses.activate
def test_gtts_success_decodes_the_clip(tone_mp3: bytes) -> None:
    responses.post(URL, body=google_answer(tone_mp3))
    sleeps: list[float] = []
    clip = engine(sleeps).synthesize(PHRASE)
    assert clip.sample_rate == 24000
    assert clip.samples == 24000                       # exactly the second that was encoded
    assert max(struct.unpack(f"<{clip.samples}h", clip.pcm)) > 8000
    assert len(responses.calls) == 1 and sleeps == []
    assert sent_phrase(responses.calls[0]) == [PHRASE, "en", None, "null"]


@responses.activate
def test_gtts_accent_and_slow_mode_reach_the_request(tone_mp3: bytes) -> None:
    responses.post(URL.replace(".com/", ".co.uk/"), body=google_answer(tone_mp3))
    gtts = engine([], voice="en:co.uk", rate=0.8)
    assert gtts.identity() == {"engine": "gtts", "lang": "en", "tld": "co.uk", "slow": True, "rate": 24000}
    gtts.synthesize(PHRASE)
    assert sent_phrase(responses.calls[0]) == [PHRASE, "en", True, "null"]


def test_gtts_voice_strings() -> None:
    assert parse_voice(None, "es") == ("es", "com")
    assert parse_voice("es:com.mx", "en") == ("es", "com.mx")
    assert parse_voice("pt", "en") == ("pt", "com")


def test_gtts_unknown_language_is_one_line() -> None:
    with pytest.raises(EngineError) as err:
        engine([], language="xx")
    assert str(err.value) == "gtts: language 'xx' is not supported (see: audioroutine voices --engine gtts)"


@responses.activate
def test_gtts_429_then_success(tone_mp3: bytes) -> None:
    responses.post(URL, status=429, body="Too Many Requests")
    responses.post(URL, body=google_answer(tone_mp3))
    sleeps: list[float] = []
    clip = engine(sleeps).synthesize(PHRASE)
    assert clip.samples == 24000
    assert len(responses.calls) == 2
    assert sleeps == [0.75]


@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        (requests.exceptions.ReadTimeout("read timed out"),
         "no answer from Google within 8 s (use --engine piper or espeak)"),
        (requests.exceptions.ConnectionError("connection refused"), "no network (use --engine piper or espeak)"),
        (503, "Google's service failed (HTTP 503): try again later"),
        (429, "Google is limiting requests (HTTP 429): wait, then rerun; finished phrases are cached"),
    ],
)
@responses.activate
def test_gtts_transient_failures_give_up_after_four_tries(answer: object, cause: str) -> None:
    if isinstance(answer, int):
        responses.post(URL, status=answer)
    else:
        responses.post(URL, body=answer)
    sleeps: list[float] = []
    with pytest.raises(EngineError) as err:
        engine(sleeps).synthesize(PHRASE)
    assert str(err.value) == f"gtts: could not synthesize 'Rep 1 of 10.': {cause}"
    assert len(responses.calls) == 4
    assert sleeps == GIVE_UP_SLEEPS


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        (lambda mp3: google_answer(None), "Google's answer held no audio (unsupported language, or has the service changed?)"),
        (lambda mp3: ")]}'\n\n[[\"e\",4,null,null,25]]\n",
         "Google's answer held no audio (unsupported language, or has the service changed?)"),
        (lambda mp3: google_answer(b"not an mp3 at all" * 20),
         "Google's audio could not be decoded (has the service changed?)"),
    ],
    ids=["envelope-without-audio", "no-envelope", "audio-not-mp3"],
)
@responses.activate
def test_gtts_malformed_answer_is_not_retried(tone_mp3: bytes, body, cause: str) -> None:
    responses.post(URL, body=body(tone_mp3))
    sleeps: list[float] = []
    with pytest.raises(EngineError) as err:
        engine(sleeps).synthesize(PHRASE)
    assert str(err.value) == f"gtts: could not synthesize 'Rep 1 of 10.': {cause}"
    assert len(responses.calls) == 1 and sleeps == []


@pytest.mark.parametrize("text", ["", "..."])
@responses.activate
def test_gtts_nothing_to_say_is_one_line(text: str) -> None:
    with pytest.raises(EngineError) as err:
        engine([]).synthesize(text)
    assert str(err.value) == f"gtts: could not synthesize '{text}': nothing to say once punctuation is removed"
    assert len(responses.calls) == 0


@responses.activate
def test_gtts_403_is_not_retried() -> None:
    responses.post(URL, status=403)
    with pytest.raises(EngineError) as err:
        engine([]).synthesize("A much longer phrase than forty characters, cut short in the error.")
    assert str(err.value) == ("gtts: could not synthesize 'A much longer phrase than forty charact…': "
                              "Google refused the request (HTTP 403) (use --engine piper or espeak)")
    assert len(responses.calls) == 1


@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket:UserWarning")
def test_gtts_without_the_fake_reaches_for_google_and_is_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Control case: no HTTP fake. gTTS resolves Google's host and opens a socket, which
    pytest-socket refuses, so the fakes above really do sit below gTTS."""
    asked: list[str] = []

    def resolve(host: str, port: object, *args: object, **kwargs: object) -> list[tuple]:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 443))]   # TEST-NET: never reached

    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    sleeps: list[float] = []
    with pytest.raises(EngineError) as err:
        engine(sleeps).synthesize(PHRASE)
    assert asked == ["translate.google.com"]
    assert str(err.value).startswith("gtts: could not synthesize 'Rep 1 of 10.': unexpected failure (SocketBlockedError")


def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """This machine without a network: name lookups fail at once. Returns the hosts asked."""
    asked: list[str] = []

    def resolve(host: str, *args: object, **kwargs: object) -> list[tuple]:
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return asked


def test_gtts_build_offline_fails_with_one_line(mini_script: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    asked = offline(monkeypatch)
    sleeps: list[float] = []
    monkeypatch.setattr("audioroutine.engines.gtts.time.sleep", sleeps.append)
    out = tmp_path / "output"
    result = CliRunner(mix_stderr=False).invoke(cli, ["build", str(mini_script), "--engine", "gtts", "--out", str(out)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        WARNING,
        "error: gtts: could not synthesize 'Mini. Beginner session.': no network (use --engine piper or espeak)",
    ]
    assert result.stdout == ""
    assert asked == ["translate.google.com"] * 4 and len(sleeps) == 3
    assert not out.exists() or not any(out.iterdir())


def test_gtts_rerun_resumes_from_cached_phrases(mini_script: Path, tmp_path: Path, tone_mp3: bytes,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("audioroutine.engines.gtts.time.sleep", lambda seconds: None)
    routine = load_script(mini_script)
    options = BuildOptions(out_dir=tmp_path / "output", engine="gtts")
    with responses.RequestsMock() as fake:
        for _ in range(3):
            fake.post(URL, body=google_answer(tone_mp3))
        fake.post(URL, body=requests.exceptions.ConnectionError("offline"))
        with pytest.raises(EngineError):
            build(routine, options)
    assert not options.out_dir.exists() or not any(options.out_dir.iterdir())
    with responses.RequestsMock() as fake:
        fake.post(URL, body=google_answer(tone_mp3))
        result = build(routine, options)
        assert result.stats.synthesized == len(fake.calls)
    distinct = {text for level in ("beginner", "progressed") for text in compile_level(routine, level).texts()}
    assert result.stats.synthesized == len(distinct) - 3     # the first run's three phrases came from the cache
    assert [s.path.name for s in result.sessions] == ["mini-beginner.mp3", "mini-progressed.mp3"]


def test_gtts_is_registered() -> None:
    assert isinstance(get_engine("gtts", VoiceOptions(language="de")), GTTSEngine)
