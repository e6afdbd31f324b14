"""Turn a condition classifier into the `ClassifierSpec` the generator evaluation uses.

Files are read with `melwave.models.io.load.load_classifier` (a `mel-classifier` model file or
its training run folder). Any model meeting `ConditionClassifier` works the same way: melwave's
own `MelClassifier` does, and so may a small fixed one in a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Protocol, runtime_checkable

import numpy as np
import torch

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError
from melwave.evaluation.generators import ClassifierSpec
from melwave.models.vocabulary import Vocabulary


@runtime_checkable
class ConditionClassifier(Protocol):
    """What the generator evaluation needs of a condition classifier.

    vocabulary:    its conditions and their named values (the heads' order of classes)
    mel_config:    the MelConfig its input mels are in
    frames:        its input length in frames (mels are cropped/padded to it before `predict`)
    predict(mels): (N, n_mels, frames) mels in mel_config units -> {condition: (N, n_values)
                   probabilities}; the model normalises and batches itself.
    """

    vocabulary: Vocabulary
    mel_config: MelConfig

    @property
    def frames(self) -> int: ...

    def predict(self, mels: torch.Tensor) -> Mapping[str, torch.Tensor]: ...


def spec_from_model(model: ConditionClassifier, *, source: str = "classifier") -> ClassifierSpec:
    if not isinstance(model, ConditionClassifier):
        raise CheckpointError(f"{source}: not a condition classifier (needs vocabulary, mel_config, frames and predict)")
    names = model.vocabulary.names

    @torch.no_grad()
    def predict(mels: torch.Tensor) -> dict[str, np.ndarray]:
        probs = model.predict(mels)
        return {name: torch.as_tensor(probs[name]).float().cpu().numpy() for name in names}

    return ClassifierSpec(predict, {c.name: list(c.values) for c in model.vocabulary.conditions}, model.mel_config,
                          int(model.frames))


def load_classifier_spec(path: str | Path, *, device: str = "cpu") -> ClassifierSpec:
    from melwave.models.io.load import load_classifier

    return spec_from_model(load_classifier(path, device=device), source=str(path))
