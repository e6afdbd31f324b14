"""Two CPU processes under torchrun (gloo): DDP keeps both ranks' weights identical, ranks
draw different data, and only rank 0 writes the run folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from melwave.train import checkpoint as ckpt

from vocoder_train_helpers import CONFIGS, REPO, make_audio_dir

WORKER = textwrap.dedent('''
    import sys, torch
    import torch.distributed as dist
    from melwave.train.config import load_run_config
    from melwave.train.loop import train
    from melwave.train.recipe import unwrap

    config_path, data, run, dump = sys.argv[1:5]
    config = load_run_config(config_path, ["train.steps=3", "train.checkpoint_every=2", "train.validate_every=2"])
    seen = []

    def on_finish(recipe, state):
        weights = {f"{name}.{key}": value.detach().cpu().clone()
                   for name, module in recipe.modules.items() for key, value in unwrap(module).state_dict().items()}
        torch.save({"weights": weights, "step": state.step, "rank": state.rank, "world": state.world_size,
                    "first_batch": recipe.first_batch}, f"{dump}/rank{state.rank}.pt")

    from melwave.train.recipes.gan_vocoder import GANVocoderRecipe
    original = GANVocoderRecipe.train_step
    def recording(self, batch, state):
        if state.step == 0:
            self.first_batch = batch.detach().cpu().clone()
        return original(self, batch, state)
    GANVocoderRecipe.train_step = recording
    train(config, data, run, on_finish=on_finish)
''')


def torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_two_cpu_ranks_end_with_identical_weights(tmp_path):
    data = make_audio_dir(tmp_path / "audio", bad_file=False)
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    run, dump = tmp_path / "run", tmp_path / "dump"
    dump.mkdir()
    result = torchrun(str(worker), str(CONFIGS / "hifigan-v3.debug.yaml"), str(data), str(run), str(dump))
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(dump / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0["world"] == rank1["world"] == 2 and rank0["step"] == rank1["step"] == 3
    # Different data on each rank (sharded sampler) ...
    assert not torch.equal(rank0["first_batch"], rank1["first_batch"])
    # ... yet identical weights: gradients were averaged, initial weights broadcast.
    assert rank0["weights"].keys() == rank1["weights"].keys()
    for key, value in rank0["weights"].items():
        assert torch.equal(value, rank1["weights"][key]), key
    # The run folder was written once, by rank 0, and holds the same weights.
    saved = ckpt.load_checkpoint(ckpt.list_checkpoints(run)[-1][1])
    assert saved["world_size"] == 2 and len(saved["rng"]) == 2
    for key, value in saved["modules"]["generator"].items():
        assert torch.equal(value, rank0["weights"][f"generator.{key}"]), key
    assert (run / "model.safetensors").exists()


@pytest.mark.slow
def test_the_cli_under_torchrun_trains_and_resumes(tmp_path):
    data = make_audio_dir(tmp_path / "audio")
    run = tmp_path / "run"
    cli = [str(Path(sys.executable).parent / "melwave"), "train", "vocoder"]  # the installed console script
    first = torchrun(*cli, "--config", str(CONFIGS / "hifigan-v3.debug.yaml"), "--data", str(data), "--out", str(run))
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stderr.count("training hifigan") == 1     # only rank 0 logs
    assert "on cpu x2" in first.stderr
    second = torchrun(*cli, "--out", str(run), "--data", str(data), "--resume", "--set", "train.steps=6")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from" in second.stderr
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [4, 6]


def test_python_module_launch_under_torchrun(tmp_path):
    # `torchrun -m melwave ...`: the documented launch form that needs no console-script path.
    data = make_audio_dir(tmp_path / "audio")
    run = tmp_path / "run"
    result = torchrun("-m", "melwave", "train", "vocoder", "--config", str(CONFIGS / "hifigan-v3.debug.yaml"),
                      "--data", str(data), "--out", str(run), "--set", "train.steps=2", "--set", "train.validate_every=0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on cpu x2" in result.stderr and result.stderr.count("training hifigan") == 1
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [2]
