"""Refusing to store weights that would make every output NaN: NaN or Inf in any tensor a model
file stores (or, for a float16 file, float32 values beyond float16's range, which float16 stores
as Inf).

Both converters use it: `conversion` (vocoders) and `formats.deepmel` (generators). It is a module
of its own because the loaders import formats.deepmel and conversion imports the loaders: were the
check in conversion, those imports would go round in a circle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from melwave.errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    import torch

FLOAT16_MAX = 65504.0


def first_nonfinite(model: torch.nn.Module, *, half: bool = False) -> str | None:
    """What is wrong with the first tensor `save_model` would store with NaN or Inf (with `half`,
    a float32 value beyond float16's ±65504 too), or None."""
    import torch

    from melwave.models.io.gate import plain_state  # the tensors save_model stores, weight norm folded

    for name, tensor in plain_state(model).items():
        values = tensor.detach()
        if values.is_complex():
            values = torch.view_as_real(values)
        if not values.is_floating_point():
            continue
        bad = int((~torch.isfinite(values)).sum())
        if bad:
            return f"tensor {name!r} holds {bad:,} NaN/Inf value(s) of {values.numel():,}"
        if half and values.dtype == torch.float32:
            big = int((values.abs() > FLOAT16_MAX).sum())
            if big:
                return (f"tensor {name!r} holds {big:,} value(s) beyond float16's ±{FLOAT16_MAX:g}, "
                        f"which --half would store as Inf")
    return None


def check_finite(model: torch.nn.Module, source: str | Path, *, half: bool, allow_nonfinite: bool) -> None:
    problem = None if allow_nonfinite else first_nonfinite(model, half=half)
    if problem:
        raise CheckpointError(f"{source}: {problem}; refusing to store it (pass --allow-nonfinite to store it anyway)")
