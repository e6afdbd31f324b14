"""Saved mel-spectrograms and the MelConfig they were made with.

`.pt` files are a plain dict of tensors and primitives, read with `torch.load(weights_only=True)`
so loading never runs code from the file. `.npy` files hold a bare (n_mels, frames) array; their
config comes from the caller (CLI flags or the model's own).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from melwave.audio.config import MelConfig
from melwave.errors import ConfigError, MelFileError, UnsafeFileError, UnsafeMelFileError
from melwave.utils.fileio import atomic_write_bytes, torch_load_weights_only
from melwave.utils.headers import check_format
from melwave.utils.safe_arrays import read_npy

FORMAT_NAME = "melwave-mel"
FORMAT_VERSION = 1
MEL_EXTENSIONS = (".pt", ".npy")


@dataclass
class MelFile:
    """mel: (n_mels, frames) float32 in the config's compressed units."""

    mel: torch.Tensor
    config: MelConfig
    source: str | None = None
    duration: float | None = None
    version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "mel": self.mel.detach().to("cpu", torch.float32).contiguous(),
            "mel_config": self.config.to_dict(),
            "source": self.source,
            "duration": self.duration,
        }


def validate_mel(mel: torch.Tensor, config: MelConfig, *, source: str) -> torch.Tensor:
    """Check shape (n_mels, frames), dtype and finiteness; return a float32 tensor."""
    if not isinstance(mel, torch.Tensor):
        raise MelFileError(f"{source}: 'mel' is {type(mel).__name__}, expected a tensor")
    if mel.ndim == 3 and mel.shape[0] == 1:
        mel = mel[0]
    if mel.ndim != 2:
        raise MelFileError(f"{source}: mel has shape {tuple(mel.shape)}, expected (n_mels, frames)")
    if mel.shape[0] != config.n_mels:
        raise MelFileError(f"{source}: mel has {mel.shape[0]} bins, its config says n_mels={config.n_mels}")
    if mel.shape[1] == 0:
        raise MelFileError(f"{source}: mel has zero frames")
    if not mel.is_floating_point():
        raise MelFileError(f"{source}: mel dtype is {mel.dtype}, expected floating point")
    if not torch.isfinite(mel).all():
        bad = int((~torch.isfinite(mel)).sum())
        raise MelFileError(f"{source}: mel contains {bad} NaN or infinite values")
    return mel.float()


def save_mel(path: str | Path, melfile: MelFile, *, overwrite: bool = False) -> Path:
    path = Path(path)
    mel = validate_mel(melfile.mel, melfile.config, source=str(path))
    if path.suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, mel.cpu().numpy(), allow_pickle=False)
    elif path.suffix == ".pt":
        buffer = io.BytesIO()
        torch.save(melfile.to_dict(), buffer)
    else:
        raise MelFileError(f"{path}: unsupported mel extension {path.suffix!r}; use one of {MEL_EXTENSIONS}")
    return atomic_write_bytes(path, buffer.getvalue(), overwrite=overwrite)


GOMIN_KEYS = {"melspec", "n_mels", "sample_rate", "win_length", "hop_length"}


def _from_gomin(data: dict, source: str) -> dict:
    """GOMIN's `run.py` analysis files: {melspec, n_mels, sample_rate, win_length, hop_length}.

    Its analysis is melwave's `gomin-24k` preset with those four values substituted (n_fft is the
    next power of two of win_length, fmax is Nyquist), so the file maps onto a full MelConfig.
    """
    from melwave.audio.config import PRESETS

    try:
        win, rate = int(data["win_length"]), int(data["sample_rate"])
        config = PRESETS["gomin-24k"].replace(
            sample_rate=rate, n_mels=int(data["n_mels"]), win_length=win, hop_length=int(data["hop_length"]),
            n_fft=1 << max(0, (win - 1).bit_length()), fmax=rate / 2)
    except (TypeError, ValueError, ConfigError) as err:
        raise MelFileError(f"{source}: GOMIN mel file with unusable settings ({err})") from None
    mel = data["melspec"]
    if isinstance(mel, torch.Tensor) and mel.ndim == 3 and mel.shape[0] == 1:
        mel = mel[0]
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "mel": mel, "mel_config": config.to_dict(),
            "source": None, "duration": None}


def _migrate(data: dict, source: str) -> dict:
    """The one place other or older formats are upgraded to the current one."""
    if "format" not in data and GOMIN_KEYS <= set(data):
        return _from_gomin(data, source)
    check_format(data, source=source, kind="melwave mel file", name=FORMAT_NAME, version=FORMAT_VERSION, error=MelFileError,
                 hint=", or a GOMIN mel file")
    return data


def _load_trusted(path: Path) -> object:
    """Full unpickling, which can run code from the file: only behind an explicit --trust-file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means unreadable
        raise MelFileError(f"{path}: unreadable even with --trust-file ({type(err).__name__}: {str(err)[:200]})") from None


def load_mel(path: str | Path, config: MelConfig | None = None, *, trust_file: bool = False) -> MelFile:
    """Read a `.pt` (config inside) or `.npy` (config given by the caller) mel file.

    For `.pt` files a given `config` is checked against the stored one and a mismatch is an
    error naming the fields; the stored config is never silently replaced.
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise MelFileError(f"{source}: no such file")
    if path.stat().st_size == 0:
        raise MelFileError(f"{source}: file is empty (0 bytes)")
    if path.suffix == ".npy":
        if config is None:
            raise MelFileError(f"{source}: a .npy mel carries no config; give the mel settings (e.g. --mel-preset)")
        array = read_npy(path, error=MelFileError)
        if array.dtype.kind != "f":
            raise MelFileError(f"{source}: mel dtype is {array.dtype}, expected floating point")
        mel = validate_mel(torch.from_numpy(np.ascontiguousarray(array)), config, source=source)
        return MelFile(mel=mel, config=config, source=None)
    if path.suffix != ".pt":
        raise MelFileError(f"{source}: unsupported mel extension {path.suffix!r}; use one of {MEL_EXTENSIONS}")
    try:
        data = torch_load_weights_only(path, MelFileError)
    except UnsafeFileError as err:
        if not trust_file:
            raise UnsafeMelFileError(f"{err}; if you trust this file, pass --trust-file") from None
        data = _load_trusted(path)
    if not isinstance(data, dict):
        raise MelFileError(f"{source}: not a melwave mel file (expected a dict, got {type(data).__name__})")
    data = _migrate(data, source)
    if isinstance(data.get("mel"), np.ndarray):  # legacy pickles (--trust-file) may hold numpy arrays
        data["mel"] = torch.from_numpy(np.ascontiguousarray(data["mel"]))
    try:
        stored = MelConfig.from_dict(data.get("mel_config"), source=f"{source}: mel_config")
    except ConfigError as err:
        raise MelFileError(str(err)) from None
    if config is not None:
        stored.require_same(config, what=f"{source}", expected_by="caller")
    mel = validate_mel(data.get("mel"), stored, source=source)
    duration = data.get("duration")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))):
        raise MelFileError(f"{source}: 'duration' is {type(duration).__name__}, expected a number or None")
    origin = data.get("source")
    if origin is not None and not isinstance(origin, str):
        raise MelFileError(f"{source}: 'source' is {type(origin).__name__}, expected a string or None")
    return MelFile(mel=mel, config=stored, source=origin, duration=float(duration) if duration is not None else None)
