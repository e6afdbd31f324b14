"""Deterministic synthetic test signals, shared by tests and benchmarks (no recordings needed)."""

from __future__ import annotations

import numpy as np


def speech_like(sample_rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonic 'voice' with a gliding pitch, a formant-ish envelope, pauses and a little noise. (T,) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voice = sum(np.sin(k * phase) * np.exp(-((k * f0 - 700) / 900) ** 2) for k in range(1, 30))
    gate = (np.sin(2 * np.pi * 1.3 * t) > -0.3).astype(float)
    return (0.1 * voice * gate + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def chirp_mix(sample_rate: int, seconds: float, seed: int = 0, dtype: type = np.float32) -> np.ndarray:
    """A chirp across the band, a harmonic tone with vibrato, and noise: energy everywhere. (T,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    chirp = 0.3 * np.sin(2 * np.pi * (100 * t + 0.5 * (sample_rate / 2.5 - 100) / seconds * t**2))
    f0 = 220 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    harmonics = sum(0.2 / k * np.sin(k * phase) for k in range(1, 8))
    return (chirp + harmonics + 0.01 * rng.standard_normal(len(t))).astype(dtype)
