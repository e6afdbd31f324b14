"""Parallel WaveGAN (Yamamoto et al. 2020) and the ParallelWaveGAN toolkit's vocoders.

`ParallelWaveGAN` ("parallel-wavegan"): noise (B, 1, T) shaped by a non-causal WaveNet of gated
dilated residual layers, conditioned on the mel upsampled to the sample rate. The upsampling
network is the toolkit's ConvInUpsampleNetwork: the mel is replicate-padded by
`aux_context_window` frames, a conv of kernel 2·window+1 (no padding, no bias) mixes that context,
then each scale s repeats every frame s times (nearest) and smooths with a 1×(2s+1) Conv2d over
time. Dilations cycle 1, 2, 4, ... per stack; skips are summed and scaled by sqrt(1/layers);
ReLU, 1×1 conv, ReLU, 1×1 conv out, no tanh. Each layer's output is (residual + x)·sqrt(0.5).

`ToolkitVocoder` ("pwg-toolkit"): what a kan-bayashi/ParallelWaveGAN checkpoint folder holds,
rebuilt in melwave's networks: the generator (ParallelWaveGAN, melwave's MelGAN or HiFiGAN), the
feature statistics of its `stats.h5` as buffers (`feature_mean`, `feature_scale`), and for
Multi-band MelGAN the PQMF synthesis filterbank. Its `mel_config` describes the plain log10 mel;
`forward` normalises it with the statistics first (as the toolkit's `normalize_before` does), so
mel files stay interchangeable with every other model of the same MelConfig and the statistics
travel inside the model file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.audio.config import PRESETS, MelConfig
from melwave.audio.features import building_on_meta
from melwave.errors import ConfigError
from melwave.models.base import Vocoder
from melwave.models.blocks.weight_norm import WeightNormMixin
from melwave.models.vocoders.hifigan import HiFiGAN, HiFiGANConfig
from melwave.models.vocoders.melgan import MelGAN, MelGANConfig


@dataclass(frozen=True)
class ParallelWaveGANConfig:
    upsample_scales: tuple[int, ...] = (4, 4, 4, 4)  # product = hop_length
    layers: int = 30
    stacks: int = 3             # dilation cycles: 2**(layer % (layers // stacks))
    kernel_size: int = 3
    residual_channels: int = 64
    gate_channels: int = 128    # split in two halves: tanh(a) · sigmoid(b)
    skip_channels: int = 64
    aux_context_window: int = 2  # mel frames either side mixed by the upsampler's first conv

    def __post_init__(self) -> None:
        if not self.upsample_scales or any(s < 1 for s in self.upsample_scales):
            raise ConfigError(f"ParallelWaveGANConfig.upsample_scales={self.upsample_scales!r}: expected positive integers")
        if self.layers < 1 or self.stacks < 1 or self.layers % self.stacks:
            raise ConfigError(f"ParallelWaveGANConfig: layers={self.layers} must be a positive multiple of stacks={self.stacks}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"ParallelWaveGANConfig.kernel_size={self.kernel_size}: expected an odd positive integer")
        if self.gate_channels < 2 or self.gate_channels % 2:
            raise ConfigError(f"ParallelWaveGANConfig.gate_channels={self.gate_channels}: expected an even integer >= 2")
        for name in ("residual_channels", "skip_channels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ParallelWaveGANConfig.{name}={getattr(self, name)}: expected a positive integer")
        if self.aux_context_window < 0:
            raise ConfigError(f"ParallelWaveGANConfig.aux_context_window={self.aux_context_window}: expected >= 0")

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_scales)


PWG_CONFIGS = {
    # The paper's and the toolkit's parallel_wavegan.v1 generator (1.44M parameters with 80 mels).
    "parallel-wavegan": ParallelWaveGANConfig(),
    "debug": ParallelWaveGANConfig(layers=4, stacks=2, residual_channels=8, gate_channels=16, skip_channels=8),
}


class GatedResidualLayer(nn.Module):
    """x (B, R, T), c (B, n_mels, T) -> (residual out (B, R, T), skip (B, S, T))."""

    def __init__(self, config: ParallelWaveGANConfig, aux_channels: int, dilation: int):
        super().__init__()
        k = config.kernel_size
        self.conv = nn.Conv1d(config.residual_channels, config.gate_channels, k, dilation=dilation,
                              padding=(k - 1) // 2 * dilation)
        self.aux = nn.Conv1d(aux_channels, config.gate_channels, 1, bias=False)
        half = config.gate_channels // 2
        self.out = nn.Conv1d(half, config.residual_channels, 1)
        self.skip = nn.Conv1d(half, config.skip_channels, 1)

    def forward(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        a, b = (self.conv(x) + self.aux(c)).chunk(2, dim=1)
        gated = torch.tanh(a) * torch.sigmoid(b)
        return (self.out(gated) + x) * math.sqrt(0.5), self.skip(gated)


class ParallelWaveGAN(WeightNormMixin, Vocoder):
    """mel (B, n_mels, F) [+ noise (B, F·hop)] -> wave (B, F · prod(upsample_scales)).

    The output is a function of the noise too: `forward(mel, noise=...)` takes it explicitly
    (reproducible), else draws it from torch's generator.
    """

    family = "parallel-wavegan"
    config_class = ParallelWaveGANConfig
    named_configs = PWG_CONFIGS
    default_mel_preset = "hifigan-22k"
    feed_forward = True  # a non-causal WaveNet of bounded reach: streams exactly (melwave.models.streaming)
    noise_input = True  # forward(mel, noise) takes (B, F·hop) noise; a streamer draws it frame by frame

    def __init__(self, config: ParallelWaveGANConfig = PWG_CONFIGS["parallel-wavegan"],
                 mel_config: MelConfig = PRESETS["hifigan-22k"]):
        super().__init__(config, mel_config=mel_config)
        if config.hop_length != mel_config.hop_length:
            raise ConfigError(f"Parallel WaveGAN upsamples by {config.hop_length} but the mel hop_length is {mel_config.hop_length}")
        n_mels = mel_config.n_mels
        self.conv_in = nn.Conv1d(n_mels, n_mels, 2 * config.aux_context_window + 1, bias=False)
        # One smoothing Conv2d (1 -> 1 channel, 1 x (2s+1) over time) after each nearest repeat.
        self.upsample = nn.ModuleList(nn.Conv2d(1, 1, (1, 2 * s + 1), padding=(0, s), bias=False)
                                      for s in config.upsample_scales)
        self.first_conv = nn.Conv1d(1, config.residual_channels, 1)
        per_stack = config.layers // config.stacks
        self.layers = nn.ModuleList(GatedResidualLayer(config, n_mels, 2 ** (i % per_stack)) for i in range(config.layers))
        self.post1 = nn.Conv1d(config.skip_channels, config.skip_channels, 1)
        self.post2 = nn.Conv1d(config.skip_channels, 1, 1)

    def upsample_mel(self, mel: Tensor) -> Tensor:
        """(B, n_mels, F) -> (B, n_mels, F·hop): the conditioning at the sample rate."""
        window = self.config.aux_context_window
        c = F.pad(mel, (window, window), mode="replicate") if window else mel
        c = self.conv_in(c).unsqueeze(1)
        for scale, conv in zip(self.config.upsample_scales, self.upsample):
            c = conv(torch.repeat_interleave(c, scale, dim=-1))
        return c.squeeze(1)

    def forward(self, mel: Tensor, noise: Tensor | None = None) -> Tensor:
        c = self.upsample_mel(mel)
        if noise is None:
            noise = torch.randn(c.shape[0], c.shape[-1], device=c.device, dtype=c.dtype)
        if noise.shape != (c.shape[0], c.shape[-1]):
            raise ValueError(f"noise of shape {tuple(noise.shape)}: expected {(c.shape[0], c.shape[-1])}")
        x = self.first_conv(noise.unsqueeze(1))
        skips = torch.zeros((), device=x.device, dtype=x.dtype)
        for layer in self.layers:
            x, skip = layer(x, c)
            skips = skips + skip
        x = F.relu(skips * math.sqrt(1.0 / len(self.layers)))
        return self.post2(F.relu(self.post1(x))).squeeze(1)

    @property
    def receptive_frames(self) -> int:
        per_stack = self.config.layers // self.config.stacks
        dilations = sum(2 ** (i % per_stack) for i in range(self.config.layers))
        samples = (self.config.kernel_size - 1) * dilations // 2 + sum(self.config.upsample_scales)
        return self.config.aux_context_window + math.ceil(samples / self.hop_length) + 1


# --- the toolkit's checkpoint, as one melwave model ------------------------------------------

@dataclass(frozen=True)
class PQMFConfig:
    """Pseudo-QMF synthesis of Multi-band MelGAN (the toolkit's defaults for 4 bands)."""

    subbands: int = 4
    taps: int = 62
    cutoff_ratio: float = 0.142
    beta: float = 9.0

    def __post_init__(self) -> None:
        if self.subbands < 2:
            raise ConfigError(f"PQMFConfig.subbands={self.subbands}: expected >= 2")
        if self.taps < 2 or self.taps % 2:
            raise ConfigError(f"PQMFConfig.taps={self.taps}: expected an even number >= 2")
        if not 0.0 < self.cutoff_ratio < 1.0:
            raise ConfigError(f"PQMFConfig.cutoff_ratio={self.cutoff_ratio}: expected 0 < cutoff_ratio < 1")


def pqmf_synthesis_filters(config: PQMFConfig) -> np.ndarray:
    """(subbands, taps + 1) cosine-modulated synthesis filters of a Kaiser-windowed sinc prototype
    (Lin & Vaidyanathan's design as the toolkit builds it), float64."""
    taps, n = config.taps, np.arange(config.taps + 1) - config.taps / 2
    omega = np.pi * config.cutoff_ratio
    with np.errstate(invalid="ignore", divide="ignore"):
        prototype = np.sin(omega * n) / (np.pi * n)
    prototype[taps // 2] = config.cutoff_ratio  # the sinc's limit at n = 0
    # np.kaiser is scipy.signal.windows.kaiser(sym=True); numpy's keeps scipy.signal out of start-up.
    prototype = prototype * np.kaiser(taps + 1, config.beta)
    k = np.arange(config.subbands)[:, None]
    phase = (-1.0) ** k * np.pi / 4
    return 2 * prototype * np.cos((2 * k + 1) * np.pi / (2 * config.subbands) * n - phase)


class PQMFSynthesis(nn.Module):
    """(B, subbands, T) -> (B, T·subbands): zero-stuff each band by `subbands` (times subbands,
    the toolkit's gain), filter with its synthesis filter and sum the bands."""

    def __init__(self, config: PQMFConfig):
        super().__init__()
        self.config = config
        shape = (1, config.subbands, config.taps + 1)
        filters = torch.empty(shape) if building_on_meta() else torch.from_numpy(pqmf_synthesis_filters(config)).float().reshape(shape)
        self.register_buffer("filters", filters, persistent=False)

    def forward(self, bands: Tensor) -> Tensor:
        b, m, t = bands.shape
        stuffed = bands.new_zeros(b, m, t * m)
        stuffed[..., ::m] = bands * m
        return F.conv1d(F.pad(stuffed, (self.config.taps // 2, self.config.taps // 2)), self.filters).squeeze(1)


GENERATORS = ("parallel_wavegan", "melgan", "hifigan")


@dataclass(frozen=True)
class ToolkitConfig:
    """A ParallelWaveGAN-toolkit vocoder: which generator, its sizes, and PQMF for multi-band."""

    generator: str = "parallel_wavegan"  # one of GENERATORS; only that one's config is set
    parallel_wavegan: ParallelWaveGANConfig | None = None  # None for the chosen one: its defaults
    melgan: MelGANConfig | None = None
    hifigan: HiFiGANConfig | None = None
    pqmf: PQMFConfig | None = None  # Multi-band MelGAN: the generator outputs pqmf.subbands bands

    def __post_init__(self) -> None:
        if self.generator not in GENERATORS:
            raise ConfigError(f"ToolkitConfig.generator={self.generator!r}: expected one of {GENERATORS}")
        if getattr(self, self.generator) is None:
            defaults = {"parallel_wavegan": ParallelWaveGANConfig, "melgan": MelGANConfig, "hifigan": HiFiGANConfig}
            object.__setattr__(self, self.generator, defaults[self.generator]())
        others = [name for name in GENERATORS if name != self.generator and getattr(self, name) is not None]
        if others:
            raise ConfigError(f"ToolkitConfig: generator is {self.generator!r} but {others} is set too")
        if self.pqmf is not None and self.generator != "melgan":
            raise ConfigError("ToolkitConfig.pqmf: multi-band synthesis is for the melgan generator only")
        if self.pqmf is not None and self.melgan.out_channels != self.pqmf.subbands:
            raise ConfigError(f"ToolkitConfig: melgan.out_channels={self.melgan.out_channels} but pqmf.subbands={self.pqmf.subbands}")
        if self.pqmf is None and self.melgan is not None and self.melgan.out_channels != 1:
            raise ConfigError(f"ToolkitConfig: melgan.out_channels={self.melgan.out_channels} needs pqmf (multi-band)")

    @property
    def hop_length(self) -> int:
        return getattr(self, self.generator).hop_length * (self.pqmf.subbands if self.pqmf else 1)


TOOLKIT_CONFIGS = {
    "parallel-wavegan": ToolkitConfig(),
    "debug": ToolkitConfig(parallel_wavegan=PWG_CONFIGS["debug"]),
}


class ToolkitVocoder(Vocoder):
    """mel (B, n_mels, F), plain log10 mels of `mel_config` -> wave (B, F · hop).

    `generator` is a melwave network (ParallelWaveGAN, MelGAN or HiFiGAN) that reads mels
    normalised with the training set's statistics: forward applies (mel - feature_mean) /
    feature_scale per mel bin first.
    """

    family = "pwg-toolkit"
    config_class = ToolkitConfig
    named_configs = TOOLKIT_CONFIGS
    default_mel_preset = "hifigan-22k"

    def __init__(self, config: ToolkitConfig = TOOLKIT_CONFIGS["parallel-wavegan"], mel_config: MelConfig = PRESETS["hifigan-22k"]):
        super().__init__(config, mel_config=mel_config)
        if config.hop_length != mel_config.hop_length:
            raise ConfigError(f"{config.generator} upsamples by {config.hop_length} but the mel hop_length is {mel_config.hop_length}")
        n_mels = mel_config.n_mels
        self.register_buffer("feature_mean", torch.zeros(n_mels))
        self.register_buffer("feature_scale", torch.ones(n_mels))
        inner = getattr(config, config.generator)
        if config.pqmf is not None:
            # The bands run at 1/subbands of the sample rate: the generator upsamples hop/subbands.
            inner_mel = mel_config.replace(hop_length=mel_config.hop_length // config.pqmf.subbands)
            self.pqmf = PQMFSynthesis(config.pqmf)
        else:
            inner_mel, self.pqmf = mel_config, None
        self.generator = {"parallel_wavegan": ParallelWaveGAN, "melgan": MelGAN, "hifigan": HiFiGAN}[config.generator](inner, inner_mel)

    def normalize(self, mel: Tensor) -> Tensor:
        """Plain log10 mel -> what the toolkit's generator was trained on."""
        return (mel - self.feature_mean[:, None]) / self.feature_scale[:, None]

    def forward(self, mel: Tensor, noise: Tensor | None = None) -> Tensor:
        x = self.normalize(mel)
        wave = self.generator(x, noise) if isinstance(self.generator, ParallelWaveGAN) else self.generator(x)
        return self.pqmf(wave) if self.pqmf is not None else wave

    @property
    def receptive_frames(self) -> int:
        # PQMF's filter spans taps/2 samples either side: under one frame at any published hop.
        return self.generator.receptive_frames + (1 if self.pqmf is not None else 0)

    def remove_weight_norm(self):
        self.generator.remove_weight_norm()
        return self

    # Streaming (melwave.models.streaming): whatever the generator is; statistics and PQMF are local.
    @property
    def feed_forward(self) -> bool:
        return self.generator.feed_forward

    @property
    def noise_input(self) -> bool:
        return isinstance(self.generator, ParallelWaveGAN)
