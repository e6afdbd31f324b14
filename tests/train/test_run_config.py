"""Run-config schema: unknown keys named by path, typed --set overrides, presets, round trip."""

from __future__ import annotations

import pytest
import yaml

from melwave.audio.config import PRESETS
from melwave.errors import ConfigError
from melwave.train.config import apply_overrides, load_run_config, parse_run_config, read_yaml

from vocoder_train_helpers import CONFIGS


def test_every_shipped_config_parses_and_round_trips():
    paths = sorted(CONFIGS.glob("*.yaml")) + sorted((CONFIGS.parent / "generator").glob("*.yaml"))
    assert len(paths) > 20
    for path in paths:
        config = load_run_config(path)
        again = parse_run_config(yaml.safe_load(config.to_yaml()), source="round trip")
        assert again == config or again.to_dict() == config.to_dict(), path


def test_unknown_keys_are_named_by_path():
    data = read_yaml(CONFIGS / "hifigan-v3.debug.yaml")
    for override, path in [("train.batch_sise=3", "train.batch_sise"), ("data.foo=1", "data.foo"),
                           ("recipe.mel_wieght=3", "recipe.mel_wieght"), ("extra.x=1", "extra")]:
        with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
            parse_run_config(apply_overrides(data, [override]))


def test_overrides_are_typed_by_the_schema():
    config = load_run_config(CONFIGS / "hifigan-v3.debug.yaml",
                             ["train.batch_size=8", "train.grad_clip=1", "train.betas=[0.5, 0.9]", "recipe.mel_weight=10",
                              "mel.fmax=7000", "model.config.upsample_initial_channel=32", "train.precision=bf16"])
    assert config.train.batch_size == 8 and isinstance(config.train.batch_size, int)
    assert config.train.grad_clip == 1.0 and isinstance(config.train.grad_clip, float)
    assert config.train.betas == (0.5, 0.9)
    assert config.recipe.options.mel_weight == 10.0
    assert config.mel == PRESETS["hifigan-22k"].replace(fmax=7000.0)
    assert config.model.resolved_config()["upsample_initial_channel"] == 32
    assert config.train.precision == "bf16"
    for bad, path in [("train.batch_size=abc", "train.batch_size"), ("train.steps=1.5", "train.steps"),
                      ("train.precision=fp8", "precision"), ("train.betas=[1]", "train.betas"),
                      ("model.preset=v9", "model.preset"), ("mel.preset=nope", "mel: preset='nope'"), ("train.steps", "KEY.PATH=VALUE")]:
        with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
            load_run_config(CONFIGS / "hifigan-v3.debug.yaml", [bad])


def test_model_preset_expands_and_mel_accepts_name_or_fields():
    config = load_run_config(CONFIGS / "hifigan-v3.yaml")
    resolved = config.to_dict()
    assert resolved["model"]["preset"] is None
    assert resolved["model"]["config"]["upsample_rates"] == [8, 8, 4]
    assert resolved["mel"] == PRESETS["hifigan-22k"].to_dict()
    data = read_yaml(CONFIGS / "hifigan-v3.yaml")
    data["mel"] = {"preset": "hifigan-22k", "n_mels": 64}
    assert parse_run_config(data).mel.n_mels == 64
    data["mel"] = {"n_mels": 64, "bogus": 1}
    with pytest.raises(ConfigError, match="bogus"):
        parse_run_config(data)


def test_every_config_key_is_commented():
    for path in sorted(CONFIGS.glob("*.yaml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            content = line.split("#", 1)[0]
            if content.strip() and ":" in content and not content.lstrip().startswith("- "):
                assert "#" in line, f"{path.name}:{number}: key without a comment: {line.strip()}"
