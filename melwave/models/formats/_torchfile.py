"""Reading other projects' torch pickles without running code from them (shared by the layouts
in this package that need more than a plain `torch.load(weights_only=True)`)."""

from __future__ import annotations

import functools
import warnings
import zipfile
from pathlib import Path
from typing import Any

from melwave.errors import CheckpointError, UnsafeFileError
from melwave.utils.fileio import torch_load_weights_only


# A torch file's pickle stream holds names and structure only (kilobytes to a few MB); a larger
# one is not a checkpoint worth sniffing, and reading it must not cost what the file does not hold.
MAX_PICKLE_BYTES = 64 * 2**20


def pickle_names(path: Path) -> bytes:
    """The pickle stream of a torch zip file (names and structure, no tensor data), or b"";
    reading it runs nothing. Tells layouts that share a suffix apart cheaply: several layouts ask
    about the same file while `detect` runs, so it is read once (keyed by path, size and mtime)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return b""
    return _pickle_names(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _pickle_names(path: str, size: int, mtime_ns: int) -> bytes:
    del size, mtime_ns  # part of the cache key only
    try:
        with zipfile.ZipFile(path) as archive:
            entry = next((info for info in archive.infolist()
                          if info.filename.endswith("/data.pkl") or info.filename == "data.pkl"), None)
            if entry is None or entry.file_size > MAX_PICKLE_BYTES:
                return b""
            return archive.read(entry)
    except (OSError, zipfile.BadZipFile):
        return b""


def load_torch_file(path: Path, *, trust_file: bool, stand_ins: dict[str, type] | None = None) -> Any:
    """`torch.load(path, weights_only=True)`; `stand_ins` maps a class the authors pickled
    ("module.Name") to a plain class allowed in its place (e.g. DiffWave's AttrDict -> a dict),
    so a file holding only that class and weights still loads without running code. Anything
    else that needs full unpickling is refused (one line) unless `trust_file`."""
    if not stand_ins:
        return _load_or_trust(path, trust_file, lambda: torch_load_weights_only(path, CheckpointError))

    def load():
        try:
            return torch_load_weights_only(path, CheckpointError)
        except CheckpointError:
            # torch's weights-only unpickler cannot fill a dict subclass (it only SETITEMS on
            # dict itself): read the file again with an unpickler that resolves exactly the
            # globals torch's allows, plus the stand-ins, and refuses everything else.
            return _restricted_load(path, stand_ins)

    return _load_or_trust(path, trust_file, load)


def _restricted_load(path: Path, stand_ins: dict[str, type]) -> Any:
    import pickle
    import types

    import torch
    from torch._weights_only_unpickler import _get_allowed_globals

    allowed = {**_get_allowed_globals(), **stand_ins}

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            key = f"{module}.{name}"
            if key in allowed:
                return allowed[key]
            raise UnsafeFileError(f"{path}: refusing to load: unpickling it would call {key} (code execution); "
                                  f"only weights and {', '.join(stand_ins)} are read")

    restricted = types.ModuleType("melwave_restricted_pickle")
    restricted.Unpickler, restricted.load, restricted.__name__ = Unpickler, pickle.load, "melwave_restricted_pickle"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=False, pickle_module=restricted)
    except UnsafeFileError:
        raise
    except Exception as err:  # noqa: BLE001 - a corrupt file can fail in many ways
        raise CheckpointError(f"{path}: unreadable ({type(err).__name__}: {str(err)[:200]})") from None


def _load_or_trust(path: Path, trust_file: bool, load) -> Any:
    try:
        return load()
    except UnsafeFileError as err:
        if not trust_file:
            raise UnsafeFileError(f"{err}; if you trust this file, pass --trust-file (trust_file=True)") from None
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - full unpickling can fail in any way
        raise CheckpointError(f"{path}: unreadable even with --trust-file ({type(err).__name__}: {str(err)[:200]})") from None
