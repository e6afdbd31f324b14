"""Vocos (Siuzdak 2023): a ConvNeXt backbone at the mel frame rate predicting the STFT, turned
into audio by an inverse STFT.

mel (B, n_mels, F) -> conv k7 -> LayerNorm -> ConvNeXt blocks × layers -> LayerNorm
-> ISTFTHead (log-magnitude, phase per frame) -> ISTFT aligned with the mel's frames
-> wave (B, F·hop).

Nothing runs at the sample rate except one inverse FFT per frame, which is why it is the fast
CPU vocoder of the family. The STFT size and hop are the mel config's (n_fft, hop_length,
win_length), so every frame of the mel predicts exactly one STFT frame.

prior="nnls-peaks" (melwave's variant for short training budgets, after FreeV's amplitude prior):
the head no longer predicts the spectrum from nothing but corrects a signal-processing estimate
of it — the linear magnitude solved from the mel by non-negative least squares and the
phase-vocoder "peak" phase that starts melwave's Griffin-Lim (`melwave.audio.phase_retrieval`). With
the head's last layer zero-initialised, the untrained model already IS that estimate (Griffin-Lim
with no iterations), so training spends its steps on what the estimate gets wrong.

prior="nnls-gl" (melwave's shipped vocos-22k) runs `prior_gl_iterations` of melwave's fast
Griffin-Lim from that start and corrects its result instead: measured on held-out speech, the
peak phase alone leaves a mel-L1 of 0.64 and a few Griffin-Lim iterations bring it to 0.10-0.13
(8-16 iterations), which a CPU-sized network trained for an hour does not learn to match from the
peak phase (it reached 0.25). Starting from Griffin-Lim the network only has to add what
Griffin-Lim cannot: the band above the mel's fmax, and the phase and magnitude errors it leaves.
Both priors accumulate phase over frames, so chunked vocoding carries the prior's phase from
chunk to chunk (`forward_chunk`), as melwave's Griffin-Lim does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from melwave.audio.config import PRESETS, MelConfig
from melwave.audio.phase_retrieval import continue_phase, griffin_lim, mel_to_linear, peak_phase
from melwave.errors import ConfigError
from melwave.models.base import Vocoder
from melwave.models.blocks.convnext import ConvNeXtBlock
from melwave.models.blocks.istft_head import HEAD_PADDINGS, ISTFTHead


@dataclass(frozen=True)
class VocosConfig:
    dim: int = 512
    intermediate_dim: int = 1536
    layers: int = 8
    kernel: int = 7  # depthwise conv of each ConvNeXt block, in frames
    prior: str = "none"  # "none" (Vocos) | "nnls-peaks" (correct NNLS magnitude + peak phase) | "nnls-gl" (+ Griffin-Lim)
    prior_iterations: int = 10  # NNLS multiplicative updates for the prior magnitude
    prior_gl_iterations: int = 16  # fast Griffin-Lim iterations of the "nnls-gl" prior (momentum 0.99)
    # Where the head's inverse STFT frames sit: "mel" = the mel config's framing (melwave's own
    # models); "center" | "same" = the Vocos authors' ISTFTHead(padding=...), for their checkpoints.
    head_padding: str = "mel"

    def __post_init__(self) -> None:
        if self.prior not in PRIORS:
            raise ConfigError(f"VocosConfig.prior={self.prior!r}: expected one of {PRIORS}")
        for name in ("prior_iterations", "prior_gl_iterations"):
            if getattr(self, name) < 0:
                raise ConfigError(f"VocosConfig.{name}={getattr(self, name)!r}: expected >= 0")
        for name in ("dim", "intermediate_dim", "layers", "kernel"):
            if getattr(self, name) < 1:
                raise ConfigError(f"VocosConfig.{name}={getattr(self, name)!r}: expected a positive integer")
        if self.head_padding not in HEAD_PADDINGS:
            raise ConfigError(f"VocosConfig.head_padding={self.head_padding!r}: expected one of {HEAD_PADDINGS}")
        if self.prior != "none" and self.head_padding != "mel":
            # A prior's phase is framed as the mel is: the head must frame its output the same way.
            raise ConfigError(f"VocosConfig.head_padding={self.head_padding!r}: a prior ({self.prior!r}) needs head_padding 'mel'")
        if self.kernel % 2 == 0:
            raise ConfigError(f"VocosConfig.kernel={self.kernel}: expected odd (symmetric context)")


PRIORS = ("none", "nnls-peaks", "nnls-gl")

VOCOS_CONFIGS = {
    "vocos": VocosConfig(),
    "debug": VocosConfig(dim=32, intermediate_dim=64, layers=2),
    # Smaller, and correcting a signal-processing estimate instead of predicting from nothing.
    "vocos-prior": VocosConfig(dim=384, intermediate_dim=1152, layers=8, prior="nnls-peaks"),
    "vocos-gl": VocosConfig(dim=384, intermediate_dim=1152, layers=8, prior="nnls-gl"),  # melwave's shipped vocos-22k
    "debug-prior": VocosConfig(dim=32, intermediate_dim=64, layers=2, prior="nnls-peaks"),
    "debug-gl": VocosConfig(dim=32, intermediate_dim=64, layers=2, prior="nnls-gl", prior_gl_iterations=4),
}


class Vocos(Vocoder):
    """mel (B, n_mels, F) -> wave (B, F·hop)."""

    family = "vocos"
    config_class = VocosConfig
    named_configs = VOCOS_CONFIGS  # "debug" is the tiny one for tests and CI
    default_mel_preset = "hifigan-22k"
    feed_forward = True  # without a prior: convolutions, per-frame norms and an overlap-add (streams exactly)

    def __init__(self, config: VocosConfig = VOCOS_CONFIGS["vocos"], mel_config: MelConfig = PRESETS["hifigan-22k"]):
        super().__init__(config, mel_config=mel_config)
        self.embed = nn.Conv1d(mel_config.n_mels, config.dim, config.kernel, padding=config.kernel // 2)
        self.norm = nn.LayerNorm(config.dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(config.dim, config.intermediate_dim, kernel=config.kernel, layer_scale_init=1 / config.layers)
            for _ in range(config.layers))
        self.final_norm = nn.LayerNorm(config.dim, eps=1e-6)
        self.head = ISTFTHead(config.dim, mel_config, padding=config.head_padding)
        self.apply(self._init)
        if config.prior != "none":
            # Start as the prior itself: zero corrections.
            nn.init.zeros_(self.head.out.weight)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Conv1d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def features(self, mel: Tensor) -> Tensor:
        """(B, n_mels, F) -> backbone output (B, dim, F)."""
        x = self.norm(self.embed(mel).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x.transpose(1, 2)).transpose(1, 2)

    def forward(self, mel: Tensor) -> Tensor:
        return self.forward_chunk(mel)[0]

    def prior(self, mel: Tensor, previous: tuple[Tensor, int] | None = None, offset: int = 0) -> tuple[Tensor, Tensor] | None:
        """(B, n_mels, F) -> (magnitude, unit phasor), each (B, n_fft/2+1, F), or None.

        previous/offset: the previous chunk's prior phase and first frame, when vocoding frames
        [offset, offset + F) of a longer mel (see `forward_chunk`).
        """
        if self.config.prior == "none":
            return None
        with torch.no_grad():  # a fixed function of the input: nothing to learn through it
            magnitude = mel_to_linear(mel.float(), self.mel_config, iterations=self.config.prior_iterations)
            phase = continue_phase(peak_phase(magnitude, self.mel_config), previous, offset)
            if self.config.prior == "nnls-gl":
                _, phase = griffin_lim(magnitude, self.mel_config, iterations=self.config.prior_gl_iterations,
                                       init=phase, return_phase=True)
            return magnitude, phase

    def forward_chunk(self, mel: Tensor, state: tuple[Tensor, int] | None = None, offset: int = 0
                      ) -> tuple[Tensor, tuple[Tensor, int] | None]:
        """Vocode frames [offset, offset + F) of a longer mel; a prior's phase continues the previous
        chunk's (`state`), as Griffin-Lim's does, so crossfaded chunks don't partly cancel."""
        prior = self.prior(mel, state, offset)
        wave = self.head(self.features(mel), prior)
        return wave, (None if prior is None else (prior[1], offset))

    def streaming_refusal(self) -> str | None:
        if self.config.prior != "none":
            return (f"its '{self.config.prior}' prior's phase is accumulated over all earlier frames"
                    + (" and refined by Griffin-Lim over the whole mel" if self.config.prior == "nnls-gl" else "")
                    + ", so no bounded window reproduces the offline output")
        return super().streaming_refusal()

    @property
    def receptive_frames(self) -> int:
        # Embedding and every block reach kernel//2 frames; the inverse STFT overlaps
        # ceil(n_fft / hop) frames.
        radius = (self.config.kernel // 2) * (1 + self.config.layers)
        frames = radius + -(-self.mel_config.n_fft // self.mel_config.hop_length)
        # A prior's phase is a global solution (as Griffin-Lim's): overlap as much as Griffin-Lim does.
        return frames if self.config.prior == "none" else max(frames, 64)
