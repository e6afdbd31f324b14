"""--max-time parsing, the stop-signal handler and the loop's time budget with a fake clock."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from testsignals import write_labelled

from melwave.errors import ConfigError
from melwave.train.budget import StopSignals, TrainingInterrupted, parse_duration


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("20m", 1200), ("1h", 3600), ("1h30m", 5400), ("1.5h", 5400),
                                           ("2m30s", 150), (" 45S ", 45)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "20", "m", "-5m", "0s", "0m", "1h90", "30m1h", "1m1m", "1 h", "abc", "5d", "1e3s"])
def test_bad_durations_are_one_line_errors_naming_the_flag(text):
    with pytest.raises(ConfigError) as err:
        parse_duration(text, flag="--max-time")
    message = str(err.value)
    assert message.startswith("--max-time") and "\n" not in message


def test_first_signal_is_recorded_second_aborts_and_handlers_come_back():
    before = signal.getsignal(signal.SIGINT)
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.received == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_exit_codes_follow_the_shell_convention():
    assert TrainingInterrupted(signal.SIGINT).exit_code == 130
    assert TrainingInterrupted(signal.SIGTERM).exit_code == 143
    assert isinstance(TrainingInterrupted(signal.SIGINT), KeyboardInterrupt)  # uncaught, it still ends as an interrupt


class StepClock:
    """A clock that only moves when a training step runs: `seconds_per_step` per step."""

    def __init__(self, seconds_per_step: float):
        self.now, self.seconds_per_step = 0.0, seconds_per_step

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += self.seconds_per_step


@pytest.fixture(scope="module")
def tiny_labelled(tmp_path_factory):
    return write_labelled(tmp_path_factory.mktemp("labelled") / "set")


@pytest.fixture
def flow_debug_config():
    from melwave.train.config import load_run_config

    return load_run_config("configs/generator/flow-small.debug.yaml", ["train.steps=1000", "train.checkpoint_every=1000",
                                                                       "train.validate_every=0", "train.log_every=1000"])


def ticking(monkeypatch, clock: StepClock, on_step=None):
    from melwave.train.recipes.flow_matching import FlowMatchingRecipe

    original = FlowMatchingRecipe.train_step

    def step(self, batch, state):
        clock.tick()
        if on_step is not None:
            on_step(state.step + 1)
        return original(self, batch, state)

    monkeypatch.setattr(FlowMatchingRecipe, "train_step", step)


def test_max_time_stops_after_the_step_that_crosses_it_with_a_checkpoint_and_totals(tiny_labelled, tmp_path,
                                                                                 monkeypatch, flow_debug_config, caplog):
    from melwave.train.checkpoint import list_checkpoints, load_checkpoint
    from melwave.train.loop import train
    from melwave.train.recipes.conditions import prepare_config

    clock = StepClock(10.0)
    ticking(monkeypatch, clock)
    config = prepare_config(flow_debug_config, tiny_labelled)
    run = tmp_path / "run"
    train(config, tiny_labelled, run, max_seconds=35, clock=clock)
    assert [s for s, _ in list_checkpoints(run)] == [4]            # 10, 20, 30 s: go on; 40 s >= 35: stop
    state = load_checkpoint(list_checkpoints(run)[-1][1])["state"]
    assert state["seconds"] == 40 and state["sessions"] == 1
    assert "--max-time 0m35s reached after step 4" in caplog.text

    # A second session of 25 s adds its own steps and time to the totals the checkpoint carries.
    caplog.clear()
    clock.now = 1000.0
    train(config, tiny_labelled, run, resume=True, max_seconds=25, clock=clock)
    state = load_checkpoint(list_checkpoints(run)[-1][1])["state"]
    assert state["step"] == 7 and state["seconds"] == 70 and state["sessions"] == 2
    assert "3 steps in 0m30s this session (steps 5-7); in all 7 steps in 1m10s over 2 sessions" in caplog.text


def test_the_first_step_is_logged_at_once(tiny_labelled, tmp_path, monkeypatch, flow_debug_config, caplog):
    from melwave.train.loop import train
    from melwave.train.recipes.conditions import prepare_config

    clock = StepClock(1.0)
    ticking(monkeypatch, clock)
    config = prepare_config(flow_debug_config, tiny_labelled)
    train(config, tiny_labelled, tmp_path / "run", max_seconds=3, clock=clock)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("step 1/1000 |") for line in lines)     # log_every is 1000
    assert not any(line.startswith("step 2/") for line in lines)
    assert any(line.startswith("decoding ") for line in lines) and any(line.startswith("data ready") for line in lines)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_checkpoints_the_finished_step_and_raises(tiny_labelled, tmp_path, monkeypatch, flow_debug_config, signum):
    from melwave.train.checkpoint import list_checkpoints, load_checkpoint
    from melwave.train.loop import train
    from melwave.train.recipes.conditions import prepare_config

    clock = StepClock(1.0)
    ticking(monkeypatch, clock, on_step=lambda step: step == 3 and os.kill(os.getpid(), signum))
    config = prepare_config(flow_debug_config, tiny_labelled)
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as stop:
        train(config, tiny_labelled, run, clock=clock)
    assert stop.value.exit_code == 128 + signum
    assert [s for s, _ in list_checkpoints(run)] == [3]
    weights = load_checkpoint(list_checkpoints(run)[-1][1])["modules"]["generator"]
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    assert (run / "model.safetensors").exists()


def test_a_second_signal_aborts_without_a_new_checkpoint(tiny_labelled, tmp_path, monkeypatch, flow_debug_config):
    from melwave.train.checkpoint import list_checkpoints
    from melwave.train.loop import train
    from melwave.train.recipes.conditions import prepare_config

    def twice(step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    ticking(monkeypatch, StepClock(1.0), on_step=twice)
    config = prepare_config(flow_debug_config, tiny_labelled)
    with pytest.raises(KeyboardInterrupt) as stop:
        train(config, tiny_labelled, tmp_path / "run")
    assert not isinstance(stop.value, TrainingInterrupted)
    assert list_checkpoints(tmp_path / "run") == []
