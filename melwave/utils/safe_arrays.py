"""Reading `.npy` files as data, with nothing allocated that the file's bytes do not back.

`np.load(allow_pickle=False)` already refuses object arrays, but it allocates what the header
declares before it reads: a 100-byte file claiming shape (10^12,) asks for terabytes. Here the
header is read first (numpy's own parser), the declared size is compared with the bytes that
follow it, and only then is the array read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from melwave.errors import MelwaveError

# numpy's header is a short Python dict literal; its own reader allows up to 10,000 bytes.
MAX_HEADER_BYTES = 10_000


def read_npy(path: str | Path, *, error: type[MelwaveError], what: str = "array") -> np.ndarray:
    """The array in a `.npy` file, or `error` (one line naming the file): unreadable, a pickled
    (object) array, a header that does not parse, or a declared size the file does not hold."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version not in ((1, 0), (2, 0), (3, 0)):
                raise ValueError(f"unsupported .npy version {version}")
            reader = (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = reader(handle, max_header_size=MAX_HEADER_BYTES)
            if dtype.hasobject:
                raise ValueError("an object array (pickled Python objects) is not data")
            count = 1
            for size in shape:
                count *= size
            declared = count * dtype.itemsize
            available = path.stat().st_size - handle.tell()
            if declared != available:
                raise ValueError(f"its header declares {shape} {dtype} ({declared:,} bytes) but {available:,} bytes follow")
            data = np.fromfile(handle, dtype=dtype, count=count)
    except OSError as err:
        raise error(f"{path}: cannot read the {what} ({err.strerror or err})") from None
    except Exception as err:  # noqa: BLE001 - numpy's header parser raises ValueError, SyntaxError, TokenError...
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise error(f"{path}: not a readable .npy {what} ({reason})") from None
    return data.reshape(shape, order="F" if fortran else "C")
