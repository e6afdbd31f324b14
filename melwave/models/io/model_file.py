"""melwave's model file: ONE `.safetensors` file whose metadata holds the JSON of {format,
version, family, model_config, mel_config}; the file alone rebuilds the model, and loading it never
executes code. A directory holding `model.safetensors` works the same.

`load_model` passes the loading gate (`melwave.models.io.gate`) before anything is allocated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError, ConfigError
from melwave.models.io.gate import check_layout, plain_state, sized_skeleton
from melwave.models.io.registry import _FAMILIES
from melwave.utils.fileio import atomic_write
from melwave.utils.headers import check_format

if TYPE_CHECKING:  # pragma: no cover
    import torch

MODEL_FORMAT = "melwave-model"
MODEL_VERSION = 1


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
    check_format(header, source=path, kind="melwave model file", name=MODEL_FORMAT, version=MODEL_VERSION, error=CheckpointError)
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


