"""Hostile and mistaken input files for the one reader (core/reader.py), one row each: the
files a case writes (`{d}` is the case's folder; a `FIFO` value makes a named pipe, a
`("symlink", target)` a symlink), the command it runs from `{d}/work`, and the exact stderr.
Every foreign file (one that is not what a path claims) holds SECRET, which must never be
echoed."""

from __future__ import annotations

from dataclasses import dataclass

from ..conftest import MINIMAL

SECRET = "s3cr3t-hash-0xDEADBEEF"
SHADOW = f"root: {SECRET}\nbin: '*'\n"
FIFO = object()
LIBRARY = "library: Back\nexercises:\n  - {name: Cobra, id: cobra, hold: Lift., dosage: {reps: 2, hold: 3s}}\n"
USES = MINIMAL.replace("exercises:\n", "libraries: [{lib}]\nexercises:\n  - use: cobra\n")
PROGRAMME = "script: s.yaml\nweeks: 4\n"
ROUTINE = MINIMAL + "  - {name: Cobra, id: cobra, hold: Lift., dosage: {reps: 2, hold: 3s}}\n"
CSV = "ref,script,cobra.reps\nP-1,s.yaml,3\n"
W = "{d}/work"


@dataclass
class Case:
    name: str
    files: dict[str, object]
    args: list[str]
    message: str = ""                   # exact stderr; `{d}` = the case folder
    exit_code: int = 2
    surface: str = ""


def lib(name: str, entry: str, files: dict[str, object], message: str) -> Case:
    return Case(name, {"work/s.yaml": USES.replace("{lib}", entry), **files}, ["validate", f"{W}/s.yaml"], message,
                surface="library")


def prog(name: str, text: str, message: str, files: dict[str, object] | None = None) -> Case:
    return Case(name, {"work/p.yaml": text, "work/s.yaml": ROUTINE, **(files or {})},
                ["programme", f"{W}/p.yaml", "--plan"], message, surface="programme")


def rx(name: str, text: str, message: str, files: dict[str, object] | None = None, suffix: str = "csv") -> Case:
    return Case(name, {f"work/r.{suffix}": text, "work/s.yaml": ROUTINE, "work/p.yaml": PROGRAMME, **(files or {})},
                ["prescribe", f"{W}/r.{suffix}", "--check"], message, surface=f"prescription-{suffix}")


def settings(name: str, toml: str, message: str, files: dict[str, object] | None = None) -> Case:
    return Case(name, {"work/s.yaml": MINIMAL, "work/audioroutine.toml": toml, **(files or {})},
                ["validate", f"{W}/s.yaml"], message, surface="settings")


def folder(name: str, files: dict[str, object], message: str, args: list[str] | None = None) -> Case:
    return Case(name, {"work/lib/ok.yaml": MINIMAL.replace("id: mini", "id: ok"), **files},
                args or ["validate", f"{W}/lib"], message, surface="folder")


DEEP = "[" * 5000 + "x" + "]" * 5000

CASES: list[Case] = [
    # --- exercise libraries ----------------------------------------------------------------------
    lib("library-climbs-out", "../secret/shadow", {"secret/shadow": SHADOW}, "error: {d}/work/s.yaml:4: libraries[0]: library '../secret/shadow' is outside the folders an input file may name: its own folder, the current folder and $AUDIOROUTINE_ROOTS"),
    lib("library-climbs-far", "../../../../../../../../etc/passwd", {}, "error: {d}/work/s.yaml:4: libraries[0]: library '../../../../../../../../etc/passwd' is outside the folders an input file may name: its own folder, the current folder and $AUDIOROUTINE_ROOTS"),
    lib("library-absolute", "/etc/passwd", {}, "error: {d}/work/s.yaml:4: libraries[0]: library path '/etc/passwd' is absolute (give it relative to the script's folder)"),
    lib("library-shadow-inside", "shadow", {"work/shadow": SHADOW}, "error: {d}/work/shadow: not an exercise library: no top-level 'library:' (named by {d}/work/s.yaml:4)"),
    lib("library-shadow-list", "shadow", {"work/shadow": f"- {SECRET}\n"}, "error: {d}/work/shadow: not an exercise library: no top-level 'library:' (named by {d}/work/s.yaml:4)"),
    lib("library-symlink-out", "link.yaml", {"secret/lib.yaml": LIBRARY, "work/link.yaml": ("symlink", "../secret/lib.yaml")}, "error: {d}/work/s.yaml:4: libraries[0]: library 'link.yaml' is outside the folders an input file may name: its own folder, the current folder and $AUDIOROUTINE_ROOTS"),
    lib("library-fifo", "pipe.yaml", {"work/pipe.yaml": FIFO}, "error: {d}/work/s.yaml:4: libraries[0]: library 'pipe.yaml' is a device, pipe or socket, not a file"),
    lib("library-folder", "sub", {"work/sub/x.yaml": LIBRARY}, "error: {d}/work/s.yaml:4: libraries[0]: library 'sub' is a folder, not a file"),
    lib("library-missing", "nope.yaml", {}, "error: {d}/work/s.yaml:4: libraries[0]: library 'nope.yaml' not found ({d}/work/nope.yaml)"),
    lib("library-deep", "deep.yaml", {"work/deep.yaml": "library: " + DEEP + "\n"}, 'error: {d}/work/deep.yaml:1: nested more than 20 levels deep (named by {d}/work/s.yaml:4)'),
    lib("library-binary", "bin.yaml", {"work/bin.yaml": bytes(range(128, 256))}, 'error: {d}/work/bin.yaml:1: not UTF-8 text: save it as UTF-8 (named by {d}/work/s.yaml:4)'),
    lib("library-title-esc", "l.yaml", {"work/l.yaml": LIBRARY.replace("library: Back", 'library: "Ba\\x1bck"')}, 'error: {d}/work/l.yaml:1: library: control character U+001B is not allowed in text (named by {d}/work/s.yaml:4)'),
    lib("library-two-bad-exercises", "l.yaml", {"work/l.yaml": "library: Back\nexercises:\n  - {name: A, holdd: x}\n  - {name: B, dosge: {}}\n"}, "error: {d}/work/l.yaml:3: exercises[0].holdd: unknown key 'holdd' (did you mean 'hold'?; named by {d}/work/s.yaml:4)\nerror: {d}/work/l.yaml:4: exercises[1].dosge: unknown key 'dosge' (did you mean 'dosage'?; named by {d}/work/s.yaml:4)"),
    # --- programmes ------------------------------------------------------------------------------
    prog("programme-deep", PROGRAMME + "title: " + DEEP + "\n", 'error: {d}/work/p.yaml:3: nested more than 20 levels deep'),
    prog("programme-title-100k", PROGRAMME + "title: " + "x" * 100_000 + "\n", 'error: {d}/work/p.yaml:3: title: value is longer than 1000 characters (100000)'),
    prog("programme-title-esc", PROGRAMME + 'title: "Back\\x1b[31m"\n', 'error: {d}/work/p.yaml:3: title: control character U+001B is not allowed in text'),
    prog("programme-title-bell-raw", PROGRAMME + "title: Back\x07\n", 'error: {d}/work/p.yaml:3: control character U+0007 is not allowed'),
    prog("programme-title-fffe", PROGRAMME + 'title: "Back \\uFFFE"\n', 'error: {d}/work/p.yaml:3: title: control character U+FFFE is not allowed in text'),
    prog("programme-unknown-key", PROGRAMME + "plateu: [2]\n", "error: {d}/work/p.yaml:3: plateu: unknown key 'plateu' (did you mean 'plateau'?)"),
    prog("programme-weeks-superscript", "script: s.yaml\nweeks: ²\n", "error: {d}/work/p.yaml:2: weeks: expected a whole number from 2 to 52, got '²'"),
    prog("programme-weeks-digits", "script: s.yaml\nweeks: " + "9" * 5000 + "\n", 'error: {d}/work/p.yaml:2: weeks: value is longer than 1000 characters (5000)'),
    prog("programme-weeks-huge", "script: s.yaml\nweeks: 100000000000000000000\n", 'error: {d}/work/p.yaml:2: weeks: expected a whole number from 2 to 52, got 100000000000000000000'),
    prog("programme-script-out", "script: ../secret/shadow\nweeks: 4\n", "error: {d}/work/p.yaml:1: script: script '../secret/shadow' is outside the folders an input file may name: its own folder, the current folder and $AUDIOROUTINE_ROOTS", {"secret/shadow": SHADOW}),
    prog("programme-script-shadow", "script: shadow\nweeks: 4\n", 'error: {d}/work/shadow: not a routine script: none of the keys id, title, description... (named by {d}/work/p.yaml:1)', {"work/shadow": SHADOW}),
    prog("programme-script-fifo", "script: pipe.yaml\nweeks: 4\n", "error: {d}/work/p.yaml:1: script: script 'pipe.yaml' is a device, pipe or socket, not a file", {"work/pipe.yaml": FIFO}),
    prog("programme-script-dev", "script: /dev/zero\nweeks: 4\n", "error: {d}/work/p.yaml:1: script: script '/dev/zero' is outside the folders an input file may name: its own folder, the current folder and $AUDIOROUTINE_ROOTS"),
    prog("programme-tag", PROGRAMME + "title: !!python/object:os.system x\n", "error: {d}/work/p.yaml:3: unsupported YAML tag '!!python/object:os.system'"),
    prog("programme-list", f"- {SECRET}\n", 'error: {d}/work/p.yaml: not a programme: none of the keys id, script, title...'),
    prog("programme-three-errors", "script: s.yaml\nweeks: 1\nunit: fortnight\nplateau: [x]\n", "error: {d}/work/p.yaml:2: weeks: expected a whole number from 2 to 52, got 1\nerror: {d}/work/p.yaml:3: unit: expected one of week, stage, got 'fortnight'\nerror: {d}/work/p.yaml:4: plateau: a plateau is a week from 2 to 52, got 'x'"),
    prog("programme-switch-key-esc", PROGRAMME + 'switch: {"co\\x1bbra": 2}\n', 'error: {d}/work/p.yaml:3: switch: control character U+001B is not allowed in text'),
    # --- prescriptions (CSV) ---------------------------------------------------------------------
    rx("csv-reps-superscript", "ref,script,cobra.reps\nP-1,s.yaml,²\n", "error: {d}/work/r.csv:2:3: patient 'P-1': cobra.reps: expected a whole number from 1 to 100, got '²'"),
    rx("csv-sets-digits", "ref,script,cobra.sets\nP-1,s.yaml," + "9" * 5000 + "\n", "error: {d}/work/r.csv:2:3: patient 'P-1': cobra.sets: text is longer than 1000 characters (5000)"),
    rx("csv-week-superscript", "ref,programme,week\nP-1,p.yaml,²\n", "error: {d}/work/r.csv:2:3: patient 'P-1': week: expected a week from 1 to 4, got '²'"),
    rx("csv-week-huge", "ref,programme,week\nP-1,p.yaml,99999999999999999999999\n", "error: {d}/work/r.csv:2:3: patient 'P-1': week: expected a week from 1 to 4, got '99999999999999999999999'"),
    rx("csv-unknown-column", "ref,scrpt\nP-1,s.yaml\n", "error: {d}/work/r.csv:1:2: scrpt: unknown column 'scrpt' (did you mean 'script'?; per exercise: <exercise id>.<reps|sets|hold|rest|set_rest>)"),
    rx("csv-script-out", "ref,script\nP-1,../secret/shadow\n", "error: {d}/work/r.csv:2:2: patient 'P-1': script: script '../secret/shadow' is outside the folders an input file may name: its own folder, the current folder and $AUDIOROUTINE_ROOTS", {"secret/shadow": SHADOW}),
    rx("csv-script-shadow", "ref,script\nP-1,shadow\n", 'error: {d}/work/shadow: not a routine script: none of the keys id, title, description... (named by {d}/work/r.csv:2)', {"work/shadow": SHADOW}),
    rx("csv-script-fifo", "ref,script\nP-1,pipe.yaml\n", "error: {d}/work/r.csv:2:2: patient 'P-1': script: script 'pipe.yaml' is a device, pipe or socket, not a file", {"work/pipe.yaml": FIFO}),
    rx("csv-programme-dev", "ref,programme\nP-1,/dev/zero\n", "error: {d}/work/r.csv:2:2: patient 'P-1': programme: programme '/dev/zero' is outside the folders an input file may name: its own folder, the current folder and $AUDIOROUTINE_ROOTS"),
    rx("csv-voice-esc", "ref,script,voice\nP-1,s.yaml,\"v\x1b[2J\"\n", "error: {d}/work/r.csv:2:3: patient 'P-1': voice: control character U+001B is not allowed in text"),
    rx("csv-huge-cell", "ref,script,voice\nP-1,s.yaml," + "v" * 200_000 + "\n", 'error: {d}/work/r.csv:2: CSV error: field larger than field limit'),
    rx("csv-two-bad-rows", "ref,script,cobra.reps\nP-1,s.yaml,0\nP-2,s.yaml,²\n", "error: {d}/work/r.csv:2:3: patient 'P-1': cobra.reps: expected a whole number from 1 to 100, got '0'\nerror: {d}/work/r.csv:3:3: patient 'P-2': cobra.reps: expected a whole number from 1 to 100, got '²'"),
    rx("csv-nul", "ref,script\nP-1,s.yaml\0\n", 'error: {d}/work/r.csv:2: not a text file (NUL byte)'),
    # --- prescriptions (YAML) --------------------------------------------------------------------
    rx("yaml-rx-deep", "patients: " + DEEP + "\n", 'error: {d}/work/r.yaml:1: nested more than 20 levels deep', suffix="yaml"),
    rx("yaml-rx-unknown-key", "patients:\n  - {ref: P-1, script: s.yaml, levle: beginner}\n", "error: {d}/work/r.yaml:2: patients[0].levle: unknown key 'levle' (did you mean 'level'?)", suffix="yaml"),
    rx("yaml-rx-shadow", SHADOW, "error: {d}/work/r.yaml: not a prescription file: no top-level 'patients:'", suffix="yaml"),
    rx("yaml-rx-programme-out", "patients:\n  - {ref: P-1, programme: ../../p.yaml}\n", "error: {d}/work/r.yaml:2: patient 'P-1': programme: programme '../../p.yaml' is outside the folders an input file may name: its own folder, the current folder and $AUDIOROUTINE_ROOTS", suffix="yaml"),
    rx("yaml-rx-tag", "patients:\n  - !!python/object:os.system {ref: P-1}\n", "error: {d}/work/r.yaml:2: unsupported YAML tag '!!python/object:os.system'", suffix="yaml"),
    rx("yaml-rx-alias-bomb", "patients:\n  - &a [x, x]\n  - [" + ", ".join(["*a"] * 20_001) + "]\n", 'error: {d}/work/r.yaml:3: more than 20,000 values', suffix="yaml"),
    rx("yaml-rx-dosage-superscript", "patients:\n  - {ref: P-1, script: s.yaml, dosage: {cobra: {reps: ²}}}\n", "error: {d}/work/r.yaml:2: patient 'P-1': cobra.reps: expected a whole number from 1 to 100, got '²'", suffix="yaml"),
    rx("yaml-rx-two-bad-patients", "patients:\n  - {ref: P-1, script: s.yaml, week: 2}\n  - {ref: P-2, scrip: s.yaml}\n", "error: {d}/work/r.yaml:2: patient 'P-1': week: a week needs a programme (the 'programme' column)\nerror: {d}/work/r.yaml:3: patients[1].scrip: unknown key 'scrip' (did you mean 'script'?)", suffix="yaml"),
    # --- settings --------------------------------------------------------------------------------
    settings("settings-huge-int", "a = " + "9" * 5000 + "\n", 'error: {d}/work/audioroutine.toml: TOML value cannot be read (a number too large?) (write flat lines like engine = "piper")'),
    settings("settings-two-bad-keys", 'clinc = "A"\nartst = "B"\n', "error: {d}/work/audioroutine.toml:1: clinc: unknown key 'clinc' (did you mean 'clinic'?)\nerror: {d}/work/audioroutine.toml:2: artst: unknown key 'artst' (did you mean 'artist'?)"),
    settings("settings-cover-out", 'cover = "../secret/c.png"\n', "error: {d}/work/audioroutine.toml:1: cover: cover image '../secret/c.png' is outside the folders an input file may name: its own folder, the current folder and $AUDIOROUTINE_ROOTS (give a PNG or JPEG path relative to this file)", {"secret/c.png": SHADOW}),
    settings("settings-cover-fifo", 'cover = "c.png"\n', "error: {d}/work/audioroutine.toml:1: cover: cover image 'c.png' is a device, pipe or socket, not a file (give a PNG or JPEG path relative to this file)", {"work/c.png": FIFO}),
    settings("settings-cover-symlink-out", 'cover = "c.png"\n', "error: {d}/work/audioroutine.toml:1: cover: cover image 'c.png' is outside the folders an input file may name: its own folder, the current folder and $AUDIOROUTINE_ROOTS (give a PNG or JPEG path relative to this file)", {"secret/c.png": SHADOW, "work/c.png": ("symlink", "../secret/c.png")}),
    Case("settings-named-is-foreign", {"work/s.yaml": MINIMAL, "secret/s.toml": f'root = "{SECRET}"\nbin = "x"\n'},
         ["validate", f"{W}/s.yaml", "--settings", "{d}/secret/s.toml"],
         "error: {d}/secret/s.toml: not a settings file: none of the keys clinic, contact, intro...", surface="settings"),
    Case("script-named-is-foreign", {"work/s.yaml": SHADOW}, ["validate", f"{W}/s.yaml"],
         "error: {d}/work/s.yaml: not a routine script: none of the keys id, title, description...", surface="folder"),
    settings("settings-fffe", 'clinic = "A\\uFFFE"\n', 'error: {d}/work/audioroutine.toml:1: clinic: control character U+FFFE is not allowed in text'),
    # --- folders and globs -----------------------------------------------------------------------
    folder("folder-misspelled-exercises", {"work/lib/bad.yaml": MINIMAL.replace("exercises:", "exercices:")}, "error: {d}/work/lib/bad.yaml:1: exercises: missing required key\nerror: {d}/work/lib/bad.yaml:4: exercices: unknown key 'exercices' (did you mean 'exercises'?)"),
    folder("folder-syntax-error", {"work/lib/bad.yaml": "id: x\n  title: [\n"}, 'error: {d}/work/lib/bad.yaml:2: YAML syntax error: mapping values are not allowed here (check indentation and quoting)'),
    folder("folder-list-yaml", {"work/lib/list.yaml": "- a\n- b\n"}, 'error: {d}/work/lib/list.yaml: not a routine script: none of the keys id, title, description...'),
    folder("folder-fifo", {"work/lib/pipe.yaml": FIFO}, "error: {d}/work/lib/pipe.yaml: file is a pipe, not a file"),
    folder("folder-binary-yaml", {"work/lib/bin.yaml": bytes(range(128, 256))}, 'error: {d}/work/lib/bin.yaml:1: not UTF-8 text: save it as UTF-8'),
    folder("glob-misspelled", {"work/lib/bad.yaml": MINIMAL.replace("exercises:", "exercices:")}, "error: {d}/work/lib/bad.yaml:1: exercises: missing required key\nerror: {d}/work/lib/bad.yaml:4: exercices: unknown key 'exercices' (did you mean 'exercises'?)", ["validate", W + "/lib/*.yaml"]),
    folder("folder-build-bad", {"work/lib/bad.yaml": "id: x\n"}, 'error: {d}/work/lib/bad.yaml:1: title: missing required key\nerror: {d}/work/lib/bad.yaml:1: exercises: missing required key', ["build", f"{W}/lib", "--out", "{d}/out"]),
    # --- every error of every file ---------------------------------------------------------------
    Case("build-two-files-two-errors-each", {
        "work/a.yaml": MINIMAL.replace("title: Mini", "title: '...'").replace("reps: 2", "reps: 0"),
        "work/b.yaml": MINIMAL.replace("id: mini", "id: b").replace("voice:", "titel: x\nvoice:").replace("hold: 3s", "hold: soon")},
        ["build", f"{W}/a.yaml", f"{W}/b.yaml", "--out", "{d}/out"], "error: {d}/work/a.yaml:2: title: text must contain a letter or digit to be spoken, got '...'\nerror: {d}/work/a.yaml:8: exercise 'Press': exercises[0].dosage.reps: must be at least 1, got 0\nerror: {d}/work/b.yaml:3: titel: unknown key 'titel' (did you mean 'title'?)\nerror: {d}/work/b.yaml:10: exercise 'Press': exercises[0].dosage.hold: expected a duration like 5s, 1m30s or 500ms, got 'soon'", surface="every-error"),
    Case("validate-unknown-keys-in-three-exercises", {"work/s.yaml": MINIMAL + (
        "  - {name: B, hodl: x, dosage: {reps: 1, hold: 1s}}\n  - {name: C, dosage: {reps: 1, hold: 1s, rets: 1s}}\n"
        "  - {name: D, cue: x, dosage: {reps: 1, hold: 1s}}\n")}, ["validate", f"{W}/s.yaml"], "error: {d}/work/s.yaml:11: exercise 'B': exercises[1].hodl: unknown key 'hodl' (did you mean 'hold'?)\nerror: {d}/work/s.yaml:12: exercise 'C': exercises[2].dosage.rets: unknown key 'rets' (did you mean 'sets'?)\nerror: {d}/work/s.yaml:13: exercise 'D': exercises[3].cue: unknown key 'cue' (allowed: id, name, setup, movement, hold, release, rep, inhale, exhale, caution, variants, dosage, encourage)", surface="every-error"),
]
