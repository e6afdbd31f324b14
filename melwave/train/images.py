"""Mel images for TensorBoard: raw arrays, no axes (the reports' PNGs are melwave.audio.plot's).

matplotlib is imported only when an image is drawn, so importing the recipes (and loading
models) never pays for it.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor


def mel_image(mel: Tensor) -> np.ndarray:
    """(n_mels, frames) mel values -> (n_mels, frames, 3) uint8, low frequencies at the bottom.

    Colours span the 1st..99.5th percentile of this mel, so quiet and loud examples both show
    their structure (the images are for looking at, not for comparing levels).
    """
    from melwave.utils.optional import require

    matplotlib = require("matplotlib", "mel images in TensorBoard")
    values = mel.detach().float().cpu().numpy()[::-1]
    low, high = np.percentile(values, 1), np.percentile(values, 99.5)
    scaled = np.clip((values - low) / max(high - low, 1e-6), 0, 1)
    return (matplotlib.colormaps["magma"](scaled)[..., :3] * 255).astype(np.uint8)


def image_row(mels: list[Tensor], gap: int = 2) -> np.ndarray:
    """(n_mels, frames) mels side by side with white gaps, e.g. one per value of a condition."""
    images = [mel_image(m) for m in mels]
    spacer = np.full((images[0].shape[0], gap, 3), 255, np.uint8)
    parts: list[np.ndarray] = []
    for image in images:
        parts += [image, spacer]
    return np.concatenate(parts[:-1], axis=1)
