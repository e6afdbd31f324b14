"""The gradient penalty against values known in closed form: a linear critic f(x) = <w, x> has
gradient w everywhere, so the penalty is λ(‖w‖ − 1)² whatever the inputs."""

from __future__ import annotations

import pytest
import torch

from melwave.losses.gradient_penalty import gradient_penalty


@pytest.mark.float_sensitive
@pytest.mark.parametrize("norm", [0.5, 1.0, 3.0])
def test_linear_critic(norm):
    torch.manual_seed(0)
    w = torch.randn(4, 6)
    w = w * norm / w.norm()
    penalty, norms = gradient_penalty(lambda x: (x * w).sum(dim=(1, 2)), torch.randn(8, 4, 6), torch.randn(8, 4, 6), weight=10.0)
    torch.testing.assert_close(norms, torch.full((8,), norm))
    torch.testing.assert_close(penalty, torch.tensor(10.0 * (norm - 1) ** 2))


@pytest.mark.float_sensitive
def test_independent_critics_per_strip_sum_their_penalties():
    # Two linear critics on two strips with gradient norms 2 and 0.5: λ[(2-1)² + (0.5-1)²].
    w = torch.stack([torch.full((3, 4), 2 / 12 ** 0.5), torch.full((3, 4), 0.5 / 12 ** 0.5)])  # (G, 3, 4)
    penalty, norms = gradient_penalty(lambda x: (x * w).sum(dim=(2, 3)), torch.randn(5, 2, 3, 4), torch.randn(5, 2, 3, 4))
    torch.testing.assert_close(norms, torch.tensor([2.0, 0.5]).expand(5, 2))
    torch.testing.assert_close(penalty, torch.tensor(10 * (1.0 + 0.25)))


def test_penalty_trains_the_critic_towards_unit_gradient():
    w = torch.nn.Parameter(torch.full((10,), 1.0))            # ‖w‖ = √10
    optimizer = torch.optim.SGD([w], lr=0.02)
    for _ in range(100):
        penalty, _ = gradient_penalty(lambda x: x @ w, torch.randn(4, 10), torch.randn(4, 10))
        optimizer.zero_grad()
        penalty.backward()
        optimizer.step()
    assert abs(float(w.detach().norm()) - 1.0) < 1e-2
