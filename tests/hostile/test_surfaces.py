"""The hostile corpus of the command line's surfaces besides a script's content: addresses
(`--cache-dir`, `AUDIOROUTINE_CACHE_DIR`, `--scheduler`, `--base-url`), secrets in the
environment, absurd numbers, unknown engines, a routine its engine cannot speak, the bare
command, and the batch options of `programme` and `prescribe`.

Every case runs through the CLI and asserts: the exit code (0 done, 1 failed while running,
2 bad input or usage), one message line (with --debug: a traceback), no traceback otherwise,
nothing written outside the folder the command may write, and no secret in stdout, stderr or
any file of the whole temp tree (docs/reliability.md, "Secrets", "Addresses", "Bounds")."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioroutine.cli import cli
from audioroutine.core import redact
from audioroutine.engines import engine_names

from ..prescribe.test_prescribe import PROGRAMME, ROUTINE

pytestmark = pytest.mark.filterwarnings("ignore:A test tried to use socket:UserWarning")   # s3/https stores

PASSWORD = "s3cr3tPassw0rd-Q7"               # in URLs the user types
TOKEN = "tok3nS3cret-Z8"                     # a URL's lone user part, or a query secret
SIGNATURE = "SiGnAtUrE0123abcdef"            # X-Amz-Signature
ENV_SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY"  # AWS_SECRET_ACCESS_KEY
ENV_TOKEN = "FwoGZXIvYXdzEJr-SessionToken-9"  # AWS_SESSION_TOKEN
FSSPEC_SECRET = "fsspecS3cretValue-55"        # inside fsspec's JSON configuration
SECRETS = (PASSWORD, TOKEN, SIGNATURE, ENV_SECRET, ENV_TOKEN, FSSPEC_SECRET)
SECRET_ENV = {"AWS_SECRET_ACCESS_KEY": ENV_SECRET, "AWS_SESSION_TOKEN": ENV_TOKEN}
NO_ENDPOINT = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}

SPANISH = """id: es
title: Hola
language: es
exercises:
  - name: Puente
    dosage: {reps: 2, hold: 2s}
"""
MINI = """id: mini
title: Mini
voice: {engine: fake}
exercises:
  - name: Press
    hold: Hold.
    dosage: {reps: 2, hold: 3s, rest: 2s}
"""
PATIENTS = "ref,script,level\nP-1,knee.yaml,beginner\n"
WEEK_CELLS = {"superscript": "\u00b2", "zero": "0", "huge": "9" * 5000, "arabic-indic": "\u0663"}   # weeks in a file
EXPECTED_ADDRESS = "expected an absolute http:// or https:// address such as https://clinic.example/exercises/"
SCHEDULER = "expected a Dask scheduler address tcp://HOST:PORT (or tls://HOST:PORT), e.g. tcp://build-server:8786"


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]               # {root} is the temp tree
    code: int
    line: str = ""                      # a regex the one message line must match ("" with kind "ok")
    kind: str = "line"                  # line: one error line; debug: a traceback; usage: help; ok: success
    env: dict[str, str] = field(default_factory=dict)
    writes: tuple[str, ...] = ()        # folders below {root} the command may write


def case(id: str, *args: str, code: int, line: str = "", kind: str = "line", env: dict[str, str] | None = None,
         writes: tuple[str, ...] = ()) -> Case:
    return Case(id, args, code, line, kind, {**SECRET_ENV, **(env or {})}, writes)


BUILD = ("build", "{root}/in/mini.yaml", "--out", "{root}/out")
PROG = ("programme", "{root}/in/prog.yaml", "--out", "{root}/out")
PRESC = ("prescribe", "{root}/in/patients.csv", "--out", "{root}/out")
PUBLISH = ("publish", "{root}/built", "--to", "{root}/site")
CRED_S3 = f"s3://AKIAEXAMPLE:{PASSWORD}@bucket/prefix"
CACHE_FAIL = r"^error: phrase cache s3://AKIAEXAMPLE:\*\*\*@bucket/prefix: .*docs/scaling\.md\)$"

CASES = [
    # --- credentials in addresses: never shown, with or without --debug -----------------
    case("cache-dir-credentials", *BUILD, "--cache-dir", CRED_S3, code=1, line=CACHE_FAIL, env=NO_ENDPOINT),
    case("cache-dir-credentials-debug", *BUILD, "--cache-dir", CRED_S3, "--debug", code=1, kind="debug",
         line=r"CacheError: phrase cache s3://AKIAEXAMPLE:\*\*\*@bucket", env=NO_ENDPOINT),
    case("cache-env-credentials", *BUILD, code=1, line=CACHE_FAIL,
         env={**NO_ENDPOINT, "AUDIOROUTINE_CACHE_DIR": CRED_S3}),
    case("cache-env-credentials-debug", "--debug", *BUILD, code=1, kind="debug",
         line=r"CacheError: phrase cache s3://AKIAEXAMPLE:\*\*\*@bucket", env={**NO_ENDPOINT,
                                                                               "AUDIOROUTINE_CACHE_DIR": CRED_S3}),
    case("cache-dir-https-credentials", *BUILD, "--cache-dir", f"https://clinic:{PASSWORD}@store.invalid/cache",
         code=1, line=r"^error: phrase cache https://clinic:\*\*\*@store\.invalid/cache: "),
    case("cache-dir-token-user", *BUILD, "--cache-dir", f"gs://{TOKEN}@bucket/p", code=1,
         line=r"^error: phrase cache gs://\*\*\*@bucket/p: "),
    case("cache-dir-signed-query", *BUILD, "--cache-dir", f"s3://bucket/p?X-Amz-Signature={SIGNATURE}&x=1",
         code=1, line=r"^error: phrase cache s3://bucket/p\?X-Amz-Signature=\*\*\*&x=1", env=NO_ENDPOINT),
    case("cache-dir-fsspec-config-secret", *BUILD, "--cache-dir", "s3://bucket/p", code=1,
         line=r"^error: phrase cache s3://bucket/p: ",
         env={**NO_ENDPOINT, "FSSPEC_S3": json.dumps({"key": "AKIAEXAMPLE", "secret": FSSPEC_SECRET})}),
    case("scheduler-credentials", *BUILD, "--scheduler", f"tcp://admin:{PASSWORD}@build-server:8786", code=2,
         line=rf"^error: --scheduler: {re.escape(SCHEDULER)}, without a user name or password .*"
              r"'tcp://admin:\*\*\*@build-server:8786'$"),
    case("scheduler-credentials-debug", *BUILD, "--scheduler", f"tcp://admin:{PASSWORD}@build-server:8786",
         "--debug", code=2, kind="debug", line=r"tcp://admin:\*\*\*@build-server:8786"),
    case("publish-base-url-credentials", *PUBLISH, "--base-url", f"https://nurse:{PASSWORD}@clinic.example/ex/",
         code=2, line=rf"^error: --base-url: {EXPECTED_ADDRESS}, without a user name or password: .*"
                      r"'https://nurse:\*\*\*@clinic\.example/ex/'$"),
    case("publish-base-url-credentials-debug", *PUBLISH, "--base-url",
         f"https://nurse:{PASSWORD}@clinic.example/ex/", "--debug", code=2, kind="debug",
         line=r"PublishError: --base-url: .*https://nurse:\*\*\*@clinic\.example/ex/"),
    case("publish-base-url-token-query", *PUBLISH, "--base-url", f"https://clinic.example/ex/?token={TOKEN}",
         code=2, line=rf"^error: --base-url: {EXPECTED_ADDRESS}, got 'https://clinic\.example/ex/\?token=\*\*\*'$"),
    case("programme-base-url-credentials", *PROG, "--base-url", f"https://nurse:{PASSWORD}@clinic.example/",
         code=2, line=r"^error: --base-url: .*without a user name or password.*'https://nurse:\*\*\*@clinic"),
    case("programme-base-url-signed", *PROG, "--base-url", f"https://c.example/?X-Amz-Signature={SIGNATURE}",
         code=2, line=r"^error: --base-url: .*X-Amz-Signature=\*\*\*'$"),
    case("prescribe-base-url-credentials", *PRESC, "--base-url", f"https://{TOKEN}@clinic.example/", code=2,
         line=r"^error: --base-url: .*without a user name or password.*'https://\*\*\*@clinic\.example/'$"),
    case("prescribe-base-url-credentials-debug", *PRESC, "--base-url", f"https://nurse:{PASSWORD}@c.example/",
         "--debug", code=2, kind="debug", line=r"ScriptError: --base-url: .*nurse:\*\*\*@c\.example"),
    # --- secrets from the environment: masked wherever they would appear ----------------
    case("env-secret-in-a-path", "build", f"{{root}}/in/{ENV_SECRET}.yaml", code=2,
         line=r"^error: .*/in/\*\*\*\.yaml: file not found \(check the path\)$"),
    case("env-token-in-a-path-debug", "validate", f"{{root}}/in/{ENV_TOKEN}.yaml", "--debug", code=2, kind="debug",
         line=r"/in/\*\*\*\.yaml: file not found"),
    case("env-secret-in-a-base-url", *PROG, "--base-url", f"javascript:alert('{ENV_SECRET}')", code=2,
         line=r"^error: --base-url: .*got \"javascript:alert\('\*\*\*'\)\"$"),
    # --- only http(s) for pages, handouts and feeds --------------------------------------
    *[case(f"{cmd[0]}-base-url-{scheme}", *cmd, "--base-url", url, code=2,
           line=rf"^error: --base-url: {EXPECTED_ADDRESS}, got ")
      for cmd in (PUBLISH, PROG, PRESC)
      for scheme, url in (("javascript", "javascript:alert(document.cookie)//https://c.example/"),
                          ("data", "data:text/html,<script>alert(1)</script>"),
                          ("ftp", "ftp://clinic.example/ex/"))],
    case("programme-base-url-relative", *PROG, "--base-url", "clinic/exercises", code=2,
         line=rf"^error: --base-url: {EXPECTED_ADDRESS}, got 'clinic/exercises'$"),
    case("prescribe-base-url-file", *PRESC, "--base-url", "file:///etc/", code=2,
         line=rf"^error: --base-url: {EXPECTED_ADDRESS}, got 'file:///etc/'$"),
    # --- schedulers ------------------------------------------------------------------------
    case("scheduler-not-a-url", *BUILD, "--scheduler", "not-a-url", code=2,
         line=rf"^error: --scheduler: {re.escape(SCHEDULER)}, got 'not-a-url'$"),
    case("scheduler-http", *BUILD, "--scheduler", "http://build-server:8786", code=2,
         line=rf"^error: --scheduler: {re.escape(SCHEDULER)}, got 'http://build-server:8786'$"),
    case("scheduler-no-port", *BUILD, "--scheduler", "tcp://build-server", code=2,
         line=rf"^error: --scheduler: {re.escape(SCHEDULER)}, got 'tcp://build-server'$"),
    case("scheduler-port-out-of-range", *BUILD, "--scheduler", "tcp://build-server:99999", code=2,
         line=r"^error: --scheduler: .*got 'tcp://build-server:99999'$"),
    case("scheduler-without-scheme", *BUILD, "--scheduler", "build-server:8786", code=2,
         line=r"^error: --scheduler: .*\(did you mean tcp://build-server:8786\?\)$"),
    case("scheduler-with-path", *BUILD, "--scheduler", "tcp://build-server:8786/x?y=1", code=2,
         line=r"^error: --scheduler: .*with nothing after the port, got 'tcp://build-server:8786/x\?y=1'$"),
    case("scheduler-and-dask-local", *BUILD, "--scheduler", "tcp://build-server:8786", "--dask-local", "2",
         code=2, line=r"^error: --dask-local: give --scheduler or --dask-local, not both$"),
    case("programme-scheduler-not-a-url", *PROG, "--scheduler", "not-a-url", code=2,
         line=r"^error: --scheduler: .*got 'not-a-url'$"),
    case("prescribe-scheduler-control-char", *PRESC, "--scheduler", "tcp://h:1\x1b[2J", code=2,
         line=r"^error: --scheduler: .*got 'tcp://h:1\\x1b\[2J'$"),   # escaped: one line, no terminal codes
    # --- absurd numbers: refused before any work -------------------------------------------
    case("jobs-huge", *BUILD, "--jobs", "1000000000000", code=2,
         line=r"^error: --jobs: 1000000000000 is not in the range 1<=x<=64\. \(see: audioroutine build -h\)$"),
    case("jobs-zero", *BUILD, "--jobs", "0", code=2, line=r"^error: --jobs: 0 is not in the range 1<=x<=64\."),
    case("jobs-not-a-number", *BUILD, "-j", "many", code=2, line=r"^error: --jobs: 'many' is not a valid integer"),
    case("dask-local-huge", *BUILD, "--dask-local", "100000", code=2,
         line=r"^error: --dask-local: 100000 is not in the range 1<=x<=64\."),
    case("scheduler-timeout-zero", *BUILD, "--scheduler-timeout", "0", code=2,
         line=r"^error: --scheduler-timeout: 0\.0 is not in the range 0\.1<=x<=3600\.0\."),
    case("scheduler-timeout-env-huge", *BUILD, code=2, line=r"^error: --scheduler-timeout: 1e\+300 is not",
         env={"AUDIOROUTINE_SCHEDULER_TIMEOUT": "1e300"}),
    case("programme-week-0", *PROG, "--week", "0", code=2, line=r"^error: --week: 0 is not in the range x>=1\."),
    case("programme-week-negative", *PROG, "--week", "-3", code=2, line=r"^error: --week: -3 is not in the range"),
    case("programme-week-huge", *PROG, "--week", "1000000000000", code=2,
         line=r"^error: .*/in/prog\.yaml: no week 1000000000000: the programme has 6$"),
    case("programme-jobs-huge", *PROG, "--jobs", "1000000000000", code=2,
         line=r"^error: --jobs: 1000000000000 is not in the range 1<=x<=64\. \(see: audioroutine programme -h\)$"),
    case("prescribe-dask-local-huge", *PRESC, "--dask-local", "99999999999999999999", code=2,
         line=r"^error: --dask-local: 99999999999999999999 is not in the range 1<=x<=64\."),
    *[case(f"prescribe-week-{name}", "prescribe", f"{{root}}/in/weeks-{name}.csv", "--out", "{root}/out", code=2,
           line=rf"^error: .*/in/weeks-{name}\.csv:2:3: patient 'P-1': week: "
                rf"(expected a week from 1 to 6, got |text is longer than 1000 characters)")
      for name in WEEK_CELLS],
    # --- one exit-code rule --------------------------------------------------------------------
    case("unknown-engine", *BUILD, "--engine", "pipr", code=2,
         line=rf"^error: --engine: unknown engine 'pipr': choose one of {', '.join(engine_names())} "
              r"\(see: audioroutine build -h\)$"),
    case("programme-unknown-engine", *PROG, "--engine", "pipr", code=2, line=r"^error: --engine: unknown engine"),
    case("say-unknown-engine", "say", "Hi.", "--engine", "pipr", "--out", "{root}/out/a.wav", code=2,
         line=r"^error: --engine: unknown engine 'pipr': .* \(see: audioroutine say -h\)$"),
    case("piper-spanish-build", "build", "{root}/in/es.yaml", "--out", "{root}/out", code=2,
         line=r"^error: .*/in/es\.yaml:3: language: the bundled Piper voice speaks English only, this routine is "
              r"'es': use --engine espeak, or --voice with a path to a Piper \.onnx voice for that language$"),
    case("piper-spanish-validate", "validate", "{root}/in/es.yaml", code=2, line=r"^error: .*/in/es\.yaml:3: language:"),
    case("bare-command", code=2, kind="usage"),
    case("unknown-option", *BUILD, "--frobnicate", code=2,
         line=r"^error: No such option: --frobnicate \(Possible options: .*\) \(see: audioroutine build -h\)$"),
    case("sample-rate", *BUILD, "--sample-rate", "8000", code=2, line=r"^error: --sample-rate: '8000' is not one of"),
    # --- programme and prescribe take build's batch options ------------------------------------
    case("programme-dry-run", *PROG, "--dry-run", "--jobs", "2", code=0, kind="ok",
         line=r"^dry run: nothing synthesized or written; phrases: \d+ to synthesize, 0 in the cache"),
    case("programme-dry-run-json", *PROG, "--dry-run", "--json", "--week", "2", code=0, kind="json"),
    case("prescribe-dry-run-json", *PRESC, "--dry-run", "--json", "--base-url", "https://clinic.example/ex/",
         code=0, kind="json"),
    case("programme-json-build", *PROG, "--json", "--week", "1", "--jobs", "1",
         "--base-url", "https://clinic.example/ex/", code=0, kind="json", writes=("out",)),
    case("prescribe-json-build", *PRESC, "--json", "--jobs", "1", code=0, kind="json",
         writes=("out", "cache")),
]


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "mini.yaml").write_text(MINI, encoding="utf-8")
    (tmp_path / "in" / "knee.yaml").write_text(ROUTINE.lstrip(), encoding="utf-8")
    (tmp_path / "in" / "prog.yaml").write_text(PROGRAMME.lstrip().replace("knee-6", "prog"), encoding="utf-8")
    (tmp_path / "in" / "patients.csv").write_text(PATIENTS, encoding="utf-8")
    (tmp_path / "in" / "es.yaml").write_text(SPANISH, encoding="utf-8")
    for name, week in WEEK_CELLS.items():
        (tmp_path / "in" / f"weeks-{name}.csv").write_text(f"ref,programme,week\nP-1,prog.yaml,{week}\n",
                                                           encoding="utf-8")
    (tmp_path / "built").mkdir()
    redact.forget()   # a secret remembered by an earlier case must not hide a leak in this one
    yield tmp_path
    redact.forget()


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def secrets_in_tree(root: Path) -> list[str]:
    return [f"{p.relative_to(root)}: {s}" for p in root.rglob("*") if p.is_file()
            for s in SECRETS if s.encode() in p.read_bytes()]


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_hostile_surface(c: Case, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in c.env.items():
        monkeypatch.setenv(name, value)
    args = [a.replace("{root}", str(root)) for a in c.args]
    before = snapshot(root)
    result = CliRunner(mix_stderr=False).invoke(cli, args)
    out, err = result.stdout, result.stderr

    assert result.exit_code == c.code, (out, err)
    assert isinstance(result.exception, (SystemExit, type(None))), result.exception   # nothing escaped
    for secret in SECRETS:
        assert secret not in out and secret not in err
    assert secrets_in_tree(root) == []
    changed = {path for path, stamp in snapshot(root).items() if before.get(path) != stamp}
    allowed = ("home/", *(f"{folder}/" for folder in (*c.writes, "cache")))
    assert {path for path in changed if not path.startswith(allowed)} == set()
    if c.code == 2:   # bad input: refused before any work, nothing of it written anywhere
        assert {path for path in changed if not path.startswith(("home/", "cache/"))} == set(), changed
    if not c.writes:
        assert not (root / "out").exists() and not (root / "site").exists()

    lines = err.splitlines()
    if c.kind == "debug":
        assert lines[0] == "Traceback (most recent call last):" and re.search(c.line, err), err
        return
    assert "Traceback" not in err and "Traceback" not in out
    if c.kind == "usage":
        assert out == "" and re.match(r"Usage: \S+ \[OPTIONS\] COMMAND \[ARGS\]\.\.\.\n", err) and "Commands:" in err
    elif c.kind == "line":
        assert out == "" and len(lines) == 1 and re.search(c.line, lines[0]), err
    elif c.kind == "ok":
        assert err == "" and re.search(c.line, out.splitlines()[-1]), out
    else:   # json
        assert err == ""
        data = json.loads(out)
        folders = data["folders"]
        assert folders and all(f["sessions"] for f in folders)
        if data.get("dry_run"):
            assert all(s["state"] == "would write" for f in folders for s in f["sessions"])
        else:
            assert all(Path(s["path"]).is_file() and s["written"] for f in folders for s in f["sessions"])
            assert all(Path(h).is_file() for f in folders for h in f["handouts"])


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 35
    assert len({c.id for c in CASES}) == len(CASES)


def test_a_published_handout_carries_the_address_and_no_secret(root: Path) -> None:
    """Control for the redaction cases: a good base URL does reach the handout."""
    result = CliRunner(mix_stderr=False).invoke(cli, [*[a.replace("{root}", str(root)) for a in PROG], "--week", "1",
                                                      "--jobs", "1", "--base-url", "https://clinic.example/ex/"])
    assert result.exit_code == 0, result.stderr
    html = next((root / "out").glob("*.html")).read_text(encoding="utf-8")
    assert 'href="https://clinic.example/ex/prog-week-1.html"' in html
