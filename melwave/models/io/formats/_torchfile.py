"""Other projects' torch pickles, read through melwave's one loading gate
(`melwave.utils.safe_torch`): no code runs from them unless the user passes --trust-file."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from melwave.errors import CheckpointError, UnsafeFileError
from melwave.utils.safe_torch import pickle_stream, read_torch_file


def pickle_names(path: Path) -> bytes:
    """The pickle stream of a torch zip file (names and structure, no tensor data), or b"";
    reading it runs nothing. Tells layouts that share a suffix apart cheaply."""
    return pickle_stream(path)


def load_torch_file(path: Path, *, trust_file: bool, stand_ins: dict[str, type] | None = None) -> Any:
    """The object a torch file holds, read as data; `stand_ins` maps a class the authors pickled
    ("module.Name") to a plain class allowed in its place (e.g. DiffWave's AttrDict -> a dict).
    A file whose pickle names anything else is refused (one line) unless `trust_file`, which is
    the only way melwave ever hands a file to torch's full unpickler."""
    try:
        return read_torch_file(path, error=CheckpointError, stand_ins=stand_ins)
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
