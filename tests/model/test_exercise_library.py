"""Exercise libraries: exercises written once, used by several routines by id with their own
dosage; errors name the routine and the library file; an edit rebuilds exactly its users."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from audioroutine import BuildOptions, build, load_script
from audioroutine.compile.compiler import compile_level
from audioroutine.core.errors import ScriptError
from audioroutine.engines.fake import FakeEngine
from audioroutine.model.inputs import expand

LIBRARY = """\
library: Back care
exercises:
  - name: Cobra
    id: cobra
    hold: Lift your chest.
    dosage:
      reps: 5
      hold: 3s
      beginner: {reps: 3}
  - name: Bird dog
    hold: Reach long.
    release: Back to all fours.
    dosage: {reps: 4, hold: 2s}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def routine_text(routine_id: str, *uses: str) -> str:
    body = "".join(f"  - use: {use}\n" for use in uses)
    return (f"id: {routine_id}\ntitle: {routine_id.title()}\nvoice: {{engine: fake}}\n"
            f"libraries: [library/back.yaml]\nexercises:\n{body}")


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    root = tmp_path / "clinic"
    write(root / "library" / "back.yaml", LIBRARY)
    return root


def test_a_used_exercise_takes_the_routines_dosage_over_the_librarys(clinic):
    script = write(clinic / "a.yaml", """\
        id: a
        title: A
        voice: {engine: fake}
        libraries: [library/back.yaml]
        exercises:
          - use: cobra
            caution: Stop if it pinches.
            dosage:
              reps: 2
              progressed: {hold: 4s}
          - use: bird-dog
        """)
    routine = load_script(script)
    cobra, bird = routine.exercises
    assert (cobra.id, cobra.cues.name, cobra.cues.hold, cobra.cues.caution) == (
        "cobra", "Cobra", "Lift your chest.", "Stop if it pinches.")
    # routine keys win; the library's beginner block still applies where the routine gives none
    assert (cobra.dosage["beginner"].reps, cobra.dosage["beginner"].hold_ms) == (3, 3000)
    assert (cobra.dosage["progressed"].reps, cobra.dosage["progressed"].hold_ms) == (2, 4000)
    assert (bird.dosage["beginner"].reps, bird.cues.release) == (4, "Back to all fours.")
    spoken = compile_level(routine, "progressed").texts()
    assert "Rep 1 of 2. Lift your chest." in spoken
    assert "Stop if it pinches." in spoken
    assert "Back to all fours." in spoken
    assert cobra.line == 6


def test_an_override_level_block_merges_key_by_key(clinic):
    script = write(clinic / "a.yaml", routine_text("a", "cobra").replace(
        "  - use: cobra\n", "  - use: cobra\n    dosage: {beginner: {hold: 2s}}\n"))
    cobra = load_script(script).exercises[0]
    assert (cobra.dosage["beginner"].reps, cobra.dosage["beginner"].hold_ms) == (3, 2000)


def test_an_unknown_id_names_the_routines_line_with_did_you_mean(clinic):
    script = write(clinic / "a.yaml", routine_text("a", "cobra", "bird-dgo"))
    with pytest.raises(ScriptError) as err:
        load_script(script)
    assert str(err.value) == (f"{script}:7: exercises[1].use: no exercise 'bird-dgo' in the libraries "
                              f"(did you mean 'bird-dog'?)")


def test_an_error_inside_the_library_names_the_library_file_and_the_routine(clinic):
    library = write(clinic / "library" / "back.yaml", LIBRARY.replace("hold: 2s}", "hodl: 2s}"))
    script = write(clinic / "a.yaml", routine_text("a", "bird-dog"))
    with pytest.raises(ScriptError) as err:
        load_script(script)
    assert err.value.file == str(library)
    assert err.value.line == 13
    assert str(err.value).startswith(f"{library}:13: exercise 'Bird dog': ")
    assert "unknown key 'hodl'" in str(err.value)
    assert f"used by {script}" in str(err.value)


def test_a_missing_library_file_is_an_error_at_the_libraries_line(clinic):
    script = write(clinic / "a.yaml", routine_text("a", "cobra").replace("library/back.yaml", "library/neck.yaml"))
    with pytest.raises(ScriptError) as err:
        load_script(script)
    assert str(err.value).startswith(f"{script}:4: libraries[0]: library 'library/neck.yaml' not found")


def test_a_library_has_the_scripts_limits_and_an_absolute_path_is_refused(clinic):
    from audioroutine.core.limits import MAX_FILE_BYTES

    library = write(clinic / "library" / "back.yaml", LIBRARY + "#" * MAX_FILE_BYTES)
    script = write(clinic / "a.yaml", routine_text("a", "cobra"))
    with pytest.raises(ScriptError) as err:
        load_script(script)
    assert str(err.value).startswith(f"{library}: library is larger than the limit")
    write(script, routine_text("a", "cobra").replace("library/back.yaml", str(library)))
    with pytest.raises(ScriptError) as err:
        load_script(script)
    assert str(err.value).startswith(f"{script}:4: libraries[0]: library path {str(library)!r} is absolute")


def test_validate_names_the_library_file_and_the_routine(clinic):
    from click.testing import CliRunner

    from audioroutine.cli import cli

    library = write(clinic / "library" / "back.yaml", LIBRARY.replace("reps: 4", "reps: 0"))
    script = write(clinic / "a.yaml", routine_text("a", "bird-dog"))
    result = CliRunner(mix_stderr=False).invoke(cli, ["validate", str(clinic)])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {library}:13: exercise 'Bird dog': exercises[0].dosage.reps: "
                             f"must be at least 1, got 0 (used by {script})\n")


def test_the_same_id_in_two_libraries_names_both_files(clinic):
    write(clinic / "library" / "more.yaml", LIBRARY.replace("Back care", "More"))
    script = write(clinic / "a.yaml", routine_text("a", "cobra").replace(
        "[library/back.yaml]", "[library/back.yaml, library/more.yaml]"))
    with pytest.raises(ScriptError) as err:
        load_script(script)
    assert "exercise id 'cobra' is in two libraries" in str(err.value)
    assert "library/back.yaml" in str(err.value) and "library/more.yaml" in str(err.value)


def test_a_folder_scan_skips_library_files(clinic):
    write(clinic / "a.yaml", routine_text("a", "cobra"))
    found = expand([clinic])
    assert found.scripts == [clinic / "a.yaml"]
    assert found.skipped == [clinic / "library" / "back.yaml"]


def test_watch_watches_the_library_files_of_a_folder(clinic):
    from audioroutine.run.watch import watched_files

    write(clinic / "a.yaml", routine_text("a", "cobra"))
    assert clinic / "library" / "back.yaml" in watched_files([clinic])


def test_a_library_is_read_once_per_cache(clinic, monkeypatch):
    from audioroutine.model import library as library_module

    reads: list[Path] = []
    real = library_module.load_library
    monkeypatch.setattr(library_module, "load_library", lambda path, shown: reads.append(path) or real(path, shown))
    cache: dict[Path, library_module.Library] = {}
    for name in ("a", "b"):
        load_script(write(clinic / f"{name}.yaml", routine_text(name, "cobra")), cache)
    assert len(reads) == 1


def test_editing_one_library_exercise_rebuilds_exactly_the_routines_using_it(clinic, tmp_path):
    scripts = [write(clinic / "a.yaml", routine_text("a", "cobra", "bird-dog")),
               write(clinic / "b.yaml", routine_text("b", "cobra")),
               write(clinic / "c.yaml", routine_text("c", "bird-dog"))]
    options = BuildOptions(out_dir=tmp_path / "out", levels=("beginner",))
    for script in scripts:
        build(load_script(script), options)
    outputs = [tmp_path / "out" / f"{name}-beginner.mp3" for name in "abc"]
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in outputs]
    hashes = [load_script(script).sha256 for script in scripts]

    write(clinic / "library" / "back.yaml", LIBRARY.replace("Lift your chest.", "Lift up slowly."))
    FakeEngine.calls.clear()
    for script in scripts:
        build(load_script(script), options)
    after = [(p.read_bytes(), p.stat().st_mtime_ns) for p in outputs]
    assert [load_script(script).sha256 != old for script, old in zip(scripts, hashes)] == [True, True, False]
    assert after[0][0] != before[0][0] and after[1][0] != before[1][0]
    assert after[2] == before[2]
    assert FakeEngine.calls and all("Lift up slowly." in t for t in FakeEngine.calls)
