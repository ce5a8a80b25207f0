"""Every tag read back twice: with mutagen, and with ffmpeg's own demuxer (independent)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from mutagen.id3 import ID3
from PIL import Image

from audioroutine.model.script import load_script
from audioroutine.model.settings import load_settings
from audioroutine.output.cover import generate_cover
from audioroutine.run.pipeline import BuildOptions, build, plan

from ..conftest import MINIMAL
from ..ffmeta import attached_picture, decoded_samples, ffmetadata, ffmpeg_streams

SCRIPT = MINIMAL.replace("title: Mini\n", """title: Mini Routine
description: A short test routine.
safety: Stop if it hurts.
""")

SETTINGS = """
clinic = "Riverside Physio"
contact = "Questions? Call the clinic on 0123 456."
disclaimer = "This recording does not replace your physiotherapist."
artist = "Riverside Physio Team"
copyright = "2025 Riverside Physio, CC BY-NC 4.0"
"""


@pytest.fixture
def built(write_script, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735689600")   # 2025-01-01
    script = write_script(SCRIPT)
    (tmp_path / "audioroutine.toml").write_text(SETTINGS, encoding="utf-8")
    routine = load_script(script)
    options = BuildOptions(out_dir=tmp_path / "out", settings=load_settings(tmp_path / "audioroutine.toml"))
    result = build(routine, options)
    return routine, options, result


def test_every_tag_read_back_by_mutagen(built) -> None:
    routine, options, result = built
    path = result.sessions[0].path
    id3 = ID3(str(path))
    assert id3.version == (2, 3, 0)
    text = {frame: str(id3[frame].text[0]) for frame in
            ("TIT2", "TPE1", "TPE2", "TALB", "TRCK", "TPOS", "TCON", "TLAN", "TPUB", "TCOP")}
    assert text == {
        "TIT2": "Mini Routine — Beginner",
        "TPE1": "Riverside Physio Team",
        "TPE2": "Riverside Physio Team",
        "TALB": "Mini Routine",
        "TRCK": "1/2",
        "TPOS": "1/1",
        "TCON": "Fitness",
        "TLAN": "eng",
        "TPUB": "Riverside Physio",
        "TCOP": "2025 Riverside Physio, CC BY-NC 4.0",
    }
    assert str(id3["TDRC"].text[0]) == "2025"
    comment = id3.getall("COMM")[0]
    assert (comment.lang, comment.text[0]) == (
        "eng", "Stop if it hurts. This recording does not replace your physiotherapist. A short test routine.")
    cover = id3.getall("APIC")[0]
    assert (cover.mime, cover.type, cover.desc) == ("image/png", 3, "")
    assert cover.data == generate_cover("Mini Routine", "Beginner", 0, "Riverside Physio")
    assert cover.data.startswith(b"\x89PNG\r\n\x1a\n")
    provenance = json.loads(str(id3["TXXX:audioroutine"].text[0]))
    timeline = plan(routine, "beginner", options)
    assert provenance["level"] == "beginner"
    assert provenance["script_sha256"] == routine.sha256
    assert provenance["engine"]["engine"] == "fake"
    assert (provenance["samples"], provenance["sample_rate"]) == (timeline.total, 22050)
    assert result.sessions[1].path.name == "mini-progressed.mp3"
    assert str(ID3(str(result.sessions[1].path))["TRCK"].text[0]) == "2/2"


def test_chapters_and_toc_match_the_timeline(built) -> None:
    routine, options, result = built
    timeline = plan(routine, "beginner", options)
    id3 = ID3(str(result.sessions[0].path))
    chapters = id3.getall("CHAP")
    expected = [(c.title, c.start * 1000 // 22050, c.end * 1000 // 22050) for c in timeline.chapters]
    assert [(str(c.sub_frames["TIT2"].text[0]), c.start_time, c.end_time) for c in chapters] == expected
    assert [c.title for c in timeline.chapters] == ["Introduction", "Press", "Closing"]
    press = next(c for c in chapters if c.element_id == "ch001")
    assert str(press.sub_frames["TIT3"].text[0]) == "2 reps, holding each for 3 seconds."
    toc = id3.getall("CTOC")[0]
    assert toc.child_element_ids == ["ch000", "ch001", "ch002"]
    assert toc.flags == 3   # TOP_LEVEL | ORDERED


def test_ffmpeg_demuxer_reads_the_same_tags_chapters_and_duration(built) -> None:
    routine, options, result = built
    path = result.sessions[0].path
    timeline = plan(routine, "beginner", options)
    tags, chapters = ffmetadata(path)
    assert {k: tags[k] for k in ("title", "artist", "album_artist", "album", "track", "disc", "date", "genre",
                                 "language", "publisher", "copyright", "comment")} == {
        "title": "Mini Routine — Beginner",
        "artist": "Riverside Physio Team",
        "album_artist": "Riverside Physio Team",
        "album": "Mini Routine",
        "track": "1/2",
        "disc": "1/1",
        "date": "2025",
        "genre": "Fitness",
        "language": "eng",
        "publisher": "Riverside Physio",
        "copyright": "2025 Riverside Physio, CC BY-NC 4.0",
        "comment": "Stop if it hurts. This recording does not replace your physiotherapist. A short test routine.",
    }
    expected_lines: list[str] = []
    for chapter in timeline.chapters:
        expected_lines += [e.text for e in timeline.events
                           if e.kind == "speech" and chapter.start <= e.start < chapter.end] + [""]
    assert tags["lyrics-eng"].split("\n") == expected_lines[:-1] + [""]
    assert expected_lines[:5] == ["Mini Routine. Beginner session.", "Before we begin, a word on safety.",
                                  "Stop if it hurts.", "This recording does not replace your physiotherapist.", ""]
    assert json.loads(tags["audioroutine"])["samples"] == timeline.total
    # chapters in file order = time order, exact milliseconds
    got = [(c["title"], int(c["START"]), int(c["END"])) for c in chapters]
    assert got == [(c.title, c.start * 1000 // 22050, c.end * 1000 // 22050) for c in timeline.chapters]
    assert all(c["TIMEBASE"] == "1/1000" for c in chapters)
    assert chapters[1]["TIT3"] == "2 reps, holding each for 3 seconds."
    # duration: ffmpeg decodes exactly the samples of the timeline (gapless header)
    assert decoded_samples(path) == timeline.total
    streams = ffmpeg_streams(path)
    assert "Video: png" in streams[1] and "1400x1400" in streams[1] and "(attached pic)" in streams[1]
    assert attached_picture(path) == ID3(str(path)).getall("APIC")[0].data


def test_settings_are_spoken_and_script_values_win(built) -> None:
    routine, options, _ = built
    timeline = plan(routine, "beginner", options)
    roles = [(e.role, e.text) for e in timeline.events if e.kind == "speech"]
    assert ("disclaimer", "This recording does not replace your physiotherapist.") in roles
    assert roles[-2:] == [("contact", "Questions? Call the clinic on 0 1 2 3, 4 5 6."),   # digit by digit
                          ("outro", "That is the end of the session. Well done.")]


def test_clinic_intro_comes_before_the_scripts_and_clinic_outro_after(write_script, tmp_path: Path) -> None:
    script = write_script(SCRIPT.replace("title: Mini Routine\n",
                                         "title: Mini Routine\nintro: Script intro.\noutro: Script outro.\n"))
    (tmp_path / "s.toml").write_text('intro = "Clinic intro."\noutro = "Clinic outro."\ncontact = "Call 555 0142."\n')
    options = BuildOptions(settings=load_settings(tmp_path / "s.toml"))
    timeline = plan(load_script(script), "beginner", options)
    texts = [e.text for e in timeline.events if e.kind == "speech"]
    assert texts[:3] == ["Mini Routine. Beginner session.", "Clinic intro.", "Script intro."]
    assert texts[-4:] == ["Script outro.", "Clinic outro.", "Call 5 5 5, 0 1 4 2.",
                          "That is the end of the session. Well done."]
    control = plan(load_script(script), "beginner", BuildOptions())      # no settings: the script's own only
    spoken = [e.text for e in control.events if e.kind == "speech"]
    assert spoken[1] == "Script intro." and spoken[-2] == "Script outro."


def id3_frame_ids(path: Path) -> tuple[int, list[str]]:
    """(major version, top-level frame ids) parsed from the raw tag, as a strict reader sees them."""
    data = path.read_bytes()
    assert data[:3] == b"ID3"
    major = data[3]
    end = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(data[6:10]))
    ids, at = [], 10
    while at + 10 <= end and data[at:at + 4].strip(b"\0"):
        size_bytes = data[at + 4:at + 8]
        size = int.from_bytes(size_bytes, "big") if major == 3 else \
            sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(size_bytes))
        ids.append(data[at:at + 4].decode("ascii"))
        at += 10 + size
    return major, ids


# Frames defined by ID3v2.3.0 (plus CHAP/CTOC from the chapter addendum, valid in both).
V23_FRAMES = {"APIC", "COMM", "SYLT", "TALB", "TCON", "TCOP", "TIT2", "TIT3", "TLAN", "TPE1", "TPE2", "TPOS",
              "TPUB", "TRCK", "TXXX", "TYER", "USLT", "CHAP", "CTOC"}
V24_ONLY = {"TDRC", "TDRL", "TDTG", "TDOR", "TSOT", "TSOP", "TSOA", "TMOO", "TIPL", "TMCL", "SEEK", "ASPI", "TDEN"}


def test_default_v23_tag_has_only_v23_frames_and_a_strict_reader_finds_the_year(built) -> None:
    import eyed3

    path = built[2].sessions[0].path
    major, ids = id3_frame_ids(path)
    assert major == 3
    assert set(ids) <= V23_FRAMES, set(ids) - V23_FRAMES
    assert "TYER" in ids and "TDRC" not in ids
    tag = eyed3.load(str(path)).tag           # eyeD3 reads a v2.3 tag by the v2.3 rules
    assert tag.version == (2, 3, 0)
    assert str(tag.getBestDate()) == "2025"
    assert tag.title == "Mini Routine — Beginner"
    assert ffmetadata(path)[0]["date"] == "2025"


def test_v24_tag_writes_the_year_as_tdrc(write_script, tmp_path: Path, monkeypatch) -> None:
    import eyed3

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735689600")
    result = build(load_script(write_script(SCRIPT)), BuildOptions(out_dir=tmp_path / "o", id3_version=4,
                                                                  levels=("beginner",)))
    path = result.sessions[0].path
    major, ids = id3_frame_ids(path)
    assert major == 4 and "TDRC" in ids and "TYER" not in ids
    assert str(eyed3.load(str(path)).tag.getBestDate()) == "2025"
    assert ffmetadata(path)[0]["date"] == "2025"


def test_id3v24_and_rebuilds_are_byte_identical(write_script, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1735689600")
    routine = load_script(write_script(SCRIPT))
    a = build(routine, BuildOptions(out_dir=tmp_path / "a", id3_version=4, levels=("beginner",)))
    b = build(routine, BuildOptions(out_dir=tmp_path / "b", id3_version=4, levels=("beginner",), force=True))
    data = a.sessions[0].path.read_bytes()
    assert data == b.sessions[0].path.read_bytes()
    assert data[:4] == b"ID3\x04"
    id3 = ID3(str(a.sessions[0].path))
    assert id3.version == (2, 4, 0)
    assert str(id3["TIT2"].text[0]) == "Mini Routine — Beginner"
    assert str(id3["TPE1"].text[0]) == "audioroutine"          # no settings: no clinic, no advertising
    assert "TPUB" not in id3 and "TCOP" not in id3
    assert ffmetadata(a.sessions[0].path)[0]["title"] == "Mini Routine — Beginner"


def test_settings_change_rewrites_an_otherwise_current_file(write_script, tmp_path: Path) -> None:
    routine = load_script(write_script(SCRIPT))
    first = build(routine, BuildOptions(out_dir=tmp_path / "o", levels=("beginner",)))
    again = build(routine, BuildOptions(out_dir=tmp_path / "o", levels=("beginner",)))
    (tmp_path / "s.toml").write_text('copyright = "CC0"\n')
    changed = build(routine, BuildOptions(out_dir=tmp_path / "o", levels=("beginner",),
                                          settings=load_settings(tmp_path / "s.toml")))
    assert [first.sessions[0].written, again.sessions[0].written, changed.sessions[0].written] == [True, False, True]
    assert str(ID3(str(changed.sessions[0].path))["TCOP"].text[0]) == "CC0"


def test_clinic_cover_image_is_decoded_and_re_encoded(write_script, tmp_path: Path) -> None:
    Image.new("RGB", (2000, 1000), (30, 90, 160)).save(tmp_path / "logo.jpg", quality=95)
    (tmp_path / "s.toml").write_text('cover = "logo.jpg"\n')
    routine = load_script(write_script(SCRIPT))
    result = build(routine, BuildOptions(out_dir=tmp_path / "o", levels=("beginner",),
                                         settings=load_settings(tmp_path / "s.toml")))
    cover = ID3(str(result.sessions[0].path)).getall("APIC")[0]
    assert cover.mime == "image/jpeg"
    with Image.open(io.BytesIO(cover.data)) as embedded:   # scaled to COVER_EDGE on its long side
        assert (embedded.format, embedded.size) == ("JPEG", (1400, 700))


def test_the_provenance_alone_is_read_as_read_tags_reads_it(built, tmp_path: Path) -> None:
    """freshness reads the provenance frame alone (every other frame skipped unparsed)."""
    from audioroutine.output.tags import read_provenance, read_tags

    path = built[2].sessions[0].path
    found = read_provenance(path)
    assert found is not None and found == read_tags(path)["provenance"]
    bare = tmp_path / "bare.mp3"
    bare.write_bytes(path.read_bytes()[ID3(str(path)).size:])          # the audio without its tag
    assert read_provenance(bare) is None


def test_a_generated_cover_is_drawn_once_then_read_from_the_cache(write_script, tmp_path, monkeypatch) -> None:
    """A rebuild reads each level's cover from the phrase cache (the same bytes); a damaged
    entry is drawn again and replaced."""
    import audioroutine.run.tagging as tagging

    drawn: list[str] = []
    monkeypatch.setattr(tagging, "generate_cover", lambda *a: drawn.append(a[1]) or generate_cover(*a))
    routine = load_script(write_script(SCRIPT))
    options = BuildOptions(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", force=True)

    def covers() -> list[bytes]:
        return [ID3(str(s.path)).getall("APIC")[0].data for s in build(routine, options).sessions]

    first = covers()
    assert drawn == ["Beginner", "Progressed"]
    assert first[0] == generate_cover("Mini Routine", "Beginner", 0, None)
    entries = sorted((tmp_path / "cache" / "covers").rglob("*.png"))
    assert len(entries) == 2
    assert covers() == first and len(drawn) == 2              # read from the cache, not drawn
    damaged = bytearray(entries[0].read_bytes())
    damaged[-20] ^= 0x10
    entries[0].write_bytes(bytes(damaged))
    assert covers() == first and len(drawn) == 3              # the damaged one drawn again
    assert bytes(damaged) not in {e.read_bytes() for e in entries}
