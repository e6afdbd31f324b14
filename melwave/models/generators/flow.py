"""Class-conditional rectified-flow mel generator (family `flow`), with classifier-free guidance.

    noise (B, n_mels·frames) + one label index per condition (B, K)  ->  mel (B, n_mels, frames)

The network predicts the velocity of the straight noise-to-data path (melwave.models.diffusion.rectified_flow
owns the path and the Euler/Heun sampler; the network knows nothing of them):

    x_t (B, n_mels, frames) normalised mel on its way from noise (t = 0) to data (t = 1)
      -> 1×1 conv: mel bins become `dim` channels, + a learned position embedding per frame
         (notes are onset-aligned crops, so "where in the note" is part of what is drawn)
      -> `layers` × ConvNeXt block over frames, each adaLN-Zero-modulated by c
      -> LayerNorm -> 1×1 conv (zero-initialised) -> velocity (B, n_mels, frames)
    c = time MLP(Fourier features of t) + Σ_k embedding_k(label_k)   (B, cond_dim)

A 1-D network over frames with the mel bins as channels (rather than a 2-D U-Net over the image)
sees the whole spectrum of a frame in every layer, which is where pitch and timbre live (harmonic
patterns across bins), and its large matrix products are what a CPU runs fastest.

Classifier-free guidance: each condition's embedding has one extra row, the null token (index =
the condition's number of values), which training substitutes for the labels at random. Sampling
combines the conditional and all-null predictions, v = v_∅ + w·(v_y − v_∅): w = 1 is the plain
conditional model, w > 1 follows the labels more strongly at some cost in variety.

`generate` starts from the noise z, integrates `steps` Euler or Heun steps with guidance `w`
(defaults stored in the config: `sampling_steps`, `guidance`, `solver`; both settable per call)
and de-normalises with the stored per-bin statistics (generators.statistics). Deterministic:
same z, labels and settings, same mel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.audio.config import MelConfig
from melwave.errors import ConfigError
from melwave.models.base import MelGenerator
from melwave.models.blocks.convnext import ConvNeXtBlock
from melwave.models.diffusion.rectified_flow import SOLVERS, sample
from melwave.models.generators.data_range import DataRange
from melwave.models.generators.statistics import MelStatistics
from melwave.models.vocabulary import Vocabulary


@dataclass(frozen=True)
class FlowConfig:
    """Velocity network and sampling defaults (saved with the weights; mel size from the MelConfig).

    conditions:       [{name, values}], filled from the training data's labels.
    frames:           output frames.
    dim:              channels of the ConvNeXt stack (mel bins are projected to it).
    intermediate_dim: hidden width of each block's pointwise MLP.
    layers:           ConvNeXt blocks.
    kernel:           depthwise kernel over frames (receptive field: layers·(kernel − 1) + 1).
    cond_dim:         size of the conditioning vector c (time + labels).
    time_features:    Fourier features of t (half sines, half cosines).
    sampling_steps:   default Euler/Heun intervals of `generate`.
    guidance:         default classifier-free guidance scale w of `generate` (1 = none).
    solver:           default ODE solver of `generate`: heun | euler.
    clamp_to_data:    store the training mels' per-bin range and clamp `generate`'s output into it
                      (generators.data_range): no bin louder or quieter than any recording of it.
    """

    conditions: tuple[dict, ...] = ()
    frames: int = 64
    dim: int = 192
    intermediate_dim: int = 576
    layers: int = 6
    kernel: int = 7
    cond_dim: int = 256
    time_features: int = 64
    sampling_steps: int = 8
    guidance: float = 2.0
    solver: str = "heun"
    clamp_to_data: bool = False

    def __post_init__(self) -> None:
        for name in ("frames", "dim", "intermediate_dim", "layers", "cond_dim", "sampling_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name}={getattr(self, name)!r}: expected a positive integer")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ConfigError(f"model.kernel={self.kernel}: expected an odd positive integer (same-length convolution)")
        if self.time_features < 2 or self.time_features % 2:
            raise ConfigError(f"model.time_features={self.time_features}: expected an even integer >= 2 (sines + cosines)")
        if not (math.isfinite(self.guidance) and self.guidance >= 0):
            raise ConfigError(f"model.guidance={self.guidance!r}: expected a finite scale >= 0 (1 = no guidance)")
        if self.solver not in SOLVERS:
            raise ConfigError(f"model.solver={self.solver!r}: expected one of {SOLVERS}")

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary.from_list(self.conditions, source="model.conditions")

    def nearest_frames(self, target: int) -> int:
        """The output length nearest `target` frames: any length (convolutions over frames plus a
        position embedding per frame), at least one."""
        return max(1, int(round(target)))


# Named configs (`model.preset` in run configs); conditions come from the data.
CONFIGS: dict[str, FlowConfig] = {
    # 80 mels × 64 frames (0.74 s) under hifigan-22k: dim 192, 6 blocks of kernel 7 (37-frame
    # receptive field plus the position embedding); ~2.4M parameters with the notes vocabulary.
    "small": FlowConfig(),
    "debug": FlowConfig(frames=16, dim=16, intermediate_dim=32, layers=2, cond_dim=16, time_features=8, sampling_steps=2),
}


def fourier_features(t: Tensor, size: int) -> Tensor:
    """(B,) times in [0, 1] -> (B, size): sines and cosines of 1000·t at geometrically spaced
    frequencies 1 … 1e-4, so both coarse and fine differences in t are visible to the MLP."""
    half = size // 2
    frequencies = torch.exp(-math.log(1e4) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half - 1, 1))
    angles = 1000.0 * t.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class FlowGenerator(MelStatistics, DataRange, MelGenerator):
    """forward(x_t, t, labels) -> velocity (B, n_mels, frames) in normalised units;
    generate(labels, z) -> mel (B, n_mels, frames) in mel_config units."""

    family = "flow"
    config_class = FlowConfig
    named_configs = CONFIGS
    default_mel_preset = "hifigan-22k"
    sampling_options = ("steps", "guidance")

    def __init__(self, config: FlowConfig, mel_config: MelConfig):
        if not config.conditions:
            raise ConfigError("flow: the model needs at least one condition (model.conditions)")
        super().__init__(config, mel_config)
        self.vocabulary = config.vocabulary
        n_mels = mel_config.n_mels
        self.project_in = nn.Conv1d(n_mels, config.dim, 1)
        self.position = nn.Parameter(0.02 * torch.randn(config.dim, config.frames))
        self.time_mlp = nn.Sequential(nn.Linear(config.time_features, config.cond_dim), nn.SiLU(),
                                      nn.Linear(config.cond_dim, config.cond_dim))
        # One row per value plus the null token (last row) that classifier-free guidance trains.
        self.label_embeddings = nn.ModuleList(nn.Embedding(len(c.values) + 1, config.cond_dim)
                                              for c in self.vocabulary.conditions)
        self.blocks = nn.ModuleList(ConvNeXtBlock(config.dim, config.intermediate_dim, kernel=config.kernel,
                                                  cond_dim=config.cond_dim) for _ in range(config.layers))
        self.norm_out = nn.LayerNorm(config.dim, eps=1e-6)
        self.project_out = nn.Conv1d(config.dim, n_mels, 1)
        # Zero output: the untrained network predicts no motion, and early updates are not swamped.
        nn.init.zeros_(self.project_out.weight)
        nn.init.zeros_(self.project_out.bias)
        self.register_statistics(n_mels)
        if config.clamp_to_data:
            self.register_range(n_mels)
        self.register_buffer("null_labels", torch.tensor(self.vocabulary.sizes, dtype=torch.long), persistent=False)

    @property
    def frames(self) -> int:
        return self.config.frames

    @property
    def z_dim(self) -> int:
        """The starting noise is a whole normalised mel, flattened."""
        return self.mel_config.n_mels * self.config.frames

    def to_mel_units(self, values: Tensor) -> Tensor:
        """De-normalised, floored (MelStatistics) and, with `clamp_to_data`, clamped into the data's range."""
        return self.clamp_to_range(super().to_mel_units(values))

    # --- the velocity network ----------------------------------------------------------------
    def condition(self, t: Tensor, labels: Tensor) -> Tensor:
        """(B,) times, (B, K) indices (a condition's size = its null token) -> c (B, cond_dim)."""
        c = self.time_mlp(fourier_features(t, self.config.time_features))
        for k, embedding in enumerate(self.label_embeddings):
            c = c + embedding(labels[:, k])
        return F.silu(c)

    def forward(self, x: Tensor, t: Tensor, labels: Tensor) -> Tensor:
        """x_t (B, n_mels, frames), t (B,), labels (B, K) -> velocity (B, n_mels, frames)."""
        c = self.condition(t, labels)
        h = self.project_in(x) + self.position
        for block in self.blocks:
            h = block(h, c)
        return self.project_out(self.norm_out(h.transpose(1, 2)).transpose(1, 2))

    def drop_labels(self, labels: Tensor, drop: Tensor) -> Tensor:
        """(B, K) labels with the rows where `drop` (B,) bool is True replaced by null tokens."""
        return torch.where(drop[:, None], self.null_labels.expand_as(labels), labels)

    def guided_velocity(self, x: Tensor, t: Tensor, labels: Tensor, guidance: float) -> Tensor:
        """v_∅ + w·(v_y − v_∅), conditional and unconditional in one batched call; w = 1 is
        the conditional prediction alone (one call)."""
        if guidance == 1.0:
            return self(x, t, labels)
        null = self.null_labels.expand_as(labels)
        conditional, unconditional = self(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null])).chunk(2)
        return unconditional + guidance * (conditional - unconditional)

    # --- sampling -------------------------------------------------------------------------------
    def sampling_settings(self, steps: int | None = None, guidance: float | None = None) -> dict[str, Any]:
        """{steps, guidance}: the given ones checked, None = the config's `sampling_steps` / `guidance`."""
        steps = self.config.sampling_steps if steps is None else steps
        guidance = self.config.guidance if guidance is None else guidance
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"--steps {steps!r}: expected a positive integer number of sampling steps")
        if not (math.isfinite(float(guidance)) and guidance >= 0):
            raise ConfigError(f"--guidance {guidance!r}: expected a finite scale >= 0 (1 = no guidance)")
        return {"steps": steps, "guidance": float(guidance)}

    @torch.no_grad()
    def generate(self, labels: Tensor, z: Tensor | None = None, *, generator: torch.Generator | None = None,
                 steps: int | None = None, guidance: float | None = None) -> Tensor:
        """(B, K) label indices [+ noise z (B, z_dim)] -> (B, n_mels, frames) in mel_config units.

        steps / guidance: None = the config's `sampling_steps` / `guidance`."""
        settings = self.sampling_settings(steps, guidance)
        steps, guidance = settings["steps"], settings["guidance"]
        labels = self.check_labels(labels.to(self.device))
        shape = (labels.shape[0], self.mel_config.n_mels, self.config.frames)
        if z is None:
            z = torch.randn(shape, generator=generator)
        elif z.shape != (labels.shape[0], self.z_dim):
            raise ConfigError(f"z: expected noise of shape ({labels.shape[0]}, {self.z_dim}), got {tuple(z.shape)}")
        noise = z.reshape(shape).to(self.device, torch.float32)
        velocity = lambda x, t: self.guided_velocity(x, t, labels, guidance)  # noqa: E731
        return self.to_mel_units(sample(velocity, noise, steps=steps, solver=self.config.solver))
