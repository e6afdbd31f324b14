"""Anti-aliased multi-periodicity (AMP) residual block of BigVGAN.

Per dilation d:  x <- x + conv_1(act(conv_d(act(x))))  with `act` the anti-aliased Snake.
(B, C, T) -> (B, C, T). Generators average several of these with different kernels.
"""

from __future__ import annotations

from torch import Tensor, nn

from melwave.models.blocks.activations import Snake, SnakeBeta
from melwave.models.blocks.antialias import AntiAliasedActivation


def same_padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


def make_snake(kind: str, channels: int) -> nn.Module:
    if kind == "snake":
        return Snake(channels)
    if kind == "snakebeta":
        return SnakeBeta(channels)
    raise ValueError(f"unknown activation {kind!r}; expected 'snake' or 'snakebeta'")


class AMPBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...], *, activation: str = "snake"):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=same_padding(kernel, d)) for d in dilations)
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, padding=same_padding(kernel)) for _ in dilations)
        self.acts1 = nn.ModuleList(AntiAliasedActivation(make_snake(activation, channels)) for _ in dilations)
        self.acts2 = nn.ModuleList(AntiAliasedActivation(make_snake(activation, channels)) for _ in dilations)
        self.radius = sum(same_padding(kernel, d) + same_padding(kernel) for d in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for conv1, conv2, act1, act2 in zip(self.convs1, self.convs2, self.acts1, self.acts2):
            x = x + conv2(act2(conv1(act1(x))))
        return x
