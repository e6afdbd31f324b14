"""The generator that ships with melwave: it loads by name, and (slow) a classifier trained on REAL
rendered notes recognises the conditions it was asked for well above chance."""

from __future__ import annotations

import pytest
import torch

from melwave.data.labelled import LabelledDataConfig, LabelledMels
import dataclasses

from melwave.data.notes import NOTES_PRESETS, build_notes
from melwave.inference.generate import SHIPPED, load_generator, shipped_generators
from melwave.models.classifier import load_classifier

pytestmark = pytest.mark.skipif(SHIPPED not in shipped_generators(), reason="no shipped generator in this checkout")


def test_shipped_model_loads_with_the_notes_vocabulary():
    model = load_generator()
    assert model.name == SHIPPED
    assert {c.name: c.values for c in model.vocabulary.conditions} == NOTES_PRESETS["small"].conditions  # it was trained on the small preset
    mel = model.generate(torch.tensor([[0, 0, 0], [3, 4, 2]]), generator=torch.Generator().manual_seed(0))
    assert mel.shape == (2, 80, model.frames) and torch.isfinite(mel).all()


@pytest.mark.slow
def test_shipped_model_follows_its_conditions(tmp_path):
    model = load_generator()
    classifier = load_classifier(shipped_generators()[SHIPPED].parent / "classifier.safetensors")
    # The classifier itself is right on real notes (a fresh render with another seed: unseen takes).
    build_notes(tmp_path / "real", dataclasses.replace(NOTES_PRESETS["small"], seed=99, takes=1))
    real = LabelledMels.from_folder(tmp_path / "real", model.mel_config, frames=model.frames, data=LabelledDataConfig())
    real_mels = torch.stack([real[i][0] for i in range(len(real))])
    real_acc = classifier.accuracy(real_mels, real.labels)
    assert min(real_acc.values()) > 0.75, real_acc
    # Generated notes: 4 per combination, every combination.
    sizes = model.vocabulary.sizes
    grid = torch.cartesian_prod(*(torch.arange(n) for n in sizes)).repeat_interleave(4, dim=0)
    fake = model.generate(grid, generator=torch.Generator().manual_seed(0))
    fake_acc = classifier.accuracy(fake, grid)
    for (name, acc), n in zip(fake_acc.items(), sizes):
        assert acc > 1.5 / n, (name, acc, fake_acc)          # well above chance (1/n) for every condition
