"""The generators that ship with melwave: they load by name with the vocabulary of the data they
were trained on, and (slow) a classifier trained on REAL rendered notes recognises the conditions
the default one was asked for well above chance, on held-out combinations too."""

from __future__ import annotations

import pytest
import torch

import dataclasses

from melwave.data.labelled import LabelledDataConfig, LabelledMels
from melwave.data.notes import NOTES_PRESETS, build_notes
from melwave.models.io.load import DEFAULT_GENERATOR, load_classifier, load_generator, shipped_generators



def test_the_default_generator_ships_with_melwave():
    # melwave.load_generator() with no name loads it: a checkout without it is broken, not skippable.
    assert DEFAULT_GENERATOR in shipped_generators()


@pytest.mark.parametrize("name, preset", [(DEFAULT_GENERATOR, "full"), ("cwgan-notes", "small")])
def test_shipped_models_load_with_the_notes_vocabulary(name, preset):
    model = load_generator(None if name == DEFAULT_GENERATOR else name)
    assert model.name == name
    assert {c.name: c.values for c in model.vocabulary.conditions} == NOTES_PRESETS[preset].conditions
    mel = model.generate(torch.tensor([[0, 0, 0], [3, 4, 2]]), generator=torch.Generator().manual_seed(0))
    assert mel.shape == (2, 80, model.frames) and torch.isfinite(mel).all()


def test_the_default_generator_lists_combinations_it_never_saw():
    model = load_generator()
    pairs = {(c["instrument"], c["pitch"]) for c in model.held_out}
    total = len(model.vocabulary["instrument"].values) * len(model.vocabulary["pitch"].values)
    assert 0.15 <= len(pairs) / total < 0.2, len(pairs)


@pytest.mark.slow
def test_shipped_model_follows_its_conditions(tmp_path):
    model = load_generator()
    classifier = load_classifier(shipped_generators()[DEFAULT_GENERATOR].parent / "classifier.safetensors")
    # The classifier itself is right on real notes (a fresh render with another seed: unseen takes).
    build_notes(tmp_path / "real", dataclasses.replace(NOTES_PRESETS["full"], seed=99, takes=1, velocities=("loud",)))
    real = LabelledMels.from_folder(tmp_path / "real", model.mel_config, frames=model.frames, data=LabelledDataConfig())
    real_mels = torch.stack([real[i][0] for i in range(len(real))])
    real_acc = classifier.accuracy(real_mels, real.labels)
    assert real_acc["instrument"] > 0.9 and real_acc["pitch"] > 0.9, real_acc
    # Generated notes: one per combination, every combination.
    sizes = model.vocabulary.sizes
    grid = torch.cartesian_prod(*(torch.arange(n) for n in sizes))
    fake = model.generate(grid, generator=torch.Generator().manual_seed(0))
    fake_acc = classifier.accuracy(fake, grid)
    for (name, acc), n in zip(fake_acc.items(), sizes):
        assert acc > 1.5 / n, (name, acc, fake_acc)          # well above chance (1/n) for every condition
    # ... and on the (instrument, pitch) combinations it was trained without.
    held = torch.tensor([model.vocabulary.encode({**c, "velocity": v}, source="held_out")
                         for c in model.held_out for v in model.vocabulary["velocity"].values])
    held_acc = classifier.accuracy(model.generate(held, generator=torch.Generator().manual_seed(1)), held)
    assert held_acc["pitch"] > 0.8 and held_acc["instrument"] > 0.5, held_acc
