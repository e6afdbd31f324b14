"""The range of the training mels, per mel bin, stored with a generator that keeps its output in it.

A generator's network can draw values no recording holds (a WGAN's linear output layer reached
+4.3 ln where its data's loudest bin was -0.05: 38 dB too loud, audio that clips). A model whose
config asks for it (cwgan `output: tanh`, flow `clamp_to_data: true`) registers these buffers and
the recipe fills them from the training set, like the normalisation statistics
(`generators.statistics`), so the saved model alone knows the range:

    mel_low, mel_high  (n_mels,)  smallest and largest value of each bin over every training frame

Registered only when the config asks, so the files of models without the option (and their
layouts, which loading checks name by name) stay as they were.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DataRange(nn.Module):
    """Mixin for a MelGenerator with the `mel_low` / `mel_high` buffers (`register_range`)."""

    mel_low: Tensor
    mel_high: Tensor

    def register_range(self, n_mels: int) -> None:
        self.register_buffer("mel_low", torch.zeros(n_mels))
        self.register_buffer("mel_high", torch.zeros(n_mels))

    @property
    def keeps_range(self) -> bool:
        """Whether this model stores (and keeps its output in) the data's range."""
        return "mel_low" in self._buffers

    @property
    def has_range(self) -> bool:
        """Whether training set the range (an all-zero range is the unset one)."""
        return self.keeps_range and bool((self.mel_high > self.mel_low).any())

    def set_range(self, low: Tensor, high: Tensor) -> None:
        """Store per-bin (n_mels,) minimum and maximum of the training mels (mel_config units)."""
        if not bool((high >= low).all()):
            raise ValueError("set_range: every bin's high must be >= its low")
        self.mel_low.copy_(low)
        self.mel_high.copy_(high)

    def clamp_to_range(self, mel: Tensor) -> Tensor:
        """(B, n_mels, frames) in mel_config units, each bin clamped into [mel_low, mel_high] (a
        model without a set range: unchanged)."""
        if not self.has_range:
            return mel
        return torch.minimum(torch.maximum(mel, self.mel_low[:, None]), self.mel_high[:, None])

    def to_unit_range(self, mel: Tensor) -> Tensor:
        """mel_config units -> [-1, 1] per bin (the bin's low -> -1, high -> +1)."""
        span = (self.mel_high - self.mel_low).clamp(min=1e-3)
        return 2 * (mel - self.mel_low[:, None]) / span[:, None] - 1

    def from_unit_range(self, values: Tensor) -> Tensor:
        """[-1, 1] per bin -> mel_config units (inverse of to_unit_range)."""
        span = (self.mel_high - self.mel_low).clamp(min=1e-3)
        return (values + 1) / 2 * span[:, None] + self.mel_low[:, None]
