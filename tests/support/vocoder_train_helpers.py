"""Helpers for the training tests (and the audio_dir fixture in tests/conftest.py): generated audio
folders and where the configs are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from repo_paths import REPO

CONFIGS = REPO / "configs" / "vocoder"


def tone(seconds: float, sr: int, f0: float, seed: int) -> np.ndarray:
    """A harmonic tone with vibrato plus a little noise: spectral structure a vocoder can learn."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 4 * t))) / sr
    wave = sum(np.sin(k * phase) / k for k in range(1, 8)) + 0.02 * rng.standard_normal(len(t))
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


def make_audio_dir(root: Path, *, seconds: float = 1.0, bad_file: bool = True) -> Path:
    """root/ with a 22.05 kHz WAV, a 16 kHz stereo FLAC in a sub-folder, a 24 kHz OGG, and a
    corrupt file that must be reported and skipped."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sub").mkdir(exist_ok=True)
    sf.write(root / "a.wav", tone(seconds, 22050, f0=140.0, seed=0), 22050)
    stereo = tone(seconds, 16000, f0=220.0, seed=1)
    sf.write(root / "sub" / "b.flac", np.stack([stereo, 0.5 * stereo], axis=1), 16000)
    sf.write(root / "c.ogg", tone(seconds, 24000, f0=180.0, seed=2), 24000)
    sf.write(root / "sub" / "d.wav", tone(seconds, 44100, f0=100.0, seed=3), 44100)
    if bad_file:
        (root / "broken.wav").write_bytes(b"RIFF....not really audio")
    return root
