"""Atomic, non-clobbering file writes: a crash never leaves a half-written output, and an
existing output is only replaced when the caller says so."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

from melwave.errors import MelwaveError, OutputExistsError, UnsafeFileError


def check_writable(path: str | Path, *, overwrite: bool) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: output exists (pass --overwrite to replace it)")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed over `path`.

    On any exception the temporary file is removed and `path` is untouched.
    """
    path = check_writable(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the output the permissions a plain open() would
        # (or those of the file it replaces).
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if not overwrite and path.exists():
            raise OutputExistsError(f"{path}: output appeared while writing (pass --overwrite to replace it)")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    # os.umask can only be read by setting it; restore it at once.
    current = os.umask(0o022)
    os.umask(current)
    return current


def atomic_write_bytes(path: str | Path, data: bytes, *, overwrite: bool = False) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write(path: str | Path, writer: Callable[[Path], None], *, overwrite: bool = False) -> Path:
    """Call writer(tmp_path) then move the result into place atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        writer(tmp)
    return Path(path)


def torch_load_weights_only(path: str | Path, error: type[MelwaveError], map_location: Any = "cpu") -> Any:
    """`torch.load(path, weights_only=True)` (on CPU unless `map_location` says otherwise), with torch's many failure types turned into
    one line: UnsafeFileError when the pickle would import a callable (code execution),
    `error` for anything else unreadable. Loading never runs code from the file."""
    import torch

    try:
        with warnings.catch_warnings():
            # "Detected pickle protocol 4": irrelevant to users, the load is still weights-only.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for bad/unsafe pickles
        text = str(err)
        unsafe = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) (\S+)", text)
        if unsafe:
            raise UnsafeFileError(f"{path}: refusing to load: unpickling it would call {unsafe.group(1)} "
                                  f"(code execution); only weights-only files are read") from None
        operand = re.search(r"Unsupported operand \d+", text)
        if operand:
            reason = f"not a weights-only torch file ({operand.group(0)}; a plain pickle or garbage)"
        elif "zip archive" in text or "central directory" in text:
            reason = "corrupt or truncated torch zip archive"
        else:
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            reason = f"corrupt, truncated or not a torch file: {lines[0][:200] if lines else type(err).__name__}"
        raise error(f"{path}: unreadable ({reason})") from None


def read_yaml_mapping(path: str | Path, *, expected: str, what: str = "config",
                      error: type[MelwaveError] | None = None) -> dict[str, Any]:
    """A YAML file that must hold a mapping, read with `yaml.safe_load` (data only, no tags that
    build objects). Every failure is one line naming the file: unreadable, not valid YAML, or not
    `expected` (e.g. "a mapping with sections [...]"). `error`: the MelwaveError subclass to raise
    (ConfigError by default; checkpoint loaders pass CheckpointError)."""
    import yaml

    from melwave.errors import ConfigError

    error = error or ConfigError
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path}: cannot read the {what} ({getattr(err, 'strerror', None) or err})") from None
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML ({' '.join(str(err).split())[:200]})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected {expected}, got {type(data).__name__}")
    return data
