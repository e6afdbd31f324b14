"""Atomic, non-clobbering file writes: a crash never leaves a half-written output, and an
existing output is only replaced when the caller says so."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from melwave.errors import MelwaveError, OutputError, OutputExistsError


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
    """A `torch.save` file read as data (`melwave.utils.safe_torch.read_torch_file`: no code runs,
    sizes are checked against the file's bytes), tensors moved to `map_location`.
    UnsafeFileError when the pickle would import a callable (code execution), `error` for
    anything else unreadable."""
    from melwave.utils.safe_torch import read_torch_file

    data = read_torch_file(path, error=error)
    if map_location is None or str(map_location) == "cpu":
        return data
    return _to_device(data, map_location)


def _to_device(value: Any, device: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return type(value)((k, _to_device(v, device)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(v, device) for v in value)
    return value


def read_yaml_mapping(path: str | Path, *, expected: str, what: str = "config",
                      error: type[MelwaveError] | None = None) -> dict[str, Any]:
    """A YAML file that must hold a mapping, read by `melwave.utils.safe_config.read_yaml` (data
    only, no tags that build objects; size, nesting, alias expansion and number lengths capped).
    Every failure is one line naming the file: unreadable, not valid YAML, over a cap, or not
    `expected` (e.g. "a mapping with sections [...]"). `error`: the MelwaveError subclass to raise
    (ConfigError by default; checkpoint loaders pass CheckpointError)."""
    from melwave.errors import ConfigError
    from melwave.utils.safe_config import read_yaml

    error = error or ConfigError
    data = read_yaml(path, error=error, what=what)
    if not isinstance(data, dict):
        raise error(f"{path}: expected {expected}, got {type(data).__name__}")
    return data


def _os_reason(err: BaseException) -> str:
    """The OS's words for a failed write: an OSError's strerror, or the I/O error inside a
    safetensors error ("Error while serializing: I/O error: No space left on device (os error 28)")."""
    if isinstance(err, OSError):
        return err.strerror or str(err) or type(err).__name__
    text = " ".join(str(err).split())
    found = re.search(r"I/O error: (.+?)(?: \(os error \d+\))?$", text)
    return (found.group(1) if found else text)[:200]


@contextlib.contextmanager
def output_errors(path: str | Path) -> Iterator[None]:
    """Turn OS failures while writing `path` into one OutputError naming it. Writes go through
    melwave.utils.fileio's atomic_path, which removes its temporary file on any failure."""
    from safetensors import SafetensorError

    try:
        yield
    except OSError as err:
        raise OutputError(f"{path}: cannot write it ({_os_reason(err)}); nothing was written") from None
    except SafetensorError as err:  # safetensors reports the OS's write errors as its own type
        raise OutputError(f"{path}: cannot write it ({_os_reason(err)}); nothing was written") from None


def check_output_folder(path: str | Path) -> None:
    """Refuse at once, before minutes of loading or exporting, an output whose nearest existing
    folder cannot take a new file (atomic_path creates the missing ones, then a temporary file)."""
    folder = Path(path).absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{path}: cannot write it ({folder} is not a folder); nothing was written")
    if not os.access(folder, os.W_OK | os.X_OK):
        # os.access gives no reason; a read-only mount refuses root too, and says so.
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY) if hasattr(os, "statvfs") else False
        reason = "Read-only file system" if read_only else "Permission denied"
        raise OutputError(f"{path}: cannot write it ({reason}: {folder}); nothing was written")


def prepare_output(path: str | Path, *, suffix: str, kind: str, overwrite: bool) -> Path:
    """What can be refused before minutes of loading or exporting, for one output file: its
    suffix (`kind` files are written as `suffix`), an existing file (unless `overwrite`), a folder
    that cannot take a new file. Raises CheckpointError, OutputExistsError or OutputError."""
    from melwave.errors import CheckpointError

    path = Path(path)
    if path.suffix != suffix:
        raise CheckpointError(f"{path}: {kind} are written as {suffix} (got {path.suffix or 'no suffix'!r})")
    with output_errors(path):
        check_writable(path, overwrite=overwrite)
    check_output_folder(path)
    return path
