"""The base of the recipes whose model learns from labelled mel crops (melwave.data.labelled): the
mel generators (generator_base.GeneratorRecipe: wgan-gp, flow-matching) and the condition classifier.

`LabelledMelRecipe.build` checks `model.family`, builds the model once from the run config
(`model` with its conditions, filled by conditions.prepare_config, + `mel`), and from then on the
model's own `mel_config` is the run's mel config: the data are cut and analysed with it, so the
crops a model learns from are in the units its saved file states.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar

from melwave.audio.config import MelConfig
from melwave.data.labelled import LabelledMels
from melwave.errors import ConfigError
from melwave.models.base import MelModel
from melwave.train.recipe import Recipe, unwrap


class LabelledMelRecipe(Recipe):
    """A recipe training a `model_class` model, stored as `modules[model_key]` (its checkpoint key),
    on (mel (B, n_mels, frames), labels (B, K) long) batches, frames = the model's `frames` and
    the K labels in the order of its `vocabulary`. The Options carry the labelled-data settings
    as `data` (a melwave.data.labelled.LabelledDataConfig).

    Subclasses fill in `build_training(model)` (the other modules, optimizers, schedulers) and
    `fit_statistics(train_set)` (what the model keeps of its training data).
    """

    model_class: ClassVar[type[MelModel]]   # the family trained: a MelGenerator or the MelClassifier
    model_key: ClassVar[str]                # the model's name in modules and optimizers (checkpoint keys)
    mel_config: MelConfig                   # the model's: the one mel config of the run

    def build(self) -> None:
        family = self.config.model.family
        if family != self.model_class.family:
            raise ConfigError(f"model.family={family!r}: the {self.name} recipe trains '{self.model_class.family}' {self.trains}s")
        model_config = self.config.model.resolved_config()
        if not model_config.get("conditions"):
            raise ConfigError(f"model.config.conditions is empty; `melwave train {self.trains}` fills it from the data's "
                              f"labels (or call melwave.train.recipes.conditions.prepare_config)")
        model = self.model_class.from_config(model_config, self.config.mel, path="model.config").to(self.device)
        self.mel_config = model.mel_config
        self.build_training(model)

    @abc.abstractmethod
    def build_training(self, model: MelModel) -> None:
        """Create the modules (`model` as `modules[model_key]`), optimizers and schedulers."""

    def datasets(self, data_dir: str | Path | None) -> tuple[LabelledMels, LabelledMels | None]:
        """(training set, validation set or None) of labelled mel crops for the model, cut from
        `data_dir` with the recipe's `data` options: the one place these sets are built, so any rule
        about which examples a model may learn from applies to every recipe of this family."""
        if data_dir is None:
            raise ConfigError(f"the {self.name} recipe needs --data DIR (a labelled folder of audio)")
        model = unwrap(self.modules[self.model_key])
        full = LabelledMels.from_folder(data_dir, self.mel_config, frames=model.frames, data=self.config.recipe.options.data,
                                        vocabulary=model.vocabulary)
        train_set, val_set = full.split(self.config.data.validation_clips, seed=self.config.data.split_seed)
        self.fit_statistics(train_set)
        return train_set, val_set

    @abc.abstractmethod
    def fit_statistics(self, train_set: LabelledMels) -> None:
        """Store in the model what it keeps of its training set (normalisation statistics); called
        by `datasets` after any checkpoint was restored."""
