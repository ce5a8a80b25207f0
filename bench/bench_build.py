"""Build benchmark: how fast the seed routine turns into MP3s, cold and warm, and at what memory.

    python bench/bench_build.py [--script PATH] [--levels beginner,progressed] [--json out.json]

Each build runs in its own child process (so peak memory is that build's alone); the runs
share one fresh temporary phrase cache, in this order:

  cold    empty cache: every phrase synthesized with Piper, every MP3 encoded
  warm    same cache, --force: no synthesis, every MP3 rendered and encoded again
  no-op   nothing changed, no --force: MP3s are up to date and left alone
  edit    a copy of the script with one cue's text changed: only that phrase is synthesized
          (once per level, since each level has its own speaking rate)

and against baselines, each beside the build it is compared with (`--rounds` pairs, the
fastest of each kept): Piper alone synthesizing every phrase (before the cold build), ffmpeg
alone encoding the same PCM (with each warm build), Piper alone loading and synthesizing the
edited phrase (with each edit, made on a fresh copy of the warm cache and output).

Speed is audio seconds per wall second of the build call (imports and interpreter start
excluded; Piper's model load is inside the cold build). Figures are meant to be read as
ratios between runs of the same invocation: the machine is shared, absolute times drift.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any  # rows are JSON from a child process

from subrun import parse_or_serve, run_script

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "scripts_yaml" / "upper_middle_back.yaml"
# The one edit: a cue that is one phrase on its own in every level (not part of a rep count).
EDIT_FROM = "Take a moment to stand up slowly and notice how your back feels."
EDIT_TO = "Take a moment to stand up slowly and notice how your whole back feels."


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one build (or a baseline) in this process; report its time, output and peak memory."""
    if spec.get("baseline") == "piper":
        return piper_alone(spec)
    if spec.get("baseline") == "ffmpeg":
        return ffmpeg_alone(spec)
    from audioroutine import BuildOptions, Parallel, build, load_script
    from audioroutine.core.ffmpeg import configure_pydub

    configure_pydub()
    routine = load_script(Path(str(spec["script"])))
    options = BuildOptions(
        out_dir=Path(str(spec["out"])), cache_dir=Path(str(spec["cache"])), force=bool(spec["force"]),
        levels=spec["levels"],
    )
    start = time.perf_counter()
    result = build(routine, options, parallel=Parallel(jobs=spec.get("jobs")))
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "audio_s": sum(s.seconds for s in result.sessions),
        "written_audio_s": sum(s.seconds for s in result.sessions if s.written),
        "written": sum(s.written for s in result.sessions),
        "sessions": len(result.sessions),
        "synthesized": result.stats.synthesized,
        "cached": result.stats.cached,
        # Linux reports ru_maxrss in KiB. The build process only: the ffmpeg encoder runs as
        # its own process (RUSAGE_CHILDREN would not isolate it: a forked child's maxrss
        # starts from the parent's size).
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def piper_alone(spec: dict[str, Any]) -> dict[str, Any]:
    """Baseline: Piper loads and synthesizes the given phrases of every level (each level at
    its own rate), one after another, in this process: no cache, no trimming, no audio work."""
    from audioroutine import load_script
    from audioroutine.compile.compiler import compile_level
    from audioroutine.engines import VoiceOptions, get_engine

    routine = load_script(Path(str(spec["script"])))
    only = spec.get("phrases")
    start = time.perf_counter()
    count = 0
    for level in spec["levels"] or [lv.id for lv in routine.levels]:
        program = compile_level(routine, level)
        engine = get_engine("piper", VoiceOptions(voice=None, language=routine.language, rate=program.rate))
        for text in program.texts():
            if only is None or text in only:
                engine.synthesize(text)
                count += 1
    return {"wall_s": time.perf_counter() - start, "synthesized": count,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def ffmpeg_alone(spec: dict[str, Any]) -> dict[str, Any]:
    """Baseline: ffmpeg's LAME encodes each session's PCM (decoded from the build's MP3s
    beforehand, untimed) to the same settings, one after another."""
    from audioroutine.audio.mp3 import decode_mp3, encode_mp3

    total = 0.0
    for mp3 in sorted(Path(str(spec["out"])).glob("*.mp3")):
        pcm = decode_mp3(mp3, 22050).raw_data
        start = time.perf_counter()
        encode_mp3([pcm], Path(str(spec["scratch"])) / "alone.mp3", 22050, "64k")
        total += time.perf_counter() - start
    return {"wall_s": total, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    row = run_script(__file__, spec, f"build failed ({spec['name']})")
    row["process_s"] = time.perf_counter() - start
    row["name"] = spec["name"]
    return row


def bench(script: Path, levels: list[str], work: Path, rounds: int,
          jobs: int | None) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The four builds and the three baselines. A build and the baseline it is compared
    with run one after the other, `rounds` times (the edit on a fresh copy of the warm
    cache and output each time); each keeps its fastest round, so that load from other
    work on the machine, which comes and goes, disturbs the ratios least."""
    edited = work / "edited.yaml"
    text = script.read_text(encoding="utf-8")
    if EDIT_FROM not in text:
        sys.exit(f"{script}: the edit text is not in this script; use the seed routine")
    edited.write_text(text.replace(EDIT_FROM, EDIT_TO), encoding="utf-8")
    base = {"cache": str(work / "cache"), "out": str(work / "out"), "levels": levels, "jobs": jobs}

    def step(name: str, **spec: Any) -> dict[str, Any]:
        print(f"  {name} ...", file=sys.stderr, flush=True)
        return run_child({**base, "name": name, **spec})

    def fastest(*candidates: dict[str, Any]) -> dict[str, Any]:
        return min(candidates, key=lambda row: float(row["wall_s"]))

    piper = step("Piper alone, every phrase", baseline="piper", script=str(script))
    cold = step("cold", script=str(script), force=False)
    warm, encode = [], []
    for _ in range(rounds):
        warm.append(step("warm (--force)", script=str(script), force=True))
        encode.append(step("ffmpeg encode alone", baseline="ffmpeg", scratch=str(work)))
    noop = step("no-op rerun", script=str(script), force=False)
    edits, piper_edit = [], []
    for n in range(rounds):
        copy = {"cache": str(work / f"cache-{n}"), "out": str(work / f"out-{n}")}
        shutil.copytree(work / "cache", copy["cache"])
        shutil.copytree(work / "out", copy["out"])
        edits.append(step("one edit", script=str(edited), force=False, **copy))
        piper_edit.append(step("Piper alone, edited phrase", baseline="piper", script=str(edited),
                               phrases=[EDIT_TO]))
    rows = [cold, fastest(*warm), noop, fastest(*edits)]
    baselines = {"piper": piper, "piper edit": fastest(*piper_edit), "ffmpeg": fastest(*encode)}
    return rows, baselines


def against(rows: list[dict[str, Any]], baselines: dict[str, dict[str, Any]]) -> str:
    """Each build against what it cannot avoid: encoding (warm), Piper's synthesis plus
    encoding (cold), one phrase plus encoding (edit)."""
    piper, edit, encode = (float(baselines[k]["wall_s"]) for k in ("piper", "piper edit", "ffmpeg"))
    lines = [f"{'baseline':<28} {'s':>7}"]
    lines += [f"{row['name']:<28} {float(row['wall_s']):>7.2f}" for row in baselines.values()]
    for name, row, floor in (("warm (--force) / encode alone", rows[1], encode),
                             ("cold / (Piper alone + encode alone)", rows[0], piper + encode),
                             ("one edit / (Piper alone, edited phrase + encode)", rows[3], edit + encode)):
        lines.append(f"{name + ':':<50} {float(row['wall_s']) / floor:.2f}x")
    return "\n".join(lines)


def table(rows: list[dict[str, Any]]) -> str:
    cold = rows[0]
    lines = [
        f"{'run':<15} {'audio s':>8} {'written':>7} {'synth':>5} {'cached':>6} {'build s':>8} "
        f"{'audio s/s':>9} {'vs cold':>8} {'peak MB':>7}",
    ]
    for row in rows:
        speed = float(row["written_audio_s"]) / float(row["wall_s"])
        lines.append(
            f"{row['name']:<15} {row['audio_s']:>8.1f} {row['written']:>7} {row['synthesized']:>5} "
            f"{row['cached']:>6} {row['wall_s']:>8.2f} {speed:>9.1f} "
            f"{float(cold['wall_s']) / float(row['wall_s']):>7.1f}x "
            f"{row['peak_rss_mb']:>7.0f}"
        )
    lines.append("audio s/s: audio seconds written per wall second of build(); "
                 "vs cold: cold build time / this build's time")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", type=Path, default=SEED)
    parser.add_argument("--levels", default="", help="comma-separated; default: every level")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of warm/encode and edit/Piper pairs")
    parser.add_argument("--jobs", type=int, default=None,
                        help="processes per build [default: as the CLI, the cores, small batches in one]")
    args = parse_or_serve(parser, child)
    if args is None:
        return
    levels = [level for level in args.levels.split(",") if level]
    with tempfile.TemporaryDirectory(prefix="audioroutine-bench-") as tmp:
        rows, baselines = bench(args.script.resolve(), levels, Path(tmp), args.rounds, args.jobs)
    print(table(rows))
    print()
    print(against(rows, baselines))
    edit = rows[3]
    levels_built = int(edit["sessions"])
    ok = edit["synthesized"] == levels_built and rows[2]["written"] == 0 and rows[1]["synthesized"] == 0
    print(f"one edit re-synthesized {edit['synthesized']} clip(s) for {levels_built} level(s); "
          f"no-op rewrote {rows[2]['written']} file(s): {'as expected' if ok else 'UNEXPECTED'}")
    if args.json:
        args.json.write_text(json.dumps({"script": str(args.script), "runs": rows, "baselines": baselines},
                                        indent=2) + "\n")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
