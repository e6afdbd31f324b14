"""Diffusion vocoder recipe (DiffWave with FiLM): noise-prediction training with an EMA copy.

Per step: wave x0 (B, T), mel from THE model's MelConfig, t ~ U{0..T_train−1}, ε ~ N(0, I),
x_t = schedule.add_noise(x0, ε, t) (the model's own NoiseSchedule object, kept apart from the
network), loss = |ε̂(x_t, t, mel) − ε| (L1, as DiffWave; or L2).

The trained module under DistributedDataParallel is the noise network (`model.network`), not
the vocoder, whose forward is the whole reverse process. The EMA weights (if enabled) are what
validation listens to and what gets exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.errors import ConfigError
from melwave.models.base import Vocoder
from melwave.train.ema import EMA, EMACheckpoint, check_decay
from melwave.train.recipe import Validation, register_recipe
from melwave.train.recipes.vocoder_base import VocoderRecipe
from melwave.train.recipes.vocoder_common import exported_copy, load_pretrained_into
from melwave.train.state import TrainState

LOSSES = ("l1", "l2")


@dataclass(frozen=True)
class DiffusionOptions:
    loss: str = "l1"                      # l1 (DiffWave) | l2 (DDPM) on the predicted noise
    ema_decay: float | None = 0.999       # exponential moving average of the weights; null: off
    validation_samples: int = 2           # clips whose audio/mel images go to TensorBoard
    validation_steps: int | None = None   # reverse steps when validating (null: the model's inference_steps)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"loss={self.loss!r}: expected one of {LOSSES}")
        check_decay(self.ema_decay)


@register_recipe
class DiffusionVocoderRecipe(EMACheckpoint, VocoderRecipe):
    name = "diffusion"
    Options = DiffusionOptions

    def prepare_vocoder(self, vocoder: Vocoder) -> Vocoder:
        if not hasattr(vocoder, "network") or not hasattr(vocoder, "schedule"):
            raise ConfigError(f"model.family={self.config.model.family!r}: the diffusion recipe needs a model with "
                              f"a noise `network` and a `schedule` (e.g. diffwave)")
        return vocoder

    def build_training(self, model: Vocoder) -> None:
        options: DiffusionOptions = self.config.recipe.options
        self.modules = {"generator": model}
        self.network = model.network  # replaced by its DDP wrapper in wrap()
        self.optimizers = {"generator": self.make_optimizer(model.network.parameters())}
        self.schedulers = {"generator": self.make_scheduler(self.optimizers["generator"])}
        self.ema = EMA(model.network) if options.ema_decay is not None else None

    def wrap(self, wrap_module: Callable[[nn.Module], nn.Module]) -> None:
        # Only the noise network trains; the vocoder around it holds the schedule and sampler.
        self.network = wrap_module(self.modules["generator"].network)

    def init_from(self, source: str) -> None:
        load_pretrained_into(self.vocoder, source, self.mel_config)
        if self.ema is not None:
            self.ema = EMA(self.modules["generator"].network)

    def train_step(self, batch: Tensor, state: TrainState) -> dict[str, float]:
        options: DiffusionOptions = self.config.recipe.options
        model = self.modules["generator"]
        optimizer = self.optimizers["generator"]
        x0 = batch
        with torch.no_grad():
            mel = self.extractor(x0)
        t = torch.randint(0, model.schedule.num_train_steps, (x0.shape[0],), device=self.device)
        noise = torch.randn_like(x0)
        x_t = model.schedule.add_noise(x0, noise, t)
        optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            predicted = self.network(x_t, t, mel)
        predicted = predicted.float()[..., : x0.shape[-1]]
        loss = F.l1_loss(predicted, noise) if options.loss == "l1" else F.mse_loss(predicted, noise)
        loss.backward()
        grad_norm = self.clip_gradients(model.network)
        optimizer.step()
        self.step_schedulers(state)
        if self.ema is not None:
            self.ema.update(self.modules["generator"].network, options.ema_decay)
        return {"loss": loss.item(), "grad_norm": grad_norm, "lr": optimizer.param_groups[0]["lr"]}

    # --- EMA in validation and export (in checkpoints: EMACheckpoint) ---
    def _inference_model(self) -> Vocoder:
        """A copy of the vocoder carrying the EMA weights (or the live ones without EMA)."""
        model = exported_copy(self.vocoder)
        if self.ema is not None:
            self.ema.copy_to(model.network)
        return model

    def validate(self, batches: Iterable[Tensor], state: TrainState) -> Validation:
        options: DiffusionOptions = self.config.recipe.options
        model = self._inference_model().to(self.device)
        steps = options.validation_steps or model.config.inference_steps
        return self.validation(lambda mel: model(mel, steps=steps), batches)

    def export_model(self) -> Vocoder:
        return self._inference_model()
