"""The base of the mel-generator recipes (wgan-gp, flow-matching): a MelGenerator trained on labelled
mel crops, with normalisation statistics from its training set, an optional EMA of its weights
(what validation draws from and what is exported), and the validation images they share.
"""

from __future__ import annotations

import copy
from typing import Iterable

import numpy as np
import torch
from torch import Tensor

from melwave.data.labelled import LabelledMels
from melwave.models.base import MelGenerator
from melwave.train.ema import EMA, EMACheckpoint, warmed_up_decay
from melwave.train.images import image_row
from melwave.train.recipe import unwrap
from melwave.train.recipes.labelled_base import LabelledMelRecipe
from melwave.train.state import TrainState


class GeneratorRecipe(EMACheckpoint, LabelledMelRecipe):
    """A LabelledMelRecipe whose model is a MelGenerator (`modules["generator"]`): generate(labels
    (B, K), z (B, z_dim)) -> mel (B, n_mels, frames). Its Options carry `ema_decay` (None: no EMA)
    and `grid_seed` (the fixed noise of the validation images)."""

    trains = "generator"
    model_key = "generator"

    def build(self) -> None:
        super().build()
        self.ema = EMA(self.generator) if self.config.recipe.options.ema_decay is not None else None

    @property
    def generator(self) -> MelGenerator:
        """The trained generator, outside any DistributedDataParallel wrapper."""
        return unwrap(self.modules["generator"])

    def fit_statistics(self, train_set: LabelledMels) -> None:
        """A fresh run stores the training set's per-bin statistics (and data range, for families
        that keep one) in the generator; a resumed run keeps those its checkpoint holds."""
        generator = self.generator
        if not generator.has_statistics:
            mean, std, frames = train_set.statistics()
            generator.set_statistics(mean.to(generator.device), std.to(generator.device), frames)
        if getattr(generator, "keeps_range", False) and not generator.has_range:
            low, high = train_set.value_range()
            generator.set_range(low.to(generator.device), high.to(generator.device))

    # --- EMA (in checkpoints: EMACheckpoint) ---------------------------------------------------
    def update_ema(self, state: TrainState) -> None:
        """After each generator step: fold the live weights into the (warmed-up) average."""
        if self.ema is not None:
            self.ema.update(self.generator, warmed_up_decay(self.config.recipe.options.ema_decay, state.step))

    def inference_model(self) -> MelGenerator:
        """A copy of the generator in eval mode carrying the EMA weights (or the live ones without EMA)."""
        model = copy.deepcopy(self.generator).eval()
        if self.ema is not None:
            self.ema.copy_to(model)
        return model

    def export_model(self) -> MelGenerator:
        return self.inference_model().cpu()

    # --- validation ----------------------------------------------------------------------------
    def held_out_batch(self, batches: Iterable[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        """All validation batches as one: (mels (N, n_mels, frames), labels (N, K)) on self.device."""
        pairs = list(batches)
        reals = torch.cat([mel for mel, _ in pairs]).to(self.device)
        labels = torch.cat([label for _, label in pairs]).to(self.device)
        return reals, labels

    def validation_images(self, model: MelGenerator, reals: Tensor, labels: Tensor) -> dict[str, np.ndarray]:
        """The condition grids (around the first held-out example's labels) and a row of real crops."""
        images = condition_grids(model, labels[0], noise_seed=self.config.recipe.options.grid_seed)
        images["real_examples"] = image_row([m for m in reals[:6]])
        return images


def envelope_l1(real: Tensor, fake: Tensor) -> float:
    """Mean spectral envelope of generated vs real crops (N, n_mels, frames), in normalised units:
    a cheap check that a generator is not drifting in level or timbre."""
    return float((real.mean(dim=(0, 2)) - fake.mean(dim=(0, 2))).abs().mean())


@torch.no_grad()
def condition_grids(generator: MelGenerator, base: Tensor, *, noise_seed: int) -> dict[str, np.ndarray]:
    """For each condition, one image: a generated mel per value, the other conditions as `base`
    (K,), all from the same noise."""
    z = torch.randn(1, generator.z_dim, generator=torch.Generator().manual_seed(noise_seed)).to(generator.device)
    images = {}
    for k, condition in enumerate(generator.vocabulary.conditions):
        labels = base.repeat(len(condition.values), 1)
        labels[:, k] = torch.arange(len(condition.values), device=labels.device)
        mels = generator.generate(labels, z.expand(len(condition.values), -1))
        images[f"by_{condition.name}/{'_'.join(condition.values)}"] = image_row(list(mels))
    return images
