"""WGAN-GP and classifier training from the real CLI on rendered notes, with resume."""

from __future__ import annotations

import pytest
import torch
import yaml

from melwave.cli import main
from melwave.models.classifier import MelClassifier
from melwave.models.io.load import load_classifier
from melwave.models.generators.cwgan import CWGANGenerator
from melwave.models.io.model_file import load_model
from melwave.train.checkpoint import list_checkpoints


def test_wgan_gp_steps_checkpoint_and_resume(tiny_notes, tmp_path, caplog):
    run = tmp_path / "run"
    args = ["train", "generator", "--config", "configs/generator/cwgan-small.debug.yaml", "--data", str(tiny_notes),
            "--out", str(run), "--set", "train.steps=2"]
    assert main(args) == 0
    assert [s for s, _ in list_checkpoints(run)] == [2]
    first = load_model(run)
    assert isinstance(first, CWGANGenerator)
    assert first.vocabulary.to_list()[0] == {"name": "instrument", "values": ["piano", "flute"]}
    assert int(first.stats_frames) > 0
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["model"]["config"]["conditions"][2]["values"] == ["soft", "loud"]   # vocabulary is part of the run

    # Without --resume the run is refused; with it, training continues from step 2 with the same statistics.
    assert main(args[:-2] + ["--set", "train.steps=4"]) == 2
    assert main(args[:-2] + ["--set", "train.steps=4", "--resume"]) == 0
    assert "resumed from" in caplog.text
    assert [s for s, _ in list_checkpoints(run)] == [2, 4]
    second = load_model(run)
    torch.testing.assert_close(second.mel_mean, first.mel_mean)
    assert any(not torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    document = torch.load(list_checkpoints(run)[-1][1], weights_only=True)
    assert set(document["modules"]) == {"generator", "critic"} and document["state"]["step"] == 4


@pytest.mark.parametrize("config", ["cwgan-strips.debug.yaml", "cwgan-source.debug.yaml", "cwgan-strips-source.debug.yaml"])
def test_strips_and_source_configs_train(tiny_notes, tmp_path, config):
    run = tmp_path / "run"
    assert main(["train", "generator", "--config", f"configs/generator/{config}", "--data", str(tiny_notes),
                 "--out", str(run), "--set", "train.steps=1", "--set", "train.checkpoint_every=1"]) == 0
    model = load_model(run)
    assert model.generate(torch.zeros(2, 3, dtype=torch.long)).shape[0] == 2


def test_bad_config_keys_are_named(tiny_notes, tmp_path, capsys):
    assert main(["train", "generator", "--config", "configs/generator/cwgan-small.debug.yaml", "--data", str(tiny_notes),
                 "--out", str(tmp_path / "r"), "--set", "recipe.n_critics=3"]) == 2
    assert "recipe.n_critics" in capsys.readouterr().err


def test_classifier_cli_writes_a_loadable_classifier(tiny_notes, tmp_path):
    out = tmp_path / "clf.safetensors"
    assert main(["train", "classifier", "--data", str(tiny_notes), "--out", str(out), "--set", "train.steps=3",
                 "--set", "model.preset=debug", "--set", "data.validation_clips=4"]) == 0
    clf = load_classifier(out)
    assert isinstance(clf, MelClassifier) and clf.vocabulary.names == ("instrument", "pitch", "velocity")
    probs = clf.predict(torch.randn(5, 80, 40) - 6)          # any length: cropped/padded to the model's frames
    assert probs["pitch"].shape == (5, 2)
    torch.testing.assert_close(probs["velocity"].sum(-1), torch.ones(5))
    acc = clf.accuracy(torch.randn(4, 80, 16), clf.encode_labels([{"instrument": "flute", "pitch": "C4", "velocity": "soft"}] * 4))
    assert set(acc) == {"instrument", "pitch", "velocity"} and all(0 <= v <= 1 for v in acc.values())
    assert main(["train", "classifier", "--data", str(tiny_notes), "--out", str(out)]) == 2   # no clobbering
