"""One definition of what a session's files depend on (run/freshness.py): every build option
is classified, once, for the manifest's fast path and the MP3's provenance alike."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import pytest

from audioroutine import BuildOptions, Settings, load_script
from audioroutine.compile.compiler import compile_level
from audioroutine.output.tags import Provenance
from audioroutine.run import freshness, manifest
from audioroutine.run.pipeline import plan
from audioroutine.run.prepare import speech_for
from audioroutine.run.tagging import session_tags
from audioroutine.speech.stats import SpeechStats


def test_every_build_option_says_whether_it_changes_the_bytes() -> None:
    assert {f.name for f in fields(BuildOptions)} == set(freshness.OPTIONS)
    for name, option in freshness.OPTIONS.items():
        assert option.why, name
        assert option.provenance is None or option.changes_bytes, name
    assert freshness.PROVENANCE_ENTRIES <= set(Provenance.__annotations__)


def test_an_unclassified_option_fails_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(freshness.OPTIONS, "bitrate")
    with pytest.raises(ImportError, match="bitrate"):
        freshness._check_options()


# An option's other value, and the options it is changed from.
OTHER: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "levels": ({}, {"levels": ("beginner",)}),
    "engine": ({}, {"engine": "espeak"}),
    "voice": ({"engine": "espeak", "voice": "en-029"}, {"engine": "espeak", "voice": "en-us"}),
    "bitrate": ({}, {"bitrate": "96k"}),
    "sample_rate": ({}, {"sample_rate": 24000}),
    "id3_version": ({}, {"id3_version": 4}),
    "settings": ({}, {"settings": Settings(clinic="Hillside")}),
    "album": ({}, {"album": "Another album"}),
    "album_artist": ({}, {"album_artist": "Someone else"}),
    "music": ({"music": "calm"}, {"music": "dusk"}),   # no bed: no "music" entry at all (same bytes as before)
}


def provenance(routine: Any, options: BuildOptions) -> dict[str, Any]:
    """The provenance the beginner session's MP3 gets with `options` (one script: its track is
    1 of its levels)."""
    program = compile_level(routine, "beginner", options.settings)
    speech = speech_for(routine, program, options, SpeechStats())
    timeline = plan(routine, "beginner", options, exact=True)
    total = len(options.levels) or len(routine.levels)
    tags = session_tags(routine, "beginner", timeline, 1, total, speech, options)
    assert tags.provenance is not None
    return dict(tags.provenance)


@pytest.mark.parametrize("name", [name for name, option in freshness.OPTIONS.items() if option.provenance])
def test_each_option_that_changes_the_mp3_changes_its_provenance_and_its_key(mini_script, tmp_path, name):
    routine = load_script(mini_script)
    base, other = OTHER[name]
    before = BuildOptions(out_dir=tmp_path / "out", settings=Settings(), **base)
    after = replace(before, **{key: value for key, value in other.items() if key not in base or base[key] != value})
    entry = freshness.OPTIONS[name].provenance
    old, new = provenance(routine, before), provenance(routine, after)
    assert old[entry] != new[entry], f"{name} does not change the provenance's {entry}"
    keys = [manifest.input_keys([routine], [opts]) for opts in (before, after)]
    path = tmp_path / "out" / "mini-beginner.mp3"
    assert keys[0] and keys[1] and keys[0][path].key != keys[1][path].key


def test_options_that_do_not_change_the_bytes_do_not_change_the_key(mini_script, tmp_path):
    routine = load_script(mini_script)
    base = BuildOptions(out_dir=tmp_path / "out", settings=Settings())
    same = replace(base, force=True, cache_dir=tmp_path / "elsewhere")
    assert {n for n, o in freshness.OPTIONS.items() if not o.changes_bytes} == {"out_dir", "cache_dir", "force"}
    keys = [manifest.input_keys([routine], [opts]) for opts in (base, same)]
    assert keys[0] and keys[1] and {p: i.key for p, i in keys[0].items()} == {p: i.key for p, i in keys[1].items()}


def test_a_music_file_is_an_input_by_its_content(mini_script, tmp_path):
    """Without a bed a session's inputs have no "music" part (keys as before the bed); with a
    file, its sha256 is one, and a changed file is named by `changes`."""
    routine = load_script(mini_script)
    song = tmp_path / "song.wav"
    song.write_bytes(b"RIFF one")
    environment = freshness.Environment()

    def inputs(music: str | None) -> freshness.Inputs:
        options = BuildOptions(out_dir=tmp_path / "out", settings=Settings(), music=music)
        found = freshness.session_inputs(environment, routine, options, "beginner", (1, 2), None)
        assert found is not None
        return found

    assert "music" not in inputs(None).parts and inputs("none").key == inputs(None).key
    before = inputs(str(song))
    song.write_bytes(b"RIFF two, longer")
    after = inputs(str(song))
    assert before.key != after.key and freshness.changes(before.parts, after) == ["music bed or file"]
