"""Multi-resolution STFT discriminator (UnivNet; used by Vocos and BigVGAN): 2-D convs on
log-magnitude spectrograms at several (n_fft, hop, win) resolutions, so the discriminator sees
the signal with both fine time and fine frequency resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrizations

from melwave.models.discriminators.common import conv_stack

LRELU_SLOPE = 0.1
RESOLUTIONS = ((1024, 256, 1024), (2048, 512, 2048), (512, 128, 512))  # (n_fft, hop, win)


class ResolutionDiscriminator(nn.Module):
    """wave (B, T) -> (score (B, frames·freq'), [feature maps])."""

    def __init__(self, n_fft: int, hop_length: int, win_length: int, channels: int = 32, layers: int = 4):
        super().__init__()
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        convs = [nn.Conv2d(1, channels, (3, 9), padding=(1, 4))]
        # Strided along frequency only: halves the bins per layer, keeps every frame.
        convs += [nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4)) for _ in range(layers - 1)]
        convs.append(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1)))
        self.convs = nn.ModuleList(parametrizations.weight_norm(conv) for conv in convs)
        self.post = parametrizations.weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def spectrogram(self, wave: Tensor) -> Tensor:
        """(B, T) -> log-magnitude (B, 1, frames, n_fft//2+1)."""
        pad = (self.n_fft - self.hop_length) // 2
        wave = F.pad(wave.unsqueeze(1), (pad, pad), mode="reflect" if pad < wave.shape[-1] else "replicate").squeeze(1)
        spec = torch.stft(wave, self.n_fft, self.hop_length, self.win_length, window=self.window,
                          center=False, return_complex=True)
        magnitude = spec.abs().clamp_min(1e-5)
        return magnitude.log().transpose(1, 2).unsqueeze(1)

    def forward(self, wave: Tensor) -> tuple[Tensor, list[Tensor]]:
        x = self.spectrogram(wave)
        x, features = conv_stack(x, self.convs, self.post, LRELU_SLOPE)
        return x.flatten(1, -1), features


class MultiResolutionDiscriminator(nn.Module):
    """wave (B, T) -> (scores: one per resolution, features: one list per resolution)."""

    def __init__(self, resolutions: tuple[tuple[int, int, int], ...] = RESOLUTIONS, channels: int = 32):
        super().__init__()
        self.discriminators = nn.ModuleList(ResolutionDiscriminator(*r, channels=channels) for r in resolutions)

    def forward(self, wave: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        scores, features = [], []
        for disc in self.discriminators:
            score, maps = disc(wave)
            scores.append(score)
            features.append(maps)
        return scores, features
