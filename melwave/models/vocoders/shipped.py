"""Vocoders that melwave trained itself and ships inside the package.

Each lives in `melwave/pretrained/vocoders/NAME/` as `model.safetensors` (a melwave model file:
weights + family + model and mel config, stored in float16 to keep the repository small and
loaded as float32) next to a `README.md` model card (data, steps, hardware, evaluation). Every
folder found there is `load_vocoder("NAME")`; the card's first line is its description. The
lookup is `melwave.models.io.registry.shipped_models`, which serves the shipped generator too.
"""

from __future__ import annotations

from pathlib import Path

from melwave.models.io.registry import SHIPPED_FOLDERS, shipped_models

SHIPPED_DIR = SHIPPED_FOLDERS["vocoder"]


def shipped_vocoders() -> dict[str, Path]:
    """Name -> model file of every vocoder that ships inside melwave."""
    return shipped_models("vocoder")
