"""Griffin-Lim behind the Vocoder interface: works for any MelConfig, has no weights."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from melwave.audio.config import PRESETS, MelConfig
from melwave.audio.phase_retrieval import continue_phase, griffin_lim, mel_to_linear, peak_phase
from melwave.errors import ConfigError
from melwave.models.base import Vocoder


@dataclass(frozen=True)
class GriffinLimConfig:
    iterations: int = 32      # the CWGAN source used 32; quality saturates around 60-100
    momentum: float = 0.99    # fast Griffin-Lim; 0 = classic
    nnls_iterations: int = 30  # refinement of the pseudo-inverse mel -> linear magnitude
    seed: int = 0             # initial random phase (init="random"), so output is reproducible
    init: str = "peaks"       # initial phase: "peaks" (deterministic, converges further) or "random"

    def __post_init__(self) -> None:
        for name in ("iterations", "nnls_iterations", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"GriffinLimConfig.{name}={value!r}: expected a non-negative integer")
        if isinstance(self.momentum, bool) or not isinstance(self.momentum, (int, float)) or not 0 <= self.momentum < 1:
            raise ConfigError(f"GriffinLimConfig.momentum={self.momentum!r}: expected a number in [0, 1)")
        if self.init not in ("peaks", "random"):
            raise ConfigError(f"GriffinLimConfig.init={self.init!r}: expected 'peaks' or 'random'")


class GriffinLim(Vocoder):
    """mel (B, n_mels, frames) -> wave (B, frames * hop) by NNLS mel inversion + fast Griffin-Lim."""

    family = "griffinlim"
    config_class = GriffinLimConfig

    def __init__(self, config: GriffinLimConfig = GriffinLimConfig(), mel_config: MelConfig = PRESETS["hifigan-22k"]):
        # (config, mel_config) as every model; with no weights, the MelConfig is often all one
        # gives: `GriffinLim(mel_config=cfg)`. A MelConfig passed first is refused (MelModel).
        super().__init__(config, mel_config=mel_config)

    def forward(self, mel: Tensor) -> Tensor:
        return self.forward_chunk(mel)[0]

    def forward_chunk(self, mel: Tensor, state: tuple[Tensor, int] | None = None, offset: int = 0
                      ) -> tuple[Tensor, tuple[Tensor, int]]:
        """Vocode frames [offset, offset + F) of a longer mel, continuing the phase of the previous
        chunk: `state` = (its final (B, n_freqs, F') phasors, its first frame); see `continue_phase`."""
        magnitude = mel_to_linear(mel, self.mel_config, iterations=self.config.nnls_iterations)
        generator = torch.Generator().manual_seed(self.config.seed)
        init: str | Tensor = self.config.init
        if state is not None:
            fresh = peak_phase(magnitude, self.mel_config) if self.config.init == "peaks" else torch.polar(
                torch.ones_like(magnitude), torch.rand(magnitude.shape, generator=generator) * (2 * torch.pi))
            init = continue_phase(fresh, state, offset)
        wave, phase = griffin_lim(magnitude, self.mel_config, iterations=self.config.iterations,
                                  momentum=self.config.momentum, generator=generator, init=init, return_phase=True)
        return wave.clamp(-1, 1), (phase, offset)

    def stream(self, *, seed: int = 0):
        """Griffin-Lim's phase is an iterative solution over the whole mel (every sample depends on
        every frame), so no bounded window reproduces it: the stream is real-time phase-gradient
        heap integration instead (`melwave.audio.rtpghi`, `exact = False`), from the same NNLS
        magnitude, with a few frames of lookahead and no iterations."""
        from melwave.audio.rtpghi import RTPGHIStream

        return RTPGHIStream(self.mel_config, nnls_iterations=self.config.nnls_iterations, seed=seed)

    @property
    def receptive_frames(self) -> int:
        # Phase is a global solution; a long overlap lets neighbouring chunks agree at the seam.
        return 64


# The named vocoder "griffinlim" (the registry's NAMED_TABLE points here): works under any mel config.
def named_griffinlim(device: str | torch.device = "cpu", mel_config: MelConfig | None = None) -> GriffinLim:
    return GriffinLim(mel_config=mel_config or PRESETS["hifigan-22k"]).to(device)
