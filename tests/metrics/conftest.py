"""Audio made on the spot for the metric tests (no files from outside the repository)."""

from __future__ import annotations

import numpy as np
import pytest


def speechlike(seconds: float = 1.5, sample_rate: int = 16000, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A voiced, formant-shaped, syllable-modulated signal: harmonics of a gliding f0 with an
    amplitude envelope at ~4 Hz, so PESQ/STOI see speech-like structure."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = f0 * (1 + 0.08 * np.sin(2 * np.pi * 1.3 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    wave = np.zeros_like(t)
    for k in range(1, 25):
        freq = k * pitch
        formant = np.exp(-((freq - 500) / 300) ** 2) + 0.6 * np.exp(-((freq - 1500) / 400) ** 2) + 0.3 * np.exp(-((freq - 2500) / 500) ** 2)
        wave += formant * np.sin(k * phase) * (freq < sample_rate / 2)
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.7
    wave = wave * envelope
    wave += 0.003 * np.random.default_rng(seed).normal(size=len(t))
    return (0.5 * wave / np.abs(wave).max()).astype(np.float32)


@pytest.fixture
def speech16() -> np.ndarray:
    return speechlike()
