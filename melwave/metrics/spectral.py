"""Spectral distances between a reference waveform and a model's output (same length, same rate).

multi_resolution_stft_distance: mean over STFT resolutions of spectral convergence
  ‖|X|−|Y|‖_F / ‖|X|‖_F plus the mean L1 distance of log magnitudes (Yamamoto et al. 2020).
mel_l1: mean absolute difference of natural-log mels (HiFi-GAN's mel config by default).
"""

from __future__ import annotations

import numpy as np
import torch

from melwave.audio.config import PRESETS, MelConfig
from melwave.audio.features import mel_spectrogram

RESOLUTIONS = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))  # (n_fft, hop, win)
MEL_CONFIG = PRESETS["hifigan-22k"]


def _magnitude(wave: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    return torch.stft(wave, n_fft, hop, win, torch.hann_window(win, dtype=wave.dtype), center=True, return_complex=True).abs()


def multi_resolution_stft_distance(reference: np.ndarray, output: np.ndarray, resolutions=RESOLUTIONS, eps: float = 1e-7) -> float:
    ref = torch.from_numpy(np.asarray(reference, dtype=np.float64))
    out = torch.from_numpy(np.asarray(output, dtype=np.float64))
    total = 0.0
    for n_fft, hop, win in resolutions:
        x, y = _magnitude(ref, n_fft, hop, win), _magnitude(out, n_fft, hop, win)
        convergence = torch.linalg.norm(x - y) / torch.linalg.norm(x).clamp(min=eps)
        log_distance = (torch.log(x.clamp(min=eps)) - torch.log(y.clamp(min=eps))).abs().mean()
        total += float(convergence + log_distance)
    return total / len(resolutions)


def mel_l1(reference: np.ndarray, output: np.ndarray, cfg: MelConfig = MEL_CONFIG) -> float:
    """Both waves at cfg.sample_rate."""
    x = mel_spectrogram(np.asarray(reference, dtype=np.float32), cfg)
    y = mel_spectrogram(np.asarray(output, dtype=np.float32), cfg)
    frames = min(x.shape[-1], y.shape[-1])
    return float((x[..., :frames] - y[..., :frames]).abs().mean())
