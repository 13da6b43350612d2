"""Test audio made by our own code: tones, chirps, noise bursts and speech-like babble.

Everything returns 16-bit little-endian mono PCM at the requested sample rate (24 kHz unless
told otherwise) and is a pure function of its arguments and the numpy Generator it is given, so
scenarios stay reproducible. "Speech" here is only a signal with the rhythm a voice activity
detector sees in speech (syllable-rate bursts of gliding harmonics and hiss), never a voice.
"""

from __future__ import annotations

import numpy as np

RATE = 24000
_FULL_SCALE = 32767


def _samples(ms: float, rate: int) -> int:
    return max(round(ms * rate / 1000), 0)


def to_pcm16(signal: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as 16-bit little-endian PCM bytes (clipped)."""
    clipped = np.clip(signal, -1.0, 1.0) * _FULL_SCALE
    return clipped.astype("<i2").tobytes()


def silence(ms: float, rate: int = RATE) -> bytes:
    """Digital silence."""
    return bytes(2 * _samples(ms, rate))


def tone(ms: float, hz: float, *, amplitude: float = 0.3, rate: int = RATE) -> bytes:
    """A sine tone."""
    t = np.arange(_samples(ms, rate)) / rate
    return to_pcm16(amplitude * np.sin(2 * np.pi * hz * t))


def _chirp_wave(n: int, f0: float, f1: float, rate: int) -> np.ndarray:
    # Linear glide: the phase is the running sum of the instantaneous frequency.
    freq = np.linspace(f0, f1, n, endpoint=False) if n else np.zeros(0)
    return np.sin(2 * np.pi * np.cumsum(freq) / rate)


def chirp(ms: float, f0: float, f1: float, *, amplitude: float = 0.3, rate: int = RATE) -> bytes:
    """A sine that glides linearly from f0 to f1 Hz."""
    return to_pcm16(amplitude * _chirp_wave(_samples(ms, rate), f0, f1, rate))


def noise_burst(
    ms: float, rng: np.random.Generator, *, amplitude: float = 0.2, rate: int = RATE
) -> bytes:
    """White noise shaped by a Hann window (a click or a hiss)."""
    n = _samples(ms, rate)
    return to_pcm16(amplitude * rng.standard_normal(n) / 3 * np.hanning(n))


def room_noise(ms: float, rng: np.random.Generator, *, rate: int = RATE) -> np.ndarray:
    """A quiet noise floor as float samples, what an open microphone hears between words."""
    return rng.standard_normal(_samples(ms, rate)) * 0.002


def speech_like(
    ms: float, rng: np.random.Generator, *, pitch_hz: float = 140.0, rate: int = RATE
) -> np.ndarray:
    """Syllable-rate bursts of gliding harmonics with occasional hiss, as float samples.

    Exactly _samples(ms) long; it starts and ends quiet, so it can sit between room noise.
    """
    total = _samples(ms, rate)
    out = np.zeros(total)
    pos = 0
    while pos < total:
        syllable = min(int(rate * rng.uniform(0.12, 0.26)), total - pos)
        gap = int(rate * rng.uniform(0.02, 0.08))
        f0 = pitch_hz * rng.uniform(0.85, 1.2)
        f1 = f0 * rng.uniform(0.8, 1.15)
        voiced = sum(
            _chirp_wave(syllable, f0 * k, f1 * k, rate) / k for k in (1, 2, 3, 4)
        )
        burst = voiced * 0.25 * np.hanning(syllable)
        if rng.random() < 0.3:  # a fricative before the vowel
            hiss = min(syllable // 3, syllable)
            burst[:hiss] += rng.standard_normal(hiss) * 0.05 * np.hanning(hiss)
        out[pos : pos + syllable] = burst
        pos += syllable + gap
    return out
