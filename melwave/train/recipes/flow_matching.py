"""Flow-matching recipe for the class-conditional flow generator (`recipe.name: flow-matching`,
model family flow).

Per step, for normalised mels x₁ (B, n_mels, frames) with labels y (B, K):

    x₀ ~ N(0, I),  t ~ logit-normal (or uniform),  x_t = (1 − t)·x₀ + t·x₁
    L = ‖v̂(x_t, t, y') − (x₁ − x₀)‖²   (mean over every value)

where y' is y with ALL its conditions replaced by the null tokens for a random p_uncond of the
examples. All at once rather than per condition: classifier-free guidance subtracts the all-null
prediction, so that is the one that must be trained; with K = 3 conditions dropped independently
at p = 0.1, all three would be null for only 0.1% of examples.

The path, its velocity and the time distribution are melwave.models.diffusion.rectified_flow's. AdamW
(train.learning_rate/betas/weight_decay) with a linear warm-up over `warmup_steps`, then
train.lr_decay every train.lr_decay_every steps. An exponential moving average of the weights
(warmed up: melwave.train.ema) is what validation samples from and what is exported; it is
checkpointed, so a resumed run continues the same average.

Data, normalisation statistics, the EMA and the TensorBoard grids are the mel-generator recipes'
shared ones (recipes.generator_base), so rules about the training data apply to every generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from melwave.data.labelled import LabelledDataConfig
from melwave.errors import ConfigError
from melwave.models.diffusion.rectified_flow import TIME_DISTRIBUTIONS, interpolate, training_times, velocity_target
from melwave.models.generators.flow import FlowGenerator
from melwave.train.ema import check_decay
from melwave.train.recipe import Validation, register_recipe
from melwave.train.recipes.generator_base import GeneratorRecipe, envelope_l1
from melwave.train.state import TrainState

# Times at which validation measures the velocity error (fixed, so values compare across steps).
VALIDATION_TIMES = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class FlowMatchingOptions:
    p_uncond: float = 0.1                       # share of examples trained with every condition null (CFG)
    time_distribution: str = "logit-normal"     # logit-normal | uniform: where on the path t is drawn
    time_mean: float = 0.0                      # logit-normal: mean of logit(t)
    time_std: float = 1.0                       # logit-normal: std of logit(t)
    ema_decay: float | None = 0.999             # EMA of the weights (exported, validated); null: live weights
    warmup_steps: int = 200                     # linear learning-rate warm-up from ~0
    data: LabelledDataConfig = field(default_factory=LabelledDataConfig)  # labels and crops
    grid_seed: int = 1234                       # fixed noise of the TensorBoard grids and validation

    def __post_init__(self) -> None:
        if not 0 <= self.p_uncond < 1:
            raise ConfigError(f"p_uncond={self.p_uncond}: expected 0 <= p_uncond < 1")
        if self.time_distribution not in TIME_DISTRIBUTIONS:
            raise ConfigError(f"time_distribution={self.time_distribution!r}: expected one of {TIME_DISTRIBUTIONS}")
        if not self.time_std > 0:
            raise ConfigError(f"time_std={self.time_std}: expected > 0")
        check_decay(self.ema_decay)
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps={self.warmup_steps}: expected >= 0")


@register_recipe
class FlowMatchingRecipe(GeneratorRecipe):
    name = "flow-matching"
    Options = FlowMatchingOptions
    model_class = FlowGenerator

    def build_training(self, generator: FlowGenerator) -> None:
        options: FlowMatchingOptions = self.config.recipe.options
        self.modules = {"generator": generator}
        optimizer = self.make_optimizer(generator.parameters())
        self.optimizers = {"generator": optimizer}
        train = self.config.train

        def factor(step: int) -> float:
            """× train.learning_rate after `step` scheduler steps: linear warm-up, then train.lr_decay."""
            return min(1.0, (step + 1) / (options.warmup_steps + 1)) * train.lr_decay ** (step // train.lr_decay_every)

        # A plain function: LambdaLR checkpoints only its step count, not the function.
        self.schedulers = {"generator": torch.optim.lr_scheduler.LambdaLR(optimizer, factor)}

    def train_step(self, batch: tuple[Tensor, Tensor], state: TrainState) -> dict[str, float]:
        options: FlowMatchingOptions = self.config.recipe.options
        generator, optimizer = self.generator, self.optimizers["generator"]
        mels, labels = batch
        data = generator.normalize(mels)
        noise = torch.randn_like(data)
        t = training_times(data.shape[0], options.time_distribution, mean=options.time_mean, std=options.time_std,
                           device=self.device)
        labels = generator.drop_labels(labels, torch.rand(data.shape[0], device=self.device) < options.p_uncond)
        optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            predicted = self.modules["generator"](interpolate(data, noise, t), t, labels)
        loss = F.mse_loss(predicted.float(), velocity_target(data, noise))
        loss.backward()
        grad_norm = self.clip_gradients(generator)
        optimizer.step()
        self.schedulers["generator"].step()
        self.update_ema(state)
        return {"loss": loss.item(), "grad_norm": grad_norm, "lr": optimizer.param_groups[0]["lr"]}

    @torch.no_grad()
    def validate(self, batches: Iterable[tuple[Tensor, Tensor]], state: TrainState) -> Validation:
        options: FlowMatchingOptions = self.config.recipe.options
        model = self.inference_model()
        reals, labels = self.held_out_batch(batches)
        seeded = torch.Generator().manual_seed(options.grid_seed)
        data = model.normalize(reals)
        # Velocity error at fixed times and noise: a validation loss that compares across steps.
        errors = []
        for value in VALIDATION_TIMES:
            noise = torch.randn(data.shape, generator=seeded).to(self.device)
            t = torch.full((data.shape[0],), value, device=self.device)
            errors.append(F.mse_loss(model(interpolate(data, noise, t), t, labels), velocity_target(data, noise)).item())
        fakes = model.generate(labels, generator=seeded)
        result = Validation()
        result.scalars = {
            "velocity_mse": sum(errors) / len(errors),
            "envelope_l1": envelope_l1(data, model.normalize(fakes)),
        }
        result.images = self.validation_images(model, reals, labels)
        return result
