"""Cache integrity: every kind of damaged entry is discarded with a warning and synthesized
again, the MP3 comes out byte-identical to a clean build, and stale temp files are swept."""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import time

import pytest
from click.testing import CliRunner

from audioroutine import BuildOptions, build, load_script
from audioroutine.cli import cli
from audioroutine.compile.compiler import compile_level
from audioroutine.engines import Clip
from audioroutine.engines.fake import FakeEngine
from audioroutine.run.pipeline import speech_for
from audioroutine.speech.cache import (
    Damaged,
    Outdated,
    PhraseCache,
    entry_bytes,
    read_entry,
    wav_bytes,
)
from audioroutine.speech.clips import SpeechStats

from ..cache_backends import S3, Entry, copy_cache

TEXT = "Rep 1 of 2. Hold."          # a beginner phrase whose entry the tests damage
OTHER = "Last one. Hold."


def _data_chunk(data: bytearray) -> tuple[int, int]:
    """(offset of the PCM, its length) in an entry."""
    at = data.index(b"data")
    return at + 8, struct.unpack_from("<I", data, at + 4)[0]


def bit_flip(entry: Entry, other: Entry) -> None:
    data = bytearray(entry.read_bytes())
    start, size = _data_chunk(data)
    data[start + size // 2] ^= 0x04
    entry.write_bytes(bytes(data))


def silent_same_length(entry: Entry, other: Entry) -> None:
    data = bytearray(entry.read_bytes())
    start, size = _data_chunk(data)
    data[start:start + size] = bytes(size)   # what a crash can leave: zero-filled blocks
    entry.write_bytes(bytes(data))


def rate_header(entry: Entry, other: Entry) -> None:
    data = bytearray(entry.read_bytes())
    struct.pack_into("<II", data, 24, 16000, 32000)   # fmt: sample rate and byte rate, consistent
    entry.write_bytes(bytes(data))


def zero_frames(entry: Entry, other: Entry) -> None:
    data = bytearray(entry.read_bytes())
    start, _ = _data_chunk(data)
    data = data[:start]
    struct.pack_into("<I", data, start - 4, 0)
    struct.pack_into("<I", data, 4, len(data) - 8)
    entry.write_bytes(bytes(data))


def directory(entry: Entry, other: Entry) -> None:
    entry.replace_with_folder()


def truncated(entry: Entry, other: Entry) -> None:
    entry.write_bytes(entry.read_bytes()[:len(entry.read_bytes()) // 2])


def swapped(entry: Entry, other: Entry) -> None:
    entry.write_bytes(other.read_bytes())   # a valid entry, of another phrase


def old_format(entry: Entry, other: Entry) -> None:
    clip = read_entry(entry.read_bytes(), entry.key)
    entry.write_bytes(wav_bytes(clip))   # exactly what version 1 wrote: right audio, no checksum


DAMAGE = [bit_flip, silent_same_length, rate_header, zero_frames, directory, truncated, swapped, old_format]


@pytest.fixture
def clean(clean_mini):
    """The clean build's script, pristine cache, and MP3 bytes by file name."""
    script, cache, out = clean_mini
    return script, cache, {p.name: p.read_bytes() for p in sorted(out.glob("*.mp3"))}


def _setup(clean, tmp_path, cache_root):
    """The clean build's cache copied to `cache_root` (a folder, memory:// or S3)."""
    script, pristine, reference = clean
    copy_cache(pristine, cache_root)
    routine = load_script(script)
    options = BuildOptions(out_dir=tmp_path / "out", cache_dir=cache_root)
    speech = speech_for(routine, compile_level(routine, "beginner"), options, SpeechStats())
    return routine, options, speech, reference


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__)
def test_a_damaged_entry_is_resynthesized_with_a_warning(damage, clean, tmp_path, caplog):
    routine, options, speech, reference = _setup(clean, tmp_path, tmp_path / "cache")
    cache = PhraseCache(options.cache_dir)
    damage(Entry(cache, speech.key(TEXT)), Entry(cache, speech.key(OTHER)))
    FakeEngine.calls.clear()
    with caplog.at_level(logging.WARNING, logger="audioroutine"):
        result = build(routine, options)
    assert {s.path.name: s.path.read_bytes() for s in result.sessions} == reference
    assert FakeEngine.calls == [TEXT]                                  # that phrase only
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if damage is old_format:
        assert warnings == ["1 cached phrase(s) were in an older cache format and were synthesized again"]
    else:
        assert len(warnings) == 1 and warnings[0].startswith(f"discarded a damaged cache entry for '{TEXT}' (")
    assert cache.load(speech.key(TEXT)) == speech.engine.synthesize(TEXT)   # replaced by a good entry


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__)
def test_every_kind_of_damage_is_caught_and_replaced_on_every_backend(damage, cache_root):
    """The same verification on a folder, memory:// and S3: the damaged entry is removed
    (Outdated for the older format), and the next put replaces it with a good one."""
    if damage is directory and isinstance(cache_root, str):
        pytest.skip("object stores have no folders: a prefix named like the entry does not hide it")
    cache, key, other = PhraseCache(cache_root), "3c" * 32, "d4" * 32
    clip = Clip(bytes(range(256)) * 8, 22050)
    cache.put(key, clip)
    cache.put(other, Clip(b"\x02\x01" * 300, 22050))
    damage(Entry(cache, key), Entry(cache, other))
    with pytest.raises(Outdated if damage is old_format else Damaged):
        cache.load(key)
    assert cache.load(key) is None and not Entry(cache, key).exists()   # removed, now a miss
    cache.put(key, clip)
    assert cache.load(key) == clip and PhraseCache(cache_root).load(key) == clip


def test_an_up_to_date_mp3_is_not_rewritten_from_a_damaged_entry(clean, tmp_path):
    routine, options, speech, reference = _setup(clean, tmp_path, tmp_path / "cache")
    build(routine, options)
    cache = PhraseCache(options.cache_dir)
    entry = Entry(cache, speech.key(TEXT))
    zero_frames(entry, entry)
    result = build(routine, options)
    assert [s.written for s in result.sessions] == [False, False]
    assert {s.path.name: s.path.read_bytes() for s in result.sessions} == reference


@pytest.mark.parametrize("cache_root", ["folder", S3], indirect=True)
def test_the_cli_shows_one_warning_line_naming_the_phrase(clean, tmp_path, cache_root, monkeypatch):
    _, options, speech, _ = _setup(clean, tmp_path, cache_root)
    cache = PhraseCache(options.cache_dir)
    entry = Entry(cache, speech.key(TEXT))
    bit_flip(entry, entry)
    monkeypatch.setattr(logging.getLogger("audioroutine"), "handlers", [])   # the CLI adds its own
    result = CliRunner(mix_stderr=False).invoke(cli, [
        "build", str(clean[0]), "--out", str(options.out_dir), "--cache-dir", str(options.cache_dir)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: discarded a damaged cache entry for '{TEXT}' (audio checksum mismatch)"]
    assert "1 synthesized" in result.stdout


def test_every_single_bit_flip_in_an_entry_is_caught():
    clip = Clip(bytes(range(256)) * 4, 22050)
    data = entry_bytes("ab" * 32, clip)
    assert read_entry(data, "ab" * 32) == clip
    for bit in range(8 * len(data)):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(Damaged):
            read_entry(bytes(flipped), "ab" * 32)


def test_entries_stay_playable_wavs_and_old_ones_are_outdated(tmp_path):
    import wave

    clip = Clip(b"\x00\x10" * 50, 16000)
    path = tmp_path / "e.wav"
    path.write_bytes(entry_bytes("cd" * 32, clip))
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (16000, 1, 50)
    with pytest.raises(Outdated):
        read_entry(wav_bytes(clip), "cd" * 32)


def test_an_empty_clip_is_never_cached(cache_root):
    cache = PhraseCache(cache_root)
    cache.put("ef" * 32, Clip(b"", 22050))
    assert cache.load("ef" * 32) is None and not Entry(cache, "ef" * 32).exists()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_are_removed_and_nothing_else(mini_script, tmp_path):
    dead, live = _dead_pid(), os.getppid()   # not our own PID: the build writes its own temps
    out, cache_dir = tmp_path / "out", tmp_path / "cache"
    key = "0f" * 32
    entries = cache_dir / "phrases" / "0f"
    covers, pieces = cache_dir / "covers" / "0f", cache_dir / "pieces" / "0f"
    out.mkdir()
    for folder in (entries, covers, pieces):
        folder.mkdir(parents=True)
    stale = [out / f".mini-beginner.mp3.{dead}.tmp", out / f".mini-beginner.vtt.{dead}.tmp",
             out / f".programme.m3u8.{dead}.tmp", out / f".other.mp3.{live}.tmp",   # the last: 2 days old
             entries / f".{key}.wav.{dead}.tmp", entries / f".{key}.wav.{dead}-4242.tmp",   # the last: a thread's
             covers / f".{key}.png.{dead}.tmp", pieces / f".{key}-22050-t0123abcd.npz.{dead}.tmp"]
    kept = [out / f".mini-beginner.mp3.{live}.tmp", out / f".notes.txt.{dead}.tmp", out / "mini.mp3.tmp",
            out / f".mini.mp3.{dead}.tmp.bak", out / "keep.mp3", entries / f".{key}.wav.{live}.tmp",
            entries / f".{key}.wav.{live}-4242.tmp",
            entries / f".notes.{dead}.tmp", entries / f".{key}.wav.{dead}.tmp.x"]
    for path in stale + kept:
        path.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(out / f".other.mp3.{live}.tmp", (two_days_ago, two_days_ago))
    folder = out / f".dir.mp3.{dead}.tmp"
    folder.mkdir()
    build(load_script(mini_script), BuildOptions(out_dir=out, cache_dir=cache_dir))
    assert [p for p in stale if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
    assert folder.is_dir()
