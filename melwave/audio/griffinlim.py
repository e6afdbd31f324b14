"""Mel -> linear magnitude (non-negative least squares) and fast Griffin-Lim, batched in torch.

Coordinates: frame t of a MelConfig analysis starts at sample t·hop − left_pad(cfg) of the signal.
Griffin-Lim here works on the full overlap-add signal `o` whose frame t starts at o[t·hop], so the
result is x[n] = o[n + left_pad] for n in [0, frames·hop) whatever padding the config used.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from melwave.audio.config import MelConfig
from melwave.audio.features import decompress, mel_basis


def left_pad(cfg: MelConfig) -> int:
    """Samples between the start of frame 0's window and signal sample 0."""
    if cfg.padding == "center":
        return cfg.n_fft // 2
    if cfg.padding == "symmetric":
        return (cfg.n_fft - cfg.hop_length) // 2
    return 0


@functools.lru_cache(maxsize=16)
def _nnls_operators(cfg: MelConfig) -> tuple[Tensor, Tensor, Tensor]:
    basis = mel_basis(cfg).double()
    pinv = torch.linalg.pinv(basis)
    return basis.float(), pinv.float(), (basis.T @ basis).float()


def mel_to_linear(mel: Tensor, cfg: MelConfig, *, iterations: int = 30) -> Tensor:
    """(B, n_mels, F) compressed mel -> (B, n_freqs, F) non-negative linear STFT magnitude.

    Solves min ‖M x − y‖² s.t. x ≥ 0 per frame: the pseudo-inverse solution (clamped) as a start,
    refined by Lee–Seung multiplicative updates, which keep x ≥ 0 and never increase the residual.
    """
    basis, pinv, gram = (t.to(mel.device) for t in _nnls_operators(cfg))
    target = decompress(mel.float(), cfg).clamp(min=0)
    x = (pinv @ target).clamp(min=1e-8)
    numerator = basis.T @ target
    for _ in range(iterations):
        x = x * numerator / (gram @ x).clamp(min=1e-12)
    if cfg.power == 2.0:
        x = x.sqrt()
    if cfg.normalized:
        x = x * torch.hann_window(cfg.win_length, device=mel.device).pow(2).sum().sqrt()
    return x


def _window(cfg: MelConfig, device: torch.device) -> Tensor:
    """Hann window of win_length, zero-padded to n_fft at the centre (as torch.stft does)."""
    window = torch.hann_window(cfg.win_length, device=device)
    offset = (cfg.n_fft - cfg.win_length) // 2
    return F.pad(window, (offset, cfg.n_fft - cfg.win_length - offset))


def _stft_frames(signal: Tensor, cfg: MelConfig, window: Tensor) -> Tensor:
    """(B, L) with L = (F-1)·hop + n_fft -> (B, n_freqs, F): frames start at t·hop, no padding."""
    return torch.stft(signal, cfg.n_fft, cfg.hop_length, window=window, center=False, return_complex=True)


def _istft_frames(spec: Tensor, cfg: MelConfig, window: Tensor, envelope: Tensor) -> Tensor:
    """(B, n_freqs, F) -> (B, (F-1)·hop + n_fft): windowed overlap-add, envelope-normalised."""
    frames = torch.fft.irfft(spec, n=cfg.n_fft, dim=1) * window[None, :, None]
    length = (spec.shape[-1] - 1) * cfg.hop_length + cfg.n_fft
    signal = F.fold(frames, (1, length), kernel_size=(1, cfg.n_fft), stride=(1, cfg.hop_length))
    return signal.reshape(spec.shape[0], length) / envelope


def _envelope(cfg: MelConfig, frames: int, window: Tensor) -> Tensor:
    length = (frames - 1) * cfg.hop_length + cfg.n_fft
    squares = window.pow(2)[None, :, None].expand(1, cfg.n_fft, frames)
    env = F.fold(squares, (1, length), kernel_size=(1, cfg.n_fft), stride=(1, cfg.hop_length)).reshape(length)
    # Only the outermost samples have a near-zero envelope; leaving them unnormalised avoids blow-up.
    return torch.where(env > 1e-3 * env.max(), env, torch.ones_like(env))


def griffin_lim(magnitude: Tensor, cfg: MelConfig, *, iterations: int = 32, momentum: float = 0.99,
                generator: torch.Generator | None = None) -> Tensor:
    """Fast Griffin-Lim (Perraudin et al. 2013). (B, n_freqs, F) magnitude -> (B, F·hop) waveform.

    momentum=0 gives classic Griffin-Lim. Phase starts random (seeded by `generator`).
    """
    batch, _, frames = magnitude.shape
    window = _window(cfg, magnitude.device)
    envelope = _envelope(cfg, frames, window)
    phase = torch.rand(magnitude.shape, generator=generator, device="cpu").to(magnitude.device) * (2 * torch.pi)
    angles = torch.polar(torch.ones_like(magnitude), phase)
    previous = torch.zeros_like(angles)
    blend = momentum / (1 + momentum)
    for _ in range(iterations):
        rebuilt = _stft_frames(_istft_frames(magnitude * angles, cfg, window, envelope), cfg, window)
        angles = rebuilt - blend * previous
        angles = angles / (angles.abs() + 1e-16)
        previous = rebuilt
    signal = _istft_frames(magnitude * angles, cfg, window, envelope)
    start = left_pad(cfg)
    out = signal[:, start : start + frames * cfg.hop_length]
    if out.shape[-1] < frames * cfg.hop_length:  # "end"/"none" padding: the tail has no window
        out = F.pad(out, (0, frames * cfg.hop_length - out.shape[-1]))
    return out


def spectral_convergence(wave: Tensor, magnitude: Tensor, cfg: MelConfig) -> Tensor:
    """‖S − |STFT(x)|‖_F / ‖S‖_F per item, with the same framing as `griffin_lim`. Lower is better."""
    window = _window(cfg, wave.device)
    frames = magnitude.shape[-1]
    start = left_pad(cfg)
    length = (frames - 1) * cfg.hop_length + cfg.n_fft
    signal = F.pad(wave, (start, max(0, length - start - wave.shape[-1])))[:, :length]
    estimate = _stft_frames(signal, cfg, window).abs()
    return (magnitude - estimate).flatten(1).norm(dim=1) / magnitude.flatten(1).norm(dim=1)
