"""Intelligibility of a whole session: pocketsphinx listens to one built level of a routine.

    python bench/bench_listen.py [--script PATH] [--level beginner] [--cache DIR] [--music calm] [--json out.json]

Builds the level with the real voice (into a temporary folder; `--cache` reuses a phrase
cache), decodes the MP3 at 16 kHz and reports:
  session WER  the whole session cut into utterances by pocketsphinx's own voice detector,
               against every spoken cue's text in order (independent of our timeline);
  found WER    the whole session cut where tests/segments.py finds sound in the audio (over a
               bed: where it rises over the bed), also independent of the timeline;
  cue WER      every speech event cut out by the timeline and decoded alone;
  missing      cues the per-cue criterion of tests/listener.py calls missing or garbled.
With `--music`, the same session is built and heard twice, without and with that bed (a
built-in bed or a file), and the differences are printed. Needs the test extra
(pocketsphinx). Exit code 1 if a cue is missing or a WER exceeds 0.35 (without music: the
voice-detector cut; with a bed: the found cut, since that detector does not end an
utterance while a bed plays).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.listener import Listener, decode_16k, format_report, speech_cues, wer  # noqa: E402

MAX_WER = 0.35


def listen(args: argparse.Namespace, music: str | None, listener: Listener, cache: Path) -> dict[str, Any]:
    from audioroutine import BuildOptions, build, load_script, plan

    routine = load_script(args.script)
    with tempfile.TemporaryDirectory(prefix="audioroutine-listen-") as tmp:
        options = BuildOptions(out_dir=Path(tmp), cache_dir=cache, levels=(args.level,), force=True,
                               music=music or "none")
        start = time.perf_counter()
        session = build(routine, options).sessions[0]
        built = time.perf_counter() - start
        timeline = plan(routine, args.level, BuildOptions(cache_dir=cache))
        pcm = decode_16k(session.path)
    start = time.perf_counter()
    over_bed = music not in (None, "none")
    report = listener.check(pcm, speech_cues(timeline), timeline.sample_rate, whole=not (over_bed and args.no_vad))
    found = listener.transcribe_found(pcm, over_bed=over_bed)
    found_wer = wer(report.session_ref, found)
    listened = time.perf_counter() - start
    name = music or "no music"
    print(f"--- {name}")
    print(format_report(report, only_missing=True) or "every cue heard")
    print(f"{routine.id} {args.level}: {session.seconds:.1f} s of audio, {report.speech_seconds:.1f} s of speech, "
          f"{len(report.cues)} cues, {len(report.session_ref)} words")
    print(f"session WER {report.session_wer:.3f} (voice-detector cut)   found WER {found_wer:.3f} (cut where "
          f"sound is found)   cue WER {report.cue_wer:.3f} (timeline cut)   missing {len(report.missing)}/"
          f"{len(report.cues)}")
    print(f"build {built:.1f} s, listening {listened:.1f} s ({listened / session.seconds:.3f} x session length)")
    return {
        "music": music, "audio_s": session.seconds, "session_wer": report.session_wer, "found_wer": found_wer,
        "cue_wer": report.cue_wer, "missing": [c.text for c in report.missing],
        "session_hyp": " ".join(report.session_hyp), "found_hyp": " ".join(found),
        "cues": [{"start": c.start, "text": c.text, "open": c.open_hyp, "closed": c.closed_hyp,
                  "wer": c.wer, "heard": c.heard} for c in report.cues],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", type=Path, default=ROOT / "scripts_yaml" / "upper_middle_back.yaml")
    parser.add_argument("--level", default="beginner")
    parser.add_argument("--cache", type=Path, help="phrase cache to use (default: a fresh temporary one)")
    parser.add_argument("--music", help="also build and hear the session with this bed (calm|warm|dusk|FILE)")
    parser.add_argument("--no-vad", action="store_true",
                        help="with --music: skip the voice-detector cut of the session over the bed (it decodes "
                             "long stretches at once: 3 x the session's length, against 0.7 x)")
    parser.add_argument("--json", type=Path, help="also write the figures and every cue's transcripts here")
    args = parser.parse_args()

    from audioroutine.core.ffmpeg import configure_pydub

    configure_pydub()
    listener = Listener()
    with tempfile.TemporaryDirectory(prefix="audioroutine-listen-cache-") as tmp:
        cache = args.cache or Path(tmp) / "cache"
        rows = [listen(args, None, listener, cache)]
        if args.music:
            rows.append(listen(args, args.music, listener, cache))
    if args.music:
        plain, bed = rows
        print(f"with {args.music} - without: found WER {bed['found_wer'] - plain['found_wer']:+.3f} "
              f"(with {bed['found_wer']:.3f}, without {plain['found_wer']:.3f}); cue WER "
              f"{bed['cue_wer'] - plain['cue_wer']:+.3f}; voice-detector WER "
              f"{bed['session_wer'] - plain['session_wer']:+.3f}" + (" (not run over the bed)" if args.no_vad else ""))
    if args.json:
        args.json.write_text(json.dumps({"script": str(args.script), "level": args.level, "runs": rows}, indent=2)
                             + "\n")
    plain = rows[0]
    failed = [r for r in rows if r["missing"] or r["cue_wer"] > MAX_WER
              or (r["session_wer"] if r is plain else r["found_wer"]) > MAX_WER]
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
