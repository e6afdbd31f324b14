"""Checkpoint layouts published by other projects, loaded into melwave's own networks.

`melwave.load_vocoder(PATH)` (and `-m PATH` in every command) first takes melwave's own files (a
`.safetensors` model or a folder holding `model.safetensors`); anything else goes through
`load_external`, which asks each layout in LAYOUTS, in order, whether PATH is one of its
downloads and lets the first that says yes rebuild the network in melwave's code, with the
`MelConfig` derived from the checkpoint's own config file.

Each layout is a module of this package exposing

    matches(path: Path) -> bool      cheap: file names and, at most, a config file's keys
    load(path: Path, *, device, trust_file: bool, mel_config: MelConfig | None) -> Vocoder

`mel_config` is the one the user gave, if any. A layout whose files state their mel settings
derives its own and ignores it (`load_vocoder` then checks the two agree); a layout whose files
hold none (a bare HiFi-GAN .pth) uses it, else the settings its authors published.

and loads without executing code from the files (`torch.load(weights_only=True)` or
safetensors); a legacy pickle that needs more is refused unless `trust_file` is set. The loaded
model carries `provenance` (layout name and source files) for `melwave convert`.
A path no layout takes gets one line listing every layout and the files it needs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from melwave.models.base import Vocoder


@dataclass(frozen=True)
class Layout:
    name: str      # e.g. "hifigan": what `provenance["layout"]` says
    files: str     # the files it needs, as a user would recognise them
    module: str    # module with matches(path) and load(path, device=, trust_file=)

    def _module(self) -> Any:
        return importlib.import_module(self.module)

    def matches(self, path: Path) -> bool:
        return bool(self._module().matches(path))

    def load(self, path: Path, *, device: str | torch.device = "cpu", trust_file: bool = False,
             mel_config: MelConfig | None = None) -> Vocoder:
        model = self._module().load(path, device=device, trust_file=trust_file, mel_config=mel_config)
        model.provenance = {"layout": self.name, "source": str(path), **getattr(model, "provenance", {})}
        return model


# Order matters only where two layouts could claim the same path: most specific first.
LAYOUTS: tuple[Layout, ...] = (
    # These two read the .pt's pickle names (no unpickling) and so come before hifigan's any-.pt.
    Layout("diffwave", "a .pt file (or a folder with weights.pt) holding {'model': state_dict, 'params': ...} "
           "(lmnt-com/diffwave)", "melwave.models.io.formats.diffwave"),
    Layout("gomin-diffusion", "GOMIN's checkpoints/diffusion_state_dict.pt (ryeoat3/gomin)",
           "melwave.models.io.formats.gomin_diffusion"),
    Layout("parallel-wavegan", "a folder (or its .pkl) with checkpoint-<N>steps.pkl + config.yml + stats.h5 or stats.npy "
           "(kan-bayashi/ParallelWaveGAN: ParallelWaveGAN, MelGAN, Multi-band MelGAN, HiFiGAN generators)",
           "melwave.models.io.formats.pwg"),
    Layout("bigvgan", "a folder with config.json + bigvgan_generator.pt (nvidia/bigvgan_*, v1 and v2)",
           "melwave.models.io.formats.bigvgan"),
    Layout("gomin-gan", "GOMIN's checkpoints/gan_state_dict.pt (ryeoat3/gomin: a bare GomiGAN state dict)",
           "melwave.models.io.formats.gomin"),
    Layout("hifigan", "a .pt/.pth/.pth.tar/.ckpt file holding {'generator': state_dict} (jik876/hifi-gan)",
           "melwave.models.io.formats.hifigan"),
    Layout("vocos", "a folder with config.yaml + pytorch_model.bin (charactr/vocos-mel-24khz)",
           "melwave.models.io.formats.vocos"),
)


def detect(path: str | Path) -> Layout | None:
    """The first layout that recognises `path` (a file or a folder), or None."""
    path = Path(path)
    for layout in LAYOUTS:
        if layout.matches(path):
            return layout
    return None


def known_layouts() -> str:
    """One line listing every layout and what it needs (for the error of an unrecognised path)."""
    return "; ".join(f"{layout.name}: {layout.files}" for layout in LAYOUTS)


def load_external(path: str | Path, *, device: str | torch.device = "cpu", trust_file: bool = False,
                  mel_config: MelConfig | None = None) -> Vocoder:
    """Load a checkpoint published in another project's layout (see LAYOUTS)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder")
    layout = detect(path)
    if layout is None:
        what = "folder" if path.is_dir() else "file"
        raise CheckpointError(f"{path}: this {what} matches no checkpoint layout melwave knows: melwave's own "
                              f"(.safetensors, or a folder with model.safetensors); {known_layouts()}")
    return layout.load(path, device=device, trust_file=trust_file, mel_config=mel_config)
