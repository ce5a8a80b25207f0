"""The sound cues of `model.sounds` as samples: a sum of decaying partials with a short
attack and a fade to exact zero, so nothing clicks."""

from __future__ import annotations

import numpy as np

from ..model.sounds import SOUNDS

ATTACK_MS = 4


def synthesize(name: str, sample_rate: int, samples: int) -> bytes:
    """`samples` of sound `name` as int16 mono PCM: a short linear attack, an exponential
    decay, and a fade to exact zero at the end so nothing clicks."""
    tone = SOUNDS[name]
    t = np.arange(samples) / sample_rate
    wave: np.ndarray = np.zeros(samples)
    for freq, amp in tone.partials:
        wave = wave + amp * np.sin(2 * np.pi * freq * t)
    wave = wave / sum(amp for _, amp in tone.partials)
    envelope = np.exp(-t * 1000 / tone.decay_ms)
    attack = max(1, sample_rate * ATTACK_MS // 1000)
    envelope[:attack] *= np.arange(min(attack, samples)) / attack
    tail = min(samples, max(1, samples // 5))
    envelope[samples - tail:] *= np.linspace(1.0, 0.0, tail)
    pcm = np.round(wave * envelope * tone.level * 32767)
    return pcm.astype("<i2").tobytes()
