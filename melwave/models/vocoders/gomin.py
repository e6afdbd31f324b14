"""GOMIN GAN generator (GomiGAN) and BigVGAN v1/v2: one BigVGAN-style generator, two sets of choices.

mel (B, n_mels, F)
  -> conv k7 to C channels
  -> per stage i (stride s_i, channels C/2^(i+1)):
       [Snake] -> ConvTranspose(kernel 2·s_i) -> [FiLM(scale_i, shift_i)]
       -> mean of AMP blocks (kernels 3/7/11, dilations 1/3/5; anti-aliased Snakes)
  -> Snake (anti-aliased in BigVGAN) -> conv k7 to 1 channel -> tanh (or clamp) -> wave (B, F·hop)

FiLM: a separate chain of ConvTranspose layers on the RAW mel runs alongside the main path,
one (unshared) layer per stage with the stage's stride; its output at stage i has 2·C/2^(i+1)
channels, split into scale and shift, applied as x·(1 + 0.01·scale) + shift. The main path is
therefore re-informed by the mel at every resolution instead of only through conv_pre.

What differs between the variants is all in `GominGANConfig`:
| option                    | GOMIN (named configs gomin/small/debug) | BigVGAN v1/v2 (formats/bigvgan.py)   |
| film, pre-upsample Snake  | yes, yes                                | no, no                               |
| antialias                 | "gomin": first Snake of each AMP step   | "bigvgan": every AMP Snake and the   |
|                           | with GOMIN's filter; second + post plain| post one, BigVGAN's Kaiser filters   |
| activation, log scale     | snake, no                               | snake|snakebeta, snake_logscale      |
| upsample kernels          | 2·stride                                | upsample_kernel_sizes                |
| resblock                  | "1"                                     | "1" | "2"                            |
| final                     | tanh, bias                              | use_tanh_at_final (else clamp ±1),   |
|                           |                                         | use_bias_at_final                    |
The dataclass defaults are melwave's earlier GOMIN-style model (everything anti-aliased with
BigVGAN's filters), so files saved before these options existed load unchanged.
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
from melwave.models.blocks.amp import ANTIALIAS, ANTIALIAS_REACH, AMPBlock, antialiased, make_snake
from melwave.models.blocks.film import film
from melwave.models.blocks.weight_norm import WeightNormMixin


@dataclass(frozen=True)
class GominGANConfig:
    upsample_strides: tuple[int, ...] = (4, 4, 2, 2, 2, 2)
    initial_channels: int = 1536  # halved by every stage
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    activation: str = "snake"  # or "snakebeta" (BigVGAN-v2)
    snake_log_scale: bool = False  # Snake parameters stored as logs (BigVGAN's snake_logscale)
    antialias: str = "bigvgan"  # "bigvgan" | "gomin" (see the module docstring)
    upsample_kernel_sizes: tuple[int, ...] = ()  # () = 2·stride per stage (GOMIN)
    resblock: str = "1"  # "1": two convs per dilation; "2": one (BigVGAN's AMPBlock2)
    film: bool = True  # FiLM from the raw mel after every upsampling (GOMIN)
    pre_upsample_activation: bool = True  # a plain Snake before each upsampling (GOMIN; BigVGAN has none)
    final_tanh: bool = True  # False: clamp to [-1, 1] (BigVGAN-v2's use_tanh_at_final: false)
    final_bias: bool = True  # bias of conv_post (BigVGAN-v2's use_bias_at_final)

    def __post_init__(self) -> None:
        if not self.upsample_strides or any(s < 1 for s in self.upsample_strides):
            raise ConfigError(f"GominGANConfig.upsample_strides={self.upsample_strides!r}: expected positive integers")
        if self.initial_channels % 2 ** len(self.upsample_strides):
            raise ConfigError(f"GominGANConfig.initial_channels={self.initial_channels}: must be divisible by 2**{len(self.upsample_strides)}")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilations) or not self.resblock_kernel_sizes:
            raise ConfigError("GominGANConfig: resblock_kernel_sizes and resblock_dilations must be non-empty and equally long")
        if self.activation not in ("snake", "snakebeta"):
            raise ConfigError(f"GominGANConfig.activation={self.activation!r}: expected 'snake' or 'snakebeta'")
        if self.antialias not in ANTIALIAS:
            raise ConfigError(f"GominGANConfig.antialias={self.antialias!r}: expected one of {ANTIALIAS}")
        if self.resblock not in ("1", "2"):
            raise ConfigError(f"GominGANConfig.resblock={self.resblock!r}: expected '1' or '2'")
        kernels = self.upsample_kernel_sizes
        if kernels and (len(kernels) != len(self.upsample_strides)
                        or any(k < s for k, s in zip(kernels, self.upsample_strides))):
            raise ConfigError(f"GominGANConfig.upsample_kernel_sizes={kernels!r}: expected one kernel >= its stride "
                              f"per stride {self.upsample_strides!r}, or [] for 2·stride")

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_strides)

    @property
    def kernels(self) -> tuple[int, ...]:
        return self.upsample_kernel_sizes or tuple(2 * s for s in self.upsample_strides)


_GOMIN = dict(antialias="gomin")  # GOMIN's own anti-aliasing: what its checkpoints were trained with
GOMIN_CONFIGS = {
    # The published GomiGAN (24 kHz, 128 mels), layer for layer.
    "gomin": GominGANConfig(**_GOMIN),
    # Same layout at a third of the width (≈1/9 of the parameters): trainable on one GPU quickly.
    "small": GominGANConfig(initial_channels=512, **_GOMIN),
    "debug": GominGANConfig(initial_channels=64, resblock_kernel_sizes=(3, 5), resblock_dilations=((1, 3), (1,)), **_GOMIN),
    # BigVGAN-v2's 256× generator (nvidia/bigvgan_v2_22khz_80band_256x / _24khz_100band_256x), 112M
    # parameters at 100 mels: to train that architecture; published checkpoints load with theirs.
    "bigvgan-v2": GominGANConfig(upsample_kernel_sizes=(8, 8, 4, 4, 4, 4), activation="snakebeta", snake_log_scale=True,
                                 film=False, pre_upsample_activation=False, final_tanh=False, final_bias=False),
}


def _upsampler(in_channels: int, out_channels: int, stride: int, kernel: int) -> nn.ConvTranspose1d:
    # Padding ceil((k−s)/2) and output_padding (k−s)%2: exactly s× the length for any k >= s. For
    # k − s even this is BigVGAN's and GOMIN's padding (k−s)/2.
    return nn.ConvTranspose1d(in_channels, out_channels, kernel, stride,
                              padding=(kernel - stride + 1) // 2, output_padding=(kernel - stride) % 2)


class FiLMChain(nn.Module):
    """Raw mel (B, n_mels, F) -> per stage i: (scale_i, shift_i), each (B, C/2^(i+1), F·s_0…s_i)."""

    def __init__(self, n_mels: int, initial_channels: int, strides: tuple[int, ...], kernels: tuple[int, ...]):
        super().__init__()
        self.layers = nn.ModuleList()
        previous = n_mels
        for i, (stride, kernel) in enumerate(zip(strides, kernels)):
            out = initial_channels // 2**i  # scale and shift for a stage of C/2^(i+1) channels
            self.layers.append(_upsampler(previous, out, stride, kernel))
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
    feed_forward = True  # convolutions and pointwise activations only: streams exactly (melwave.models.streaming)

    def __init__(self, config: GominGANConfig = GOMIN_CONFIGS["gomin"], mel_config: MelConfig = PRESETS["gomin-24k"]):
        super().__init__(config, mel_config=mel_config)
        if config.hop_length != mel_config.hop_length:
            raise ConfigError(f"GOMIN GAN upsamples by {config.hop_length} but the mel hop_length is {mel_config.hop_length}")
        channels, strides = config.initial_channels, config.upsample_strides
        self.film = FiLMChain(mel_config.n_mels, channels, strides, config.kernels) if config.film else None
        self.conv_pre = nn.Conv1d(mel_config.n_mels, channels, 7, padding=3)
        self.snakes = nn.ModuleList() if config.pre_upsample_activation else None
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        rate = mel_config.sample_rate / config.hop_length  # Hz, the mel's frame rate
        for stride, kernel in zip(strides, config.kernels):
            if self.snakes is not None:
                self.snakes.append(Snake(channels, log_scale=config.snake_log_scale))
            self.ups.append(_upsampler(channels, channels // 2, stride, kernel))
            channels //= 2
            rate *= stride
            self.resblocks.append(nn.ModuleList(
                AMPBlock(channels, k, d, activation=config.activation, log_scale=config.snake_log_scale,
                         antialias=config.antialias, resblock=config.resblock, sample_rate=rate)
                for k, d in zip(config.resblock_kernel_sizes, config.resblock_dilations)))
        act_post = make_snake(config.activation, channels, log_scale=config.snake_log_scale)
        # GOMIN's final Snake is plain; BigVGAN's is anti-aliased.
        self.act_post = antialiased(act_post, "bigvgan") if config.antialias == "bigvgan" else act_post
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3, bias=config.final_bias)
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.normal_(module.weight, 0.0, 0.01)

    def forward(self, mel: Tensor) -> Tensor:
        modulations = self.film(mel) if self.film is not None else None
        x = self.conv_pre(mel)
        for i, (up, blocks) in enumerate(zip(self.ups, self.resblocks)):
            if self.snakes is not None:
                x = self.snakes[i](x)
            x = up(x)
            if modulations is not None:
                x = film(x, *modulations[i])
            x = sum(block(x) for block in blocks) / len(blocks)
        x = self.conv_post(self.act_post(x))
        x = torch.tanh(x) if self.config.final_tanh else x.clamp(-1.0, 1.0)
        return x.squeeze(1)

    @property
    def receptive_frames(self) -> int:
        # conv_pre: 3 frames. Each stage: its widest AMP block's reach in samples at that
        # stage's rate (anti-aliasing filters included), plus the transposed conv's kernel; then
        # the final activation's filters and conv_post (3 samples).
        frames, rate = 3.0, 1
        for stride, kernel, blocks in zip(self.config.upsample_strides, self.config.kernels, self.resblocks):
            rate *= stride
            reach = max(block.radius for block in blocks) + kernel
            frames += reach / rate
        frames += (3 + (ANTIALIAS_REACH if self.config.antialias == "bigvgan" else 0)) / rate
        return math.ceil(frames) + 1
