"""Weight norm as a training-time reparametrisation, folded away for inference.

w = g · v / ‖v‖ trains better for GAN vocoders (MelGAN, HiFi-GAN, BigVGAN); at inference the
fold gives plain weights that compute the same function faster, and saved models hold them.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrizations, parametrize

_LAYERS = (nn.Conv1d, nn.ConvTranspose1d, nn.Conv2d)


def _layers(module: nn.Module, skip: tuple[nn.Module, ...] = ()) -> list[nn.Module]:
    skipped = {id(m) for s in skip for m in s.modules()}
    return [m for m in module.modules() if isinstance(m, _LAYERS) and id(m) not in skipped]


def apply_weight_norm(module: nn.Module, *, skip: tuple[nn.Module, ...] = ()) -> nn.Module:
    """Reparametrise every conv of `module` (except those inside `skip`) with weight norm."""
    for layer in _layers(module, skip):
        if not parametrize.is_parametrized(layer, "weight"):
            parametrizations.weight_norm(layer)
    return module


def remove_weight_norm(module: nn.Module) -> nn.Module:
    """Fold weight norm into plain weights; outputs are unchanged (up to float rounding)."""
    for layer in _layers(module):
        if parametrize.is_parametrized(layer, "weight"):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
    return module


_FORMS = ((".weight_g", ".weight_v"), (".parametrizations.weight.original0", ".parametrizations.weight.original1"))


def fold_weight_norm_state(state: dict, *, source: object = "state dict") -> dict:
    """A saved state dict with weight norm -> plain `X.weight`s, in either form torch saves it:
    `X.weight_g`/`X.weight_v` (legacy torch.nn.utils.weight_norm, dim 0) or
    `X.parametrizations.weight.original0/1` (its parametrization). Other entries pass through.

    Every pair is checked before torch touches it: both present, both real floating tensors of
    one dtype, `v` at least 1-D with no zero-sized dimension, `g` holding one value per output
    channel (shaped `(out, 1, ...)`, or flat `(out,)`). The private kernel below trusts its
    inputs: a `g` of the wrong shape corrupts the heap (found by a hostile file). Folded with
    torch's own kernel (what the reference implementations' remove_weight_norm() runs), so the
    weights are bit-identical to theirs. A CheckpointError names `source` and the tensor."""
    import torch

    from melwave.errors import CheckpointError

    folded = {}
    for key, value in state.items():
        for g_suffix, v_suffix in _FORMS:
            if key.endswith(v_suffix):
                prefix = key[: -len(v_suffix)]
                g = state.get(prefix + g_suffix)
                folded[prefix + ".weight"] = torch._weight_norm(value, _checked_g(g, value, prefix, source), 0)
                break
            if key.endswith(g_suffix):
                if key[: -len(g_suffix)] + v_suffix not in state:
                    raise CheckpointError(f"{source}: {key} has no {v_suffix.lstrip('.')} beside it (a weight-norm pair)")
                break
        else:
            folded[key] = value
    return folded


def _checked_g(g, v, prefix: str, source: object):
    import torch

    from melwave.errors import CheckpointError

    where = f"{source}: weight norm of {prefix[:100]}"
    if not isinstance(g, torch.Tensor):
        raise CheckpointError(f"{where}: its magnitude (g) is missing or not a tensor")
    if not (isinstance(v, torch.Tensor) and v.is_floating_point() and g.is_floating_point()):
        raise CheckpointError(f"{where}: expected floating-point tensors, got {getattr(v, 'dtype', type(v))} and {g.dtype}")
    if v.dtype != g.dtype:
        raise CheckpointError(f"{where}: direction (v) is {v.dtype} but magnitude (g) is {g.dtype}")
    if v.dim() < 1 or v.numel() == 0:
        raise CheckpointError(f"{where}: direction (v) of shape {tuple(v.shape)} is empty")
    out = v.shape[0]
    expected = (out,) + (1,) * (v.dim() - 1)
    if tuple(g.shape) not in (expected, (out,)):
        raise CheckpointError(f"{where}: magnitude (g) has shape {tuple(g.shape)}, expected {expected} "
                              f"for a direction (v) of shape {tuple(v.shape)}")
    return g.reshape(expected).contiguous()


def has_weight_norm(module: nn.Module) -> bool:
    return any(parametrize.is_parametrized(layer, "weight") for layer in _layers(module))


class WeightNormMixin:
    """`apply_weight_norm()` for training, `remove_weight_norm()` before inference or saving."""

    def apply_weight_norm(self):
        return apply_weight_norm(self)

    def remove_weight_norm(self):
        return remove_weight_norm(self)

    def folded(self):
        """A copy with weight norm folded away (what `save_model` should be given while training).

        Rebuilt from `config`/`mel_config` rather than deep-copied: torch cannot deep-copy
        parametrized modules.
        """
        twin = type(self)(self.config, self.mel_config)
        if has_weight_norm(self):
            twin.apply_weight_norm()  # the model's own choice of layers (MelGAN keras skips one)
        twin.load_state_dict(self.state_dict())
        return remove_weight_norm(twin).train(self.training)
