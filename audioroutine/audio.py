"""Audio: stitch a timeline's speech and silence into one mono session, sample-exactly."""

from __future__ import annotations

import numpy as np
from pydub import AudioSegment

from .errors import BuildError
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


def render(timeline: Timeline, speech: Speech) -> AudioSegment:
    """The whole session. Its length equals `timeline.total` exactly, or this raises."""
    rate = timeline.sample_rate
    parts: list[bytes] = []
    for event in timeline.events:
        if event.kind == "speech":
            data = fade_edges(speech.pcm(event.text), rate * EDGE_FADE_MS // 1000)
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
