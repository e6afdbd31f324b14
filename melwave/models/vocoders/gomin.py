"""GOMIN GAN generator (GomiGAN): a BigVGAN-style generator with FiLM conditioning.

mel (B, n_mels, F)
  -> conv k7 to C channels
  -> per stage i (stride s_i, channels C/2^(i+1)):
       Snake -> ConvTranspose(kernel 2·s_i) -> FiLM(scale_i, shift_i)
       -> mean of AMP blocks (kernels 3/7/11, dilations 1/3/5; anti-aliased Snake)
  -> anti-aliased Snake -> conv k7 to 1 channel -> tanh -> wave (B, F·hop)

FiLM: a separate chain of ConvTranspose layers on the RAW mel runs alongside the main path,
one (unshared) layer per stage with the stage's stride; its output at stage i has 2·C/2^(i+1)
channels, split into scale and shift, applied as x·(1 + 0.01·scale) + shift. The main path is
therefore re-informed by the mel at every resolution instead of only through conv_pre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from melwave.audio.config import PRESETS, MelConfig
from melwave.errors import ConfigError
from melwave.models.base import Vocoder
from melwave.models.blocks.activations import Snake
from melwave.models.blocks.amp import AMPBlock, make_snake
from melwave.models.blocks.antialias import AntiAliasedActivation
from melwave.models.blocks.film import film
from melwave.models.blocks.weight_norm import WeightNormMixin


@dataclass(frozen=True)
class GominGANConfig:
    upsample_strides: tuple[int, ...] = (4, 4, 2, 2, 2, 2)
    initial_channels: int = 1536  # halved by every stage
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    activation: str = "snake"  # or "snakebeta" (BigVGAN-v2)

    def __post_init__(self) -> None:
        if not self.upsample_strides or any(s < 1 for s in self.upsample_strides):
            raise ConfigError(f"GominGANConfig.upsample_strides={self.upsample_strides!r}: expected positive integers")
        if self.initial_channels % 2 ** len(self.upsample_strides):
            raise ConfigError(f"GominGANConfig.initial_channels={self.initial_channels}: must be divisible by 2**{len(self.upsample_strides)}")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilations) or not self.resblock_kernel_sizes:
            raise ConfigError("GominGANConfig: resblock_kernel_sizes and resblock_dilations must be non-empty and equally long")
        if self.activation not in ("snake", "snakebeta"):
            raise ConfigError(f"GominGANConfig.activation={self.activation!r}: expected 'snake' or 'snakebeta'")

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_strides)


GOMIN_CONFIGS = {
    # The published GomiGAN (24 kHz, 128 mels).
    "gomin": GominGANConfig(),
    # Same layout at a third of the width (≈1/9 of the parameters): trainable on one GPU quickly.
    "small": GominGANConfig(initial_channels=512),
    "debug": GominGANConfig(initial_channels=64, resblock_kernel_sizes=(3, 5), resblock_dilations=((1, 3), (1,))),
}


def _upsampler(in_channels: int, out_channels: int, stride: int) -> nn.ConvTranspose1d:
    # Kernel 2s with padding s//2 + s%2 and output_padding s%2: exactly s× the length.
    return nn.ConvTranspose1d(in_channels, out_channels, 2 * stride, stride,
                              padding=stride // 2 + stride % 2, output_padding=stride % 2)


class FiLMChain(nn.Module):
    """Raw mel (B, n_mels, F) -> per stage i: (scale_i, shift_i), each (B, C/2^(i+1), F·s_0…s_i)."""

    def __init__(self, n_mels: int, initial_channels: int, strides: tuple[int, ...]):
        super().__init__()
        self.layers = nn.ModuleList()
        previous = n_mels
        for i, stride in enumerate(strides):
            out = initial_channels // 2**i  # scale and shift for a stage of C/2^(i+1) channels
            self.layers.append(_upsampler(previous, out, stride))
            previous = out

    def forward(self, mel: Tensor) -> list[tuple[Tensor, Tensor]]:
        outputs, x = [], mel
        for layer in self.layers:
            x = layer(x)
            scale, shift = torch.chunk(x, 2, dim=1)
            outputs.append((scale, shift))
        return outputs


class GominGAN(WeightNormMixin, Vocoder):
    """mel (B, n_mels, F) -> wave (B, F · prod(upsample_strides)) in [-1, 1]."""

    family = "gomin-gan"
    config_class = GominGANConfig
    named_configs = GOMIN_CONFIGS  # "debug" is the tiny one for tests and CI
    default_mel_preset = "gomin-24k"

    def __init__(self, config: GominGANConfig = GOMIN_CONFIGS["gomin"], mel_config: MelConfig = PRESETS["gomin-24k"]):
        super().__init__(mel_config, config)
        if config.hop_length != mel_config.hop_length:
            raise ConfigError(f"GOMIN GAN upsamples by {config.hop_length} but the mel hop_length is {mel_config.hop_length}")
        channels = config.initial_channels
        self.film = FiLMChain(mel_config.n_mels, channels, config.upsample_strides)
        self.conv_pre = nn.Conv1d(mel_config.n_mels, channels, 7, padding=3)
        self.snakes = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for stride in config.upsample_strides:
            self.snakes.append(Snake(channels))
            self.ups.append(_upsampler(channels, channels // 2, stride))
            channels //= 2
            self.resblocks.append(nn.ModuleList(
                AMPBlock(channels, k, d, activation=config.activation)
                for k, d in zip(config.resblock_kernel_sizes, config.resblock_dilations)))
        self.act_post = AntiAliasedActivation(make_snake(config.activation, channels))
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3)
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.normal_(module.weight, 0.0, 0.01)

    def forward(self, mel: Tensor) -> Tensor:
        modulations = self.film(mel)
        x = self.conv_pre(mel)
        for snake, up, blocks, (scale, shift) in zip(self.snakes, self.ups, self.resblocks, modulations):
            x = film(up(snake(x)), scale, shift)
            x = sum(block(x) for block in blocks) / len(blocks)
        x = self.conv_post(self.act_post(x))
        return torch.tanh(x).squeeze(1)

    @property
    def receptive_frames(self) -> int:
        # conv_pre: 3 frames. Each stage: its widest AMP block's reach in samples at that
        # stage's rate, plus one input step for the transposed conv; anti-aliasing filters add
        # a few samples per activation, covered by the final +1.
        frames, rate = 3.0, 1
        for stride, blocks in zip(self.config.upsample_strides, self.resblocks):
            rate *= stride
            reach = max(block.radius for block in blocks) + stride
            frames += reach / rate
        return math.ceil(frames) + 1
