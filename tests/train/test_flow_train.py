"""Flow-matching training from the real CLI on rendered notes: the recipe comes from the config,
resume continues the same run (EMA included), and `melwave generate -m` plays the result."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from melwave.audio.melfile import load_mel
from melwave.cli import main
from melwave.models.generators.flow import FlowGenerator
from melwave.models.io.model_file import load_model
from melwave.train.checkpoint import list_checkpoints

CONFIG = "configs/generator/flow-small.debug.yaml"


def train(data, run, steps, *extra):
    return main(["train", "generator", "--config", CONFIG, "--data", str(data), "--out", str(run),
                 "--set", f"train.steps={steps}", "--set", "train.checkpoint_every=3", "--set", "train.validate_every=3",
                 *extra])


@pytest.fixture(scope="module")
def straight_run(tiny_notes, tmp_path_factory):
    run = tmp_path_factory.mktemp("flow") / "straight"
    assert train(tiny_notes, run, 6) == 0
    return run


def test_trains_a_loadable_flow_generator(straight_run):
    model = load_model(straight_run)
    assert isinstance(model, FlowGenerator) and model.has_statistics
    assert model.vocabulary.names == ("instrument", "pitch", "velocity")
    document = torch.load(list_checkpoints(straight_run)[-1][1], weights_only=True)
    assert set(document["modules"]) == {"generator"} and document["state"]["step"] == 6
    # The exported weights are the EMA's, not the live ones.
    live, ema = document["modules"]["generator"], document["extra"]["ema"]
    exported = load_file(str(straight_run / "model.safetensors"))
    key = "blocks.0.pwconv1.weight"
    assert not torch.equal(live[key], ema[key]) and torch.equal(exported[key], ema[key])


@pytest.mark.float_sensitive
def test_resume_matches_a_straight_run(tiny_notes, straight_run, tmp_path):
    run = tmp_path / "resumed"
    assert train(tiny_notes, run, 3) == 0
    assert train(tiny_notes, run, 6, "--resume") == 0
    assert [s for s, _ in list_checkpoints(run)] == [3, 6]
    resumed = torch.load(list_checkpoints(run)[-1][1], weights_only=True)
    straight = torch.load(list_checkpoints(straight_run)[-1][1], weights_only=True)
    for group in ("generator",):
        for key, value in straight["modules"][group].items():
            torch.testing.assert_close(resumed["modules"][group][key], value, atol=1e-5, rtol=1e-4)
    for key, value in straight["extra"]["ema"].items():
        torch.testing.assert_close(resumed["extra"]["ema"][key], value, atol=1e-5, rtol=1e-4)
    assert resumed["optimizers"]["generator"]["state"][0]["step"] == straight["optimizers"]["generator"]["state"][0]["step"]
    assert resumed["schedulers"]["generator"]["last_epoch"] == 6


@pytest.mark.float_sensitive
def test_generate_cli_plays_the_trained_model(straight_run, tmp_path, capsys):
    args = ["generate", "-m", str(straight_run / "model.safetensors"), "--vocoder", "griffinlim", "--no-images",
            "--condition", "instrument=flute", "-n", "2"]
    assert main(args + ["-o", str(tmp_path / "a"), "--steps", "3", "--guidance", "1.5"]) == 0
    assert main(args + ["-o", str(tmp_path / "b"), "--steps", "3", "--guidance", "1.5", "--batch-size", "1"]) == 0
    assert main(args + ["-o", str(tmp_path / "c")]) == 0                  # the model's stored defaults
    mels = {d: {p.name: load_mel(p).mel for p in (tmp_path / d).glob("*.pt")} for d in "abc"}
    assert len(mels["a"]) == 2 and mels["a"].keys() == mels["b"].keys() == mels["c"].keys()
    name = sorted(mels["a"])[0]
    assert mels["a"][name].shape == (80, 16)
    torch.testing.assert_close(mels["a"][name], mels["b"][name], atol=1e-4, rtol=1e-4)   # seeded, batch-independent
    assert not torch.allclose(mels["a"][name], mels["c"][name])                         # --steps/--guidance took effect
    # A generator family without these settings refuses them rather than ignoring them.
    assert main(["generate", "-m", "cwgan-notes", "-o", str(tmp_path / "d"), "--steps", "3"]) == 2
    assert "--steps: generator 'cwgan-notes' (family cwgan) has no such sampling setting" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_a_vocoder_recipe_is_refused_by_train_generator(tiny_notes, tmp_path, capsys):
    assert main(["train", "generator", "--config", "configs/vocoder/diffwave.debug.yaml", "--data", str(tiny_notes),
                 "--out", str(tmp_path / "r")]) == 2
    assert "recipe.name='diffusion' does not train a generator; expected one of ['flow-matching', 'wgan-gp']" in capsys.readouterr().err
