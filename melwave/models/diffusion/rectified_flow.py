"""Rectified flow (Liu et al. 2022; flow matching, Lipman et al. 2022): straight paths from noise
to data, kept apart from the networks that learn their velocity.

Time t runs from 0 (pure noise) to 1 (data). For a data point x₁ and noise x₀ ~ N(0, I):

    x_t = (1 − t)·x₀ + t·x₁          the straight path (`interpolate`)
    v   = dx_t/dt = x₁ − x₀          its velocity, the regression target (`velocity_target`)

A network v̂(x_t, t) trained by MSE on v learns E[x₁ − x₀ | x_t]; integrating dx/dt = v̂ from a
noise sample at t = 0 to t = 1 (`sample`, Euler or Heun over `steps` equal intervals) draws from
the data distribution. Were the paths exactly straight (one data point), one Euler step would land
on it; real data curve them a little, which is why a few Heun steps do much better than one.

Training times (`training_times`): uniform on [0, 1], or logit-normal (Esser et al. 2024, SD3):
t = sigmoid(m + s·n), n ~ N(0, 1), which spends more updates on the middle of the path, where
the velocity is hardest to predict, and fewer at the ends.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from melwave.errors import ConfigError

SOLVERS = ("euler", "heun")
TIME_DISTRIBUTIONS = ("uniform", "logit-normal")

# (x (B, ...), t (B,)) -> velocity (B, ...)
VelocityFn = Callable[[Tensor, Tensor], Tensor]


def interpolate(data: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """x_t for data and noise of shape (B, ...) at times t (B,)."""
    t = t.reshape(-1, *([1] * (data.ndim - 1)))
    return (1 - t) * noise + t * data


def velocity_target(data: Tensor, noise: Tensor) -> Tensor:
    """dx_t/dt along the straight path: (B, ...)."""
    return data - noise


def training_times(batch: int, distribution: str = "logit-normal", *, mean: float = 0.0, std: float = 1.0,
                   device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> Tensor:
    """(batch,) times in [0, 1] drawn for training."""
    if distribution == "uniform":
        return torch.rand(batch, generator=generator).to(device)
    if distribution == "logit-normal":
        return torch.sigmoid(mean + std * torch.randn(batch, generator=generator)).to(device)
    raise ConfigError(f"time distribution {distribution!r}: expected one of {TIME_DISTRIBUTIONS}")


def sample(velocity: VelocityFn, noise: Tensor, *, steps: int, solver: str = "heun") -> Tensor:
    """Integrate dx/dt = velocity(x, t) from `noise` (B, ...) at t = 0 to t = 1 in `steps` equal
    intervals: Euler (`steps` network calls) or Heun (2·steps calls: an Euler predictor, then the
    average of the velocities at both ends of the interval). Deterministic given the noise."""
    if steps < 1:
        raise ConfigError(f"steps={steps}: expected at least 1 sampling step")
    if solver not in SOLVERS:
        raise ConfigError(f"solver={solver!r}: expected one of {SOLVERS}")
    times = torch.linspace(0.0, 1.0, steps + 1, device=noise.device)
    x = noise
    batch = noise.shape[0]
    for start, end in zip(times[:-1], times[1:]):
        dt = end - start
        v = velocity(x, start.expand(batch))
        if solver == "euler":
            x = x + dt * v
        else:
            predicted = x + dt * v
            x = x + dt * 0.5 * (v + velocity(predicted, end.expand(batch)))
    return x
