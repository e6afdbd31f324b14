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

Data, normalisation statistics and the TensorBoard grids are the mel-generator recipes' shared
ones (recipes.generator_common), so rules about the training data apply to every generator.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from melwave.data.labelled import LabelledDataConfig, LabelledMels
from melwave.errors import ConfigError
from melwave.models.diffusion.rectified_flow import TIME_DISTRIBUTIONS, interpolate, training_times, velocity_target
from melwave.models.generators.flow import FlowGenerator
from melwave.train.ema import EMA, EMACheckpoint, check_decay, warmed_up_decay
from melwave.train.images import image_row
from melwave.train.recipe import Recipe, Validation, register_recipe, unwrap
from melwave.train.recipes.generator_common import condition_grids, generator_datasets
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
class FlowMatchingRecipe(EMACheckpoint, Recipe):
    name = "flow-matching"
    trains = "generator"
    Options = FlowMatchingOptions

    def build(self) -> None:
        options: FlowMatchingOptions = self.config.recipe.options
        if self.config.model.family != FlowGenerator.family:
            raise ConfigError(f"model.family={self.config.model.family!r}: the flow-matching recipe trains 'flow' generators")
        model_config = self.config.model.resolved_config()
        if not model_config.get("conditions"):
            raise ConfigError("model.config.conditions is empty; `melwave train generator` fills it from the data's "
                              "labels (or call melwave.train.recipes.conditions.prepare_config)")
        generator = FlowGenerator.from_config(model_config, self.config.mel, path="model.config").to(self.device)
        self.modules = {"generator": generator}
        optimizer = self.make_optimizer(generator.parameters())
        self.optimizers = {"generator": optimizer}
        train = self.config.train

        def factor(step: int) -> float:
            """× train.learning_rate after `step` scheduler steps: linear warm-up, then train.lr_decay."""
            return min(1.0, (step + 1) / (options.warmup_steps + 1)) * train.lr_decay ** (step // train.lr_decay_every)

        # A plain function: LambdaLR checkpoints only its step count, not the function.
        self.schedulers = {"generator": torch.optim.lr_scheduler.LambdaLR(optimizer, factor)}
        self.ema = EMA(generator) if options.ema_decay is not None else None

    @property
    def generator(self) -> FlowGenerator:
        return unwrap(self.modules["generator"])

    def datasets(self, data_dir: Any) -> tuple[LabelledMels, LabelledMels | None]:
        return generator_datasets(self.config, data_dir, self.generator)

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
        if self.ema is not None:
            self.ema.update(generator, warmed_up_decay(options.ema_decay, state.step))
        return {"loss": loss.item(), "grad_norm": grad_norm, "lr": optimizer.param_groups[0]["lr"]}

    # --- EMA in validation and export (in checkpoints: EMACheckpoint) ---
    def _inference_model(self) -> FlowGenerator:
        """A copy of the generator carrying the EMA weights (or the live ones without EMA)."""
        model = copy.deepcopy(self.generator).eval()
        if self.ema is not None:
            self.ema.copy_to(model)
        return model

    @torch.no_grad()
    def validate(self, batches: Iterable[tuple[Tensor, Tensor]], state: TrainState) -> Validation:
        options: FlowMatchingOptions = self.config.recipe.options
        model = self._inference_model()
        pairs = list(batches)
        reals = torch.cat([mel for mel, _ in pairs]).to(self.device)
        labels = torch.cat([label for _, label in pairs]).to(self.device)
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
            # Mean spectral envelope of generated vs real crops (normalised units): level and timbre drift.
            "envelope_l1": float((data.mean(dim=(0, 2)) - model.normalize(fakes).mean(dim=(0, 2))).abs().mean()),
        }
        result.images = condition_grids(model, labels[0], noise_seed=options.grid_seed)
        result.images["real_examples"] = image_row([m for m in reals[:6]])
        return result

    def export_model(self) -> FlowGenerator:
        return self._inference_model().cpu()
