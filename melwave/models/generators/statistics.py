"""Per-mel-bin normalisation statistics that a mel generator stores with its weights.

Generators work on normalised mels, (mel − mean) / std per mel bin, and hand back mels in their
`MelConfig` units. The statistics come from the training data (set once by the recipe, kept by
checkpoints and the exported file as buffers), so a saved model alone turns its output into mels
any vocoder of that MelConfig plays. Shared by every generator family (cwgan, flow).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MelStatistics(nn.Module):
    """Mixin for a MelGenerator: buffers `mel_mean`, `mel_std` (n_mels,) and `stats_frames` ()
    (how many training frames they summarise; 0 until the recipe sets them).

    Call `register_statistics(n_mels)` in `__init__`. `uses_statistics` is False for a model whose
    network already outputs mel_config units (cwgan's `normalised: false`, the source's models).
    """

    mel_mean: Tensor
    mel_std: Tensor
    stats_frames: Tensor

    def register_statistics(self, n_mels: int) -> None:
        self.register_buffer("mel_mean", torch.zeros(n_mels))
        self.register_buffer("mel_std", torch.ones(n_mels))
        self.register_buffer("stats_frames", torch.zeros((), dtype=torch.long))

    @property
    def uses_statistics(self) -> bool:
        return True

    @property
    def has_statistics(self) -> bool:
        """Whether training set the statistics (a model that uses them is useless without)."""
        return int(self.stats_frames) > 0

    def set_statistics(self, mean: Tensor, std: Tensor, frames: int) -> None:
        """Store per-bin (n_mels,) mean and std of `frames` training mel frames (mel_config units)."""
        self.mel_mean.copy_(mean)
        self.mel_std.copy_(std)
        self.stats_frames.fill_(int(frames))

    def normalize(self, mel: Tensor) -> Tensor:
        """(B, n_mels, frames) in mel_config units -> the network's units."""
        if not self.uses_statistics:
            return mel
        return (mel - self.mel_mean[:, None]) / self.mel_std[:, None]

    def denormalize(self, values: Tensor) -> Tensor:
        """(B, n_mels, frames) in the network's units -> mel_config units."""
        if not self.uses_statistics:
            return values
        return values * self.mel_std[:, None] + self.mel_mean[:, None]

    def to_mel_units(self, values: Tensor) -> Tensor:
        """The network's output as the mel `generate` returns: de-normalised, and for log mels never
        below the analysis floor (nothing is quieter than it; values below are generator noise)."""
        mel = self.denormalize(values)
        if self.mel_config.compression == "log":
            mel = mel.clamp(min=float(torch.log(torch.tensor(self.mel_config.log_clamp))))
        return mel
