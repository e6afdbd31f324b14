"""`melwave convert`: any vocoder `load_vocoder` loads -> melwave's own single-file format.

The output is one `.safetensors` model file (see `melwave.models.io.model_file.save_model`): weights,
model config, MelConfig and a `provenance` entry saying where the weights came from (the layout
`melwave.models.io.formats` recognised and its source path, a hub repository and its commit, or a
melwave name) and which melwave version converted them. It loads with `load_vocoder(FILE)` and no
side files (no config.yaml/json, no stats.h5), and gives the same output as the source.

Weights with NaN or Inf (or, with `half`, beyond float16's range, which float16 stores as Inf)
are refused naming the first such tensor, unless `allow_nonfinite`: a converted file is meant to
be shipped, and such a model makes every output NaN. The output is written atomically; a folder
that cannot be written or a full disk is one `OutputError` naming the file and the OS's reason,
and leaves nothing behind. `melwave export` (melwave.models.onnx.export) writes through the same
`output_errors`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError
from melwave.models.io.finite import check_finite
from melwave.utils.fileio import output_errors

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from melwave.models.base import Vocoder


def provenance_of(vocoder: Vocoder, source: str) -> dict[str, Any]:
    """What a converted file records about its origin: the loaded model's own `provenance` (set by
    melwave.models.io.formats and the hub resolver), else the melwave name or file it was loaded as."""
    from melwave._version import __version__

    found = dict(getattr(vocoder, "provenance", None) or {})
    if not found:
        found = {"layout": "melwave", "source": source}
    found["converted_by"] = f"melwave {__version__}"
    return found


def convert_vocoder(source: str | Path, output: str | Path, *, overwrite: bool = False, trust_file: bool = False,
                    mel_config: MelConfig | None = None, half: bool = False,
                    allow_nonfinite: bool = False) -> tuple[Path, Vocoder]:
    """Load `source` (a name, a melwave file, `hf:OWNER/NAME`, another project's layout) and write
    it to `output` (.safetensors), atomically, never replacing a file unless `overwrite`.

    Returns the written path and the loaded vocoder. `mel_config` is for layouts whose files hold
    no mel settings (a bare HiFi-GAN .pth); it is checked against the model's as everywhere.
    NaN/Inf weights are refused unless `allow_nonfinite`."""
    from melwave.models.io.load import load_vocoder
    from melwave.models.io.model_file import save_model
    from melwave.models.io.registry import families
    from melwave.utils.fileio import prepare_output

    # Before loading: fail fast, as the write itself would.
    output = prepare_output(output, suffix=".safetensors", kind="melwave models", overwrite=overwrite)
    vocoder = load_vocoder(source, mel_config=mel_config, trust_file=trust_file)
    if getattr(vocoder, "family", None) not in families() or getattr(vocoder, "backend", "torch") != "torch":
        raise CheckpointError(f"{source}: loaded as {type(vocoder).__name__}, which is not a melwave model family "
                              f"({', '.join(families())}); only those are stored in melwave's format")
    check_finite(vocoder, source, half=half, allow_nonfinite=allow_nonfinite)
    with output_errors(output):
        save_model(vocoder, output, overwrite=overwrite, half=half,
                   extra={"provenance": provenance_of(vocoder, str(source))})
    return output, vocoder


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
