"""The loading gate: every network melwave rebuilds from a file passes here before anything real
is allocated, whatever the file's layout (melwave's own `.safetensors` or one of the published
layouts in `melwave.models.io.formats`).

    state = checked_state(source, raw)            # tensors only, real dtypes, weight norm folded safely
    model = build_checked(source, what, build, state)

`build_checked` runs `build()` on the `meta` device first (shapes only, no memory) under an
operation budget, holds its size to MAX_MODEL_PARAMS, compares every parameter and buffer name,
shape and dtype kind with the file's tensors, and only then builds the network for real and
loads the weights. A config that asks for terabytes, for a million layers, or for shapes its
tensors do not have is one CheckpointError before any allocation.

Caps on the numbers a config may hold that do not show up as parameters (mel/STFT sizes,
diffusion steps) live beside the configs that hold them (`MelConfig`, `NoiseScheduleConfig`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Mapping

from melwave.errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    import torch

# The most parameters plus buffer elements a model file may ask for (8 GB as float32). The
# largest network melwave loads today (BigVGAN v2 at 44 kHz) has 122M.
MAX_MODEL_PARAMS = 2_000_000_000

# The meta-device build may run at most OPS_PER_TENSOR x (tensors in the file + OPS_SLACK) torch
# calls: melwave's families make about 10 per stored tensor, so an honest file is far inside it
# and a config describing 10^6 layers over a few tensors is stopped early.
OPS_PER_TENSOR = 100
OPS_SLACK = 50


def op_budget(tensors: int) -> int:
    return OPS_PER_TENSOR * (tensors + OPS_SLACK)


# --- the file's tensors ----------------------------------------------------------------------


def checked_state(source: Any, state: Any, *, what: str = "state dict") -> dict[str, torch.Tensor]:
    """`state` as a plain {name: tensor} dict, after checking what no torch op may meet unchecked:
    every key a string, every value a tensor of a real dtype (float, or integer/bool for
    counters and indices; never complex), and weight-norm pairs valid, then folded."""
    import torch

    if not isinstance(state, Mapping):
        raise CheckpointError(f"{source}: the {what} is a {type(state).__name__}, expected a mapping of tensors")
    for key, value in state.items():
        if not isinstance(key, str):
            raise CheckpointError(f"{source}: the {what} has a non-text key {str(key)[:40]!r}")
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{source}: {key[:100]} is a {type(value).__name__}, expected a tensor")
        if value.is_complex() or value.dtype not in _REAL_DTYPES:
            raise CheckpointError(f"{source}: {key[:100]} has dtype {value.dtype}, expected a real (float or integer) tensor")
        if value.is_sparse or value.layout != torch.strided:
            raise CheckpointError(f"{source}: {key[:100]} is not a dense tensor")
    from melwave.models.blocks.weight_norm import fold_weight_norm_state

    return fold_weight_norm_state(dict(state), source=source)


def _real_dtypes() -> frozenset:
    import torch

    return frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.int32,
                      torch.int16, torch.int8, torch.uint8, torch.bool})


class _Lazy:
    """A frozenset built on first use (torch is not imported at module import)."""

    def __init__(self, make: Callable[[], frozenset]):
        self._make, self._value = make, None

    def __contains__(self, item: Any) -> bool:
        if self._value is None:
            self._value = self._make()
        return item in self._value


_REAL_DTYPES = _Lazy(_real_dtypes)


# --- sizing on the meta device -----------------------------------------------------------------

# In-place ops that change a tensor's shape; every other in-place op keeps it.
_RESHAPING_INPLACE = frozenset({"resize_", "resize_as_", "set_", "as_strided_", "squeeze_", "unsqueeze_", "t_",
                                "transpose_", "swapdims_", "swapaxes_"})

# Factory functions that torch runs on meta through Python decompositions (importing torch._dynamo,
# seconds): `meta_build` makes their (1-D) results from the shape alone.
_META_FACTORIES = frozenset({"arange", "linspace", "logspace", "hann_window", "hamming_window", "blackman_window",
                             "bartlett_window", "kaiser_window"})


def _meta_factory(name: str, args: tuple, kwargs: dict) -> Any:
    import torch

    dtype = kwargs.get("dtype")
    if name == "arange":
        bounds = [kwargs[k] for k in ("start", "end", "step") if k in kwargs] if not args else list(args)
        start, end, step = (0, bounds[0], 1) if len(bounds) == 1 else (bounds[0], bounds[1], bounds[2] if len(bounds) > 2 else 1)
        start, end, step = (v.item() if isinstance(v, torch.Tensor) else v for v in (start, end, step))
        length = max(0, math.ceil((end - start) / step))
        if dtype is None and all(isinstance(v, int) for v in (start, end, step)):
            dtype = torch.int64
    elif name in ("linspace", "logspace"):
        length = args[2] if len(args) > 2 else kwargs["steps"]
    else:
        length = args[0] if args else kwargs["window_length"]
    return torch.empty(int(length), dtype=dtype or torch.get_default_dtype(), device="meta")


class TooManyOps(Exception):
    """Raised inside `meta_build` when construction runs more torch ops than its budget."""


def meta_build(build: Callable[[], Any], *, max_ops: int | None = None) -> Any:
    """Run `build` under `torch.device("meta")`: parameters and buffers get shapes, no memory.

    Weight initialisation (in-place ops such as normal_ and uniform_ on meta tensors) is skipped:
    it cannot change a shape, and running it on meta would import torch's decomposition tables
    (over a second) for nothing.

    max_ops: a budget of torch calls (counted, not timed). Meta tensors cost no memory, but a
    config asking for 10^9 layers would still build 10^9 Python modules; the budget stops it
    (raises TooManyOps) at a size the file's own tensors justify."""
    import torch
    from torch.overrides import TorchFunctionMode

    calls = 0

    class SkipInPlaceOnMeta(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            nonlocal calls
            calls += 1
            if max_ops is not None and calls > max_ops:
                raise TooManyOps(calls)
            kwargs = kwargs or {}
            name = getattr(func, "__name__", "")
            if name in _META_FACTORIES and kwargs.get("device") is None:
                return _meta_factory(name, args, kwargs)
            if name.endswith("_") and not name.endswith("__") and name not in _RESHAPING_INPLACE:
                # The tensor changed in place: the first argument (torch.nn.init passes it by keyword).
                target = args[0] if args else next(iter(kwargs.values()), None)
                if isinstance(target, torch.Tensor) and target.is_meta:
                    return target
            return func(*args, **kwargs)

    with torch.device("meta"), SkipInPlaceOnMeta():
        return build()


def plain_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with parametrizations (weight norm) folded into plain tensors: the layout
    a saved model holds. The caller's model is left as it was."""
    from torch.nn.utils import parametrize

    state = model.state_dict()
    if not any(parametrize.is_parametrized(m) for m in model.modules()):
        return state
    plain = {k: v for k, v in state.items() if ".parametrizations." not in k}
    for prefix, module in model.named_modules():
        if parametrize.is_parametrized(module):
            for name in module.parametrizations.keys():
                plain[f"{prefix}.{name}" if prefix else name] = getattr(module, name)
    return plain


# The widest reach one layer may have (kernel x dilation, stride, padding): every melwave family
# stays under 2,048 (BigVGAN's 44 kHz upsampler kernels); a layer padding by 10^8 samples would
# allocate gigabytes on its first input, so such a config is refused with the others.
MAX_LAYER_SPAN = 65_536
_SPAN_ATTRIBUTES = ("kernel_size", "stride", "padding", "dilation", "output_padding", "scale_factor")


def _numbers(value: Any) -> list[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for item in value for v in _numbers(item)]
    return []  # e.g. padding="same": derived from the kernel, checked there


def check_layer_spans(source: Any, what: str, skeleton: torch.nn.Module) -> None:
    """Every layer's kernel x dilation, stride and padding within MAX_LAYER_SPAN."""
    for name, module in skeleton.named_modules():
        spans = {attribute: _numbers(getattr(module, attribute, None)) for attribute in _SPAN_ATTRIBUTES}
        kernel, dilation = spans["kernel_size"], spans["dilation"] or [1]
        reach = max([k * d for k, d in zip(kernel, dilation * len(kernel))] + [v for vs in spans.values() for v in vs] + [0])
        if reach > MAX_LAYER_SPAN:
            raise CheckpointError(f"{source}: {what} has a layer ({name[:80] or 'the network'}) reaching "
                                  f"{reach:,.0f} samples, more than the {MAX_LAYER_SPAN:,} melwave allows (MAX_LAYER_SPAN)")


def _listed(names: list[str], limit: int = 5) -> str:
    return f"{names[:limit]}" + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def check_size(source: Any, what: str, skeleton: torch.nn.Module) -> None:
    """A meta-device network within MAX_MODEL_PARAMS and MAX_LAYER_SPAN (no names compared: for
    layouts whose tensors are rearranged before loading)."""
    size = sum(t.numel() for t in skeleton.parameters()) + sum(t.numel() for t in skeleton.buffers())
    if size > MAX_MODEL_PARAMS:
        raise CheckpointError(f"{source}: {what} would have {size:,} parameters and buffer values, more than "
                              f"the {MAX_MODEL_PARAMS:,} melwave loads (MAX_MODEL_PARAMS); refusing before allocating anything")
    check_layer_spans(source, what, skeleton)


def check_layout(source: Any, what: str, skeleton: torch.nn.Module, stored: Mapping[str, tuple[int, ...]],
                 stored_kinds: Mapping[str, bool] | None = None) -> None:
    """Compare a meta-device model with the tensors a file holds: size bound first, then every
    name and shape (and, given `stored_kinds` = name -> is floating, the dtype kind)."""
    check_size(source, what, skeleton)
    plain = plain_state(skeleton)
    expected = {name: tuple(t.shape) for name, t in plain.items()}
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    wrong = [name for name in sorted(set(expected) & set(stored)) if expected[name] != tuple(stored[name])]
    kinds = [name for name in sorted(set(expected) & set(stored_kinds or {}))
             if plain[name].is_floating_point() and not stored_kinds[name]]
    if missing or unexpected or wrong or kinds:
        parts = []
        if wrong:
            parts.append("shapes differ: " + ", ".join(f"{name} expected {expected[name]} stored {tuple(stored[name])}"
                                                       for name in wrong[:4]) + (f" (+{len(wrong) - 4} more)" if len(wrong) > 4 else ""))
        if kinds:
            parts.append(f"integer tensors where weights belong: {_listed(kinds)}")
        if missing:
            parts.append(f"missing {_listed(missing)}")
        if unexpected:
            parts.append(f"unexpected {_listed(unexpected)}")
        raise CheckpointError(f"{source}: weights do not match {what} ({'; '.join(parts)})")


def sized_skeleton(source: Any, what: str, build: Callable[[], torch.nn.Module], tensors: int) -> torch.nn.Module:
    """`build()` on the meta device under the op budget for a file of `tensors` tensors."""
    from melwave.errors import MelwaveError

    budget = op_budget(tensors)
    try:
        return meta_build(build, max_ops=budget)
    except TooManyOps:
        raise CheckpointError(f"{source}: {what} would take more than {budget:,} tensor operations to build, "
                              f"far more than the {tensors} tensors the file holds justify; "
                              f"refusing before allocating anything") from None
    except MelwaveError as err:
        raise CheckpointError(str(err) if str(source) in str(err) else f"{source}: {err}") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, ZeroDivisionError,
            RuntimeError, RecursionError) as err:
        # Hand-edited or hostile settings of the wrong type or size (RuntimeError: torch refusing
        # a size, e.g. a negative channel count).
        raise CheckpointError(f"{source}: {what} is not a valid network "
                              f"({' '.join(str(err).split()[:30])[:200]})") from None


def build_checked(source: Any, what: str, build: Callable[[], torch.nn.Module],
                  state: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    """The network `build()` makes, with `state` loaded, after the whole gate: sized on meta under
    the op budget and MAX_MODEL_PARAMS, every name/shape/dtype kind matched with `state`; only
    then built for real. `what` names the network for messages, with its article ("the BigVGAN
    generator its config.json describes"). Errors `build` raises (bad types or sizes) are
    CheckpointErrors naming `source` too. Errors from `build` itself (a ConfigError, a bad value) are the caller's."""
    skeleton = sized_skeleton(source, what, build, len(state))
    check_layout(source, what, skeleton, {k: tuple(v.shape) for k, v in state.items()},
                 {k: v.is_floating_point() for k, v in state.items()})
    del skeleton
    model = build()
    try:
        model.load_state_dict(dict(state))
    except RuntimeError as err:  # cannot happen after check_layout; kept one line if it does
        raise CheckpointError(f"{source}: weights do not match {what} ({' '.join(str(err).split()[:30])})") from None
    return model
