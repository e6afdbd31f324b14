"""The fixed-length mel crop conditional models are trained and evaluated on.

Notes and one-shots are onset-aligned, so a model sees a mel's first `frames` frames; shorter
mels are padded with the stored value of silence under their MelConfig.
"""

from __future__ import annotations

import torch
from torch import Tensor

from melwave.audio.config import MelConfig
from melwave.audio.features import compress


def silence_value(mel_config: MelConfig) -> float:
    """The stored mel value of silence under `mel_config` (log: ln(log_clamp))."""
    # An explicit CPU tensor: models call this while being built, possibly under a meta-device context.
    return float(compress(torch.zeros(1, 1, device="cpu"), mel_config).flatten()[0])


def fixed_crop(mel: Tensor, frames: int, start: int, fill: float) -> Tensor:
    """(n_mels, T) -> (n_mels, frames) from `start`, padded with `fill` past the end."""
    piece = mel[:, start : start + frames]
    if piece.shape[1] < frames:
        piece = torch.nn.functional.pad(piece, (0, frames - piece.shape[1]), value=fill)
    return piece
