"""Vocoders that melwave trained itself and ships inside the package.

Each lives in `melwave/pretrained/vocoders/NAME/` as `model.safetensors` (a melwave model file:
weights + family + model and mel config, stored in float16 to keep the repository small and
loaded as float32) next to a `README.md` model card (data, steps, hardware, evaluation). Every
folder found there becomes `load_vocoder("NAME")`; the card's first line is its description.
"""

from __future__ import annotations

from pathlib import Path

import torch

from melwave.audio.config import MelConfig
from melwave.models.base import Vocoder
from melwave.models.registry import load_model, register_named

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "pretrained" / "vocoders"


def shipped_vocoders() -> dict[str, Path]:
    """Name -> model file of every vocoder that ships inside melwave."""
    return {p.parent.name: p for p in sorted(SHIPPED_DIR.glob("*/model.safetensors"))}


def _description(model_file: Path) -> str:
    card = model_file.parent / "README.md"
    if card.exists():
        for line in card.read_text(encoding="utf-8").splitlines():
            if line.strip():
                return line.lstrip("# ").strip()
    return f"trained by melwave ({model_file.parent.name})"


def _factory(model_file: Path):
    def factory(device: str | torch.device = "cpu", mel_config: MelConfig | None = None) -> Vocoder:
        # A trained model's mel config is in its file; `synthesize` rejects mels made otherwise.
        del mel_config
        return load_model(model_file, device=device)

    return factory


for _name, _file in shipped_vocoders().items():
    register_named(_name, _description(_file))(_factory(_file))
