"""Hostile and mistaken inputs, one row each: the files a case writes, the command it runs,
and the exact stderr it must produce (`{d}` is the case's folder). Every case must exit 2
and leave the output folder empty."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field

from PIL import Image

from audioroutine.model.script import ROUTINE_KEYS

from ..conftest import MINIMAL

FAKE = MINIMAL   # every script speaks with the fake engine: no case synthesizes real speech
S = "{d}/s.yaml"


@dataclass
class Case:
    name: str
    files: dict[str, bytes | str]
    message: str                                   # stderr, `{d}` = the case folder
    args: list[str] = field(default_factory=lambda: ["build", S])


def edit(name: str, old: str, new: str, message: str, args: list[str] | None = None) -> Case:
    assert old in FAKE, old
    return Case(name, {"s.yaml": FAKE.replace(old, new, 1)}, message, args or ["build", S])


def settings(name: str, toml: str | bytes, message: str, extra: dict[str, bytes | str] | None = None,
             args: list[str] | None = None) -> Case:
    return Case(name, {"s.yaml": FAKE, "audioroutine.toml": toml, **(extra or {})}, message, args or ["build", S])


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, format="PNG")
    return out.getvalue()


def noise_png() -> bytes:
    """A PNG that does not compress: cutting it short really truncates the pixels."""
    out = io.BytesIO()
    Image.frombytes("RGB", (64, 64), random.Random(0).randbytes(64 * 64 * 3)).save(out, format="PNG")
    return out.getvalue()


def nested_yaml(depth: int) -> str:
    return FAKE.replace("title: Mini", "title: " + "[" * depth + "x" + "]" * depth)


LEVELS = "\nlevels:\n  {}: {{title: X}}\n"
DOSE_LEVELS = "      rest: 2s\n"
LONG = "a" * 1001
VALID_22050 = "8k, 16k, 24k, 32k, 40k, 48k, 56k, 64k, 80k, 96k, 112k, 128k, 144k, 160k"
VALID_44100 = "32k, 40k, 48k, 56k, 64k, 80k, 96k, 112k, 128k, 160k, 192k, 224k, 256k, 320k"
NAME_RULE = "use 1 to 64 ASCII letters, digits, '-' and '_', starting with a letter or digit"
ENGINES = "choose one of espeak, fake, gtts, piper"
EX = "exercise 'Press': exercises[0]"


def level_case(name: str, level: str, shown: str) -> Case:
    return edit(name, "voice:", LEVELS.format(level).lstrip() + "voice:",
                f"error: {S}:4: levels: {NAME_RULE}, got {shown}")


CASES: list[Case] = [
    # --- names that become paths ---------------------------------------------------------------
    level_case("level-parent", "'../x'", "'../x'"),
    level_case("level-empty", "''", "''"),
    level_case("level-dot", "'.'", "'.'"),
    level_case("level-slash", "x/y", "'x/y'"),
    level_case("level-absolute", "/tmp/evil", "'/tmp/evil'"),
    level_case("level-hidden", ".hidden", "'.hidden'"),
    level_case("level-nul", '"a\\0b"', "'a\\x00b'"),
    level_case("level-too-long", "L" * 65, repr("L" * 65)),
    level_case("level-space", "'two words'", "'two words'"),
    edit("level-100k", "voice:", "levels:\n  ? " + "L" * 100_000 + "\n  : {title: X}\nvoice:",
         f"error: {S}:5: levels: {NAME_RULE}, got {'L' * 70!r}…"),
    edit("level-list-parent", "voice:", "levels: [beginner, ../up]\nvoice:",
         f"error: {S}:3: levels[1]: {NAME_RULE}, got '../up'"),
    edit("id-parent", "id: mini", "id: ../evil", f"error: {S}:1: id: {NAME_RULE}, got '../evil'"),
    edit("id-empty", "id: mini", "id: ''", f"error: {S}:1: id: {NAME_RULE}, got ''"),
    edit("id-absolute", "id: mini", "id: /etc/x", f"error: {S}:1: id: {NAME_RULE}, got '/etc/x'"),
    edit("id-nul", "id: mini", 'id: "a\\0b"', f"error: {S}:1: id: {NAME_RULE}, got 'a\\x00b'"),
    edit("id-too-long", "id: mini", "id: " + "i" * 300, f"error: {S}:1: id: {NAME_RULE}, got '{'i' * 70}'…"),
    edit("id-non-ascii", "id: mini", "id: rutina-básica", f"error: {S}:1: id: {NAME_RULE}, got 'rutina-básica'"),
    edit("id-number", "id: mini", "id: 12", f"error: {S}:1: id: {NAME_RULE}, got 12"),
    # --- files that are not scripts ------------------------------------------------------------
    Case("binary", {"s.yaml": bytes(range(128, 256)) * 8}, f"error: {S}:1: not UTF-8 text: save it as UTF-8"),
    Case("utf16-bom", {"s.yaml": FAKE.encode("utf-16")}, f"error: {S}: the file is UTF-16: save it as UTF-8"),
    Case("utf16-no-bom", {"s.yaml": FAKE.encode("utf-16-le")}, f"error: {S}:1: not a text file (NUL byte)"),
    Case("nul-in-file", {"s.yaml": FAKE.replace("Press", "Pr\0ess")}, f"error: {S}:5: not a text file (NUL byte)"),
    Case("raw-bell", {"s.yaml": FAKE.replace("Hold.", "Hold\x07.")},
         f"error: {S}:6: control character U+0007 is not allowed"),
    Case("too-large", {"s.yaml": FAKE + "#" * 1_000_000},
         f"error: {S}: file is larger than the limit of 1,000,000 bytes"),
    Case("dev-zero", {}, "error: /dev/zero: file is larger than the limit of 1,000,000 bytes",
         ["build", "/dev/zero"]),
    Case("folder-without-scripts", {"sub/readme.txt": "x"}, "error: {d}/sub: no .yaml scripts in this folder",
         ["build", "{d}/sub"]),
    # --- YAML structure ------------------------------------------------------------------------
    Case("deep-flow", {"s.yaml": nested_yaml(50_000)}, f"error: {S}:2: nested more than 20 levels deep"),
    Case("deep-block", {"s.yaml": FAKE + "".join(f"{'  ' * i}k{i}:\n" for i in range(30)) + "  " * 30 + "x\n"},
         f"error: {S}:31: nested more than 20 levels deep"),
    edit("tag-python", "title: Mini", "title: !!python/object:os.system echo", f"error: {S}:2: unsupported YAML tag '!!python/object:os.system'"),
    edit("tag-custom", "title: Mini", "title: !foo Mini", f"error: {S}:2: unsupported YAML tag '!foo'"),
    edit("tag-binary", "title: Mini", "title: !!binary aGVsbG8=", f"error: {S}:2: unsupported YAML tag '!!binary'"),
    edit("tag-set", "    hold: Hold.", "    setup: !!set {a, b}", f"error: {S}:6: unsupported YAML tag '!!set'"),
    edit("alias-bomb", "    hold: Hold.", "    setup: &a [x, x]\n    movement: [" + ", ".join(["*a"] * 20_001) + "]",
         f"error: {S}:7: more than 20,000 values"),
    Case("too-many-exercises", {"s.yaml": FAKE.replace("exercises:\n", "exercises:\n" + "".join(
        f"  - {{name: E{i}, dosage: {{hold: 1s}}}}\n" for i in range(100)))},
        f"error: {S}:5: exercises: at most 100 exercises, got 101"),
    edit("key-100k", "title: Mini", "title: Mini\n? " + "k" * 100_000 + "\n: 1",
         f"error: {S}:3: {'k' * 40}…: unknown key '{'k' * 40}…' (allowed: " + ", ".join(ROUTINE_KEYS) + ")"),
    edit("too-many-levels", "voice:", "levels: [" + ", ".join(f"l{i}" for i in range(11)) + "]\nvoice:",
         f"error: {S}:3: levels: at most 10 levels, got 11"),
    # --- numbers and durations -----------------------------------------------------------------
    edit("hold-infinite", "hold: 3s", "hold: .inf", f"error: {S}:9: {EX}.dosage.hold: expected a duration like 5s or 1m30s, got inf"),
    edit("hold-float-overflow", "hold: 3s", "hold: 1.0e+400", f"error: {S}:9: {EX}.dosage.hold: expected a duration like 5s or 1m30s, got inf"),
    edit("hold-5000-digits", "hold: 3s", "hold: " + "9" * 5000, f"error: {S}:9: {EX}.dosage.hold: value is longer than 1000 characters (5000)"),
    edit("hold-huge-seconds", "hold: 3s", "hold: 1000000000", f"error: {S}:9: {EX}.dosage.hold: must be at most 10 minutes, got 1000000000"),
    edit("hold-11-minutes", "hold: 3s", "hold: 11m", f"error: {S}:9: {EX}.dosage.hold: must be at most 10 minutes, got '11m'"),
    edit("hold-overflow-text", "hold: 3s", "hold: " + "9" * 400 + "s",
         f"error: {S}:9: {EX}.dosage.hold: expected a duration like 5s or 1m30s, got '{'9' * 400}s'"),
    edit("rest-hours", "rest: 2s", "rest: 120m", f"error: {S}:10: {EX}.dosage.rest: must be at most 10 minutes, got '120m'"),
    edit("get-ready-huge", "voice:", "get_ready: 100000000\nvoice:", f"error: {S}:3: get_ready: must be at most 10 minutes, got 100000000"),
    edit("breath-huge", "hold: 3s", "breath: {in: 4s, out: 1e9}",
         f"error: {S}:9: {EX}.dosage.breath.out: expected a duration like 5s, 1m30s or 500ms, got '1e9'"),
    edit("reps-ten-million", "reps: 2", "reps: 10000000", f"error: {S}:8: {EX}.dosage.reps: must be at most 100, got 10000000"),
    edit("reps-5000-digits", "reps: 2", "reps: " + "7" * 5000, f"error: {S}:8: {EX}.dosage.reps: value is longer than 1000 characters (5000)"),
    edit("sets-too-many", "reps: 2", "reps: 2\n      sets: 101", f"error: {S}:9: {EX}.dosage.sets: must be at most 100, got 101"),
    edit("session-ten-hours", "hold: 3s", "hold: 10m\n      sets: 30",
         f"error: {S}:5: exercise 'Press': level 'beginner' lasts at least 10:14:30 by here: the limit is 3:00:00"),
    Case("session-reps", {"s.yaml": FAKE + "  - {name: Other, dosage: {reps: 100, sets: 20, rep_time: 1s}}\n"
                          "  - {name: Third, dosage: {reps: 100, sets: 20, rep_time: 1s}}\n"}, f"error: {S}:11: exercise 'Other': level 'beginner' has 2002 reps by here: the limit is 2000"),
    Case("session-long-speech", {"s.yaml": FAKE.replace("    hold: Hold.", "    setup: [" + ", ".join(
        ["*t"] * 230) + "]").replace("title: Mini", "title: Mini\ndescription: &t " + "Word " * 199 + "end")}, f"error: {S}: level 'beginner' lasts 4:16:53 with estimated speech: the limit is 3:00:00"),
    edit("session-900kb-of-safety-notes", "voice:", "safety:\n" + "".join(
        f"  - Line number {i} of the safety notes, quite long really.\n" for i in range(15000)) + "voice:",
        f"error: {S}: level 'beginner' lasts 29:03:11 with estimated speech: the limit is 3:00:00"),
    # --- text ----------------------------------------------------------------------------------
    edit("cue-100kb", "    hold: Hold.", "    hold: " + "b" * 100_000, f"error: {S}:6: {EX}.hold: value is longer than 1000 characters (100000)"),
    edit("cue-1001-chars", "    hold: Hold.", "    hold: " + LONG, f"error: {S}:6: {EX}.hold: value is longer than 1000 characters (1001)"),
    edit("bell-escape", "title: Mini", 'title: "Mini\\x07"', f"error: {S}:2: title: control character U+0007 is not allowed in text"),
    edit("ansi-escape", "    hold: Hold.", '    hold: "\\x1b[31mHold"', f"error: {S}:6: {EX}.hold: control character U+001B is not allowed in text"),
    edit("nul-escape", "    hold: Hold.", '    hold: "Ho\\0ld"', f"error: {S}:6: {EX}.hold: control character U+0000 is not allowed in text"),
    edit("surrogate-escape", "    hold: Hold.", '    hold: "Hold \\ud800"', f"error: {S}:6: {EX}.hold: control character U+D800 is not allowed in text"),
    edit("del-escape", "title: Mini", 'title: "Mini\\x7f"', f"error: {S}:2: title: control character U+007F is not allowed in text"),
    edit("c1-escape", "title: Mini", 'title: "Mini\\x9b31m"', f"error: {S}:2: title: control character U+009B is not allowed in text"),
    edit("dots-only", "    hold: Hold.", "    hold: '...'", f"error: {S}:6: {EX}.hold: text must contain a letter or digit to be spoken, got '...'"),
    edit("zero-width-only", "    hold: Hold.", '    hold: "\\u200b\\u200b"', f"error: {S}:6: {EX}.hold: text must contain a letter or digit to be spoken, got '\\u200b\\u200b'"),
    edit("punctuation-only", "    hold: Hold.", "    hold: '!?!'", f"error: {S}:6: {EX}.hold: text must contain a letter or digit to be spoken, got '!?!'"),
    edit("phrase-silent", "voice:", "phrases: {rest: '---'}\nvoice:", f"error: {S}:3: phrases.rest: text must contain a letter or digit to be spoken, got '---'"),
    edit("safety-control", "voice:", 'safety: ["Stop if it hurts.", "\\x1b]0;pwned\\x07"]\nvoice:', f"error: {S}:3: safety[1]: control character U+001B is not allowed in text"),
    edit("level-title-control", "voice:", 'levels: {beginner: {title: "Be\\x08gin"}}\nvoice:', f"error: {S}:3: levels.beginner.title: control character U+0008 is not allowed in text"),
    edit("engine-unknown", "voice: {engine: fake}", "voice: {engine: nope}", f"error: {S}:3: voice.engine: unknown engine 'nope': {ENGINES}"),
    edit("engine-path", "voice: {engine: fake}", "voice: {engine: ../fake}", f"error: {S}:3: voice.engine: unknown engine '../fake': {ENGINES}"),
    # --- settings files ------------------------------------------------------------------------
    settings("settings-engine", 'clinic = "A"\nengine = "nope"\n', f"error: {{d}}/audioroutine.toml:2: engine: unknown engine 'nope': {ENGINES}"),
    settings("settings-bitrate-abc", 'bitrate = "abc"\n', "error: {d}/audioroutine.toml:1: bitrate: expected a bitrate like 64k, got 'abc'"),
    settings("settings-bitrate-64", 'bitrate = "64"\n', "error: {d}/audioroutine.toml:1: bitrate: expected a bitrate like 64k, got '64'"),
    settings("settings-bitrate-320k", 'clinic = "A"\nbitrate = "320k"\n', f"error: {{d}}/audioroutine.toml:2: bitrate: bitrate '320k' is not available for mono MP3 at 22050 Hz: use one of {VALID_22050}"),
    settings("settings-bell", 'clinic = "A\\u0007"\n', "error: {d}/audioroutine.toml:1: clinic: control character U+0007 is not allowed in text"),
    settings("settings-dots", 'contact = "..."\n', "error: {d}/audioroutine.toml:1: contact: text must contain a letter or digit to be spoken, got '...'"),
    settings("settings-deep", "a = " + "[" * 5000 + "]" * 5000 + "\n", "error: {d}/audioroutine.toml: TOML nested too deeply (write flat lines like engine = \"piper\")"),
    settings("settings-binary", bytes(range(128, 256)), "error: {d}/audioroutine.toml:1: not UTF-8 text: save it as UTF-8"),
    settings("settings-utf16", 'clinic = "A"\n'.encode("utf-16"), "error: {d}/audioroutine.toml: the file is UTF-16: save it as UTF-8"),
    settings("settings-too-large", "#" * 1_000_001, "error: {d}/audioroutine.toml: settings file is larger than the limit of 1,000,000 bytes"),
    Case("settings-dev-zero", {"s.yaml": FAKE}, "error: /dev/zero: settings file is larger than the limit of 1,000,000 bytes", ["build", S, "--settings", "/dev/zero"]),
    settings("cover-corrupt", 'cover = "c.png"\n', "error: {d}/audioroutine.toml:1: cover: cover image is corrupt or truncated: {d}/c.png", {"c.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 200}),
    settings("cover-truncated", 'cover = "c.png"\n', "error: {d}/audioroutine.toml:1: cover: cover image is corrupt or truncated: {d}/c.png", {"c.png": noise_png()[:2000]}),
    settings("cover-pixels", 'cover = "c.png"\n', "error: {d}/audioroutine.toml:1: cover: cover image has more than 16,777,216 pixels (4097x4097): {d}/c.png", {"c.png": png(4097, 4097, "1")}),
    settings("cover-bytes", 'cover = "c.jpg"\n', "error: {d}/audioroutine.toml:1: cover: cover image is larger than 10,000,000 bytes: {d}/c.jpg", {"c.jpg": b"\xff\xd8\xff" + b"\x00" * 10_000_000}),
    settings("cover-gif", 'cover = "c.gif"\n', "error: {d}/audioroutine.toml:1: cover: cover image is not a PNG or JPEG: {d}/c.gif", {"c.gif": b"GIF89a" + b"\x00" * 20}),
    settings("cover-nul", 'cover = "c\\u0000.png"\n', "error: {d}/audioroutine.toml:1: cover: control character U+0000 is not allowed in text"),
    settings("cover-folder", 'cover = "sub"\n', "error: {d}/audioroutine.toml:1: cover: cover image not found: {d}/sub (give a PNG or JPEG path relative to this file)", {"sub/x.png": png(1, 1)}),
    # --- command line --------------------------------------------------------------------------
    Case("bitrate-abc", {"s.yaml": FAKE}, f"error: --bitrate: bitrate 'abc' is not available for mono MP3 at 22050 Hz: use one of {VALID_22050}", ["build", S, "--bitrate", "abc"]),
    Case("bitrate-64", {"s.yaml": FAKE}, f"error: --bitrate: bitrate '64' is not available for mono MP3 at 22050 Hz: use one of {VALID_22050}", ["build", S, "--bitrate", "64"]),
    Case("bitrate-320k-at-22050", {"s.yaml": FAKE}, f"error: --bitrate: bitrate '320k' is not available for mono MP3 at 22050 Hz: use one of {VALID_22050}", ["build", S, "--bitrate", "320k"]),
    Case("bitrate-8k-at-44100", {"s.yaml": FAKE}, f"error: --bitrate: bitrate '8k' is not available for mono MP3 at 44100 Hz: use one of {VALID_44100}", ["build", S, "--bitrate", "8k", "--sample-rate", "44100"]),
    # --- several scripts: all or nothing -------------------------------------------------------
    Case("same-id", {"s.yaml": FAKE, "t.yaml": FAKE}, f"error: {{d}}/t.yaml: id: routine id 'mini' is also the id of {S}", ["build", S, "{d}/t.yaml"]),
    Case("same-file-name", {"s.yaml": FAKE.replace("id: mini", "id: a-b").replace("voice:", "levels: [c]\nvoice:"),
                            "t.yaml": FAKE.replace("id: mini", "id: a").replace("voice:", "levels: [b-c]\nvoice:")},
         f"error: {{d}}/t.yaml: id: a-b-c.mp3 would also be written by {S}", ["build", S, "{d}/t.yaml"]),
    Case("second-script-bad", {"s.yaml": FAKE, "t.yaml": FAKE.replace("id: mini", "id: other").replace("reps: 2", "reps: 0")},
         f"error: {{d}}/t.yaml:8: {EX}.dosage.reps: must be at least 1, got 0", ["build", S, "{d}/t.yaml"]),
    Case("every-file-reported", {"s.yaml": FAKE.replace("title: Mini", "title: '...'"), "t.yaml": FAKE.replace("id: mini", "id: ok"),
                                 "u.yaml": FAKE.replace("id: mini", "id: ../u")}, f"error: {S}:2: title: text must contain a letter or digit to be spoken, got '...'\nerror: {{d}}/u.yaml:1: id: {NAME_RULE}, got '../u'", ["build", S, "{d}/t.yaml", "{d}/u.yaml"]),
    Case("second-script-overruns", {"s.yaml": FAKE, "t.yaml": FAKE.replace("id: mini", "id: other").replace(
        "hold: 3s", "hold: 500ms") + "sounds: {hold_start: gong}\n"}, "error: {d}/t.yaml:7: exercise 'Press': dosage (beginner): the cue '[gong]' runs 200 ms past the end of its 0.5 s hold: shorten the cue or lengthen the hold", ["build", S, "{d}/t.yaml"]),
]
