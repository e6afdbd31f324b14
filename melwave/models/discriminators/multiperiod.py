"""Multi-period discriminator (HiFi-GAN): for each period p the waveform is folded into a
(T/p, p) image so that 2-D convs with (k, 1) kernels compare samples exactly p apart; periods
2, 3, 5, 7, 11 are coprime, so together they see many periodic structures.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrizations

from melwave.models.discriminators.common import conv_stack

LRELU_SLOPE = 0.1


class PeriodDiscriminator(nn.Module):
    """wave (B, 1, T) -> (score (B, 1, T'/p, p) flattened to (B, T'·...), [feature maps])."""

    def __init__(self, period: int, channels: tuple[int, ...] = (32, 128, 512, 1024, 1024), *, kernel: int = 5, stride: int = 3):
        super().__init__()
        self.period = period
        layers, previous = [], 1
        for i, width in enumerate(channels):
            # All but the last conv stride 3 along time; the last keeps resolution (HiFi-GAN).
            step = stride if i < len(channels) - 1 else 1
            layers.append(nn.Conv2d(previous, width, (kernel, 1), (step, 1), padding=((kernel - 1) // 2, 0)))
            previous = width
        self.convs = nn.ModuleList(parametrizations.weight_norm(layer) for layer in layers)
        self.post = parametrizations.weight_norm(nn.Conv2d(previous, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        batch, channels, length = x.shape
        if length % self.period:
            pad = self.period - length % self.period
            x = F.pad(x, (0, pad), mode="reflect" if pad < length else "replicate")
            length += pad
        x = x.view(batch, channels, length // self.period, self.period)
        x, features = conv_stack(x, self.convs, self.post, LRELU_SLOPE)
        return x.flatten(1, -1), features


class MultiPeriodDiscriminator(nn.Module):
    """wave (B, T) -> (scores: one per period, features: one list per period)."""

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11), channels: tuple[int, ...] = (32, 128, 512, 1024, 1024)):
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, tuple(channels)) for p in periods)

    def forward(self, wave: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        x = wave.unsqueeze(1)
        scores, features = [], []
        for disc in self.discriminators:
            score, maps = disc(x)
            scores.append(score)
            features.append(maps)
        return scores, features
