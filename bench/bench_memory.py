"""Memory benchmark: peak RSS of building one long session, by session length.

    python bench/bench_memory.py [--minutes 10,30,60,120] [--engine piper] [--json out.json]
    python bench/bench_memory.py --music file --minutes 120 --engine fake   # with and without a bed

For each length a script is generated (identical holds, each exercise with its own name, so
the distinct phrases grow with the session like a real one's) and grown one exercise at a
time until `plan` says it lasts at least that many minutes. Each build runs cold in its own
child process (Piper loads and synthesizes every phrase), so `ru_maxrss` is that build's
alone; then the same session is rebuilt warm (`--force`, every phrase from the cache). The
ffmpeg encoder runs as a separate process and is not counted. `--engine fake` (tones of
known length, no model in memory) shows the pipeline's own share. `--music calm|warm|dusk|file`
builds each session twice more, warm (every phrase from the cache) but with no encoded segment
cached (a session over a bed is always encoded afresh), side by side: without music and with that bed (`file`:
a generated 3-minute stereo 44.1 kHz MP3, resampled and looped like any song), so the bed's
own share of the peak is the difference.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml
from subrun import parse_or_serve, run_script

EXERCISE = {"reps": 10, "hold": "20s", "rest": "8s"}   # about 4.7 minutes of session


def script_text(exercises: int, engine: str) -> str:
    return str(yaml.safe_dump({
        "id": "long", "title": "Long session", "voice": {"engine": engine},
        "exercises": [{"name": f"Exercise {n}", "hold": "Hold it there.", "dosage": EXERCISE}
                      for n in range(1, exercises + 1)],
    }, sort_keys=False))


def long_script(minutes: float, folder: Path, engine: str) -> Path:
    """A script whose beginner level lasts at least `minutes`."""
    from audioroutine import BuildOptions, load_script, plan

    path = folder / f"long-{minutes:g}.yaml"
    exercises = 1
    while True:
        path.write_text(script_text(exercises, engine), encoding="utf-8")
        options = BuildOptions(cache_dir=folder / "plan-cache")
        if plan(load_script(path), "beginner", options).total / 22050 >= minutes * 60:
            return path
        exercises += 1


def child(spec: dict[str, str]) -> dict[str, float]:
    """Build one level cold in this process; report its peak memory."""
    from audioroutine import BuildOptions, build, load_script
    from audioroutine.core.ffmpeg import configure_pydub

    configure_pydub()
    if spec.get("fresh_segments"):         # encode afresh, as a session over a bed always is
        import shutil

        shutil.rmtree(Path(spec["cache"]) / "segments", ignore_errors=True)
    routine = load_script(Path(spec["script"]))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux
    start = time.perf_counter()
    result = build(routine, BuildOptions(out_dir=Path(spec["out"]), cache_dir=Path(spec["cache"]),
                                         levels=("beginner",), force=bool(spec.get("force")),
                                         music=spec.get("music")))
    return {
        "audio_min": result.sessions[0].seconds / 60,
        "written": float(result.sessions[0].written),
        "wall_s": time.perf_counter() - start,
        "rss_before_mb": before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def song(path: Path) -> Path:
    """A 3-minute stereo 44.1 kHz MP3 (two soft tones and a slow tremolo), made by ffmpeg."""
    import subprocess

    from audioroutine.core.ffmpeg import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "aevalsrc=0.2*sin(2*PI*220*t)*(0.7+0.3*sin(0.5*t))|0.2*sin(2*PI*330*t):s=44100:d=180",
                    "-b:a", "128k", str(path)], check=True)
    return path


def run(minutes: float, work: Path, engine: str, music: str | None = None) -> dict[str, float]:
    script = long_script(minutes, work, engine)
    spec = {"script": str(script), "out": str(work / f"out-{minutes:g}"), "cache": str(work / f"cache-{minutes:g}")}
    cold = run_script(__file__, spec, f"build failed ({minutes:g} min)")
    warm = run_script(__file__, {**spec, "force": True}, f"warm build failed ({minutes:g} min)")
    row = {"minutes": minutes, **cold, "warm_peak_rss_mb": warm["peak_rss_mb"]}
    if music:
        bed = str(song(work / "song.mp3")) if music == "file" else music
        again = {**spec, "force": True, "fresh_segments": True}
        plain = run_script(__file__, {**again, "music": "none"}, "build without music failed")
        with_bed = run_script(__file__, {**again, "music": bed}, "build with music failed")
        row.update(plain_peak_mb=plain["peak_rss_mb"], plain_s=plain["wall_s"],
                   music_peak_mb=with_bed["peak_rss_mb"], music_s=with_bed["wall_s"])
    return row


def table(rows: list[dict[str, float]]) -> str:
    lines = [f"{'asked':>6} {'audio min':>9} {'build s':>8} {'RSS before MB':>13} {'peak RSS MB':>11} "
             f"{'warm peak MB':>12}"]
    for row in rows:
        lines.append(f"{row['minutes']:>6g} {row['audio_min']:>9.1f} {row['wall_s']:>8.1f} "
                     f"{row['rss_before_mb']:>13.0f} {row['peak_rss_mb']:>11.0f} {row['warm_peak_rss_mb']:>12.0f}")
    if any("music_peak_mb" in row for row in rows):
        lines.append(f"{'asked':>6} {'no music MB':>11} {'s':>6} {'music MB':>9} {'s':>6} {'ratio':>6}")
        for row in rows:
            lines.append(f"{row['minutes']:>6g} {row['plain_peak_mb']:>11.0f} {row['plain_s']:>6.1f} "
                         f"{row['music_peak_mb']:>9.0f} {row['music_s']:>6.1f} "
                         f"{row['music_peak_mb'] / row['plain_peak_mb']:>6.3f}")
    lines.append("peak RSS: the cold build (engine loaded, every phrase synthesized); warm peak: the same "
                 "session rebuilt with --force from the cache")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", default="10,30,60,120", help="comma-separated session lengths")
    parser.add_argument("--engine", default="piper", help="speech engine of the generated scripts (default: piper)")
    parser.add_argument("--music", help="also build each session warm without and with this bed (calm|warm|dusk|file)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parse_or_serve(parser, child)
    if args is None:
        return
    with tempfile.TemporaryDirectory(prefix="audioroutine-bench-") as tmp:
        rows = []
        for minutes in (float(m) for m in args.minutes.split(",")):
            print(f"  {minutes:g} min ...", file=sys.stderr, flush=True)
            rows.append(run(minutes, Path(tmp), args.engine, args.music))
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
