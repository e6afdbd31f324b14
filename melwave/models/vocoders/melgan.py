"""MelGAN generator (Kumar et al. 2019).

mel (B, n_mels, F) -> reflect-pad, conv k7 -> per stage: LeakyReLU(0.2), ConvTranspose
(kernel 2·stride), residual stack of dilations 1, 3, 9 -> LeakyReLU, reflect-pad, conv k7, tanh
-> wave (B, F·hop). Each residual unit is LeakyReLU -> reflect-pad(d) -> conv k3 dilation d ->
LeakyReLU -> conv k1, added to a 1×1-conv shortcut (the authors' code; ≈4.3M parameters with
80 mels and 512 initial channels). Weight norm on every conv for training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.audio.config import PRESETS, MelConfig
from melwave.errors import ConfigError
from melwave.models.base import Vocoder
from melwave.models.blocks.weight_norm import WeightNormMixin

LRELU_SLOPE = 0.2


def reflect_pad(x: Tensor, pad: int) -> Tensor:
    """Reflect padding, or replicate where the signal is too short to reflect (a 1-frame mel)."""
    return F.pad(x, (pad, pad), mode="reflect" if pad < x.shape[-1] else "replicate")


@dataclass(frozen=True)
class MelGANConfig:
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    initial_channels: int = 512  # halved after every upsampling stage
    dilations: tuple[int, ...] = (1, 3, 9)
    residual_kernel: int = 3

    def __post_init__(self) -> None:
        if not self.upsample_rates or any(r < 1 for r in self.upsample_rates):
            raise ConfigError(f"MelGANConfig.upsample_rates={self.upsample_rates!r}: expected positive integers")
        if self.initial_channels % 2 ** len(self.upsample_rates):
            raise ConfigError(f"MelGANConfig.initial_channels={self.initial_channels}: must be divisible by 2**{len(self.upsample_rates)}")

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_rates)


MELGAN_CONFIGS = {
    "melgan": MelGANConfig(),
    "debug": MelGANConfig(initial_channels=32, dilations=(1, 3)),
}


class ResidualUnit(nn.Module):
    """(B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.pad = dilation * (kernel - 1) // 2
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.proj = nn.Conv1d(channels, channels, 1)
        self.shortcut = nn.Conv1d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = reflect_pad(F.leaky_relu(x, LRELU_SLOPE), self.pad)
        y = self.proj(F.leaky_relu(self.conv(y), LRELU_SLOPE))
        return self.shortcut(x) + y


class MelGAN(WeightNormMixin, Vocoder):
    """mel (B, n_mels, F) -> wave (B, F · prod(upsample_rates)) in [-1, 1]."""

    family = "melgan"
    config_class = MelGANConfig
    named_configs = MELGAN_CONFIGS  # "debug" is the tiny one for tests and CI
    default_mel_preset = "melgan-22k"

    def __init__(self, config: MelGANConfig = MELGAN_CONFIGS["melgan"], mel_config: MelConfig = PRESETS["melgan-22k"]):
        super().__init__(mel_config, config)
        if config.hop_length != mel_config.hop_length:
            raise ConfigError(f"MelGAN upsamples by {config.hop_length} but the mel hop_length is {mel_config.hop_length}")
        channels = config.initial_channels
        self.conv_pre = nn.Conv1d(mel_config.n_mels, channels, 7)
        self.ups = nn.ModuleList()
        self.stacks = nn.ModuleList()
        for rate in config.upsample_rates:
            # Kernel 2r with padding r//2 + r%2 and output_padding r%2 gives exactly r× the length.
            self.ups.append(nn.ConvTranspose1d(channels, channels // 2, 2 * rate, rate,
                                               padding=rate // 2 + rate % 2, output_padding=rate % 2))
            channels //= 2
            self.stacks.append(nn.Sequential(*(ResidualUnit(channels, config.residual_kernel, d) for d in config.dilations)))
        self.conv_post = nn.Conv1d(channels, 1, 7)

    def forward(self, mel: Tensor) -> Tensor:
        x = self.conv_pre(reflect_pad(mel, 3))
        for up, stack in zip(self.ups, self.stacks):
            x = stack(up(F.leaky_relu(x, LRELU_SLOPE)))
        x = self.conv_post(reflect_pad(F.leaky_relu(x, LRELU_SLOPE), 3))
        return torch.tanh(x).squeeze(1)

    @property
    def receptive_frames(self) -> int:
        # conv_pre reaches 3 frames; each stack reaches Σ d·(k−1)/2 samples at its rate, and the
        # transposed convs about one input step each; conv_post 3 output samples.
        samples, rate = 0.0, 1
        for stage_rate in self.config.upsample_rates:
            rate *= stage_rate
            samples += (1 + sum(d * (self.config.residual_kernel - 1) // 2 for d in self.config.dilations)) * self.hop_length / rate
        return 3 + math.ceil((samples + 3) / self.hop_length) + 1
