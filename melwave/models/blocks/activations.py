"""Periodic activations of BigVGAN (Lee et al. 2023): a learned frequency per channel gives the
network an inductive bias towards periodic waveforms.

Snake:     x + 1/α · sin²(α x)
SnakeBeta: x + 1/β · sin²(α x)   (separate frequency α and magnitude β)
Parameters are stored as log values when `log_scale` (BigVGAN-v2), so they stay positive.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_EPS = 1e-9  # keeps 1/α finite if a learned α reaches 0


class Snake(nn.Module):
    """(B, C, T) -> (B, C, T), one learned α per channel."""

    def __init__(self, channels: int, *, alpha: float = 1.0, log_scale: bool = False):
        super().__init__()
        self.log_scale = log_scale
        init = torch.zeros(channels) if log_scale else torch.full((channels,), float(alpha))
        if log_scale:
            init += torch.log(torch.tensor(float(alpha)))
        self.alpha = nn.Parameter(init)

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.alpha.exp() if self.log_scale else self.alpha
        alpha = alpha[None, :, None]
        return x + torch.sin(alpha * x).pow(2) / (alpha + _EPS)


class SnakeBeta(nn.Module):
    """(B, C, T) -> (B, C, T), learned frequency α and magnitude β per channel."""

    def __init__(self, channels: int, *, alpha: float = 1.0, log_scale: bool = False):
        super().__init__()
        self.log_scale = log_scale
        value = torch.log(torch.tensor(float(alpha))) if log_scale else torch.tensor(float(alpha))
        self.alpha = nn.Parameter(value.repeat(channels).clone())
        self.beta = nn.Parameter(value.repeat(channels).clone())

    def forward(self, x: Tensor) -> Tensor:
        alpha, beta = (self.alpha.exp(), self.beta.exp()) if self.log_scale else (self.alpha, self.beta)
        return x + torch.sin(alpha[None, :, None] * x).pow(2) / (beta[None, :, None] + _EPS)
