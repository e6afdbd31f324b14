"""A weight-free pitch and periodicity tracker (YIN, de Cheveigné & Kawahara 2002), vectorised
in numpy so it is fast and needs no JIT warm-up.

track_pitch: (T,) waveform -> PitchTrack with per-frame f0 (Hz, NaN where unvoiced), voiced
flags and periodicity in [0, 1] (1 − the cumulative-mean-normalised difference at the chosen
lag: 1 for a pure tone, near 0 for noise). A frame is voiced when its aperiodicity is below
`threshold` and it is within `silence_db` of the loudest frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PitchTrack:
    f0: np.ndarray           # (frames,) Hz, NaN where unvoiced
    voiced: np.ndarray       # (frames,) bool
    periodicity: np.ndarray  # (frames,) in [0, 1]
    hop_seconds: float


def _frames(wave: np.ndarray, length: int, hop: int) -> np.ndarray:
    if len(wave) < length:
        wave = np.pad(wave, (0, length - len(wave)))
    count = 1 + (len(wave) - length) // hop
    index = np.arange(length)[None, :] + hop * np.arange(count)[:, None]
    return wave[index]


def cmnd(frames: np.ndarray, max_lag: int) -> np.ndarray:
    """(F, N) frames -> (F, max_lag + 1) cumulative-mean-normalised difference d'(τ)."""
    n = frames.shape[1]
    window = n - max_lag
    size = 1 << int(np.ceil(np.log2(n + window)))
    head = frames[:, :window]
    # c(τ) = Σ_{j<W} y[j]·y[j+τ] via FFT cross-correlation.
    corr = np.fft.irfft(np.conj(np.fft.rfft(head, size)) * np.fft.rfft(frames, size), size)[:, : max_lag + 1]
    power = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames ** 2, axis=1)], axis=1)
    energy_head = power[:, window][:, None]
    lags = np.arange(max_lag + 1)
    energy_shift = power[:, lags + window] - power[:, lags]  # Σ_{j<W} y[j+τ]²
    diff = np.maximum(energy_head + energy_shift - 2 * corr, 0.0)
    out = np.ones_like(diff)
    cumulative = np.cumsum(diff[:, 1:], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, 1:] = np.where(cumulative > 0, diff[:, 1:] * lags[1:] / cumulative, 1.0)
    return out


def track_pitch(wave: np.ndarray, sample_rate: int, *, fmin: float = 50.0, fmax: float = 1000.0, hop_seconds: float = 0.01,
                threshold: float = 0.2, silence_db: float = 50.0) -> PitchTrack:
    wave = np.asarray(wave, dtype=np.float64).reshape(-1)
    hop = max(1, int(round(hop_seconds * sample_rate)))
    min_lag = max(2, int(np.floor(sample_rate / fmax)))
    max_lag = int(np.ceil(sample_rate / fmin))
    frames = _frames(wave, 2 * max_lag + 2, hop)
    d = cmnd(frames, max_lag + 1)
    region = d[:, min_lag:max_lag + 1]
    # YIN step 4: the first dip below the threshold (followed down to its local minimum),
    # else the global minimum.
    below = region < threshold
    first = np.where(below.any(axis=1), below.argmax(axis=1), region.argmin(axis=1))
    lag = first.copy()
    for i in np.nonzero(below.any(axis=1))[0]:
        j = first[i]
        while j + 1 < region.shape[1] and region[i, j + 1] < region[i, j]:
            j += 1
        lag[i] = j
    rows = np.arange(len(lag))
    value = region[rows, lag]
    # Parabolic interpolation of the dip for sub-sample lag precision.
    left = region[rows, np.maximum(lag - 1, 0)]
    right = region[rows, np.minimum(lag + 1, region.shape[1] - 1)]
    denominator = left - 2 * value + right
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.where(np.abs(denominator) > 1e-12, 0.5 * (left - right) / denominator, 0.0)
    shift = np.clip(shift, -1, 1)
    period = (lag + min_lag + shift).astype(np.float64)
    rms_db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)
    loud = rms_db > rms_db.max() - silence_db if len(rms_db) else np.zeros(0, bool)
    periodicity = np.clip(1.0 - value, 0.0, 1.0) * loud
    voiced = (value < threshold) & loud
    f0 = np.where(voiced, sample_rate / period, np.nan)
    return PitchTrack(f0, voiced, periodicity, hop / sample_rate)
