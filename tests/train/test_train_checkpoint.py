"""Checkpoints: atomic, pruned, weights_only-loadable, RNG restored exactly."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

from melwave.errors import CheckpointError
from melwave.train import checkpoint as ckpt


def test_save_keeps_newest_and_loads_weights_only(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    (tmp_path / "checkpoints").mkdir()
    stale = tmp_path / "checkpoints" / ".step-00000001.pt.abc123.tmp.pt"  # what a kill -9 mid-write leaves
    stale.write_bytes(b"partial")
    for step in (2, 4, 6):
        ckpt.save_checkpoint(tmp_path, step, {"modules": {"m": model.state_dict()}, "optimizers": {"m": opt.state_dict()},
                                              "rng": [ckpt.rng_state()]}, keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [4, 6]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]  # no temp files left
    path, document = ckpt.load_latest(tmp_path)
    assert path.name == "step-00000006.pt"
    assert torch.equal(document["modules"]["m"]["weight"], model.weight)
    torch.load(path, weights_only=True)  # plain data only


def test_rng_state_round_trip():
    state = ckpt.rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.random(), np.random.rand(), torch.rand(3)
    ckpt.set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_unsafe_or_foreign_files_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    with open(folder / "step-00000009.pt", "wb") as handle:
        pickle.dump({"x": Evil()}, handle)
    with pytest.raises(CheckpointError, match="weights-only"):
        ckpt.load_checkpoint(folder / "step-00000009.pt")
    torch.save({"format": "other"}, folder / "step-00000010.pt")
    with pytest.raises(CheckpointError, match="not a melwave training checkpoint"):
        ckpt.load_checkpoint(folder / "step-00000010.pt")
    assert ckpt.load_latest(tmp_path) is None  # both skipped with warnings
