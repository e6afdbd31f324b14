"""`melwave convert`: any vocoder `load_vocoder` loads -> melwave's own single-file format.

The output is one `.safetensors` model file (see `melwave.models.registry.save_model`): weights,
model config, MelConfig and a `provenance` entry saying where the weights came from (the layout
`melwave.models.formats` recognised and its source path, a hub repository and its commit, or a
melwave name) and which melwave version converted them. It loads with `load_vocoder(FILE)` and no
side files (no config.yaml/json, no stats.h5), and gives the same output as the source.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from melwave.models.base import Vocoder


def provenance_of(vocoder: Vocoder, source: str) -> dict[str, Any]:
    """What a converted file records about its origin: the loaded model's own `provenance` (set by
    melwave.models.formats and the hub resolver), else the melwave name or file it was loaded as."""
    import melwave

    found = dict(getattr(vocoder, "provenance", None) or {})
    if not found:
        found = {"layout": "melwave", "source": source}
    found["converted_by"] = f"melwave {melwave.__version__}"
    return found


def convert_vocoder(source: str | Path, output: str | Path, *, overwrite: bool = False, trust_file: bool = False,
                    mel_config: MelConfig | None = None, half: bool = False) -> tuple[Path, Vocoder]:
    """Load `source` (a name, a melwave file, `hf:OWNER/NAME`, another project's layout) and write
    it to `output` (.safetensors), atomically, never replacing a file unless `overwrite`.

    Returns the written path and the loaded vocoder. `mel_config` is for layouts whose files hold
    no mel settings (a bare HiFi-GAN .pth); it is checked against the model's as everywhere."""
    from melwave.models.registry import families, load_vocoder, save_model
    from melwave.utils.fileio import check_writable

    output = Path(output)
    if output.suffix != ".safetensors":
        raise CheckpointError(f"{output}: melwave models are written as .safetensors (got {output.suffix or 'no suffix'!r})")
    check_writable(output, overwrite=overwrite)  # before loading: fail fast, as the write itself would
    vocoder = load_vocoder(source, mel_config=mel_config, trust_file=trust_file)
    if getattr(vocoder, "family", None) not in families() or getattr(vocoder, "backend", "torch") != "torch":
        raise CheckpointError(f"{source}: loaded as {type(vocoder).__name__}, which is not a melwave model family "
                              f"({', '.join(families())}); only those are stored in melwave's format")
    save_model(vocoder, output, overwrite=overwrite, half=half,
               extra={"provenance": provenance_of(vocoder, str(source))})
    return output, vocoder


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
