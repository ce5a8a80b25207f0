"""Intelligibility of a whole session: pocketsphinx listens to one built level of a routine.

    python bench/bench_listen.py [--script PATH] [--level beginner] [--cache DIR] [--json out.json]

Builds the level with the real voice (into a temporary folder; `--cache` reuses a phrase
cache), decodes the MP3 at 16 kHz and reports:
  session WER  the whole session cut into utterances by pocketsphinx's own voice detector,
               against every spoken cue's text in order (independent of our timeline);
  cue WER      every speech event cut out by the timeline and decoded alone;
  missing      cues the per-cue criterion of tests/listener.py calls missing or garbled.
Needs the test extra (pocketsphinx). Exit code 1 if a cue is missing or a WER exceeds 0.35.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.listener import Listener, decode_16k, format_report, speech_cues  # noqa: E402

MAX_WER = 0.35


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", type=Path, default=ROOT / "scripts_yaml" / "upper_middle_back.yaml")
    parser.add_argument("--level", default="beginner")
    parser.add_argument("--cache", type=Path, help="phrase cache to use (default: a fresh temporary one)")
    parser.add_argument("--json", type=Path, help="also write the figures and every cue's transcripts here")
    args = parser.parse_args()

    from audioroutine import BuildOptions, build, load_script, plan
    from audioroutine.core.ffmpeg import configure_pydub

    configure_pydub()
    routine = load_script(args.script)
    with tempfile.TemporaryDirectory(prefix="audioroutine-listen-") as tmp:
        cache = args.cache or Path(tmp) / "cache"
        options = BuildOptions(out_dir=Path(tmp), cache_dir=cache, levels=(args.level,), force=True)
        start = time.perf_counter()
        session = build(routine, options).sessions[0]
        built = time.perf_counter() - start
        timeline = plan(routine, args.level, BuildOptions(cache_dir=cache))
        pcm = decode_16k(session.path)
    start = time.perf_counter()
    report = Listener().check(pcm, speech_cues(timeline), timeline.sample_rate)
    listened = time.perf_counter() - start

    print(format_report(report, only_missing=True) or "every cue heard")
    print(f"{routine.id} {args.level}: {session.seconds:.1f} s of audio, {report.speech_seconds:.1f} s of speech, "
          f"{len(report.cues)} cues, {len(report.session_ref)} words")
    print(f"session WER {report.session_wer:.3f} (voice-detector cut)   cue WER {report.cue_wer:.3f} (timeline cut)   "
          f"missing {len(report.missing)}/{len(report.cues)}")
    print(f"build {built:.1f} s, listening {listened:.1f} s ({listened / session.seconds:.3f} x session length)")
    if args.json:
        args.json.write_text(json.dumps({
            "script": str(args.script), "level": args.level, "audio_s": session.seconds,
            "session_wer": report.session_wer, "cue_wer": report.cue_wer,
            "missing": [c.text for c in report.missing], "session_hyp": " ".join(report.session_hyp),
            "cues": [{"start": c.start, "text": c.text, "open": c.open_hyp, "closed": c.closed_hyp,
                      "wer": c.wer, "heard": c.heard} for c in report.cues],
        }, indent=2) + "\n")
    if report.missing or report.session_wer > MAX_WER or report.cue_wer > MAX_WER:
        sys.exit(1)


if __name__ == "__main__":
    main()
