"""Deterministic synthetic test signals (no recordings needed), shared by the tests (on their path
through pytest's `pythonpath`) and the benchmarks (which add tests/support themselves). Test support:
nothing here ships in the package."""

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


def harmonic_signal(seconds: float = 1.5, sr: int = 22050, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A voiced, vibrato'd harmonic tone with a noise burst: enough spectral structure to test vocoders."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    wave = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.minimum(1, 8 * t) * np.minimum(1, 8 * (seconds - t))
    wave = wave * envelope
    burst = slice(int(0.4 * len(t)), int(0.47 * len(t)))
    wave[burst] += rng.normal(0, 0.5, burst.stop - burst.start)
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


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


def write_labelled(root, seconds=(0.30, 0.35, 0.40)):
    """word=W/voice=V/take.wav: 2 words × 2 voices × len(seconds) harmonic tones, a pitch per
    (word, voice), a length per take."""
    import soundfile as sf

    for w, word in enumerate(("go", "stop")):
        for v, voice in enumerate(("low", "high")):
            folder = root / f"word={word}" / f"voice={voice}"
            folder.mkdir(parents=True)
            for take, length in enumerate(seconds):
                t = np.arange(int(length * 22050)) / 22050
                f0 = 120 * (1 + v) * (1 + 0.5 * w)
                wave = 0.3 * np.sin(2 * np.pi * f0 * t) * np.minimum(1, 20 * t) * np.minimum(1, 20 * (length - t))
                sf.write(folder / f"{take}.wav", wave.astype(np.float32), 22050)
    return root
