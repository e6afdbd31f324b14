"""A DDPM noise schedule interpolated between linear and cosine, with DDPM/DDIM sampling steps.

Notation: training steps t = 0 … T−1, β_t the noise added at step t, α_t = 1 − β_t,
ᾱ_t = Π_{s≤t} α_s, and x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε.

Linear (DiffWave):  β_t = beta_start + (beta_end − beta_start) · t / (T − 1)
Cosine (Nichol & Dhariwal 2021):  ᾱ(u) = f(u)/f(0), f(u) = cos²((u/T + s)/(1 + s) · π/2),
    β_t = min(1 − ᾱ(t+1)/ᾱ(t), max_beta)          (s = cosine_offset)
Interpolated, with λ = `interpolation` in [0, 1]:
    1 − β_t = (1 − β_t^lin)^(1−λ) · (1 − β_t^cos)^λ
i.e. log ᾱ_t = (1−λ)·log ᾱ_t^lin + λ·log ᾱ_t^cos: the log signal level of every step moves
linearly from the linear schedule's (λ = 0, exactly) to the cosine schedule's (λ = 1, exactly).
Interpolating log ᾱ rather than β keeps every β_t in (0, 1) and ᾱ strictly decreasing for every
λ, and it is the quantity that sets each step's signal-to-noise ratio ᾱ/(1−ᾱ).

Sampling uses the generalised (DDIM) update over a subsequence of training steps chosen by
`set_timesteps(n)`. With eta = 1 and all T steps it is exactly DDPM ancestral sampling with
σ_t² = β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t)·β_t (DiffWave's sampler); with few steps (e.g. 6) and eta = 0
it is deterministic DDIM, the usual fast sampler.

Two more samplers reproduce the published systems' own code exactly:
- `step_ddpm`: diffusers' `DDPMScheduler.step` (ε prediction, "fixed_small" variance, the
  predicted x_0 clipped to [−1, 1] when `clip_sample`, diffusers' default). GOMIN's diffusion
  model samples with it over all 50 training steps (β linear 1e-4 … 0.05).
- `diffwave_plan`: lmnt-com/diffwave's inference.py. Its reverse steps use their own β list (the
  training schedule for full sampling, a short one such as 1e-4 … 0.5 for fast sampling); each
  inference step s is fed to the network as the fractional training step T_s where the training
  ᾱ reaches the inference ᾱ_s (interpolated in √ᾱ), and x is clamped to [−1, 1] after every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from melwave.errors import ConfigError


# Cap on training steps (and so on sampling steps): DiffWave uses 50, DDPM 1000. A file asking
# for more is refused when its config is read, instead of sampling for hours.
MAX_TRAIN_STEPS = 10_000


@dataclass(frozen=True)
class NoiseScheduleConfig:
    num_train_steps: int = 50
    beta_start: float = 1e-4  # linear schedule's first β (DiffWave)
    beta_end: float = 0.05  # linear schedule's last β (DiffWave, 50 steps)
    interpolation: float = 0.0  # λ: 0 = linear, 1 = cosine, between = log-ᾱ interpolation
    cosine_offset: float = 0.008  # s of the cosine schedule; keeps β_0 from being ~0
    max_beta: float = 0.999  # cosine β cap; its last step would otherwise be 1 (ᾱ_T = 0)
    # Explicit β_t for every training step (a checkpoint's stored list, e.g. DiffWave's params);
    # when given, the linear/cosine settings above are not used.
    betas: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.num_train_steps, bool) or not isinstance(self.num_train_steps, int) or \
                not 2 <= self.num_train_steps <= MAX_TRAIN_STEPS:
            raise ConfigError(f"NoiseScheduleConfig.num_train_steps={str(self.num_train_steps)[:40]}: expected an integer "
                              f"2 … {MAX_TRAIN_STEPS:,} (MAX_TRAIN_STEPS)")
        if self.betas:
            if len(self.betas) != self.num_train_steps:
                raise ConfigError(f"NoiseScheduleConfig.betas: {len(self.betas)} values but num_train_steps={self.num_train_steps}")
            if not all(0 < b < 1 for b in self.betas):
                raise ConfigError("NoiseScheduleConfig.betas: expected every β in (0, 1)")
        if not 0 < self.beta_start <= self.beta_end < 1:
            raise ConfigError(f"NoiseScheduleConfig: need 0 < beta_start <= beta_end < 1, got {self.beta_start}, {self.beta_end}")
        if not 0.0 <= self.interpolation <= 1.0:
            raise ConfigError(f"NoiseScheduleConfig.interpolation={self.interpolation}: expected 0 (linear) … 1 (cosine)")
        if not 0 < self.max_beta < 1 or self.cosine_offset < 0:
            raise ConfigError("NoiseScheduleConfig: need 0 < max_beta < 1 and cosine_offset >= 0")


def linear_betas(config: NoiseScheduleConfig) -> Tensor:
    return torch.linspace(config.beta_start, config.beta_end, config.num_train_steps, dtype=torch.float64)


def cosine_betas(config: NoiseScheduleConfig) -> Tensor:
    steps = config.num_train_steps
    s = config.cosine_offset
    u = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=config.max_beta)


class NoiseSchedule:
    """Forward noising and reverse steps for one schedule. Holds float64 tables on the CPU and
    returns results in the input's dtype and device."""

    def __init__(self, config: NoiseScheduleConfig = NoiseScheduleConfig()):
        self.config = config
        lam = config.interpolation
        if config.betas:
            log_alpha = torch.log1p(-torch.tensor(config.betas, dtype=torch.float64))
        else:
            log_alpha = (1 - lam) * torch.log1p(-linear_betas(config)) + lam * torch.log1p(-cosine_betas(config))
        self.betas = -torch.expm1(log_alpha)  # 1 − exp(log α), exact for tiny β
        self.alphas = 1 - self.betas
        self.alpha_bars = torch.exp(torch.cumsum(log_alpha, dim=0))
        self.timesteps = torch.arange(config.num_train_steps - 1, -1, -1)

    @property
    def num_train_steps(self) -> int:
        return self.config.num_train_steps

    def _at(self, table: Tensor, t: Tensor, like: Tensor) -> Tensor:
        """table[t] shaped (B, 1, …) to broadcast against `like` (B, …)."""
        values = table[t.to("cpu", torch.long)].to(like.device, like.dtype)
        return values.view(-1, *([1] * (like.ndim - 1)))

    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """x_t = √ᾱ_t x0 + √(1−ᾱ_t) ε; x0, noise (B, …), t (B,) integer steps."""
        alpha_bar = self._at(self.alpha_bars, t, x0)
        return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise

    def set_timesteps(self, num_steps: int) -> Tensor:
        """Choose `num_steps` training steps, evenly spaced from T−1 down to 0, for sampling."""
        if not 1 <= num_steps <= self.num_train_steps:
            raise ConfigError(f"inference steps {num_steps}: expected 1 … {self.num_train_steps} (the training steps)")
        positions = torch.linspace(self.num_train_steps - 1, 0, num_steps, dtype=torch.float64)
        self.timesteps = positions.round().long()
        return self.timesteps

    def previous_timestep(self, t: int) -> int:
        """The step after `t` in the current sampling sequence, or −1 after the last."""
        index = (self.timesteps == t).nonzero()
        if index.numel() == 0:
            raise ValueError(f"timestep {t} is not in the sampling sequence {self.timesteps.tolist()}")
        i = int(index[0, 0]) + 1
        return int(self.timesteps[i]) if i < len(self.timesteps) else -1

    def step(self, model_output: Tensor, t: int, x_t: Tensor, generator: torch.Generator | None = None,
             *, eta: float = 1.0) -> Tensor:
        """One reverse step from training step t to the next one of `timesteps`.

        model_output: predicted noise ε̂ (same shape as x_t). Returns x_{t_prev}.
        """
        t = int(t)
        prev = self.previous_timestep(t)
        alpha_bar = float(self.alpha_bars[t])
        alpha_bar_prev = float(self.alpha_bars[prev]) if prev >= 0 else 1.0
        x0 = (x_t - math.sqrt(1 - alpha_bar) * model_output) / math.sqrt(alpha_bar)
        variance = (1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)
        sigma = eta * math.sqrt(max(variance, 0.0))
        direction = math.sqrt(max(1 - alpha_bar_prev - sigma**2, 0.0)) * model_output
        x_prev = math.sqrt(alpha_bar_prev) * x0 + direction
        if sigma > 0:
            noise = torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
            x_prev = x_prev + sigma * noise
        return x_prev

    def step_ddpm(self, model_output: Tensor, t: int, x_t: Tensor, generator: torch.Generator | None = None,
                  *, clip_sample: bool = True, clip_range: float = 1.0) -> Tensor:
        """diffusers' DDPMScheduler.step from training step t to the next of `timesteps`
        (ε prediction, "fixed_small" variance): x_0 = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t, clipped to
        ±clip_range if `clip_sample`; x_prev = posterior mean of (x_0, x_t) + √β̃ · z, no noise
        after the last step."""
        t = int(t)
        prev = self.previous_timestep(t)
        alpha_bar = float(self.alpha_bars[t])
        alpha_bar_prev = float(self.alpha_bars[prev]) if prev >= 0 else 1.0
        beta = 1 - alpha_bar / alpha_bar_prev  # of the step t -> prev (β_t when prev = t − 1)
        x0 = (x_t - math.sqrt(1 - alpha_bar) * model_output) / math.sqrt(alpha_bar)
        if clip_sample:
            x0 = x0.clamp(-clip_range, clip_range)
        x_prev = (math.sqrt(alpha_bar_prev) * beta / (1 - alpha_bar)) * x0 \
            + (math.sqrt(1 - beta) * (1 - alpha_bar_prev) / (1 - alpha_bar)) * x_t
        if t > 0:
            noise = torch.randn(model_output.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
            variance = max((1 - alpha_bar_prev) / (1 - alpha_bar) * beta, 1e-20)  # diffusers' clamp
            x_prev = x_prev + math.sqrt(variance) * noise
        return x_prev

    def diffwave_plan(self, inference_betas: tuple[float, ...] | list[float] | None = None
                      ) -> list[tuple[float, float, float, float]]:
        """lmnt-com/diffwave's reverse steps, last first: (network step T_s, c1, c2, σ) with
        x <- c1·(x − c2·ε̂(x, T_s)) + σ·z (σ = 0 for the final step), then x clamped to [−1, 1].

        inference_betas: their fast-sampling β list; None = the training schedule (full sampling,
        T_s = s exactly)."""
        train_betas = (torch.tensor(self.config.betas, dtype=torch.float64) if self.config.betas
                       else self.betas)
        betas = train_betas if inference_betas is None else torch.tensor(list(inference_betas), dtype=torch.float64)
        train_alpha_bar = torch.cumprod(1 - train_betas, 0).tolist()
        alpha_bar = torch.cumprod(1 - betas, 0).tolist()
        steps = []
        for s, target in enumerate(alpha_bar):
            for t in range(len(train_alpha_bar) - 1):
                if train_alpha_bar[t + 1] <= target <= train_alpha_bar[t]:
                    twiddle = (train_alpha_bar[t] ** 0.5 - target**0.5) / (train_alpha_bar[t] ** 0.5 - train_alpha_bar[t + 1] ** 0.5)
                    steps.append(t + twiddle)
                    break
            else:
                # Their code silently drops such a step (and then fails on a short list): say why.
                raise ConfigError(f"inference noise schedule step {s}: ᾱ={target:.6g} lies outside the training "
                                  f"schedule's range [{train_alpha_bar[-1]:.6g}, {train_alpha_bar[0]:.6g}]")
        plan = []
        for n in range(len(alpha_bar) - 1, -1, -1):
            beta = float(betas[n])
            c1 = 1 / (1 - beta) ** 0.5
            c2 = beta / (1 - alpha_bar[n]) ** 0.5
            sigma = ((1 - alpha_bar[n - 1]) / (1 - alpha_bar[n]) * beta) ** 0.5 if n > 0 else 0.0
            # T_s is a float32 tensor in their code; round it the same way.
            plan.append((float(torch.tensor(steps[n], dtype=torch.float32)), c1, c2, sigma))
        return plan
