"""MelGAN generator (Kumar et al. 2019).

mel (B, n_mels, F) -> reflect-pad, conv k7 -> per stage: LeakyReLU(0.2), ConvTranspose
(kernel 2·stride), residual stack of dilations 1, 3, 9 -> LeakyReLU, reflect-pad, conv k7, tanh
-> wave (B, F·hop). Each residual unit is LeakyReLU -> reflect-pad(d) -> conv k3 dilation d ->
LeakyReLU -> conv k1, added to a 1×1-conv shortcut (the authors' code; ≈4.3M parameters with
80 mels and 512 initial channels). Weight norm on every conv for training.

`style="keras"` (named config `melgan-keras`) is the MelGAN Keras tutorial's generator instead
(keras.io "MelGAN-based spectrogram inversion"; docs/sources.md): ConvTranspose kernel 16 at every stage, LeakyReLU 0.3
(Keras' default), zero "same" padding everywhere, and residual units of two k3 convs (dilated,
then dilation 1) added to an identity skip, the first unit of a stack taking the activated
upsampling output without a second activation; conv_pre carries no weight norm.
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
from melwave.models.blocks.weight_norm import WeightNormMixin, apply_weight_norm
from melwave.models.streaming.factory import CachedStreaming

LRELU_SLOPE = 0.2
STYLES = ("paper", "keras")


def reflect_pad(x: Tensor, pad: int) -> Tensor:
    """Reflect padding, or replicate where the signal is too short to reflect (a 1-frame mel)."""
    return F.pad(x, (pad, pad), mode="reflect" if pad < x.shape[-1] else "replicate")


@dataclass(frozen=True)
class MelGANConfig:
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    initial_channels: int = 512  # halved after every upsampling stage
    dilations: tuple[int, ...] = (1, 3, 9)
    residual_kernel: int = 3
    out_channels: int = 1  # > 1: sub-band signals for a PQMF synthesis (Multi-band MelGAN)
    style: str = "paper"  # "paper": the authors' code; "keras": the Keras tutorial's network

    @property
    def lrelu_slope(self) -> float:
        return 0.3 if self.style == "keras" else LRELU_SLOPE  # Keras' LeakyReLU default is 0.3

    @property
    def upsample_kernel(self) -> int | None:
        """16 for the Keras tutorial at every stage; None: 2·rate (the paper)."""
        return 16 if self.style == "keras" else None

    def __post_init__(self) -> None:
        if not self.upsample_rates or any(r < 1 for r in self.upsample_rates):
            raise ConfigError(f"MelGANConfig.upsample_rates={self.upsample_rates!r}: expected positive integers")
        if self.initial_channels % 2 ** len(self.upsample_rates):
            raise ConfigError(f"MelGANConfig.initial_channels={self.initial_channels}: must be divisible by 2**{len(self.upsample_rates)}")
        if self.style not in STYLES:
            raise ConfigError(f"MelGANConfig.style={self.style!r}: expected one of {STYLES}")

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_rates)


MELGAN_CONFIGS = {
    "melgan": MelGANConfig(),
    "debug": MelGANConfig(initial_channels=32, dilations=(1, 3)),
    # The Keras tutorial's generator: 4,646,658 trainable parameters with weight norm, as Keras
    # prints them (4,646,912 with Keras' bookkeeping; tests/models/vocoders/test_melgan.py counts both).
    "melgan-keras": MelGANConfig(style="keras"),
    "debug-keras": MelGANConfig(initial_channels=32, dilations=(1, 3), style="keras"),
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


class KerasResidualStack(nn.Module):
    """(B, C, T) -> (B, C, T): the tutorial's `residual_stack` on an already activated input.

    unit i: y = y + conv_b(act(conv_a(y if i == 0 else act(y)))), conv_a dilated, conv_b
    dilation 1, both k3 with zero "same" padding (symmetric for odd kernels at stride 1).
    """

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...], slope: float):
        super().__init__()
        self.slope = slope
        self.dilated = nn.ModuleList(nn.Conv1d(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2)
                                     for d in dilations)
        self.second = nn.ModuleList(nn.Conv1d(channels, channels, kernel, padding=(kernel - 1) // 2) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for i, (conv_a, conv_b) in enumerate(zip(self.dilated, self.second)):
            y = x if i == 0 else F.leaky_relu(x, self.slope)
            x = x + conv_b(F.leaky_relu(conv_a(y), self.slope))
        return x


class MelGAN(CachedStreaming, WeightNormMixin, Vocoder):
    """mel (B, n_mels, F) -> wave (B, F · prod(upsample_rates)) in [-1, 1]."""

    family = "melgan"
    config_class = MelGANConfig
    named_configs = MELGAN_CONFIGS  # "debug" is the tiny one for tests and CI
    default_mel_preset = "melgan-22k"
    feed_forward = True  # convolutions only: streams exactly (melwave.models.streaming)
    # The cached streamer traces forward(); reflect_pad's length test is Python it cannot follow,
    # so each call stays one reflect padding. The Keras style reads lengths and streams windowed.
    streaming_functions = {reflect_pad: "reflect"}

    def __init__(self, config: MelGANConfig = MELGAN_CONFIGS["melgan"], mel_config: MelConfig = PRESETS["melgan-22k"]):
        super().__init__(config, mel_config=mel_config)
        if config.hop_length != mel_config.hop_length:
            raise ConfigError(f"MelGAN upsamples by {config.hop_length} but the mel hop_length is {mel_config.hop_length}")
        channels = config.initial_channels
        keras = config.style == "keras"
        self.conv_pre = nn.Conv1d(mel_config.n_mels, channels, 7, padding=3 if keras else 0)
        self.ups = nn.ModuleList()
        self.stacks = nn.ModuleList()
        for rate in config.upsample_rates:
            if keras:
                # Keras Conv1DTranspose(padding="same"): the full transposed conv cropped by
                # (kernel - rate)//2 in front, to rate× the length (cropped in forward).
                self.ups.append(nn.ConvTranspose1d(channels, channels // 2, config.upsample_kernel, rate))
                channels //= 2
                self.stacks.append(KerasResidualStack(channels, config.residual_kernel, config.dilations, config.lrelu_slope))
                continue
            # Kernel 2r with padding r//2 + r%2 and output_padding r%2 gives exactly r× the length.
            self.ups.append(nn.ConvTranspose1d(channels, channels // 2, 2 * rate, rate,
                                               padding=rate // 2 + rate % 2, output_padding=rate % 2))
            channels //= 2
            self.stacks.append(nn.Sequential(*(ResidualUnit(channels, config.residual_kernel, d) for d in config.dilations)))
        self.conv_post = nn.Conv1d(channels, config.out_channels, 7, padding=3 if keras else 0)

    def apply_weight_norm(self):
        # The tutorial's first Conv1D is the one layer without WeightNormalization.
        return apply_weight_norm(self, skip=(self.conv_pre,) if self.config.style == "keras" else ())

    def forward(self, mel: Tensor) -> Tensor:
        if self.config.style == "keras":
            return self._forward_keras(mel)
        x = self.conv_pre(reflect_pad(mel, 3))
        for up, stack in zip(self.ups, self.stacks):
            x = stack(up(F.leaky_relu(x, LRELU_SLOPE)))
        x = self.conv_post(reflect_pad(F.leaky_relu(x, LRELU_SLOPE), 3))
        return torch.tanh(x).squeeze(1)

    def _forward_keras(self, mel: Tensor) -> Tensor:
        slope = self.config.lrelu_slope
        x = F.leaky_relu(self.conv_pre(mel), slope)
        for up, stack, rate in zip(self.ups, self.stacks, self.config.upsample_rates):
            length = x.shape[-1] * rate
            start = (self.config.upsample_kernel - rate) // 2
            x = F.leaky_relu(up(x)[..., start:start + length], slope)
            x = F.leaky_relu(stack(x), slope)
        return torch.tanh(self.conv_post(x)).squeeze(1)

    @property
    def receptive_frames(self) -> int:
        # conv_pre reaches 3 frames; each stack reaches Σ d·(k−1)/2 samples at its rate, and the
        # transposed convs about one input step each; conv_post 3 output samples.
        samples, rate = 0.0, 1
        half = (self.config.residual_kernel - 1) // 2
        for stage_rate in self.config.upsample_rates:
            rate *= stage_rate
            if self.config.style == "keras":
                # kernel-16 transposed conv: 8 output samples each side; two k3 convs per unit.
                reach = self.config.upsample_kernel // 2 + sum(d * half + half for d in self.config.dilations)
            else:
                reach = 1 + sum(d * half for d in self.config.dilations)
            samples += reach * self.hop_length / rate
        return 3 + math.ceil((samples + 3) / self.hop_length) + 1
