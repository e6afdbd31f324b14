"""Exponential moving average (EMA) of a module's weights, for recipes that export it.

    ema = EMA(module)                 # a copy of module.state_dict()
    ema.update(module, decay)         # after each optimiser step
    ema.copy_to(exported_module)      # the averaged parameters into a copy for export/validation

Parameters are averaged, shadow ← decay·shadow + (1 − decay)·live; everything else in the
state dict (buffers: statistics, counters) is copied from the live module at each update, since an
average of a buffer set once mid-run (e.g. a generator's normalisation statistics) would be wrong.
`shadow` is a plain {name: tensor} dict: it goes into checkpoints as the recipe's extra state.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from melwave.errors import ConfigError


def warmed_up_decay(decay: float, step: int) -> float:
    """min(decay, (1 + step) / (10 + step)): early on the average follows the weights closely, so
    a short run's EMA is not dominated by the random initialisation (0.999^600 ≈ 0.55 of it)."""
    return min(decay, (1 + step) / (10 + step))


def check_decay(decay: float | None) -> None:
    """A recipe option's EMA decay: in [0, 1), or None for no EMA; otherwise a one-line error."""
    if decay is not None and not 0 <= decay < 1:
        raise ConfigError(f"ema_decay={decay!r}: expected 0 <= decay < 1 or null")


class EMA:
    def __init__(self, module: nn.Module):
        self.shadow: dict[str, Tensor] = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self.averaged = {name for name, p in module.named_parameters() if p.dtype.is_floating_point}

    @torch.no_grad()
    def update(self, module: nn.Module, decay: float) -> None:
        for key, value in module.state_dict().items():
            if key in self.averaged:
                self.shadow[key].mul_(decay).add_(value.detach(), alpha=1 - decay)
            else:
                self.shadow[key].copy_(value)

    def copy_to(self, module: nn.Module) -> None:
        """Load the averaged weights into `module` (same architecture; its buffers are kept)."""
        state = module.state_dict()
        device = next(iter(state.values())).device if state else torch.device("cpu")
        module.load_state_dict({**state, **{k: self.shadow[k].to(device) for k in self.averaged}})

    def load(self, shadow: dict[str, Tensor], device: torch.device) -> None:
        """Restore a checkpointed `shadow`."""
        self.shadow = {k: v.to(device) for k, v in shadow.items()}


class EMACheckpoint:
    """Recipe mix-in: the EMA of `self.ema` (an EMA, or None when the recipe runs without one)
    goes into checkpoints as extra state and comes back on resume. Put it before Recipe in the
    bases so these override Recipe's no-op hooks."""

    ema: EMA | None

    def extra_state(self) -> dict:
        return {"ema": self.ema.shadow} if self.ema is not None else {}

    def load_extra_state(self, state: dict) -> None:
        if self.ema is not None and "ema" in state:
            self.ema.load(state["ema"], self.device)

