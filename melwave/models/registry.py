"""Finding, saving and loading vocoders by name or path.

A saved melwave model is ONE `.safetensors` file whose metadata holds the JSON of
{format, version, family, model_config, mel_config}; the file alone rebuilds the model, and
loading it never executes code. A directory holding `model.safetensors` works the same.

Standard HiFi-GAN `{"generator": state_dict}` checkpoints (`.pt/.pth/.pth.tar/.ckpt`) load with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch
from torch.nn.utils import parametrize
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError, ConfigError
from melwave.models.base import Vocoder
from melwave.utils.fileio import atomic_write

MODEL_FORMAT = "melwave-model"
MODEL_VERSION = 1

# family name -> class with `from_config(model_config: dict, mel_config: MelConfig)`
_FAMILIES: dict[str, type] = {}
# pretrained/builtin name -> factory(device) -> Vocoder
_NAMED: dict[str, Callable[..., Vocoder]] = {}
_NAMED_HELP: dict[str, str] = {}


def register_family(cls: type) -> type:
    """Class decorator: make a model family loadable from saved files by its `family` name."""
    _FAMILIES[cls.family] = cls
    return cls


def register_named(name: str, description: str) -> Callable[[Callable[..., Vocoder]], Callable[..., Vocoder]]:
    """Decorator: a factory for a named vocoder usable as `load_vocoder(name)`."""

    def wrap(factory: Callable[..., Vocoder]) -> Callable[..., Vocoder]:
        _NAMED[name] = factory
        _NAMED_HELP[name] = description
        return factory

    return wrap


def _ensure_builtins() -> None:
    # Importing the vocoder and generator modules runs their register_* decorators.
    import melwave.models.generators  # noqa: F401
    import melwave.models.vocoders  # noqa: F401


def available_vocoders() -> dict[str, str]:
    _ensure_builtins()
    return dict(_NAMED_HELP)


def families() -> list[str]:
    _ensure_builtins()
    return sorted(_FAMILIES)


def save_model(model: torch.nn.Module, path: str | Path, *, overwrite: bool = False, extra: dict[str, Any] | None = None,
               half: bool = False) -> Path:
    """Write `model` (a registered family with `config` and `mel_config`) to one safetensors file.

    half=True stores float32 tensors as float16 (half the size, for models shipped in the
    repository); `load_model` copies them into the float32 model either way.
    """
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
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in _plain_state(model).items()}
    if half:
        state = {k: v.half() if v.dtype == torch.float32 else v for k, v in state.items()}
    atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata={"melwave": json.dumps(header)}), overwrite=overwrite)
    return path


def _plain_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with parametrizations (weight norm) folded into plain tensors: the layout
    `from_config` builds, so the file loads. The caller's model is left as it was."""
    state = model.state_dict()
    if not any(parametrize.is_parametrized(m) for m in model.modules()):
        return state
    plain = {k: v for k, v in state.items() if ".parametrizations." not in k}
    for prefix, module in model.named_modules():
        if parametrize.is_parametrized(module):
            for name in module.parametrizations.keys():
                plain[f"{prefix}.{name}" if prefix else name] = getattr(module, name)
    return plain


def read_header(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from None
    if "melwave" not in metadata:
        raise CheckpointError(f"{path}: safetensors file has no melwave header (metadata key 'melwave')")
    try:
        header = json.loads(metadata["melwave"])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: melwave header is not valid JSON ({err})") from None
    if not isinstance(header, dict) or header.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"{path}: header format is not {MODEL_FORMAT!r}")
    if header.get("version") != MODEL_VERSION:
        raise CheckpointError(f"{path}: model format version {header.get('version')!r} unsupported (this melwave reads {MODEL_VERSION})")
    return header


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild any registered family from a melwave `.safetensors` file (or a folder holding one)."""
    _ensure_builtins()
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file")
    header = read_header(path)
    family = header.get("family")
    if family not in _FAMILIES:
        raise CheckpointError(f"{path}: unknown model family {family!r}; known: {sorted(_FAMILIES)}")
    try:
        mel_config = MelConfig.from_dict(header.get("mel_config"), source=f"{path}: mel_config")
        model = _FAMILIES[family].from_config(header.get("model_config") or {}, mel_config)
    except ConfigError as err:
        raise CheckpointError(f"{path}: {err}" if str(path) not in str(err) else str(err)) from None
    except (TypeError, ValueError, AttributeError, KeyError) as err:
        # A hand-edited or hostile header whose model_config has the wrong types.
        raise CheckpointError(f"{path}: model_config does not describe a valid {family} model ({err})") from None
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
    return model.to(device).eval()


def load_vocoder(name_or_path: str | Path, *, device: str | torch.device = "cpu", mel_config: MelConfig | None = None) -> Vocoder:
    """`load_vocoder("hifigan-universal" | "griffinlim" | PATH)`.

    `mel_config` only matters for vocoders that work under any config (Griffin-Lim); for trained
    models the file's config rules and a different one is an error at synthesis time.
    """
    _ensure_builtins()
    key = str(name_or_path)
    if key in _NAMED:
        vocoder = _NAMED[key](device=device, mel_config=mel_config)
        vocoder.name = key
        return vocoder.eval()
    path = Path(key)
    if not path.exists():
        raise CheckpointError(f"unknown vocoder {key!r}: not a file, and not one of {sorted(_NAMED)}")
    if path.is_dir() or path.suffix == ".safetensors":
        return load_model(path, device=device)
    if path.suffix in (".pt", ".pth", ".tar", ".ckpt"):
        from melwave.models.vocoders.hifigan import load_hifigan_checkpoint

        return load_hifigan_checkpoint(path, device=device, mel_config=mel_config)
    raise CheckpointError(f"{path}: unsupported model file type {path.suffix!r} (expected .safetensors, a folder, or a HiFi-GAN .pt/.pth/.pth.tar)")
