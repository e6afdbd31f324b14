"""Condition-classifier recipe (`recipe.name: classifier`, model family mel-classifier).

Cross-entropy summed over one head per condition, on the same labelled mel crops the generator
trains on (melwave.data.labelled), normalised with per-bin statistics stored in the classifier.
Light augmentation (a random gain in dB and a few frames of onset shift) keeps it from keying on
exact levels of the rendered takes while still learning velocity. Validation: accuracy per
condition on held-out files.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

import torch
from torch import Tensor

from melwave.data.labelled import LabelledDataConfig, LabelledMels
from melwave.errors import ConfigError
from melwave.models.classifier import MelClassifier
from melwave.train.recipe import Validation, register_recipe, unwrap
from melwave.train.recipes.labelled_base import LabelledMelRecipe
from melwave.train.state import TrainState

if TYPE_CHECKING:  # pragma: no cover
    from melwave.train.run_config import RunConfig


@dataclass(frozen=True)
class ClassifierOptions:
    data: LabelledDataConfig = field(default_factory=LabelledDataConfig)  # labels and crops
    shift_frames: int = 2          # random onset shift (frames) applied to training crops
    gain_db: float = 2.0           # random gain (± dB) applied to training crops

    def __post_init__(self) -> None:
        if self.shift_frames < 0 or self.gain_db < 0:
            raise ConfigError("shift_frames and gain_db must be >= 0")


def default_run_config(overrides: list[str] = ()) -> RunConfig:
    """The built-in classifier run config (what `melwave train classifier` uses without --config)."""
    from melwave.train.config import apply_overrides, parse_run_config

    data = {
        "train": {"steps": 400, "batch_size": 32, "learning_rate": 0.001, "betas": [0.9, 0.999], "log_every": 50,
                  "checkpoint_every": 200, "validate_every": 200, "seed": 0},
        "mel": "hifigan-22k",
        "model": {"family": "mel-classifier", "preset": "small"},
        "data": {"validation_clips": 24},
        "recipe": {"name": "classifier"},
    }
    return parse_run_config(apply_overrides(data, list(overrides)), source="built-in classifier config")


@register_recipe
class ClassifierRecipe(LabelledMelRecipe):
    name = "classifier"
    trains = "classifier"
    Options = ClassifierOptions
    model_class = MelClassifier
    model_key = "classifier"

    def build_training(self, model: MelClassifier) -> None:
        self.modules = {"classifier": model}
        self.optimizers = {"classifier": self.make_optimizer(model.parameters())}
        self.schedulers = {"classifier": self.make_scheduler(self.optimizers["classifier"])}

    @property
    def classifier(self) -> MelClassifier:
        return unwrap(self.modules["classifier"])

    def fit_statistics(self, train_set: LabelledMels) -> None:
        """The training set's per-bin statistics, set on every run, resumed ones included (the same split
        gives the same values)."""
        mean, std, _ = train_set.statistics()
        self.classifier.set_statistics(mean.to(self.device), std.to(self.device))

    def augment(self, mels: Tensor) -> Tensor:
        options: ClassifierOptions = self.config.recipe.options
        if options.gain_db and self.mel_config.compression == "log":
            scale = 20.0 if self.mel_config.power == 1.0 else 10.0
            gain = (torch.rand(mels.shape[0], 1, 1, device=mels.device) * 2 - 1) * options.gain_db
            floor = self.classifier.fill
            mels = torch.where(mels > floor + 1e-3, mels + gain * torch.log(torch.tensor(10.0)) / scale, mels).clamp(min=floor)
        if options.shift_frames:
            shift = int(torch.randint(0, options.shift_frames + 1, ()))
            if shift:
                pad = torch.full_like(mels[..., :shift], self.classifier.fill)
                mels = torch.cat([pad, mels[..., :-shift]], dim=-1)
        return mels

    def train_step(self, batch: tuple[Tensor, Tensor], state: TrainState) -> dict[str, float]:
        mels, labels = batch
        model = self.modules["classifier"]
        logits = model(self.augment(mels))
        loss = torch.zeros((), device=mels.device)
        metrics = {}
        for k, name in enumerate(self.classifier.vocabulary.names):
            loss = loss + torch.nn.functional.cross_entropy(logits[name], labels[:, k])
            metrics[f"accuracy_{name}"] = float((logits[name].argmax(-1) == labels[:, k]).float().mean())
        self.optimizers["classifier"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["classifier"].step()
        self.step_schedulers(state)
        return {"loss": loss.item(), **metrics}

    @torch.no_grad()
    def validate(self, batches: Iterable[tuple[Tensor, Tensor]], state: TrainState) -> Validation:
        pairs = list(batches)
        mels = torch.cat([m for m, _ in pairs])
        labels = torch.cat([label for _, label in pairs])
        accuracy = self.classifier.accuracy(mels, labels)
        # The loop keeps the lowest value of each scalar as "best": report errors, not accuracies.
        return Validation(scalars={f"error_{k}": 1.0 - v for k, v in accuracy.items()})

    def export_model(self) -> MelClassifier:
        return copy.deepcopy(self.classifier).cpu().eval()
