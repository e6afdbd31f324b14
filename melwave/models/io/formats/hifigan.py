"""jik876/hifi-gan generator checkpoints: one file holding `{"generator": state_dict}` (or the
bare state dict), with or without weight norm; V1/V2/V3 sizes read from the tensor shapes.
The file holds no mel settings: the hifigan-22k preset is HiFi-GAN's own, or the one given."""

from __future__ import annotations

from pathlib import Path

SUFFIXES = (".pt", ".pth", ".tar", ".ckpt")


def matches(path: Path) -> bool:
    return path.is_file() and path.suffix in SUFFIXES


def load(path: Path, *, device="cpu", trust_file: bool = False, mel_config=None):
    from melwave.models.vocoders.hifigan import load_hifigan_checkpoint

    del trust_file  # weights_only always suffices for this layout
    # The file holds no mel config: a given one describes the mels it expects (default hifigan-22k).
    return load_hifigan_checkpoint(path, device=device, mel_config=mel_config)
