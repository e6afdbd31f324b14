"""The one waveform -> mel-spectrogram computation in melwave.

Every model, loss, metric and CLI path calls `MelExtractor` (or `mel_spectrogram`) built from a
`MelConfig`; nothing else re-derives STFT or filterbank settings.
"""

from __future__ import annotations

import functools

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.audio.config import MelConfig
from melwave.errors import AudioTooShortError

_DB_AMIN = 1e-10


@functools.lru_cache(maxsize=32)
def _mel_basis_np(cfg: MelConfig) -> np.ndarray:
    return librosa.filters.mel(
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.f_max,
        htk=cfg.mel_scale == "htk",
        norm="slaney" if cfg.mel_norm == "slaney" else None,
    ).astype(np.float32)


def mel_basis(cfg: MelConfig) -> Tensor:
    """(n_mels, n_freqs) filterbank, identical to librosa.filters.mel on the same settings."""
    return torch.from_numpy(_mel_basis_np(cfg).copy())


def pad_for_stft(wave: Tensor, cfg: MelConfig) -> tuple[Tensor, bool]:
    """Apply the config's explicit padding. Returns (padded wave, center flag for torch.stft).

    wave: (B, T) with T >= cfg.min_samples() (checked by `stft` through `check_length`).
    """
    if cfg.padding == "center":
        return wave, True
    if cfg.padding == "symmetric":
        pad = (cfg.n_fft - cfg.hop_length) // 2
        left, right = pad, pad
    elif cfg.padding == "end":
        # tf.signal.stft(pad_end=True): enough zeros that every sample starts a frame.
        frames = -(-wave.shape[-1] // cfg.hop_length)
        left, right = 0, max(0, (frames - 1) * cfg.hop_length + cfg.n_fft - wave.shape[-1])
    else:
        return wave, False
    mode = cfg.pad_mode if cfg.padding != "end" else "constant"
    return F.pad(wave.unsqueeze(1), (left, right), mode=mode).squeeze(1), False


def check_length(num_samples: int, cfg: MelConfig) -> None:
    """Raise AudioTooShortError (a MelwaveError and a ValueError) if no frame fits."""
    if num_samples < cfg.min_samples():
        raise AudioTooShortError(
            f"audio of {num_samples} samples is too short: this mel config "
            f"(padding={cfg.padding}, pad_mode={cfg.pad_mode}, n_fft={cfg.n_fft}) needs at least {cfg.min_samples()}")


def stft(wave: Tensor, cfg: MelConfig, window: Tensor | None = None) -> Tensor:
    """Complex STFT (B, n_freqs, frames) of a (B, T) waveform, with the config's padding.

    Raises AudioTooShortError when T < cfg.min_samples().
    """
    if window is None:
        window = torch.hann_window(cfg.win_length, device=wave.device, dtype=wave.dtype)
    check_length(wave.shape[-1], cfg)
    padded, center = pad_for_stft(wave, cfg)
    spec = torch.stft(
        padded,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=window,
        center=center,
        pad_mode=cfg.pad_mode,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    if cfg.normalized:
        # torchaudio's normalized=True ("window"): divide by the window's L2 norm.
        spec = spec / window.pow(2).sum().sqrt()
    return spec


def compress(mel: Tensor, cfg: MelConfig) -> Tensor:
    """Linear mel (power or magnitude per cfg.power) -> the config's stored values."""
    if cfg.compression == "log":
        return torch.log(torch.clamp(mel, min=cfg.log_clamp))
    if cfg.compression == "db":
        # librosa: power_to_db(amin=1e-10) for power, amplitude_to_db(amin=1e-5) for magnitude.
        scale, amin = (10.0, _DB_AMIN) if cfg.power == 2.0 else (20.0, _DB_AMIN**0.5)
        db = scale * torch.log10(torch.clamp(mel, min=amin))
        if cfg.top_db is not None:
            # Relative to each item's maximum, as librosa.power_to_db(top_db=...).
            peak = db.amax(dim=tuple(range(1, db.ndim)), keepdim=True) if db.ndim > 1 else db.max()
            db = torch.maximum(db, peak - cfg.top_db)
        return db
    if cfg.compression == "gomin":
        return torch.clamp((10 * torch.log10(mel + 1e-10) + 100) / 100, min=0.0)
    return mel


def decompress(values: Tensor, cfg: MelConfig) -> Tensor:
    """Inverse of `compress` (up to its clamping): stored values -> linear mel."""
    if cfg.compression == "log":
        return torch.exp(values)
    if cfg.compression == "db":
        scale = 10.0 if cfg.power == 2.0 else 20.0
        return torch.pow(10.0, values / scale)
    if cfg.compression == "gomin":
        return torch.clamp(torch.pow(10.0, (values * 100 - 100) / 10) - 1e-10, min=0.0)
    return values


class MelExtractor(nn.Module):
    """(B, T) or (T,) waveform -> (B, n_mels, frames) or (n_mels, frames) mel values.

    Batched, device-agnostic (buffers follow `.to(device)`), and equal to librosa's
    `feature.melspectrogram` on the same settings followed by the config's compression.
    """

    def __init__(self, cfg: MelConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("window", torch.hann_window(cfg.win_length), persistent=False)
        self.register_buffer("basis", mel_basis(cfg), persistent=False)

    def linear(self, wave: Tensor) -> Tensor:
        """(B, T) -> (B, n_mels, frames) uncompressed mel (power or magnitude per cfg.power)."""
        spec = stft(wave, self.cfg, self.window.to(wave.dtype)).abs()
        if self.cfg.power == 2.0:
            spec = spec.pow(2)
        return torch.matmul(self.basis.to(spec.dtype), spec)

    def forward(self, wave: Tensor) -> Tensor:
        squeeze = wave.ndim == 1
        if squeeze:
            wave = wave.unsqueeze(0)
        if wave.ndim != 2:
            raise ValueError(f"expected a (T,) or (B, T) waveform, got shape {tuple(wave.shape)}")
        mel = compress(self.linear(wave.float()), self.cfg)
        return mel.squeeze(0) if squeeze else mel


def mel_spectrogram(wave: Tensor | np.ndarray, cfg: MelConfig) -> Tensor:
    """Functional form of MelExtractor for one-off calls."""
    if isinstance(wave, np.ndarray):
        wave = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    return MelExtractor(cfg).to(wave.device)(wave)
