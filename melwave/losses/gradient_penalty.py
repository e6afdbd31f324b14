"""WGAN-GP gradient penalty (Gulrajani et al. 2017).

    penalty = weight · mean_i (‖∇_x D(x̂_i)‖₂ − 1)²,   x̂ = ε·real + (1 − ε)·fake,  ε ~ U(0, 1) per example

`critic` maps inputs (B, ...) to scores (B,) or, for G independent critics on G parts of each
example (strips), inputs (B, G, ...) to scores (B, G); each critic's gradient norm is taken over
its own part and the penalties of the G critics are summed, as if each were trained alone.

`interpolate` + `penalty_from_scores` are the two halves, for callers that score real, fake and
interpolated examples in one critic call (one forward per update under DistributedDataParallel).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def interpolate(real: Tensor, fake: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """x̂ = ε·real + (1 − ε)·fake with one ε ~ U(0, 1) per example; a leaf that requires grad."""
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have the same shape")
    eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = torch.rand(eps_shape, generator=generator, device="cpu" if generator is not None else real.device)
    eps = eps.to(device=real.device, dtype=real.dtype)
    return (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)


def penalty_from_scores(scores: Tensor, mixed: Tensor, *, weight: float = 10.0) -> tuple[Tensor, Tensor]:
    """scores (B,) or (B, G) of `mixed` -> (penalty with graph, gradient norms detached)."""
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    # Score dims (B) or (B, G) lead; every remaining dim belongs to one critic's input.
    norms = grad.flatten(scores.ndim).norm(2, dim=-1)
    penalty = weight * (norms - 1).pow(2).mean(dim=0).sum()
    return penalty, norms.detach()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, *, weight: float = 10.0,
                     generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """(penalty scalar with graph for backward, gradient norms (B,) or (B, G) detached)."""
    mixed = interpolate(real, fake, generator=generator)
    return penalty_from_scores(critic(mixed), mixed, weight=weight)
