"""Anti-aliased multi-periodicity (AMP) residual block of BigVGAN, in BigVGAN's and GOMIN's forms.

resblock "1", per dilation d:  x <- x + conv_1(act2(conv_d(act1(x))))
resblock "2", per dilation d:  x <- x + conv_d(act1(x))                    (BigVGAN's AMPBlock2)
(B, C, T) -> (B, C, T). Generators average several of these with different kernels.

antialias "bigvgan": every activation is anti-aliased with BigVGAN's Kaiser filters.
antialias "gomin":   act1 is anti-aliased with GOMIN's filter (see blocks.antialias); act2 is a
                     plain Snake, as in GOMIN's AmpBlock.
"""

from __future__ import annotations

from torch import Tensor, nn

from melwave.models.blocks.activations import Snake, SnakeBeta
from melwave.models.blocks.antialias import AntiAliasedActivation, GominAntiAliasedActivation

ANTIALIAS = ("bigvgan", "gomin")
FILTER_TAPS = 12  # both designs use 12-tap filters at the doubled rate
# Samples (at the block's rate) an anti-aliased activation reaches on each side: its up- and
# down-sampling filters each span ±taps/2 samples at the doubled rate.
ANTIALIAS_REACH = FILTER_TAPS // 2


def same_padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


def make_snake(kind: str, channels: int, *, log_scale: bool = False) -> nn.Module:
    if kind == "snake":
        return Snake(channels, log_scale=log_scale)
    if kind == "snakebeta":
        return SnakeBeta(channels, log_scale=log_scale)
    raise ValueError(f"unknown activation {kind!r}; expected 'snake' or 'snakebeta'")


def antialiased(activation: nn.Module, antialias: str, sample_rate: float | None = None) -> nn.Module:
    """Wrap `activation` in the named anti-aliasing design; `sample_rate` (Hz, the doubled rate
    the activation runs at) is needed by GOMIN's filter design only."""
    if antialias == "bigvgan":
        return AntiAliasedActivation(activation, FILTER_TAPS)
    if antialias == "gomin":
        if sample_rate is None:
            raise ValueError("antialiased(..., 'gomin') needs the sample rate the activation runs at")
        return GominAntiAliasedActivation(activation, sample_rate, FILTER_TAPS)
    raise ValueError(f"unknown anti-aliasing {antialias!r}; expected one of {ANTIALIAS}")


class AMPBlock(nn.Module):
    """sample_rate: the block's rate in Hz (GOMIN's filter design runs at twice it)."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...], *, activation: str = "snake",
                 log_scale: bool = False, antialias: str = "bigvgan", resblock: str = "1",
                 sample_rate: float | None = None):
        super().__init__()
        if resblock not in ("1", "2"):
            raise ValueError(f"AMPBlock: resblock={resblock!r}: expected '1' or '2'")
        doubled = None if sample_rate is None else 2 * sample_rate

        def first() -> nn.Module:
            return antialiased(make_snake(activation, channels, log_scale=log_scale), antialias, doubled)

        def second() -> nn.Module:
            snake = make_snake(activation, channels, log_scale=log_scale)
            return antialiased(snake, antialias, doubled) if antialias == "bigvgan" else snake

        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=same_padding(kernel, d)) for d in dilations)
        self.acts1 = nn.ModuleList(first() for _ in dilations)
        # Samples this block reaches on each side (for receptive-field bounds).
        self.radius = sum(same_padding(kernel, d) + ANTIALIAS_REACH for d in dilations)
        if resblock == "1":
            self.convs2 = nn.ModuleList(
                nn.Conv1d(channels, channels, kernel, padding=same_padding(kernel)) for _ in dilations)
            self.acts2 = nn.ModuleList(second() for _ in dilations)
            second_reach = ANTIALIAS_REACH if antialias == "bigvgan" else 0
            self.radius += len(dilations) * (same_padding(kernel) + second_reach)
        else:
            self.convs2 = self.acts2 = None

    def forward(self, x: Tensor) -> Tensor:
        if self.convs2 is None:
            for conv1, act1 in zip(self.convs1, self.acts1):
                x = x + conv1(act1(x))
            return x
        for conv1, conv2, act1, act2 in zip(self.convs1, self.convs2, self.acts1, self.acts2):
            x = x + conv2(act2(conv1(act1(x))))
        return x
