import math

import pytest
import torch

from melwave.errors import ConfigError
from melwave.models.diffusion import NoiseSchedule, NoiseScheduleConfig

LAMBDAS = [0.0, 0.25, 0.5, 0.9, 1.0]


@pytest.mark.float_sensitive
@pytest.mark.parametrize("lam", LAMBDAS)
@pytest.mark.parametrize("steps", [8, 50, 200])
def test_betas_in_unit_interval_and_alpha_bar_decreasing(lam, steps):
    s = NoiseSchedule(NoiseScheduleConfig(num_train_steps=steps, interpolation=lam))
    assert s.betas.shape == (steps,)
    assert ((s.betas > 0) & (s.betas < 1)).all()
    assert (s.alpha_bars[1:] < s.alpha_bars[:-1]).all()
    torch.testing.assert_close(s.alpha_bars, torch.cumprod(1 - s.betas, 0))


@pytest.mark.float_sensitive
def test_endpoints_are_the_pure_linear_and_cosine_schedules():
    cfg = NoiseScheduleConfig(num_train_steps=50)
    # Written out independently of the implementation.
    linear = torch.tensor([1e-4 + (0.05 - 1e-4) * t / 49 for t in range(50)], dtype=torch.float64)
    f = lambda u: math.cos((u / 50 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    cosine = torch.tensor([min(1 - f(t + 1) / f(t), 0.999) for t in range(50)], dtype=torch.float64)
    torch.testing.assert_close(NoiseSchedule(cfg).betas, linear, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(NoiseSchedule(NoiseScheduleConfig(interpolation=1.0)).betas, cosine, rtol=1e-10, atol=1e-12)


@pytest.mark.float_sensitive
def test_interpolation_is_geometric_in_alpha_bar_and_monotone_in_lambda():
    lin, cos = NoiseSchedule(NoiseScheduleConfig()), NoiseSchedule(NoiseScheduleConfig(interpolation=1.0))
    previous = None
    for lam in LAMBDAS:
        s = NoiseSchedule(NoiseScheduleConfig(interpolation=lam))
        torch.testing.assert_close(s.alpha_bars, lin.alpha_bars ** (1 - lam) * cos.alpha_bars**lam)
        if previous is not None:  # cosine destroys signal faster here: ᾱ_T falls with λ
            assert s.alpha_bars[-1] < previous.alpha_bars[-1]
        previous = s


@pytest.mark.parametrize("t", [0, 20, 49])
def test_add_noise_statistics(t):
    s = NoiseSchedule(NoiseScheduleConfig(interpolation=0.5))
    gen = torch.Generator().manual_seed(t)
    x0 = torch.full((4, 50_000), 0.7)
    noise = torch.randn(x0.shape, generator=gen)
    x_t = s.add_noise(x0, noise, torch.full((4,), t))
    alpha_bar = float(s.alpha_bars[t])
    assert abs(x_t.mean().item() - math.sqrt(alpha_bar) * 0.7) < 0.01
    assert abs(x_t.std().item() - math.sqrt(1 - alpha_bar)) < 0.01
    # Per-item steps broadcast over the batch.
    mixed = s.add_noise(x0[:2], noise[:2], torch.tensor([0, 49]))
    assert mixed[0].std() < mixed[1].std()


def test_set_timesteps_spans_the_training_steps():
    s = NoiseSchedule(NoiseScheduleConfig())
    assert s.set_timesteps(50).tolist() == list(range(49, -1, -1))
    fast = s.set_timesteps(6).tolist()
    assert len(fast) == 6 and fast[0] == 49 and fast[-1] == 0 and fast == sorted(set(fast), reverse=True)
    with pytest.raises(ConfigError):
        s.set_timesteps(0)
    with pytest.raises(ConfigError):
        s.set_timesteps(51)


@pytest.mark.float_sensitive
def test_full_stochastic_step_is_the_ddpm_posterior():
    s = NoiseSchedule(NoiseScheduleConfig(interpolation=0.3))
    s.set_timesteps(50)
    x_t, eps = torch.randn(3, 100), torch.randn(3, 100)
    t = 30
    out = s.step(eps, t, x_t, torch.Generator().manual_seed(1), eta=1.0)
    beta, alpha, ab, ab_prev = (float(v) for v in (s.betas[t], s.alphas[t], s.alpha_bars[t], s.alpha_bars[t - 1]))
    mean = (x_t - beta / math.sqrt(1 - ab) * eps) / math.sqrt(alpha)
    sigma = math.sqrt((1 - ab_prev) / (1 - ab) * beta)
    expected = mean + sigma * torch.randn(x_t.shape, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.float_sensitive
@pytest.mark.parametrize("steps, eta", [(50, 0.0), (6, 0.0), (6, 1.0), (2, 0.5)])
def test_reverse_chain_with_oracle_noise_recovers_x0(steps, eta):
    """With a perfect noise predictor every sampler must land on x0 exactly."""
    s = NoiseSchedule(NoiseScheduleConfig(interpolation=0.5))
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(2, 64) * 2 - 1
    x = torch.randn(2, 64, generator=gen)
    for t in s.set_timesteps(steps).tolist():
        ab = float(s.alpha_bars[t])
        oracle = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
        x = s.step(oracle, t, x, gen, eta=eta)
    torch.testing.assert_close(x, x0, atol=1e-5, rtol=1e-5)


def test_config_validation():
    with pytest.raises(ConfigError, match="interpolation"):
        NoiseScheduleConfig(interpolation=1.5)
    with pytest.raises(ConfigError):
        NoiseScheduleConfig(beta_start=0.1, beta_end=0.01)
