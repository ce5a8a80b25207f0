"""Segment encoder benchmark: warm builds against ffmpeg's single-stream encode, one-cue edits
against warm builds, and the quality of the joined MP3 against a whole-file encode.

    python bench/bench_segments.py [--engine piper|espeak] [--rounds 2] [--json out.json]

Every build runs in a child process of its own and logs each encoder and decoder run
(AUDIOROUTINE_ENCODE_LOG: samples handed to the encoder, frames' samples decoded for the
peak check); wall and CPU time (the process and its ffmpeg children) per run. In one run, sharing one fresh
temporary phrase cache:

  cold       fills the phrase cache (timed, not compared)
  warm       --force with the segment entries removed first (every segment encoded), beside
             ffmpeg alone encoding the same PCM as one stream per session, one after the other
             (its LAME at the same settings: the issue's baseline), and the build's own
             encoder (lamelib: LAME in the process) doing the same
  edit       the outro's text changed (a new phrase: Piper synthesizes it at both rates),
             from the warm cache and output restored in place each round (a session's kept
             gain is per output file): only segments whose samples changed are encoded
  mid edit   "And lower down." -> "And lower down gently." (cobra's release, every other rep;
             the issue's edit; the phrase is already in the cache, said by another exercise):
             the cues after it move by samples, not frames, up to the next pause between
             sentences (which ends on the frame grid), so the segments up to there are
             encoded again and the rest are found in the cache
  cached     --force with the segment entries kept (what `build --force` does)
  quality    the warm build's levelled PCM (caught on its way to the encoder) encoded whole by
             the same encoder (mp3.encode_mp3: one stream), against the joined file: SNR of
             both decodes against the PCM, the largest difference between them within 10 ms
             of every cut, the codec's noise in the PCM's silence, ffmpeg -v error on
             decoding, mutagen's length against the decode

Read the ratios: the machine is shared and absolute times drift. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from subrun import parse_or_serve, run_script

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "scripts_yaml" / "upper_middle_back.yaml"
OUTRO_FROM = "Take a moment to stand up slowly and notice how your back feels."
OUTRO_TO = "Take a moment to stand up slowly and notice how your whole back feels."
MID_FROM = "And lower down."
MID_TO = "And lower down gently."
RATE = 22050


def child(spec: dict[str, Any]) -> dict[str, Any]:
    if spec.get("baseline") == "ffmpeg":
        return ffmpeg_alone(spec)
    if spec.get("quality"):
        return quality(spec)
    return build(spec)


def build(spec: dict[str, Any]) -> dict[str, Any]:
    from audioroutine import BuildOptions, Parallel, load_script
    from audioroutine import build as build_routine
    from audioroutine.core.ffmpeg import configure_pydub

    configure_pydub()
    routine = load_script(Path(str(spec["script"])))
    options = BuildOptions(out_dir=Path(str(spec["out"])), cache_dir=Path(str(spec["cache"])),
                           force=bool(spec["force"]), engine=spec["engine"])
    log = Path(str(spec["log"]))
    log.unlink(missing_ok=True)
    os.environ["AUDIOROUTINE_ENCODE_LOG"] = str(log)
    cpu = cpu_seconds()
    start = time.perf_counter()
    result = build_routine(routine, options, parallel=Parallel(jobs=spec.get("jobs")))
    wall = time.perf_counter() - start
    cpu = cpu_seconds() - cpu
    runs = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "session_samples": sum(round(s.seconds * RATE) for s in result.sessions),
        "written": sum(s.written for s in result.sessions),
        "synthesized": result.stats.synthesized,
        "encodes": sum(r[0] == "encode" for r in runs),
        "decodes": sum(r[0] == "decode" for r in runs),
        "encoded_samples": sum(int(r[1]) for r in runs if r[0] == "encode"),
        "decoded_samples": sum(int(r[1]) for r in runs if r[0] == "decode"),
        "files": {p.name: p.stat().st_size for p in Path(str(spec["out"])).glob("*.mp3")},
    }


def ffmpeg_alone(spec: dict[str, Any]) -> dict[str, Any]:
    """ffmpeg's LAME (the same settings: lame.encoder_args) encoding each session's PCM
    (decoded from the build's MP3s beforehand, untimed) as one stream, one session after the
    other; with spec["ours"], the build's own encoder (lamelib, in this process) instead."""
    from audioroutine.audio.lame import encoder_args
    from audioroutine.audio.mp3 import decode_mp3, encode_mp3
    from audioroutine.core.ffmpeg import run_ffmpeg

    total, cpu = 0.0, 0.0
    target = Path(str(spec["scratch"])) / "alone.mp3"
    for mp3 in sorted(Path(str(spec["out"])).glob("*.mp3")):
        pcm = decode_mp3(mp3, RATE).raw_data
        before = cpu_seconds()
        start = time.perf_counter()
        if spec.get("ours"):
            encode_mp3([pcm], target, RATE, "64k")
        else:
            run_ffmpeg(encoder_args(RATE, "64k") + ["-f", "mp3", "-y", str(target)], pcm)
        total += time.perf_counter() - start
        cpu += cpu_seconds() - before
    return {"wall_s": total, "cpu_s": cpu}


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the ffmpeg runs), user + system:
    on a shared machine, a steadier measure than the wall clock."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def quality(spec: dict[str, Any]) -> dict[str, Any]:
    """A --force build in this process (no segment entries), the levelled PCM of each session
    caught as it goes to the segment encoder; then each compared as the module docstring says."""
    import numpy as np
    from mutagen.mp3 import MP3

    import audioroutine.audio.segments as segments
    from audioroutine import BuildOptions, Parallel, build, load_script
    from audioroutine.audio.mp3 import decode_mp3, encode_mp3
    from audioroutine.core.ffmpeg import configure_pydub, ffmpeg_exe

    configure_pydub()
    scratch = Path(str(spec["scratch"]))
    caught: dict[str, tuple[bytes, list[int]]] = {}
    real = segments.encode

    def catching(session: Any, path: Path, *args: Any, **kwargs: Any) -> Any:
        stats = real(session, path, *args, **kwargs)
        caught[str(path)] = (session.pcm(), [s.start for s in segments.plan(session)[1:]])
        return stats

    segments.encode = catching
    routine = load_script(Path(str(spec["script"])))
    out = scratch / "quality"
    shutil.rmtree(Path(str(spec["cache"])) / "segments", ignore_errors=True)
    result = build(routine, BuildOptions(out_dir=out, cache_dir=Path(str(spec["cache"])), force=True,
                                         engine=spec["engine"]), parallel=Parallel(jobs=1))
    rows = []
    for session, (pcm, cuts) in zip(result.sessions, caught.values()):
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        whole = scratch / "whole.mp3"
        encode_mp3([pcm], whole, RATE, "64k")
        dw = np.frombuffer(decode_mp3(whole, RATE).raw_data, dtype="<i2").astype(np.float64)
        errors = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(session.path), "-f", "s16le", "-"],
                                capture_output=True, check=True)
        ds = np.frombuffer(errors.stdout, dtype="<i2").astype(np.float64)

        near = max((float(np.abs(ds[c - RATE // 100:c + RATE // 100] - dw[c - RATE // 100:c + RATE // 100]).max())
                    for c in cuts), default=0.0)
        silent = x == 0
        rows.append({
            "file": session.path.name, "samples": len(x), "decoded": len(ds), "segments": len(cuts) + 1,
            "snr_whole_db": snr(dw, x), "snr_segments_db": snr(ds, x),
            "near_cuts_max_diff": near, "near_cuts_max_abs_whole": max(
                (float(np.abs(dw[c - RATE // 100:c + RATE // 100]).max()) for c in cuts), default=0.0),
            "codec_noise_in_silence_max": float(np.abs(dw[silent]).max()),
            "codec_noise_in_silence_p99": float(np.percentile(np.abs(dw[silent]), 99)),
            "ffmpeg_errors": errors.stderr.decode(errors="replace").strip(),
            "mutagen_samples": mutagen_samples(MP3(str(session.path))),
        })
    return {"sessions": rows}


def snr(decoded: Any, x: Any) -> float:
    """Signal to noise (dB) of a decode against the PCM, LAME's 0.95 scaling undone."""
    import numpy as np

    scale = float(np.dot(decoded, x) / np.dot(decoded, decoded))
    return float(10 * np.log10(np.sum(x ** 2) / np.sum((decoded * scale - x) ** 2)))


def mutagen_samples(mp3: Any) -> int:
    assert mp3.info is not None
    return round(float(mp3.info.length) * RATE)


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    print(f"  {spec['name']} ...", file=sys.stderr, flush=True)
    row = run_script(__file__, spec, f"failed ({spec['name']})")
    row["name"] = spec["name"]
    return row


def set_aside(path: Path, work: Path) -> None:
    """Move `path` out of the way instead of deleting it: ext4 skips the inodes freed in the
    last seconds when it allocates one, reading each, so a build run just after a deletion of
    hundreds of files paid for it on every file it created (`perf`: recently_deleted in
    ext4_create and ext4_mkdir; 0.5-1 ms of CPU per file against 0.1). A user's build does
    not follow a mass deletion. What is set aside goes with the work folder."""
    if path.exists():
        trash = work / "set-aside"
        trash.mkdir(exist_ok=True)
        path.rename(trash / str(len(list(trash.iterdir()))))


def bench(script: Path, engine: str, work: Path, rounds: int) -> dict[str, Any]:
    text = script.read_text(encoding="utf-8")
    for needle in (OUTRO_FROM, MID_FROM):
        if needle not in text:
            sys.exit(f"{script}: {needle!r} is not in this script; use the seed routine")
    outro, mid = work / "outro.yaml", work / "mid.yaml"
    outro.write_text(text.replace(OUTRO_FROM, OUTRO_TO), encoding="utf-8")
    mid.write_text(text.replace(MID_FROM, MID_TO), encoding="utf-8")
    cache, out = work / "cache", work / "out"
    base = {"engine": engine, "log": str(work / "encode.log"), "scratch": str(work)}
    cold = run_child({**base, "name": "cold", "script": str(script), "cache": str(cache), "out": str(out),
                      "force": False})
    warm: list[dict[str, Any]] = []
    encode: list[dict[str, Any]] = []
    ours: list[dict[str, Any]] = []
    edits: list[dict[str, Any]] = []
    mids: list[dict[str, Any]] = []
    cached: list[dict[str, Any]] = []
    for n in range(rounds):
        set_aside(cache / "segments", work)
        warm.append(run_child({**base, "name": "warm (--force)", "script": str(script), "cache": str(cache),
                               "out": str(out), "force": True}))
        encode.append(run_child({**base, "name": "ffmpeg encode alone", "baseline": "ffmpeg", "out": str(out)}))
        ours.append(run_child({**base, "name": "lamelib encode alone", "baseline": "ffmpeg", "ours": True,
                               "out": str(out)}))
        cached.append(run_child({**base, "name": "warm (--force), segments cached", "script": str(script),
                                 "cache": str(cache), "out": str(out), "force": True}))
        # Each edit starts from this round's warm cache and output, restored in place: a
        # session's kept gain is keyed by its file (run/work.py), as when a user edits a script
        # and builds into the same folder again.
        snapshot = {"cache": work / f"cache-{n}", "out": work / f"out-{n}"}
        for path in snapshot.values():
            set_aside(path, work)
        shutil.copytree(cache, snapshot["cache"])
        shutil.copytree(out, snapshot["out"])
        for name, edited, rows in (("outro edit", outro, edits), ("mid edit", mid, mids)):
            for live, saved in ((cache, snapshot["cache"]), (out, snapshot["out"])):
                set_aside(live, work)
                shutil.copytree(saved, live)
            rows.append(run_child({**base, "name": name, "script": str(edited), "cache": str(cache),
                                   "out": str(out), "force": False}))
        for live, saved in ((cache, snapshot["cache"]), (out, snapshot["out"])):
            set_aside(live, work)
            shutil.copytree(saved, live)
    quality_row = run_child({**base, "name": "quality", "quality": True, "script": str(script),
                             "cache": str(work / "cache-0")})

    def fastest(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return min(rows, key=lambda row: float(row["wall_s"]))

    return {"cold": cold, "warm": fastest(warm), "encode": fastest(encode), "ours": fastest(ours),
            "edit": fastest(edits),
            "mid": fastest(mids), "cached": fastest(cached), "quality": quality_row["sessions"],
            "rounds": {"warm": warm, "encode": encode, "ours": ours, "edit": edits, "mid": mids, "cached": cached}}


def report(found: dict[str, Any]) -> tuple[str, bool]:
    warm, encode, edit, mid, cached = (found[k] for k in ("warm", "encode", "edit", "mid", "cached"))
    lines = [f"{'run':<32} {'wall s':>7} {'CPU s':>7} {'encodes':>7} {'decodes':>7} {'encoded/session':>15} "
             f"{'decoded/session':>15}"]
    for name, row in (("cold", found["cold"]), ("warm (--force)", warm), ("warm (--force), segments cached", cached),
                      ("mid edit (the issue's)", mid), ("outro edit (new phrase)", edit)):
        lines.append(f"{name:<32} {row['wall_s']:>7.2f} {row['cpu_s']:>7.2f} {row['encodes']:>7} {row['decodes']:>7} "
                     f"{row['encoded_samples'] / row['session_samples']:>15.3f} "
                     f"{row['decoded_samples'] / row['session_samples']:>15.3f}")
    lines.append(f"{'ffmpeg encode alone':<32} {encode['wall_s']:>7.2f} {encode['cpu_s']:>7.2f}")
    lines.append(f"{'lamelib encode alone':<32} {found['ours']['wall_s']:>7.2f} {found['ours']['cpu_s']:>7.2f}")
    warm_ratio = warm["wall_s"] / encode["wall_s"]
    mid_ratio = mid["wall_s"] / warm["wall_s"]
    share = mid["encoded_samples"] / mid["session_samples"]
    coverage = warm["encoded_samples"] / warm["session_samples"]
    lines += ["", f"warm --force / ffmpeg single-stream encode: {warm_ratio:.2f}x (target <= 0.8); in CPU time "
              f"{warm['cpu_s'] / encode['cpu_s']:.2f}x (2 cores: <= 1.6 can meet 0.8x in wall time); segments "
              f"cached (what --force does): {cached['wall_s'] / encode['wall_s']:.2f}x; against the build's own "
              f"encoder as one stream: {warm['wall_s'] / found['ours']['wall_s']:.2f}x",
              f"warm encoded samples / session samples: {coverage:.3f} (target <= 1.02)",
              f"mid edit / warm --force: {mid_ratio:.2f}x (target <= 0.25; CPU {mid['cpu_s'] / warm['cpu_s']:.2f}x), "
              f"re-encoding {100 * share:.1f} % of the session samples (target < 10 %)",
              f"outro edit / warm --force: {edit['wall_s'] / warm['wall_s']:.2f}x (CPU "
              f"{edit['cpu_s'] / warm['cpu_s']:.2f}x; it synthesizes a new phrase at both rates), re-encoding "
              f"{100 * edit['encoded_samples'] / edit['session_samples']:.1f} %", ""]
    quality_ok = True
    for row in found["quality"]:
        lines.append(f"{row['file']}: {row['segments']} segments; SNR whole {row['snr_whole_db']:.2f} dB, "
                     f"segments {row['snr_segments_db']:.2f} dB; within 10 ms of a cut max |segments - whole| "
                     f"{row['near_cuts_max_diff']:.0f} (whole there: {row['near_cuts_max_abs_whole']:.0f}); codec "
                     f"noise in silence max {row['codec_noise_in_silence_max']:.0f}, 99th pct "
                     f"{row['codec_noise_in_silence_p99']:.0f}; decoded {row['decoded']} of {row['samples']}, "
                     f"mutagen {row['mutagen_samples']}; ffmpeg errors: {row['ffmpeg_errors'] or 'none'}")
        quality_ok &= (abs(row["snr_whole_db"] - row["snr_segments_db"]) <= 0.3
                       and row["near_cuts_max_diff"] <= row["codec_noise_in_silence_max"]
                       and row["decoded"] == row["samples"] and not row["ffmpeg_errors"]
                       and abs(row["mutagen_samples"] - row["decoded"]) <= 576)
    ok = warm_ratio <= 0.8 and coverage <= 1.02 and mid_ratio <= 0.25 and share < 0.10 and quality_ok
    return "\n".join(lines), ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", type=Path, default=SEED)
    parser.add_argument("--engine", default="piper")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parse_or_serve(parser, child)
    if args is None:
        return
    with tempfile.TemporaryDirectory(prefix="audioroutine-bench-") as tmp:
        found = bench(args.script.resolve(), args.engine, Path(tmp), args.rounds)
    text, ok = report(found)
    print(f"engine {args.engine}, load average at the end {os.getloadavg()[0]:.1f}")
    print(text)
    if args.json:
        args.json.write_text(json.dumps(found, indent=2) + "\n")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
