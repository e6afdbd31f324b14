"""Feature-wise linear modulation (Perez et al. 2018) as GOMIN applies it.

x · (1 + 0.01·scale) + shift. The 0.01 keeps a freshly initialised FiLM close to identity in its
multiplicative part, so conditioning starts as a bias and grows into a gain as training needs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

SCALE_FACTOR = 0.01


def film(x: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """x, scale, shift: broadcastable (B, C, T) -> (B, C, T)."""
    return x * (1 + SCALE_FACTOR * scale) + shift


class FiLM(nn.Module):
    """Modulates x (B, C, T) by a condition (B, cond_channels, T) through a 1×1 conv giving
    scale and shift."""

    def __init__(self, cond_channels: int, channels: int):
        super().__init__()
        self.proj = nn.Conv1d(cond_channels, 2 * channels, 1)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        scale, shift = torch.chunk(self.proj(cond), 2, dim=1)
        return film(x, scale, shift)
