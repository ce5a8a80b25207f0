"""Trimmed clips kept in a folder cache beside the clip (clips.Speech._stored_trim): the
same samples as trimming again, found in a new process, and never taken from a damaged
entry or one made from another clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audioroutine.engines import Clip, VoiceOptions
from audioroutine.engines.fake import FakeEngine
from audioroutine.speech import clips
from audioroutine.speech.cache import PhraseCache
from audioroutine.speech.clips import Speech, trim_quiet

RATE = 22050
TEXT = "Rep 1 of 8."


def _trim_entries(root: Path) -> list[Path]:
    return sorted(p for p in (root / "pieces").rglob(f"*-t{clips.TRIM_ID}.npz"))


@pytest.fixture
def fresh(monkeypatch):
    """Every Speech as in a new process: nothing trimmed in memory."""
    monkeypatch.setattr(clips, "_memo", clips.OrderedDict())
    monkeypatch.setattr(clips, "_memo_bytes", [0])


def test_a_trim_is_stored_and_read_back(fresh, tmp_path, monkeypatch):
    engine = FakeEngine(VoiceOptions())
    first = Speech(engine, PhraseCache(tmp_path / "c"), RATE).clip(TEXT)
    (entry,) = _trim_entries(tmp_path / "c")
    raw = engine.synthesize(TEXT)
    assert first == trim_quiet(raw.pcm, RATE)
    assert first != raw.pcm                               # its cut edges faded

    monkeypatch.setattr(clips, "_memo", clips.OrderedDict())
    trims: list[int] = []
    real = clips.trim_quiet
    monkeypatch.setattr(clips, "trim_quiet", lambda pcm, rate: trims.append(1) or real(pcm, rate))
    again = Speech(engine, PhraseCache(tmp_path / "c"), RATE).clip(TEXT)
    assert again == first and trims == []                 # from the entry, not trimmed again

    data = bytearray(entry.read_bytes())                  # one sample flipped: dropped, trimmed, stored
    data[-3] ^= 0x40
    entry.write_bytes(bytes(data))
    monkeypatch.setattr(clips, "_memo", clips.OrderedDict())
    assert Speech(engine, PhraseCache(tmp_path / "c"), RATE).clip(TEXT) == first
    assert trims == [1] and entry.read_bytes() != bytes(data)


def test_a_trim_of_another_clip_is_not_used(fresh, tmp_path, monkeypatch):
    """The clip was synthesized again with other samples (a new voice file, same key): the
    stored trim names the old clip's digest and is made again."""
    engine = FakeEngine(VoiceOptions())
    cache = PhraseCache(tmp_path / "c")
    speech = Speech(engine, cache, RATE)
    first = speech.clip(TEXT)
    raw = engine.synthesize(TEXT)
    softer = (np.frombuffer(raw.pcm, "<i2") // 2).astype("<i2").tobytes()   # same length, other samples
    cache.put(speech.key(TEXT), Clip(pcm=softer, sample_rate=raw.sample_rate))
    monkeypatch.setattr(clips, "_memo", clips.OrderedDict())
    again = Speech(engine, PhraseCache(tmp_path / "c"), RATE).clip(TEXT)
    assert again == trim_quiet(softer, RATE) and again != first


def test_a_remote_cache_trims_in_the_process(fresh, tmp_path, monkeypatch):
    cache = PhraseCache(tmp_path / "c")
    monkeypatch.setattr(PhraseCache, "is_local", property(lambda self: False))
    Speech(FakeEngine(VoiceOptions()), cache, RATE).clip(TEXT)
    assert _trim_entries(tmp_path / "c") == []


def test_every_bit_flip_and_cut_of_a_two_part_entry_is_caught():
    """files.sealed_in_two (trimmed clips, pieces): a flip or cut anywhere in the front makes
    the entry unreadable; one in the body is caught when the body is asked for."""
    from audioroutine.core.files import Parted, sealed_in_two

    head, body = b"clip digest and rate" * 2, bytes(range(256)) * 3
    data = sealed_in_two(b"ARTEST01", head, body)
    whole = Parted.read(b"ARTEST01", data)
    assert whole is not None and bytes(whole.head) == head and whole.body() == body
    front = len(data) - len(body)
    for bit in range(8 * len(data)):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << bit % 8
        damaged = bytes(flipped)
        found = Parted.read(b"ARTEST01", damaged)
        ahead = Parted.front(b"ARTEST01", damaged[:front], lambda d=damaged: d)   # read for its front
        if bit // 8 < front:
            assert found is None and ahead is None, bit
        else:
            assert found is not None and bytes(found.head) == head and found.body() is None, bit
            assert ahead is not None and ahead.seal == whole.seal and ahead.body() is None, bit
    for size in range(len(data)):
        assert Parted.read(b"ARTEST01", data[:size]) is None, size
    assert Parted.read(b"ARTEST01", data + b"\0") is None


def test_a_trimmed_entry_with_damaged_samples_gives_its_length_then_is_made_again_when_played(
        fresh, tmp_path, monkeypatch):
    FakeEngine.calls.clear()
    engine = FakeEngine(VoiceOptions())
    first = Speech(engine, PhraseCache(tmp_path / "c"), RATE).clip(TEXT)
    (entry,) = _trim_entries(tmp_path / "c")
    data = bytearray(entry.read_bytes())
    data[-2] ^= 0x01
    entry.write_bytes(bytes(data))
    monkeypatch.setattr(clips, "_memo", clips.OrderedDict())
    speech = Speech(engine, PhraseCache(tmp_path / "c"), RATE)
    assert speech.measure(TEXT) == len(first) // 2 and entry.read_bytes() == bytes(data)   # the head alone
    assert speech.clip(TEXT) == first and entry.read_bytes() != bytes(data)               # found, made again
    assert FakeEngine.calls.count(TEXT) == 1                                                # never synthesized again


def test_a_trim_that_no_longer_matches_its_head_is_a_clear_error(fresh, tmp_path, monkeypatch):
    from audioroutine.core.errors import BuildError

    engine = FakeEngine(VoiceOptions())
    Speech(engine, PhraseCache(tmp_path / "c"), RATE).clip(TEXT)
    (entry,) = _trim_entries(tmp_path / "c")
    data = bytearray(entry.read_bytes())
    data[-2] ^= 0x01
    entry.write_bytes(bytes(data))
    monkeypatch.setattr(clips, "_memo", clips.OrderedDict())
    monkeypatch.setattr(clips, "trim_quiet", lambda pcm, rate: pcm)      # trimming changed, its id did not
    with pytest.raises(BuildError, match="remove the cache's 'pieces' folder"):
        Speech(engine, PhraseCache(tmp_path / "c"), RATE).clip(TEXT)


def test_a_front_read_alone_takes_its_body_only_from_the_same_entry(cache_root):
    """PhraseCache.load_derived_front: the front of an entry is read alone (a long front:
    the whole entry); when the body is asked for, the entry is read again, and one replaced
    in between by another entry, even a sound one, gives no body."""
    from audioroutine.core.files import sealed_in_two
    from audioroutine.speech.cache import FRONT_BYTES

    cache = PhraseCache(cache_root)
    short = sealed_in_two(b"ARTEST01", b"h" * 40, b"a" * 50_000)
    long = sealed_in_two(b"ARTEST01", b"h" * (FRONT_BYTES + 10), b"b" * 50_000)
    for data, body in ((short, b"a" * 50_000), (long, b"b" * 50_000)):
        cache.put_derived("one", data)
        found = cache.load_derived_front("one", b"ARTEST01")
        assert found is not None and found.body() == body
    cache.put_derived("one", short)
    found = cache.load_derived_front("one", b"ARTEST01")
    cache.put_derived("one", sealed_in_two(b"ARTEST01", b"h" * 40, b"c" * 50_000))   # another build's
    assert found is not None and found.body() is None
    cache.put_derived("one", short[:len(short) - 50_000 + 10])                       # its body cut short
    assert cache.load_derived_front("one", b"ARTEST01").body() is None
    cache.put_derived("one", short[:60])                                             # its front cut short
    assert cache.load_derived_front("one", b"ARTEST01") is None
    assert cache.store.read(cache.derived_name("one")) is None                       # removed
    assert cache.load_derived_front("none", b"ARTEST01") is None


def test_every_store_reads_an_entry_or_its_head_exactly(cache_root):
    """Folder (plain reads), memory:// and S3 (ranged GETs): all of an entry, or its first
    bytes, whatever the sizes."""
    store = PhraseCache(cache_root).store
    for size in (0, 1, 4096, 70_000, (1 << 20) + 3):
        data = np.random.default_rng(size).bytes(size)
        store.write(f"a/{size}.bin", data)
        assert store.read(f"a/{size}.bin") == data
        for head in (0, 1, 100, size, size + 5):
            assert store.read_head(f"a/{size}.bin", head) == data[:head], (size, head)
    assert store.read("a/none.bin") is None and store.read_head("a/none.bin", 10) is None
    if isinstance(cache_root, Path):
        with pytest.raises(IsADirectoryError):
            store.read("a")
