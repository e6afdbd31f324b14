"""Turn melwave's condition classifier (`melwave train classifier`) into the `ClassifierSpec`
the generator evaluation uses.

Files are read with `melwave.models.classifier.load_classifier` (a `mel-classifier` model file or
its training run folder). The contract a classifier meets (duck-typed, so any model that keeps it
works, e.g. a tiny one in a test):
  model.vocabulary   a `melwave.data.labelled.Vocabulary` (conditions and their named values)
  model.mel_config   the MelConfig its input mels are in
  model.frames       input length in frames (or model.config.frames)
  and either model.predict(mels) -> {condition: (N, K) probabilities} (MelClassifier's API)
  or model(mels) -> {condition: (N, K) logits} / a sequence of logits in vocabulary order,
  for mels (N, n_mels, frames) in mel_config units (the model normalises them itself).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from melwave.errors import CheckpointError
from melwave.metrics.generator_eval import ClassifierSpec


def spec_from_model(model: torch.nn.Module, *, source: str = "classifier") -> ClassifierSpec:
    vocabulary = getattr(model, "vocabulary", None)
    conditions = getattr(vocabulary, "conditions", None)
    if conditions is None:
        raise CheckpointError(f"{source}: not a condition classifier (it has no vocabulary of conditions)")
    frames = getattr(model, "frames", None) or getattr(getattr(model, "config", None), "frames", None)
    if not frames:
        raise CheckpointError(f"{source}: the classifier does not say its input length in frames")
    names = [c.name for c in conditions]
    model.eval()

    @torch.no_grad()
    def predict(mels: torch.Tensor) -> dict[str, np.ndarray]:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        out = {}
        for start in range(0, len(mels), 64):
            batch = mels[start:start + 64].to(device)
            if callable(getattr(model, "predict", None)):
                probs = model.predict(batch)
            else:
                logits = model(batch)
                if not isinstance(logits, dict):
                    logits = dict(zip(names, logits))
                probs = {k: v.float().softmax(dim=-1) for k, v in logits.items()}
            for name in names:
                out.setdefault(name, []).append(torch.as_tensor(probs[name]).float().cpu().numpy())
        return {k: np.concatenate(v) for k, v in out.items()}

    return ClassifierSpec(predict, {c.name: list(c.values) for c in conditions}, model.mel_config, int(frames))


def load_classifier_spec(path: str | Path, *, device: str = "cpu") -> ClassifierSpec:
    from melwave.models.classifier import load_classifier

    return spec_from_model(load_classifier(path, device=device), source=str(path))
