"""Anti-aliased activations: upsample 2×, apply the nonlinearity, low-pass and downsample 2×.

Two designs, each exactly as its authors build it:
- BigVGAN's (`AntiAliasedActivation`): Kaiser-windowed sincs with Kaiser's β, replicate padding,
  unit gain both ways.
- GOMIN's (`GominAntiAliasedActivation`): zero-stuffing ×2, one 12-tap
  `scipy.signal.firwin(cutoff=sr/4, width=0.6 Hz)` × √2 for both directions, zero padding and
  `[1:-1:2]` decimation. The 0.6 Hz width makes Kaiser's formula give β = 0 (a rectangular-window
  sinc), and the √2 leaves a DC gain of 1/√2 on the way up (so the Snake sees x/√2) and √2 on the
  way down.

BigVGAN's design in detail:
A pointwise nonlinearity such as Snake creates harmonics above Nyquist that would fold back as
aliasing; running it at twice the rate and filtering before decimation removes them. Both
filters are Kaiser-windowed sincs with an even number of taps. An even filter delays by half a
sample of the high rate; the upsampler's and the downsampler's half-samples cancel, so
`down(up(x))` has no delay (tests check this on band-limited signals).
"""

from __future__ import annotations

import functools
import math

import numpy as np
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


def firwin_lowpass(taps: int, cutoff: float, width: float, fs: float) -> np.ndarray:
    """(taps,) float64: what `scipy.signal.firwin(taps, cutoff, width=width, fs=fs)` returns for a
    low-pass (its Kaiser-window design, scaled to unit DC gain), without importing scipy."""
    nyquist = 0.5 * fs
    band = cutoff / nyquist
    # Kaiser's attenuation for this many taps over this transition width, and its β (scipy's
    # kaiser_atten / kaiser_beta, thresholds included).
    attenuation = 2.285 * (taps - 1) * np.pi * (width / nyquist) + 7.95
    if attenuation > 50:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation > 21:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    else:
        beta = 0.0
    m = np.arange(taps) - 0.5 * (taps - 1)
    h = band * np.sinc(band * m) * np.kaiser(taps, beta)
    return h / h.sum()


@functools.lru_cache(maxsize=16)
def _gomin_lowpass(sample_rate: float, taps: int) -> Tensor:
    h = np.sqrt(2) * firwin_lowpass(taps, sample_rate / 4, 0.6, sample_rate)
    return torch.from_numpy(h).float()


def gomin_lowpass(sample_rate: float, taps: int = 12) -> Tensor:
    """(taps,) GOMIN's anti-aliasing filter at the doubled rate `sample_rate` (Hz): √2 ·
    firwin(taps, sr/4, width=0.6, fs=sr), rounded to float32 as GOMIN stores its `lpf` buffers."""
    return _gomin_lowpass(float(sample_rate), int(taps)).clone()


class GominAntiAliasedActivation(nn.Module):
    """(B, C, T) -> (B, C, T): GOMIN's up(×2) -> act -> down(×2).

    Up: the zero-stuffed signal [x0, 0, x1, 0, ...] convolved with the filter, zero-padded by
    taps/2 on both sides (2T + 1 samples). Down: the same filter and padding, then samples
    1, 3, ..., 2T − 1. `sample_rate` is the doubled rate the activation runs at (it enters only
    the filter design, through Kaiser's β, which is 0 at any audio rate).
    """

    def __init__(self, activation: nn.Module, sample_rate: float, taps: int = 12):
        super().__init__()
        if taps % 2:
            raise ValueError("GominAntiAliasedActivation: taps must be even")
        self.act = activation
        self.taps = taps
        self.register_buffer("filter", gomin_lowpass(sample_rate, taps).view(1, 1, -1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        channels, half = x.shape[1], self.taps // 2
        kernel = self.filter.to(x.dtype).expand(channels, -1, -1)
        # Convolving the zero-stuffed signal is a stride-2 transposed convolution; with a
        # symmetric filter, cropping half − 1 samples each side and keeping one more at the end
        # gives exactly GOMIN's 2T + 1 samples (half the multiply-adds of the literal form).
        y = F.conv_transpose1d(x, kernel, stride=2, padding=half - 1, output_padding=1, groups=channels)
        y = self.act(y)
        # GOMIN filters with `half` zeros each side and keeps samples 1, 3, ...: the same as a
        # stride-2 filter over `half − 1` zeros on the left (the ones a right edge needs on the right).
        y = F.pad(y, (half - 1, half - 2))
        return F.conv1d(y, kernel, stride=2, groups=channels)
