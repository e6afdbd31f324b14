"""Diffusion recipe: noising through the model's own schedule object, EMA tracking and export."""

from __future__ import annotations

import torch

from melwave.train.config import load_run_config
from melwave.train.recipe import RecipeContext, get_recipe
from melwave.train.state import TrainState

from vocoder_train_helpers import CONFIGS


def make(overrides=()):
    config = load_run_config(CONFIGS / "diffwave.debug.yaml", list(overrides))
    torch.manual_seed(0)
    recipe = get_recipe("diffusion")(config, RecipeContext(device=torch.device("cpu")))
    recipe.build()
    return recipe


def test_training_noises_with_the_schedule_object(monkeypatch):
    recipe = make()
    schedule = recipe.modules["generator"].schedule
    calls = []
    original = schedule.add_noise

    def spy(x0, noise, t):
        calls.append(t.clone())
        return original(x0, noise, t)

    monkeypatch.setattr(schedule, "add_noise", spy)
    metrics = recipe.train_step(0.1 * torch.randn(3, 2048), TrainState())
    assert len(calls) == 1 and calls[0].shape == (3,) and int(calls[0].max()) < schedule.num_train_steps
    assert metrics["loss"] > 0


def test_ema_is_tracked_checkpointed_and_exported():
    recipe = make(["recipe.ema_decay=0.5", "train.learning_rate=0.01"])
    network = recipe.modules["generator"].network
    initial = {k: v.clone() for k, v in network.state_dict().items()}
    for step in range(3):
        recipe.train_step(0.1 * torch.randn(2, 2048), TrainState(step=step))
    live = network.state_dict()
    key = next(k for k, v in live.items() if v.dtype.is_floating_point and not torch.equal(v, initial[k]))
    # EMA lies strictly between where the weights started and where they are now.
    assert not torch.equal(recipe.ema.shadow[key], live[key]) and not torch.equal(recipe.ema.shadow[key], initial[key])
    exported = recipe.export_model()
    assert torch.equal(exported.network.state_dict()[key], recipe.ema.shadow[key])
    fresh = make(["recipe.ema_decay=0.5"])
    fresh.load_extra_state(recipe.extra_state())
    assert torch.equal(fresh.ema.shadow[key], recipe.ema.shadow[key])
    # Without EMA the live weights are exported.
    plain = make(["recipe.ema_decay=null"])
    plain.train_step(0.1 * torch.randn(2, 2048), TrainState())
    assert plain.extra_state() == {}
    assert torch.equal(plain.export_model().network.state_dict()[key], plain.modules["generator"].network.state_dict()[key])
