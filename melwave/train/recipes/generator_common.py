"""What the mel-generator recipes (wgan-gp, flow-matching) share: their labelled data, its
normalisation statistics, and the TensorBoard grids of generated mels per condition.

`generator_datasets` is the one place a generator's training and validation sets are built, so
any rule about which examples a generator may learn from applies to every generator family.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from melwave.data.labelled import LabelledMels
from melwave.errors import ConfigError
from melwave.train.images import image_row


def generator_datasets(config: Any, data_dir: Any, generator: Any) -> tuple[LabelledMels, LabelledMels | None]:
    """(training set, validation set or None) of labelled mel crops for `generator` (a MelGenerator
    with `frames`, `vocabulary` and the generators.statistics buffers), cut from `data_dir` with the
    recipe's `data` options. A fresh run stores the training set's per-bin statistics in the
    generator; a resumed run keeps those its checkpoint holds."""
    if data_dir is None:
        raise ConfigError(f"the {config.recipe.name} recipe needs --data DIR (a labelled folder of audio)")
    full = LabelledMels.from_folder(data_dir, config.mel, frames=generator.frames, data=config.recipe.options.data,
                                    vocabulary=generator.vocabulary)
    train_set, val_set = full.split(config.data.validation_clips, seed=config.data.split_seed)
    if not generator.has_statistics:
        mean, std, frames = train_set.statistics()
        generator.set_statistics(mean.to(generator.device), std.to(generator.device), frames)
    if getattr(generator, "keeps_range", False) and not generator.has_range:
        low, high = train_set.value_range()
        generator.set_range(low.to(generator.device), high.to(generator.device))
    return train_set, val_set


@torch.no_grad()
def condition_grids(generator: Any, base: Tensor, *, noise_seed: int) -> dict[str, np.ndarray]:
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
