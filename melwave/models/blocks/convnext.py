"""ConvNeXt block for 1-D sequences (Liu et al. 2022; as used by Vocos).

depthwise conv (k7) -> LayerNorm -> Linear(dim→intermediate) -> GELU -> Linear(→dim)
-> layer scale γ -> + residual.  (B, C, T) -> (B, C, T).

With `cond_dim`, the block is modulated by a per-example vector c (B, cond_dim), adaLN-Zero
style (DiT, Peebles & Xie 2023): after the norm x·(1 + scale) + shift, and the residual branch
multiplied by a gate, all three from one Linear of c that starts at zero, so a freshly built
conditioned block is the identity and conditioning grows in as training needs it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, intermediate_dim: int, *, kernel: int = 7, layer_scale_init: float | None = None,
                 cond_dim: int | None = None):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        # Layer scale starts each residual branch small, so a deep stack starts near identity.
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale_init)) if layer_scale_init else None
        self.modulation = nn.Linear(cond_dim, 3 * dim) if cond_dim else None
        if self.modulation is not None:
            nn.init.zeros_(self.modulation.weight)
            nn.init.zeros_(self.modulation.bias)
        self.radius = kernel // 2

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """x (B, C, T), cond (B, cond_dim) when built with cond_dim -> (B, C, T)."""
        residual = x
        x = self.norm(self.dwconv(x).transpose(1, 2))  # (B, T, C): norm and linears act on channels
        if self.modulation is not None:
            shift, scale, gate = self.modulation(cond).unsqueeze(1).chunk(3, dim=-1)
            x = x * (1 + scale) + shift
        x = self.pwconv2(self.act(self.pwconv1(x)))
        if self.gamma is not None:
            x = self.gamma * x
        if self.modulation is not None:
            x = gate * x
        return residual + x.transpose(1, 2)
