"""ConvNeXt block for 1-D sequences (Liu et al. 2022; as used by Vocos).

depthwise conv (k7) -> LayerNorm -> Linear(dim→intermediate) -> GELU -> Linear(→dim)
-> layer scale γ -> + residual.  (B, C, T) -> (B, C, T).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, intermediate_dim: int, *, kernel: int = 7, layer_scale_init: float | None = None):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        # Layer scale starts each residual branch small, so a deep stack starts near identity.
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale_init)) if layer_scale_init else None
        self.radius = kernel // 2

    def forward(self, x: Tensor) -> Tensor:
        residual = x
        x = self.dwconv(x).transpose(1, 2)  # (B, T, C): norm and linears act on channels
        x = self.pwconv2(self.act(self.pwconv1(self.norm(x))))
        if self.gamma is not None:
            x = self.gamma * x
        return residual + x.transpose(1, 2)
