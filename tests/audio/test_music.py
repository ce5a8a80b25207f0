"""Music bed (issue 23): generated beds and files under the voice, ducked from the timeline,
counted in the loudness, never moving a window; off by default."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from audioroutine import BuildOptions, build, load_script, plan
from audioroutine.audio import segments
from audioroutine.audio.loudness import parse_ebur128
from audioroutine.audio.mp3 import decode_mp3
from audioroutine.audio.music import HOLD_MS, LEAD_MS, RELEASE_MS, Bed, with_bed
from audioroutine.audio.pads import bed_loops, forget
from audioroutine.audio.render import Mix, mix
from audioroutine.compile.compiler import compile_level
from audioroutine.core.errors import ScriptError
from audioroutine.core.ffmpeg import ffmpeg_exe, run_ffmpeg_log
from audioroutine.model.music_settings import BEDS, Music, MusicError, parse_music
from audioroutine.output.tags import read_tags
from audioroutine.run.prepare import speech_for
from audioroutine.speech.clips import SpeechStats

from ..segments import check_windows, measure_windows

RATE = 22050

SCRIPT = """
id: bed
title: Bed
voice: {engine: fake}
get_ready: 2s
exercises:
  - name: Press
    hold: Hold.
    release: Relax.
    dosage: {reps: 3, hold: 6s, rest: 3s, countdown: 2}
  - name: Reach
    hold: Reach.
    release: Lower.
    dosage: {reps: 2, hold: 5s, rest: 2s, sides: each, side_rest: 3s}
levels: [one]
phrases: {rep: "Rep {n} of {total}."}   # one wording (issue 23 varies it): the cues stay where the bed checks were tuned
"""


def music_file(path: Path, seconds: float = 7.0, title: str | None = "Slow Tide", artist: str | None = "The Testers"
               ) -> Path:
    """A short tagged MP3 (two soft chords) made with ffmpeg."""
    meta = []
    if title:
        meta += ["-metadata", f"title={title}"]
    if artist:
        meta += ["-metadata", f"artist={artist}"]
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"sine=frequency=220:duration={seconds}:sample_rate=44100", "-f", "lavfi",
                    "-i", f"sine=frequency=330:duration={seconds}:sample_rate=44100",
                    "-filter_complex", "amix=inputs=2,volume=0.3", "-ac", "2", *meta, str(path)], check=True)
    return path


def loudness(path: Path) -> tuple[float, float]:
    report = run_ffmpeg_log(["-i", str(path), "-af", "ebur128=peak=true", "-f", "null", "-"])
    found = parse_ebur128(report.log)
    assert found["integrated_lufs"] is not None and found["true_peak_dbtp"] is not None
    return found["integrated_lufs"], found["true_peak_dbtp"]


def decoded(path: Path) -> np.ndarray:
    return np.frombuffer(decode_mp3(path, RATE).raw_data, dtype="<i2").astype(np.float64) / 32768


def test_music_values():
    assert parse_music(None) is None and parse_music(False) is None and parse_music("none") is None
    assert parse_music("calm") == Music("calm")
    assert parse_music({"source": "dusk", "level": -24, "duck": 9}) == Music("dusk", -24.0, 9.0)
    with pytest.raises(MusicError, match="not a built-in bed"):
        parse_music("jazz")
    with pytest.raises(MusicError, match="level"):
        parse_music({"source": "calm", "level": 3})
    with pytest.raises(MusicError, match="unknown key"):
        parse_music({"source": "calm", "volume": 3})


def test_script_music_errors_name_the_line(write_script):
    path = write_script(SCRIPT.replace("get_ready: 2s", "get_ready: 2s\nmusic: jazz.mp3"))
    with pytest.raises(ScriptError) as err:
        load_script(path)
    assert str(err.value).startswith(f"{path}:5: music: 'jazz.mp3' is not a built-in bed")


def test_beds_loop_without_a_seam_and_are_deterministic():
    for name in BEDS:
        first, second = bed_loops(name, RATE)
        assert len(first) == len(second) == 64 * RATE
        assert not np.array_equal(first, second)                     # two cycles, voiced differently
        for a, b in ((first, second), (second, first), (first, first)):
            step = max(np.abs(np.diff(a)).max(), np.abs(np.diff(b)).max())
            assert abs(float(a[-1]) - float(b[0])) <= step           # each join is like any other step
        assert 20 * np.log10(max(np.abs(first).max(), np.abs(second).max())) < -6
    before = bed_loops("calm", RATE)[1]
    forget()                                                         # rendered afresh: the same samples
    assert np.array_equal(before, bed_loops("calm", RATE)[1])


def test_a_built_in_bed_is_rendered_and_streamed_in_little_memory():
    """A built-in bed is rendered a second at a time into a temporary file and read from
    there: no cycle, and no transform of one, is held (the inverse FFT per chord traced
    28 MB, the two cycles 11 MB)."""
    import tracemalloc

    forget()
    tracemalloc.start()
    try:
        bed = Bed(Music("calm"), RATE, 300 * RATE, [(10 * RATE, 12 * RATE)])
        parts = [float(np.abs(bed.samples(RATE)).max()) for _ in range(300)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4e6, peak
    assert min(parts[3:]) > 0.01                                       # the bed sounds throughout


def test_no_music_is_the_same_bytes(write_script, tmp_path):
    routine = load_script(write_script(SCRIPT))
    a = build(routine, BuildOptions(out_dir=tmp_path / "a")).sessions[0].path
    b = build(routine, BuildOptions(out_dir=tmp_path / "b", music="none")).sessions[0].path
    assert a.read_bytes() == b.read_bytes()
    assert "music" not in read_tags(a)["provenance"]


@pytest.mark.parametrize("source", [bed if bed == BEDS[0] else pytest.param(bed, marks=pytest.mark.slow)
                                    for bed in BEDS] + ["file"])   # the other beds: the slow suite
def test_loudness_with_a_bed(source, write_script, tmp_path):
    music = str(music_file(tmp_path / "m.mp3")) if source == "file" else source
    routine = load_script(write_script(SCRIPT))
    path = build(routine, BuildOptions(out_dir=tmp_path / "out", music=music)).sessions[0].path
    lufs, peak = loudness(path)
    assert abs(lufs - -16) <= 0.5, lufs
    assert peak <= -1.0, peak
    x = decoded(path)
    assert len(x) == plan(routine, "one", BuildOptions()).total
    # every window within 50 ms of the script from the end of its cue, and every countdown
    # mark within 20 ms, as in a quiet session (issue 23): speech found in the session less
    # its bed alone (tests/segments.py, RESIDUAL_DB)
    bed, _ = _bed_alone(routine, tmp_path, parse_music(music))
    found = measure_windows(x, RATE, compile_level(routine, "one"), bed=bed)
    assert check_windows(found, RATE)["hold"] == 3 + 4


def test_the_measure_over_a_bed_catches_a_moved_cue_or_a_misaligned_bed(write_script, tmp_path):
    """The subtracted measure can fail: a bed alone 1 ms off leaves the bed in the
    difference (heard as sound everywhere), and a cue moved 60 ms makes the window before it 60 ms long."""
    routine = load_script(write_script(SCRIPT))
    x = decoded(build(routine, BuildOptions(out_dir=tmp_path / "out", music="calm")).sessions[0].path)
    bed, cues = _bed_alone(routine, tmp_path, Music("calm"))
    program = compile_level(routine, "one")
    check_windows(measure_windows(x, RATE, program, bed=bed), RATE)
    with pytest.raises(AssertionError, match="runs of sound"):
        measure_windows(x, RATE, program, bed=np.roll(bed, RATE // 1000))
    timeline = plan(routine, "one", BuildOptions(), exact=True)
    start, end = next((e.start, e.end) for e in timeline.events if e.text.endswith("Hold."))
    voice = x - bed
    move = RATE * 60 // 1000
    voice[start + move:end + move], voice[start:start + move] = voice[start:end].copy(), 0.0
    with pytest.raises(AssertionError, match="'get_ready'"):      # the window before it ends 60 ms late
        check_windows(measure_windows(bed + voice, RATE, program, bed=bed), RATE)


def _bed_alone(routine, tmp_path: Path, music: Music, level: str = "one", options: BuildOptions | None = None
               ) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The bed of a session as it is mixed (same gain, same ducking), without the voice,
    through the MP3 encoder of a session over a bed; and the cues' spans."""
    from audioroutine.audio.mp3 import ENCODER_GAIN_DB
    from audioroutine.model.loudness_settings import LoudnessSettings

    options = options or BuildOptions()
    timeline = plan(routine, level, options, exact=True)
    speech = speech_for(routine, compile_level(routine, level), options, SpeechStats())
    session = with_bed(mix(timeline, speech), timeline, music)
    assert session.bed is not None
    session.bed.level_for(session, LoudnessSettings(), ENCODER_GAIN_DB)
    quiet = Mix({k: bytes(len(v)) for k, v in session.pieces.items()}, session.places, session.total, RATE, {},
                session.bed)
    path = tmp_path / "bed.mp3"
    segments.encode(quiet, path, "64k", None)           # the encoder of a session over a bed
    cues = [(e.start, e.end) for e in timeline.events if e.kind == "speech"]
    return decoded(path), cues


def test_the_bed_ducks_under_every_cue_before_it_starts(write_script, tmp_path):
    """In the decoded MP3: the bed's level in holds and under cues, the ramps around a cue,
    and the speech-to-bed ratio (the cues' level in the built session against the bed alone
    under them: same gain, same ducking)."""
    routine = load_script(write_script(SCRIPT))
    bed, cues = _bed_alone(routine, tmp_path, Music("calm"))
    session = decoded(build(routine, BuildOptions(out_dir=tmp_path / "out", music="calm")).sessions[0].path)

    def db(a: int, b: int, x: np.ndarray = bed) -> float:
        return float(10 * np.log10(np.mean(x[a:b] ** 2)))

    far = RATE * 3 // 2                                            # 1.5 s from any cue: the bed is up
    holds = [db(e + far, s2 - far) for (_, e), (s2, _) in zip(cues, cues[1:]) if s2 - e > 2 * far + RATE]
    under = [db(s, e) for s, e in cues[2:]]
    assert holds and -40 < np.mean(holds) < -30                     # -20 LU under a -16 LUFS session
    assert 10 <= np.mean(holds) - np.mean(under) <= 14              # 12 dB down under the voice
    speech = [db(s, e, session) for s, e in cues[2:]]
    ratio = float(np.mean(speech) - np.mean(under))
    assert ratio >= 28, ratio                                       # speech over the ducked bed
    assert np.mean(speech) - np.mean(holds) >= 16                   # and over the bed in holds
    # the ramps: the ducked bed against the same bed not ducked (duck 0), both decoded, in 100 ms steps
    flat, _ = _bed_alone(routine, tmp_path, Music("calm", duck=0))
    lead, back = RATE * LEAD_MS // 1000, RATE * (HOLD_MS + RELEASE_MS) // 1000
    alone = [(e0, s) for (_, e0), (s, _) in zip(cues, cues[1:]) if s - e0 > lead + back + 2 * RATE]
    assert alone
    step = RATE // 10

    def duck(a: int) -> float:
        return db(a, a + step) - db(a, a + step, flat)

    for end, s in alone:
        down = [duck(s - lead + i * step) for i in range(-2, 5)]
        assert max(down[:2]) >= -1 and down[-1] <= -11              # up 200 ms before the look-ahead, down at the cue
        assert all(b <= a + 0.3 for a, b in zip(down, down[1:]))    # going down smoothly
        up = [duck(end + i * step) for i in range(12)]
        assert max(up[:2]) <= -11 and up[-1] >= -1                  # back up HOLD_MS + RELEASE_MS after the cue
        assert all(b >= a - 0.3 for a, b in zip(up, up[1:]))


def test_a_music_file_is_credited_and_part_of_the_freshness_key(write_script, tmp_path):
    song = music_file(tmp_path / "song.mp3")
    script = write_script(SCRIPT.replace("get_ready: 2s", "get_ready: 2s\nmusic: {source: song.mp3, level: -22}"))
    routine = load_script(script)
    out = tmp_path / "out"
    first = build(routine, BuildOptions(out_dir=out)).sessions[0]
    tags = read_tags(first.path)
    assert "Music: Slow Tide by The Testers." in tags["comment"]
    assert tags["provenance"]["music"]["level"] == -22
    assert build(routine, BuildOptions(out_dir=out)).sessions[0].written is False
    music_file(song, seconds=8.0)                                   # the file changes: the session is rebuilt
    assert build(load_script(script), BuildOptions(out_dir=out)).sessions[0].written is True
    assert build(load_script(script), BuildOptions(out_dir=out, music="dusk")).sessions[0].written is True


def test_a_file_loops_with_a_crossfade(tmp_path):
    song = music_file(tmp_path / "song.mp3", seconds=4.0)
    bed = Bed(Music(str(song)), RATE, 20 * RATE, [])
    x = np.concatenate([bed._raw(RATE) for _ in range(20)])
    level = 10 * np.log10(np.convolve(x ** 2, np.ones(441) / 441, mode="valid") + 1e-12)
    assert level[RATE:].max() - level[RATE:].min() < 6                # no gap, no jump at the seams


def test_a_prescription_row_picks_the_patients_bed(tmp_path, write_script):
    from audioroutine.prescribe.prescription import load_prescriptions

    script = write_script(SCRIPT)
    csv = tmp_path / "rx.csv"
    csv.write_text(f"ref,script,level,music\nP-1,{script.name},one,dusk\nP-2,{script.name},one,\n"
                   f"P-3,{script.name},one,none\n", encoding="utf-8")
    found = {p.ref: p.routine.music for p in load_prescriptions(csv).patients}
    assert found == {"P-1": Music("dusk", base=str(tmp_path)), "P-2": None, "P-3": "none"}
    csv.write_text(f"ref,script,level,music\nP-1,{script.name},one,jazz\n", encoding="utf-8")
    with pytest.raises(ScriptError, match="music"):
        load_prescriptions(csv)


def test_a_session_with_a_bed_is_one_segment(write_script):
    """The segment encoder cuts only inside digital silence: a bed leaves none, so the
    session is one segment, rendered with the bed in it."""
    from audioroutine.audio import segments

    routine = load_script(write_script(SCRIPT))
    timeline = plan(routine, "one", BuildOptions(), exact=True)
    speech = speech_for(routine, compile_level(routine, "one"), BuildOptions(), SpeechStats())
    plain = mix(timeline, speech)
    assert len(segments.plan(plain, 0)) > 1
    session = with_bed(plain, timeline, Music("calm"))
    assert segments.plan(session, 0) == [segments.Segment(0, session.total, None)]
    whole = session.pcm()
    assert whole != plain.pcm() and len(whole) == 2 * session.total
    assert segments.render(session, 0, session.total) == whole
    assert segments.render(session, RATE, 3 * RATE) == whole[2 * RATE:6 * RATE]


def test_a_music_file_named_by_an_input_file_stays_inside_its_roots(tmp_path, monkeypatch):
    """Like every path in an input file (core.reader.inside_roots): its own folder, the
    current folder, $AUDIOROUTINE_ROOTS; `--music` may name any file."""
    monkeypatch.delenv("AUDIOROUTINE_ROOTS", raising=False)
    scripts, elsewhere = tmp_path / "scripts", tmp_path / "elsewhere"
    scripts.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(scripts)
    song = music_file(elsewhere / "song.mp3")
    with pytest.raises(MusicError, match="outside the folders"):
        parse_music("../elsewhere/song.mp3", str(scripts))
    with pytest.raises(MusicError, match="outside the folders"):
        parse_music(str(song), str(scripts))
    assert parse_music(str(song)) == Music(str(song))
    monkeypatch.setenv("AUDIOROUTINE_ROOTS", str(elsewhere))
    assert parse_music("../elsewhere/song.mp3", str(scripts)) is not None


def test_watch_rebuilds_when_the_music_file_changes(tmp_path):
    """`watch` polls the music file a script or settings file names, as it polls them."""
    import os
    import threading
    import time

    from audioroutine.run.watch import watch, watched_files

    folder = tmp_path / "scripts"
    (folder / "sounds").mkdir(parents=True)
    song, other = music_file(folder / "sounds" / "song.mp3"), music_file(folder / "other.mp3")
    script = folder / "bed.yaml"
    script.write_text(SCRIPT.replace("get_ready: 2s", "get_ready: 2s\nmusic: {source: sounds/song.mp3}"),
                      encoding="utf-8")
    settings = folder / "audioroutine.toml"
    settings.write_text('music = "other.mp3"\n', encoding="utf-8")
    assert set(watched_files([folder])) == {script, settings, song, other}
    calls: list[list[Path]] = []
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(lambda: watched_files([folder]), calls.append),
                              kwargs={"interval": 0.02, "stop": stop.is_set})
    thread.start()

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 5
        while len(calls) < count:
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.01)

    try:
        wait_for(1)
        later = time.time() + 5
        os.utime(song, (later, later))                             # the script's music file is saved
        wait_for(2)
        assert calls[1] == [song]
        os.utime(other, (later, later))                            # the settings file's
        wait_for(3)
        assert calls[2] == [other]
        script.write_text(SCRIPT.replace("get_ready: 2s", "get_ready: 2s\nmusic: calm"), encoding="utf-8")
        wait_for(4)                                                # a built-in bed: the file is no longer watched
        assert calls[3] == [script, song]
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert song not in watched_files([folder])


def test_a_session_with_a_bed_streams_into_one_encoder_and_its_peaks_are_fixed(tmp_path):
    """Over a bed the session is played into one LAME run (never held whole); a decode that
    goes over the ceiling is fixed by encoding the session again through the fix; the file
    is one gapless MP3 of exactly the session's samples."""
    from audioroutine.audio import segments
    from audioroutine.model.loudness_settings import LoudnessSettings

    n = 12 * RATE
    t = np.arange(n) / RATE
    hot = (0.99 * np.sign(np.sin(2 * np.pi * 180 * t)) * 32767).astype("<i2").tobytes()   # clips after coding
    session = with_bed(Mix.of_clip(hot, RATE), plan_of(n), Music("dusk"))
    assert session.bed is not None
    session.bed.gain = 0.05
    stats = segments.encode(session, tmp_path / "s.mp3", "64k", LoudnessSettings())
    assert stats.segments == 1 and stats.encodes >= 2 and stats.cached == 0
    assert len(decoded(tmp_path / "s.mp3")) == n
    assert loudness(tmp_path / "s.mp3")[1] <= -1.0


def plan_of(n: int):
    """A timeline with one sound over `n` samples (what `with_bed` reads)."""
    from types import SimpleNamespace

    event = SimpleNamespace(kind="speech", start=0, end=n)
    return SimpleNamespace(events=[event], sample_rate=RATE, total=n)


def broadband_file(path: Path, seconds: float = 180.0) -> Path:
    """A 44.1 kHz stereo MP3 of pink noise (under 6 kHz) and two swelling tones: music that
    fills the spectrum, harder for MP3 coding than the built-in pads."""
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"anoisesrc=color=pink:amplitude=0.3:d={seconds}:r=44100:seed=7", "-f", "lavfi", "-i",
                    f"aevalsrc=0.2*sin(2*PI*196*t)*(0.6+0.4*sin(1.3*t))|0.2*sin(2*PI*294*t)*(0.6+0.4*sin(0.7*t))"
                    f":s=44100:d={seconds}", "-filter_complex", "[0]lowpass=f=6000[a];[a][1]amix=inputs=2",
                    "-ac", "2", "-b:a", "128k", str(path)], check=True)
    return path


def _hold_errors(found) -> np.ndarray:
    return np.array([(m.end - m.start) * 1000 / RATE - m.prescribed_ms for m in found if m.role == "hold"])


@pytest.fixture(scope="module")
def seed_without_music(tmp_path_factory):
    """The seed's beginner session with Piper and no music, measured; its phrase cache is
    shared by the sessions over a bed (Piper synthesizes once, ~30 s)."""
    pytest.importorskip("piper")
    from audioroutine.core.ffmpeg import configure_pydub

    from ..conftest import SEED

    work = tmp_path_factory.mktemp("seed")
    with pytest.MonkeyPatch.context() as patch:            # as tests.conftest.isolated_env, for the module
        patch.setenv("HOME", str(work))
        patch.setenv("XDG_CACHE_HOME", str(work / ".cache"))
        configure_pydub()
        routine = load_script(SEED)
        options = BuildOptions(out_dir=work / "none", cache_dir=work / "cache", levels=["beginner"])
        path = build(routine, options).sessions[0].path
        program = compile_level(routine, "beginner")
        return routine, work / "cache", program, measure_windows(decoded(path), RATE, program)


@pytest.mark.slow   # Piper: the phrases once (~30 s), then two encodes a bed (~30 s)
@pytest.mark.xdist_group("seed-over-beds")
@pytest.mark.parametrize("source", [*BEDS, "file"])
def test_piper_holds_over_a_bed_are_within_50_ms(source, seed_without_music, tmp_path):
    """Issue 23 on the seed's beginner session with Piper: every hold within 50 ms of the
    script from the end of its cue, speech found over the bed (in the session less its bed
    alone); and every window and countdown mark reads within 20 ms of where it reads in the
    same session without music (measured: 16 ms at most). Also what the difference is made of
    away from the voice (tests/segments.py, RESIDUAL_DB)."""
    routine, cache, program, quiet = seed_without_music
    music = str(broadband_file(tmp_path / "song.mp3")) if source == "file" else source
    options = BuildOptions(out_dir=tmp_path / "out", cache_dir=cache, music=music, levels=["beginner"])
    x = decoded(build(routine, options).sessions[0].path)
    bed, cues = _bed_alone(routine, tmp_path, parse_music(music), "beginner", BuildOptions(cache_dir=cache))
    # away from the voice both encodes code the same samples: in holds (1.5 s from any cue)
    # most 5 ms frames of the difference are nil, the loudest far under the bed
    far = RATE * 3 // 2
    away = [(e + far, s - far) for (_, e), (s, _) in zip(cues, cues[1:]) if s - e > 2 * far + RATE // 2]
    frames = np.concatenate([(x - bed)[a:b][:(b - a) // 110 * 110].reshape(-1, 110) for a, b in away])
    loudest = 10 * np.log10(max(float(np.mean(frames ** 2, axis=1).max()), 1e-20))
    level = 10 * np.log10(np.mean(np.concatenate([bed[a:b] for a, b in away]) ** 2))
    assert np.mean(~frames.any(axis=1)) > 0.5 and loudest < level - 15, (loudest, level)
    found = measure_windows(x, RATE, program, bed=bed)
    holds, before = _hold_errors(found), _hold_errors(quiet)
    print(f"{source}: holds {holds.mean():.1f} / {np.abs(holds).max():.1f} ms "
          f"(no music {before.mean():.1f} / {np.abs(before).max():.1f} ms); in holds, the difference "
          f"{np.mean(~frames.any(axis=1)):.0%} nil, loudest {loudest:.1f} dBFS, the bed {level:.1f} dBFS")
    assert len(holds) == len(before) > 20 and np.abs(holds).max() <= 50, holds
    for a, b in zip(found, quiet):
        assert abs((a.end - a.start) - (b.end - b.start)) * 1000 / RATE <= 20, (a.role, a.start)
        for (_, onset), (_, then) in zip(a.timed, b.timed):
            assert abs((onset - a.start) - (then - b.start)) * 1000 / RATE <= 20, (a.role, a.start)


def _traced_peak_with_bed(minutes: int, tmp_path: Path, song: Path) -> int:
    """Peak heap (tracemalloc) of levelling and encoding a session of `minutes` over a music file."""
    import tracemalloc
    from types import SimpleNamespace

    from audioroutine.audio.mp3 import encode_normalized
    from audioroutine.model.loudness_settings import LoudnessSettings

    total = RATE * 60 * minutes
    rng = np.random.default_rng(1)
    pieces = {("speech", str(i), RATE * 2): (rng.normal(0, 0.1, RATE * 2) * 32767).astype("<i2").tobytes()
              for i in range(4)}
    keys = list(pieces)
    places = [(start, keys[n % 4]) for n, start in enumerate(range(0, total - RATE * 2, RATE * 6))]
    events = [SimpleNamespace(kind="speech", start=s, end=s + RATE * 2) for s, _ in places]
    timeline = SimpleNamespace(events=events, sample_rate=RATE, total=total)
    session = with_bed(Mix(pieces, places, total, RATE), timeline, Music(str(song)))
    tracemalloc.start()
    try:
        encode_normalized(session, tmp_path / "long.mp3", "64k", LoudnessSettings())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow   # ~1 min: two sessions over a music file, traced
def test_memory_over_a_bed_does_not_grow_with_the_session(tmp_path):
    """8 and 24 minutes over a music file: 16 more minutes are 42 MB more PCM (2.6 MB a
    minute) and under 0.25 MB a minute more heap (the per-10 ms arrays of the loudness model
    and peak check); the session is never held whole (bench/bench_memory.py --music file:
    peak RSS of 2 hours, with and without). As test_stream's test without a bed."""
    song = music_file(tmp_path / "song.mp3", seconds=30.0)
    short, long = _traced_peak_with_bed(8, tmp_path, song), _traced_peak_with_bed(24, tmp_path, song)
    assert (long - short) / 16 < 0.25e6, f"{short / 1e6:.1f} MB -> {long / 1e6:.1f} MB"
    assert long < 2 * RATE * 60 * 24 / 4
    assert len(decoded(tmp_path / "long.mp3")) == RATE * 60 * 24


@pytest.mark.slow   # ~2-4 min: Piper, two builds, pocketsphinx listens to both
def test_the_voice_is_heard_as_well_over_a_bed(write_script, tmp_path):
    """Issue 23: WER with music within 0.03 of the same session without. Cut where speech is
    found in the audio (over the bed: where it rises over it), not by pocketsphinx's own
    voice detector, which does not end an utterance while a bed plays (docs/music.md)."""
    pytest.importorskip("pocketsphinx")
    from ..listener import Listener, decode_16k, speech_cues, wer
    from .test_intelligibility import SCRIPT as LISTEN

    routine = load_script(write_script(LISTEN))
    cache = tmp_path / "cache"
    listener = Listener()
    heard = {}
    for music in ("none", "calm"):
        path = build(routine, BuildOptions(out_dir=tmp_path / music, cache_dir=cache, music=music)).sessions[0].path
        timeline = plan(routine, "beginner", BuildOptions(cache_dir=cache))
        pcm = decode_16k(path)
        report = listener.check(pcm, speech_cues(timeline), timeline.sample_rate, whole=False)
        assert report.missing == []
        heard[music] = (wer(report.session_ref, listener.transcribe_found(pcm, over_bed=music != "none")),
                        report.cue_wer)
    (found, cue), (found_bed, cue_bed) = heard["none"], heard["calm"]
    assert found_bed - found <= 0.03, heard
    assert cue_bed - cue <= 0.03, heard
