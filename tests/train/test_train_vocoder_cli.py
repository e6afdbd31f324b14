"""End to end from the real CLI: train, resume, export; kill -9 resume; NaN stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import melwave
from melwave.cli import main
from melwave.train import checkpoint as ckpt
from melwave.train.config import load_run_config
from melwave.train.loop import TrainingDiverged, train

from vocoder_train_helpers import CONFIGS, REPO, make_audio_dir

HIFIGAN_DEBUG = str(CONFIGS / "hifigan-v3.debug.yaml")


def cli(*args: str) -> int:
    return main(["train", "vocoder", *args])


def test_train_resume_and_load(audio_dir, tmp_path, caplog):
    run = tmp_path / "run"
    assert cli("--config", HIFIGAN_DEBUG, "--data", str(audio_dir), "--out", str(run)) == 0
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [2, 4]
    assert "broken.wav" in caplog.text and "steps/s" in caplog.text and "ETA" in caplog.text
    assert "validation at step 2: mel_l1=" in caplog.text
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"audio": 0, "images": 0}).Reload()
    tags = events.Tags()
    assert {"train/g_loss", "train/mel_l1", "train/steps_per_second", "val/mel_l1", "val/mrstft"} <= set(tags["scalars"])
    assert "val/sample_0/generated" in tags["audio"] and "val/sample_0/real" in tags["audio"]
    assert "val/sample_0/mel_real_top_generated_bottom" in tags["images"]
    vocoder = melwave.load_vocoder(run)
    assert vocoder.family == "hifigan" and vocoder.config.upsample_initial_channel == 16
    wave = vocoder.synthesize(torch.zeros(80, 6))
    assert wave.shape == (6 * 256,)
    # A second run into the same folder without --resume is refused; --resume continues.
    assert cli("--config", HIFIGAN_DEBUG, "--data", str(audio_dir), "--out", str(run)) == 2
    assert cli("--data", str(audio_dir), "--out", str(run), "--resume", "--set", "train.steps=6") == 0
    assert "resumed from" in caplog.text and [s for s, _ in ckpt.list_checkpoints(run)] == [4, 6]
    # Changing the model on resume is refused, naming the section.
    code = cli("--config", HIFIGAN_DEBUG, "--data", str(audio_dir), "--out", str(run), "--resume",
               "--set", "model.config.upsample_initial_channel=32")
    assert code == 2


def _launch(run: Path, data: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", "import sys; from melwave.cli import main; sys.exit(main())",
                             "train", "vocoder", "--config", HIFIGAN_DEBUG, "--data", str(data), "--out", str(run),
                             "--set", "train.validate_every=0", "--set", "train.checkpoint_every=2", *extra],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _kill_after_checkpoint(run: Path, data: Path, step: int) -> int:
    """Start a long CLI run in a subprocess, SIGKILL it once checkpoint `step` exists; returns
    the newest complete checkpoint's step. The wait is bounded by work, not time: the run stops on
    its own after 400 steps, and a run that ends before checkpoint `step` fails the test."""
    process = _launch(run, data, "--set", "train.steps=400")
    while not [s for s, _ in ckpt.list_checkpoints(run) if s >= step]:
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    last = ckpt.list_checkpoints(run)[-1][0]
    assert step <= last < 400
    return last


def _assert_same_training_state(run_a: Path, run_b: Path, step: int) -> None:
    a = ckpt.load_checkpoint(ckpt.list_checkpoints(run_a)[-1][1])
    b = ckpt.load_checkpoint(ckpt.list_checkpoints(run_b)[-1][1])
    assert a["state"]["step"] == b["state"]["step"] == step
    assert a["state"]["data_position"] == step
    for group in ("generator", "discriminator"):
        for key, value in b["modules"][group].items():
            assert torch.equal(a["modules"][group][key], value), (group, key)
    exported_a, exported_b = load_file(run_a / "model.safetensors"), load_file(run_b / "model.safetensors")
    assert all(torch.equal(exported_a[k], exported_b[k]) for k in exported_b)


@pytest.fixture
def one_thread():
    # Bitwise comparisons between processes need the same intra-op thread count everywhere.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_resume_after_sigkill_continues_exactly(tmp_path, one_thread):
    """kill -9 a real CLI process mid-run; --resume continues from its last checkpoint and ends
    bit-identical to a run that was never interrupted (weights, optimizers' effect, data order)."""
    data = make_audio_dir(tmp_path / "audio", bad_file=False)
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    last = _kill_after_checkpoint(killed, data, 2)
    total = last + 3  # past the last checkpoint, ending off the checkpoint grid
    common = ["--data", str(data), "--set", "train.validate_every=0", "--set", "train.checkpoint_every=2",
              "--set", f"train.steps={total}"]
    assert cli("--out", str(killed), "--resume", *common) == 0
    assert cli("--config", HIFIGAN_DEBUG, "--out", str(reference), *common) == 0
    _assert_same_training_state(killed, reference, total)


@pytest.mark.slow
def test_resume_after_sigkill_all_subprocesses(audio_dir, tmp_path):
    """The same with every run a separate CLI process (and the default thread settings)."""
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    last = _kill_after_checkpoint(killed, audio_dir, 4)
    total = last + 3
    resumed = _launch(killed, audio_dir, "--resume", "--set", f"train.steps={total}")
    straight = _launch(reference, audio_dir, "--set", f"train.steps={total}")
    for proc in (resumed, straight):
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    _assert_same_training_state(killed, reference, total)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(audio_dir, tmp_path, monkeypatch):
    from melwave.train.recipes.gan_vocoder import GANVocoderRecipe

    original = GANVocoderRecipe.train_step

    def poisoned(self, batch, state):
        metrics = original(self, batch, state)
        if state.step == 2:  # the third step
            metrics["g_loss"] = float("nan")
        return metrics

    monkeypatch.setattr(GANVocoderRecipe, "train_step", poisoned)
    run = tmp_path / "run"
    config = load_run_config(HIFIGAN_DEBUG, ["train.steps=6"])
    with pytest.raises(TrainingDiverged, match=r"step 3: non-finite g_loss.*step-00000002\.pt"):
        train(config, audio_dir, run)
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [2]
    from melwave.models.io.model_file import read_header

    assert read_header(run / "model.safetensors")["trained_steps"] == 2
