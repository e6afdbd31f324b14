"""Anti-aliased activation (BigVGAN): upsample 2×, apply the nonlinearity, low-pass and
downsample 2×.

A pointwise nonlinearity such as Snake creates harmonics above Nyquist that would fold back as
aliasing; running it at twice the rate and filtering before decimation removes them. Both
filters are Kaiser-windowed sincs with an even number of taps. An even filter delays by half a
sample of the high rate; the upsampler's and the downsampler's half-samples cancel, so
`down(up(x))` has no delay (tests check this on band-limited signals).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def kaiser_sinc_filter(cutoff: float, half_width: float, taps: int) -> Tensor:
    """(taps,) low-pass FIR, cutoff and transition half-width in cycles/sample, unit DC gain.

    Kaiser's formulas pick β for the attenuation reachable with `taps` taps over a transition
    band of width 4·half_width (the same design BigVGAN uses).
    """
    return _kaiser_sinc_filter(float(cutoff), float(half_width), int(taps)).clone()


@functools.lru_cache(maxsize=16)
def _kaiser_sinc_filter(cutoff: float, half_width: float, taps: int) -> Tensor:
    # Always on the CPU (even inside a `torch.device("meta")` block), computed once per design:
    # a large generator holds over a hundred identical filters.
    if taps % 2:
        raise ValueError("kaiser_sinc_filter: taps must be even (delay-free up/down pairs rely on it)")
    attenuation = 2.285 * (taps // 2 - 1) * math.pi * 4 * half_width + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(taps, periodic=False, beta=beta, dtype=torch.float64, device="cpu")
    time = torch.arange(-taps // 2, taps // 2, dtype=torch.float64, device="cpu") + 0.5
    kernel = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
    return (kernel / kernel.sum()).float()


class UpSample1d(nn.Module):
    """(B, C, T) -> (B, C, 2T): zero-insertion then Kaiser-sinc low-pass (polyphase via
    conv_transpose), with replicate padding so edges do not ring."""

    ratio = 2

    def __init__(self, taps: int = 12):
        super().__init__()
        self.taps = taps
        self.pad = taps // self.ratio - 1
        self.crop_left = self.pad * self.ratio + (taps - self.ratio) // 2
        self.crop_right = self.pad * self.ratio + (taps - self.ratio + 1) // 2
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / self.ratio, 0.6 / self.ratio, taps).view(1, 1, -1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        kernel = self.filter.to(x.dtype).expand(channels, -1, -1)
        # Zero insertion halves the energy per output sample; ×ratio restores unit gain.
        x = self.ratio * F.conv_transpose1d(x, kernel, stride=self.ratio, groups=channels)
        return x[..., self.crop_left : x.shape[-1] - self.crop_right]


class DownSample1d(nn.Module):
    """(B, C, T) -> (B, C, ceil(T/2)): Kaiser-sinc low-pass then keep every second sample."""

    ratio = 2

    def __init__(self, taps: int = 12):
        super().__init__()
        self.pad_left = taps // 2 - 1
        self.pad_right = taps // 2
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / self.ratio, 0.6 / self.ratio, taps).view(1, 1, -1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.to(x.dtype).expand(channels, -1, -1), stride=self.ratio, groups=channels)


class AntiAliasedActivation(nn.Module):
    """(B, C, T) -> (B, C, T): down(act(up(x)))."""

    def __init__(self, activation: nn.Module, taps: int = 12):
        super().__init__()
        self.act = activation
        self.upsample = UpSample1d(taps)
        self.downsample = DownSample1d(taps)

    def forward(self, x: Tensor) -> Tensor:
        return self.downsample(self.act(self.upsample(x)))
