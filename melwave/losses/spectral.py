"""Spectral reconstruction losses and distances.

MelL1Loss: L1 between the mels of two waveforms, computed with THE model's MelConfig through
`MelExtractor` (HiFi-GAN's ×45 mel loss; the validation mel-L1).
MultiResolutionSTFTLoss (Parallel WaveGAN, Yamamoto et al.): over several (n_fft, hop, win)
settings, spectral convergence ‖|S|−|Ŝ|‖_F / ‖|S|‖_F plus mean |log|S| − log|Ŝ||.
CompressedComplexSTFTLoss: the same resolutions, compared as compressed complex spectra (phase
included) plus log-magnitude: distillation's loss against a teacher's waveform.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.audio.config import MelConfig
from melwave.audio.features import MelExtractor

DEFAULT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))


def _match_length(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    length = min(a.shape[-1], b.shape[-1])
    return a[..., :length], b[..., :length]


class MelL1Loss(nn.Module):
    """(B, T) generated, (B, T) target -> mean |mel(generated) - mel(target)| (scalar)."""

    def __init__(self, mel_config: MelConfig):
        super().__init__()
        self.extractor = MelExtractor(mel_config)

    def forward(self, generated: Tensor, target: Tensor) -> Tensor:
        generated, target = _match_length(generated, target)
        return F.l1_loss(self.extractor(generated.float()), self.extractor(target.float()))


class MultiResolutionSTFTLoss(nn.Module):
    """(B, T) generated, (B, T) target -> spectral convergence + log-magnitude L1, averaged over
    resolutions (scalar). Zero iff the magnitudes agree at every resolution."""

    def __init__(self, resolutions: Sequence[tuple[int, int, int]] = DEFAULT_RESOLUTIONS, eps: float = 1e-7):
        super().__init__()
        self.resolutions = tuple(tuple(int(v) for v in r) for r in resolutions)
        self.eps = eps
        for i, (_, _, win) in enumerate(self.resolutions):
            self.register_buffer(f"window_{i}", torch.hann_window(win), persistent=False)

    def _stft(self, wave: Tensor, i: int) -> Tensor:
        n_fft, hop, win = self.resolutions[i]
        return torch.stft(wave, n_fft, hop, win, window=getattr(self, f"window_{i}"), return_complex=True)

    def _magnitude(self, wave: Tensor, i: int) -> Tensor:
        return self._stft(wave, i).abs().clamp(min=self.eps)

    def forward(self, generated: Tensor, target: Tensor) -> Tensor:
        generated, target = _match_length(generated.float(), target.float())
        total = generated.new_zeros(())
        for i in range(len(self.resolutions)):
            fake, real = self._magnitude(generated, i), self._magnitude(target, i)
            convergence = torch.linalg.norm(real - fake, dim=(-2, -1)) / torch.linalg.norm(real, dim=(-2, -1))
            log_l1 = torch.mean(torch.abs(torch.log(real) - torch.log(fake)))
            total = total + convergence.mean() + log_l1
        return total / len(self.resolutions)


class CompressedComplexSTFTLoss(MultiResolutionSTFTLoss):
    """(B, T) generated, (B, T) target -> phase-aware distance (scalar), averaged over resolutions:
    mean |c(S) - c(Ŝ)| over real and imaginary parts, with c(S) = |S|^α · S/|S| (power-law
    compressed complex spectrum, α = 0.3 as in speech enhancement), plus the log-magnitude L1.

    Magnitude losses cannot tell two phases apart; this one can, so it is the loss of a student
    copying a deterministic teacher's waveform (distillation), where the target's phase IS a
    function of the mel. The compression keeps quiet bins and quiet clips from vanishing next
    to loud ones, as a plain complex L1 would let them.
    """

    def __init__(self, resolutions: Sequence[tuple[int, int, int]] = DEFAULT_RESOLUTIONS, alpha: float = 0.3,
                 eps: float = 1e-7):
        super().__init__(resolutions, eps)
        self.alpha = alpha

    def _compressed(self, wave: Tensor, i: int) -> tuple[Tensor, Tensor]:
        spec = self._stft(wave, i)
        magnitude = spec.abs().clamp(min=self.eps)
        # |S|^α · S/|S| = S · |S|^(α-1); the clamp keeps the gradient finite at silent bins.
        return torch.view_as_real(spec * magnitude.pow(self.alpha - 1)), magnitude

    def forward(self, generated: Tensor, target: Tensor) -> Tensor:
        generated, target = _match_length(generated.float(), target.float())
        total = generated.new_zeros(())
        for i in range(len(self.resolutions)):
            (fake, fake_mag), (real, real_mag) = self._compressed(generated, i), self._compressed(target, i)
            total = total + F.l1_loss(fake, real) + F.l1_loss(torch.log(fake_mag), torch.log(real_mag))
        return total / len(self.resolutions)
