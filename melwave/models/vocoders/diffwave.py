"""DiffWave (Kong et al. 2021) with FiLM conditioning (as in GOMIN's diffusion model).

The network predicts the noise ε in a noisy waveform x_t given the step t and the mel:

  x_t (B, T) -> conv 1×1, ReLU -> C channels
  mel (B, n_mels, F) -> 2-D transposed convs along time (strides multiply to hop) -> (B, n_mels, T)
  t -> sinusoidal table (128) -> Linear 512, SiLU, Linear 512, SiLU
  residual layer i (dilation 2^(i mod cycle)), before every `film_every`-th one:
      x <- x·(1 + 0.01·scale) + shift,  (scale, shift) = 1×1 conv of the upsampled mel
      y = dilated_conv(x + proj(t)) + proj(mel);  gated tanh·sigmoid;  1×1 -> residual, skip
  Σ skip / √layers -> 1×1, ReLU -> 1×1 (zero-initialised) -> ε̂ (B, T)

The network knows nothing of β or ᾱ: `melwave.models.diffusion.NoiseSchedule` owns the
schedule; the `DiffWave` vocoder puts the two together and runs the reverse process in
`forward` with its configured sampler, number of steps and seed:
  "ddim"      melwave's fast sampler (`inference_steps`, `eta`);
  "ddpm"      diffusers' DDPMScheduler over every training step, x_0 clipped if `clip_sample`
              (GOMIN's sampler);
  "diffwave"  lmnt-com/diffwave's inference.py: `inference_schedule` βs (empty = the training
              schedule, their full sampling), fractional network steps, x clamped every step.
With the same seed, "ddpm" and "diffwave" draw the same noise, in the same order, as the authors'
code does from `torch.manual_seed(seed)`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from melwave.audio.config import PRESETS, MelConfig
from melwave.errors import ConfigError
from melwave.models.base import Vocoder
from melwave.models.blocks.film import FiLM
from melwave.models.diffusion.schedule import NoiseSchedule, NoiseScheduleConfig

EMBED_TABLE = 128  # sinusoidal timestep features (64 sin + 64 cos)
EMBED_DIM = 512


# Caps on what a config (or a published checkpoint's params) may ask for; DiffWave's own are 30
# layers of 64 channels with a cycle of 10 (dilations up to 512). The dilation grows as 2^cycle,
# so the cycle is what keeps one layer's padding (and its activations) bounded.
MAX_RESIDUAL_LAYERS = 1024
MAX_RESIDUAL_CHANNELS = 4096
MAX_DILATION_CYCLE = 16


@dataclass(frozen=True)
class DiffWaveConfig:
    residual_layers: int = 30
    residual_channels: int = 64
    dilation_cycle: int = 10  # dilations 1, 2, …, 2^(cycle−1), repeated
    film_every: int = 10  # FiLM from the mel before every N-th layer; 0 = none
    upsample_strides: tuple[int, ...] = (16, 16)  # mel upsampler; product must equal hop_length
    schedule: NoiseScheduleConfig = field(default_factory=NoiseScheduleConfig)
    inference_steps: int = 6  # reverse steps in forward(): num_train_steps = full DDPM, fewer = fast
    eta: float = 0.0  # 1 = stochastic (DDPM-like), 0 = deterministic DDIM
    seed: int = 0  # starting noise and step noise of forward(); same seed, same audio
    sampler: str = "ddim"  # "ddim" | "ddpm" (diffusers DDPMScheduler, GOMIN) | "diffwave" (lmnt-com/diffwave)
    clip_sample: bool = False  # "ddpm": clip the predicted x_0 to [-1, 1] (diffusers' default, GOMIN)
    inference_schedule: tuple[float, ...] = ()  # "diffwave": fast-sampling βs; () = full training schedule

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"DiffWaveConfig.sampler={self.sampler!r}: expected one of {SAMPLERS}")
        if self.sampler == "ddpm" and self.inference_steps != self.schedule.num_train_steps:
            raise ConfigError(f"DiffWaveConfig.inference_steps={self.inference_steps}: the ddpm sampler runs every training "
                              f"step ({self.schedule.num_train_steps})")
        if self.inference_schedule and not all(0 < b < 1 for b in self.inference_schedule):
            raise ConfigError("DiffWaveConfig.inference_schedule: expected every β in (0, 1)")
        for name, cap in (("residual_layers", MAX_RESIDUAL_LAYERS), ("residual_channels", MAX_RESIDUAL_CHANNELS),
                          ("dilation_cycle", MAX_DILATION_CYCLE)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= cap:
                raise ConfigError(f"DiffWaveConfig.{name}={str(value)[:40]}: expected an integer 1 … {cap:,}")
        if self.film_every < 0:
            raise ConfigError(f"DiffWaveConfig.film_every={self.film_every}: expected >= 0")
        if not 1 <= self.inference_steps <= self.schedule.num_train_steps:
            raise ConfigError(f"DiffWaveConfig.inference_steps={self.inference_steps}: expected 1 … schedule.num_train_steps "
                              f"({self.schedule.num_train_steps})")
        if not 0.0 <= self.eta <= 1.0:
            raise ConfigError(f"DiffWaveConfig.eta={self.eta}: expected 0 … 1")

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_strides)


SAMPLERS = ("ddim", "ddpm", "diffwave")

DIFFWAVE_CONFIGS = {
    # DiffWave BASE (Kong et al.: 2.64M parameters with 80 mels): 30 layers, 64 channels, cycle 10.
    "base": DiffWaveConfig(),
    # GOMIN's diffusion model: 128 channels (DiffWave LARGE width), FiLM every 10 layers, and its
    # sampler: diffusers' DDPMScheduler(1e-4 … 0.05, 50 steps), all 50 steps, x_0 clipped.
    "gomin": DiffWaveConfig(residual_channels=128, sampler="ddpm", inference_steps=50, clip_sample=True),
    # The same network sampled by melwave's fast 6-step DDIM (what "gomin" was before).
    "gomin-fast": DiffWaveConfig(residual_channels=128),
    "debug": DiffWaveConfig(residual_layers=4, residual_channels=8, dilation_cycle=2, film_every=2,
                            schedule=NoiseScheduleConfig(num_train_steps=8, beta_end=0.2), inference_steps=3),
}


class TimestepEmbedding(nn.Module):
    """t (B,) integer steps -> (B, 512)."""

    def __init__(self, num_steps: int):
        super().__init__()
        steps = torch.arange(num_steps, dtype=torch.float32).unsqueeze(1)
        freqs = 10.0 ** (torch.arange(EMBED_TABLE // 2, dtype=torch.float32) * 4.0 / (EMBED_TABLE // 2 - 1))
        table = torch.cat([torch.sin(steps * freqs), torch.cos(steps * freqs)], dim=1)
        self.register_buffer("table", table, persistent=False)
        self.proj1 = nn.Linear(EMBED_TABLE, EMBED_DIM)
        self.proj2 = nn.Linear(EMBED_DIM, EMBED_DIM)

    def forward(self, t: Tensor) -> Tensor:
        """t: integer steps, or fractional ones (lmnt-com/diffwave's fast sampling), whose
        features are interpolated linearly between the two neighbouring steps' rows."""
        if t.is_floating_point():
            low = torch.floor(t).long()
            below = self.table[low]
            x = below + (self.table[torch.ceil(t).long()] - below) * (t - low).unsqueeze(-1)
        else:
            x = self.table[t.long()]
        return F.silu(self.proj2(F.silu(self.proj1(x))))


class MelUpsampler(nn.Module):
    """(B, n_mels, F) -> (B, n_mels, F·prod(strides)); 2-D kernels also mix 3 neighbouring bins."""

    def __init__(self, strides: tuple[int, ...]):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.ConvTranspose2d(1, 1, (3, 2 * s), stride=(1, s), padding=(1, s // 2 + s % 2), output_padding=(0, s % 2))
            for s in strides)

    def forward(self, mel: Tensor) -> Tensor:
        x = mel.unsqueeze(1)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.4)
        return x.squeeze(1)


class ResidualLayer(nn.Module):
    """(x (B, C, T), step (B, 512), mel (B, n_mels, T)) -> (residual out (B, C, T), skip (B, C, T))."""

    def __init__(self, n_mels: int, channels: int, dilation: int):
        super().__init__()
        self.dilated_conv = nn.Conv1d(channels, 2 * channels, 3, padding=dilation, dilation=dilation)
        self.step_proj = nn.Linear(EMBED_DIM, channels)
        self.mel_proj = nn.Conv1d(n_mels, 2 * channels, 1)
        self.out_proj = nn.Conv1d(channels, 2 * channels, 1)
        for conv in (self.dilated_conv, self.mel_proj, self.out_proj):
            nn.init.kaiming_normal_(conv.weight)

    def forward(self, x: Tensor, step: Tensor, mel: Tensor) -> tuple[Tensor, Tensor]:
        y = self.dilated_conv(x + self.step_proj(step).unsqueeze(-1)) + self.mel_proj(mel)
        gate, signal = torch.chunk(y, 2, dim=1)
        residual, skip = torch.chunk(self.out_proj(torch.sigmoid(gate) * torch.tanh(signal)), 2, dim=1)
        return (x + residual) / math.sqrt(2.0), skip


class DiffWaveNet(nn.Module):
    """Noise predictor: (x_t (B, T), t (B,), mel (B, n_mels, F)) -> ε̂ (B, T), T = F·hop."""

    def __init__(self, config: DiffWaveConfig, n_mels: int, num_steps: int):
        super().__init__()
        channels = config.residual_channels
        self.film_every = config.film_every
        self.input_proj = nn.Conv1d(1, channels, 1)
        nn.init.kaiming_normal_(self.input_proj.weight)
        self.embedding = TimestepEmbedding(num_steps)
        self.upsampler = MelUpsampler(config.upsample_strides)
        self.layers = nn.ModuleList(
            ResidualLayer(n_mels, channels, 2 ** (i % config.dilation_cycle)) for i in range(config.residual_layers))
        count = -(-config.residual_layers // config.film_every) if config.film_every else 0
        self.films = nn.ModuleList(FiLM(n_mels, channels) for _ in range(count))
        self.skip_proj = nn.Conv1d(channels, channels, 1)
        nn.init.kaiming_normal_(self.skip_proj.weight)
        self.output_proj = nn.Conv1d(channels, 1, 1)
        nn.init.zeros_(self.output_proj.weight)  # starts predicting ε̂ = 0: a stable first step

    def forward(self, x_t: Tensor, t: Tensor, mel: Tensor) -> Tensor:
        x = F.relu(self.input_proj(x_t.unsqueeze(1)))
        step = self.embedding(t)
        cond = self.upsampler(mel)
        if cond.shape[-1] != x.shape[-1]:
            raise ValueError(f"DiffWaveNet: waveform has {x.shape[-1]} samples but the mel upsamples to {cond.shape[-1]}")
        skips = 0.0
        for i, layer in enumerate(self.layers):
            if self.film_every and i % self.film_every == 0:
                x = self.films[i // self.film_every](x, cond)
            x, skip = layer(x, step, cond)
            skips = skips + skip
        x = F.relu(self.skip_proj(skips / math.sqrt(len(self.layers))))
        return self.output_proj(x).squeeze(1)


class DiffWave(Vocoder):
    """mel (B, n_mels, F) -> wave (B, F·hop) by `inference_steps` reverse diffusion steps."""

    family = "diffwave"
    config_class = DiffWaveConfig
    named_configs = DIFFWAVE_CONFIGS  # "debug" is the tiny one for tests and CI
    default_mel_preset = "hifigan-22k"

    def __init__(self, config: DiffWaveConfig = DIFFWAVE_CONFIGS["base"], mel_config: MelConfig = PRESETS["hifigan-22k"]):
        super().__init__(config, mel_config=mel_config)
        if config.hop_length != mel_config.hop_length:
            raise ConfigError(f"DiffWave upsamples the mel by {config.hop_length} but the mel hop_length is {mel_config.hop_length}")
        self.network = DiffWaveNet(config, mel_config.n_mels, config.schedule.num_train_steps)
        self.schedule = NoiseSchedule(config.schedule)
        self.show_progress = False

    @torch.no_grad()
    def forward(self, mel: Tensor, *, steps: int | None = None, seed: int | None = None) -> Tensor:
        """steps: reverse steps of the "ddim" sampler (default `inference_steps`)."""
        generator = torch.Generator(device=mel.device).manual_seed(self.config.seed if seed is None else seed)
        batch, frames = mel.shape[0], mel.shape[-1]
        x = torch.randn(batch, frames * self.hop_length, generator=generator, device=mel.device, dtype=mel.dtype)
        if self.config.sampler == "ddpm":
            self.schedule.set_timesteps(self.schedule.num_train_steps)
            for t in tqdm(self.schedule.timesteps.tolist(), desc="diffwave", unit="step", disable=not self.show_progress):
                epsilon = self.network(x, torch.full((batch,), t, device=mel.device, dtype=torch.long), mel)
                x = self.schedule.step_ddpm(epsilon, t, x, generator, clip_sample=self.config.clip_sample)
            return x.clamp(-1.0, 1.0)
        if self.config.sampler == "diffwave":
            plan = self.schedule.diffwave_plan(self.config.inference_schedule or None)
            for t, c1, c2, sigma in tqdm(plan, desc="diffwave", unit="step", disable=not self.show_progress):
                epsilon = self.network(x, torch.full((batch,), t, device=mel.device, dtype=torch.float32), mel)
                x = c1 * (x - c2 * epsilon)
                if sigma > 0:
                    x = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                x = x.clamp(-1.0, 1.0)
            return x
        steps = self.config.inference_steps if steps is None else steps
        self.schedule.set_timesteps(steps)
        for t in tqdm(self.schedule.timesteps.tolist(), desc="diffwave", unit="step", disable=not self.show_progress):
            epsilon = self.network(x, torch.full((batch,), t, device=mel.device, dtype=torch.long), mel)
            x = self.schedule.step(epsilon, t, x, generator, eta=self.config.eta)
        return x.clamp(-1.0, 1.0)

    def with_sampling(self, **changes) -> "DiffWave":
        """Change how `forward` samples (sampler, inference_steps, eta, seed, clip_sample,
        inference_schedule) on this model, checked as a config is; the network is unchanged."""
        allowed = {"sampler", "inference_steps", "eta", "seed", "clip_sample", "inference_schedule"}
        unknown = set(changes) - allowed
        if unknown:
            raise ConfigError(f"DiffWave.with_sampling: {sorted(unknown)} are not sampling settings ({sorted(allowed)})")
        if "inference_schedule" in changes:
            changes["inference_schedule"] = tuple(float(b) for b in changes["inference_schedule"])
        self.config = dataclasses.replace(self.config, **changes)
        return self

    def streaming_refusal(self) -> str | None:
        return ("its reverse diffusion draws the noise of the whole utterance at once and re-runs the network over "
                "all of it at every step, so no bounded window reproduces the offline output")

    @property
    def receptive_frames(self) -> int:
        # Dilated convs reach Σ dilations samples each side; the mel upsampler about one frame.
        reach = sum(2 ** (i % self.config.dilation_cycle) for i in range(self.config.residual_layers))
        return -(-reach // self.hop_length) + 2
