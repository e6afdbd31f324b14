"""`melwave train generator --data DIR` without --config: the family's CPU default fitted to the data
(clip length, conditions, nothing held out), flags that never silently lose to a config, and the
exit codes of a stopped run."""

from __future__ import annotations

import os
import signal

import pytest
import yaml
from testsignals import write_labelled

from melwave.cli import main
from melwave.models.io.model_file import load_model
from melwave.train.checkpoint import list_checkpoints
from melwave.train.config import UNTIL_DEADLINE, load_run_config, parse_run_config
from melwave.train.generator_defaults import DEFAULTS

SECONDS = (0.30, 0.35, 0.40)   # per take; median 0.35 s = 30.1 frames at hop 256


@pytest.fixture(scope="module")
def speech_like(tmp_path_factory):
    """word=W/voice=V/take.wav: 2 words × 2 voices × 3 takes of different lengths."""
    return write_labelled(tmp_path_factory.mktemp("own") / "sounds", SECONDS)


FAST = ["--set", "train.batch_size=4", "--set", "train.validate_every=0"]


def stored(run):
    return yaml.safe_load((run / "config.yaml").read_text())


def test_flow_family_is_fitted_to_the_data(speech_like, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "generator", "--data", str(speech_like), "--out", str(run), "--family", "flow", "--steps", "1",
                 *FAST]) == 0
    config = stored(run)
    assert config["model"]["family"] == "flow" and config["model"]["config"]["frames"] == 30
    assert config["model"]["config"]["conditions"] == [{"name": "word", "values": ["go", "stop"]},
                                                       {"name": "voice", "values": ["high", "low"]}]
    assert config["recipe"]["data"]["holdout"]["fraction"] == 0 and not config["recipe"]["data"]["holdout"]["combinations"]
    model = load_model(run)
    assert model.frames == 30 and model.has_range and not model.held_out


def test_the_default_family_is_the_cwgan_and_rounds_to_its_frame_multiple(speech_like, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "generator", "--data", str(speech_like), "--out", str(run),
                 "--steps", "1", *FAST, "--set", "recipe.n_critic=2"]) == 0
    config = stored(run)
    assert config["model"]["family"] == "cwgan" and config["model"]["config"]["output"] == "tanh"
    assert config["recipe"]["n_critic"] == 2 and config["recipe"]["critic_learning_rate"] == 0.0008
    assert config["model"]["config"]["frames"] == 32          # 30.1 frames -> the nearest multiple of 16
    assert load_model(run).has_range


def test_explicit_settings_win_over_the_data(speech_like, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "generator", "--data", str(speech_like), "--out", str(run), "--family", "flow", "--steps", "1",
                 *FAST, "--set", "model.config.frames=12", "--held-out", "word,voice:0.25"]) == 0
    config = stored(run)
    assert config["model"]["config"]["frames"] == 12
    assert config["recipe"]["data"]["holdout"]["conditions"] == ["word", "voice"]
    assert len(config["model"]["config"]["held_out"]) == 1      # a quarter of the 4 (word, voice) pairs
    assert len(load_model(run).held_out) == 1


def test_held_out_from_a_csv(speech_like, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("word,voice\nstop,high\n")
    run = tmp_path / "run"
    assert main(["train", "generator", "--data", str(speech_like), "--out", str(run), "--steps", "1", *FAST,
                 "--held-out", str(pairs)]) == 0
    assert load_model(run).held_out == ({"word": "stop", "voice": "high"},)


def test_max_time_alone_trains_until_the_deadline(speech_like, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "generator", "--data", str(speech_like), "--out", str(run), "--max-time", "1s", *FAST]) == 0
    assert stored(run)["train"]["steps"] == UNTIL_DEADLINE
    assert len(list_checkpoints(run)) == 1


@pytest.mark.parametrize("extra, message", [
    (["--steps", "3", "--set", "train.steps=5"], "--steps and --set train.steps"),
    (["--held-out", "word,voice", "--set", "recipe.data.holdout=null"], "--held-out and --set recipe.data.holdout"),
    (["--max-time", "20"], "--max-time '20': expected a duration"),
    (["--held-out", "word,voice:2"], "--held-out 'word,voice:2': the fraction"),
    (["--held-out", "word,accent"], "'accent' is not a condition of the data"),
    (["--steps", "0"], "--steps 0"),
])
def test_conflicting_or_bad_flags_are_one_line_errors(speech_like, tmp_path, capsys, extra, message):
    assert main(["train", "generator", "--data", str(speech_like), "--out", str(tmp_path / "r"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_family_must_match_an_explicit_config(speech_like, tmp_path, capsys):
    assert main(["train", "generator", "--config", "configs/generator/flow-small.debug.yaml", "--family", "cwgan",
                 "--data", str(speech_like), "--out", str(tmp_path / "r")]) == 2
    assert "--family cwgan" in capsys.readouterr().err


def test_a_notes_config_on_other_data_names_the_fix(speech_like, tmp_path, capsys):
    assert main(["train", "generator", "--config", "configs/generator/flow-small.yaml", "--data", str(speech_like),
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "'instrument' is not a condition of the data" in err and "--set recipe.data.holdout=null" in err
    assert "--held-out word,voice" in err


def test_explicit_config_keeps_its_settings_and_takes_the_flags(speech_like, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "generator", "--config", "configs/generator/flow-small.debug.yaml", "--data", str(speech_like),
                 "--out", str(run), "--steps", "2", "--max-time", "1h"]) == 0
    config = stored(run)
    assert config["train"]["steps"] == 2 and config["model"]["config"]["frames"] == 16   # the config's length, not the data's


def test_resume_without_config_uses_the_runs_and_reports_totals(speech_like, tmp_path, caplog):
    run = tmp_path / "run"
    assert main(["train", "generator", "--data", str(speech_like), "--out", str(run), "--steps", "1", *FAST]) == 0
    caplog.clear()
    assert main(["train", "generator", "--data", str(speech_like), "--out", str(run), "--resume", "--steps", "2"]) == 0
    assert [s for s, _ in list_checkpoints(run)] == [1, 2]
    assert "in all 2 steps in" in caplog.text and "over 2 sessions" in caplog.text


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_and_exits_with_the_shells_code(speech_like, tmp_path, monkeypatch, signum, code):
    from melwave.train.recipes.flow_matching import FlowMatchingRecipe

    original = FlowMatchingRecipe.train_step

    def step(self, batch, state):
        if state.step == 1:
            os.kill(os.getpid(), signum)
        return original(self, batch, state)

    monkeypatch.setattr(FlowMatchingRecipe, "train_step", step)
    run = tmp_path / "run"
    assert main(["train", "generator", "--data", str(speech_like), "--out", str(run), "--family", "flow", *FAST,
                 "--set", "model.preset=debug"]) == code
    assert [s for s, _ in list_checkpoints(run)] == [2]


@pytest.mark.parametrize("family", sorted(DEFAULTS))
def test_the_defaults_are_the_shipped_cpu_configs(family):
    """configs/generator/<family>-cpu.yaml is what `--family` trains without --config (the data fill
    in frames and conditions)."""
    from melwave.train.generator_defaults import default_document

    from_file = load_run_config(f"configs/generator/{family}-cpu.yaml")
    assert from_file.to_dict() == parse_run_config(default_document(family)).to_dict()
