"""Render: a timeline's speech, sounds and silence stitched into one mono session,
sample-exactly. With loudness on, each clip is phase-rotated first (loudness.rotate_phase:
same sound, lower peaks, same length); with loudness off, a clip is the engine's samples
(trimmed, see speech.trim_quiet) with only the EDGE_FADE_MS fades."""

from __future__ import annotations

import numpy as np
from pydub import AudioSegment

from .errors import BuildError
from .loudness import rotate_phase
from .sounds import synthesize
from .speech import Speech
from .timeline import Timeline

EDGE_FADE_MS = 5   # clip edges fade in/out to avoid clicks; lengths do not change


def fade_edges(pcm: bytes, n: int) -> bytes:
    """Linear fade over the first and last `n` samples. (pydub's fades slice in whole
    milliseconds and can drop samples, which would shift every later cue.)"""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    n = min(n, len(samples) // 2)
    if n:
        ramp = np.arange(n, dtype=np.float32) / n
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return np.round(samples).astype("<i2").tobytes()


def clip_pcm(speech: Speech, text: str, rotate: bool) -> bytes:
    """One phrase as it sounds in the session, before the edge fades."""
    pcm = speech.clip(text)
    return rotate_phase(pcm, speech.sample_rate) if rotate else pcm


def render(timeline: Timeline, speech: Speech, rotate: bool = True) -> AudioSegment:
    """The whole session. Its length equals `timeline.total` exactly, or this raises.
    `rotate`: phase-rotate the speech (done when the session is to be loudness-normalized)."""
    rate = timeline.sample_rate
    parts: list[bytes] = []
    rendered: dict[str, bytes] = {}   # a phrase said many times is rotated and faded once
    for event in timeline.events:
        if event.kind == "speech":
            if event.text not in rendered:
                rendered[event.text] = fade_edges(clip_pcm(speech, event.text, rotate), rate * EDGE_FADE_MS // 1000)
            data = rendered[event.text]
        elif event.kind == "sound":
            data = synthesize(event.text, rate, event.length)
        else:
            data = bytes(2 * event.length)
        if len(data) != 2 * event.length:
            raise BuildError(f"internal: '{event.text}' is {len(data) // 2} samples, timeline says {event.length}")
        parts.append(data)
    # Joining raw frames is pydub's `+` without the quadratic copying, and never crossfades.
    session = AudioSegment(data=b"".join(parts), sample_width=2, frame_rate=rate, channels=1)
    if int(session.frame_count()) != timeline.total:
        raise BuildError("internal: rendered length differs from the timeline")
    return session
