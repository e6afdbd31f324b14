"""A full disk while a checkpoint is written leaves the previous checkpoint intact and loadable."""

from __future__ import annotations

import errno

import pytest
import torch

from melwave.errors import CheckpointError
from melwave.train import checkpoint as ckpt


def test_disk_full_keeps_previous_checkpoint(tmp_path, monkeypatch):
    good = {"weights": torch.arange(6.0)}
    ckpt.save_checkpoint(tmp_path, 100, good, keep=3)
    real_save = torch.save

    def save_then_fill_disk(obj, target, *args, **kwargs):
        real_save(obj, target, *args, **kwargs)
        with open(target, "r+b") as handle:  # half the file made it to disk...
            handle.truncate(handle.seek(0, 2) // 2)
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then the disk was full

    monkeypatch.setattr(ckpt.torch, "save", save_then_fill_disk)
    with pytest.raises(CheckpointError, match="No space left on device.*last good checkpoint is still .*step-00000100.pt"):
        ckpt.save_checkpoint(tmp_path, 200, {"weights": torch.zeros(6)}, keep=3)
    monkeypatch.setattr(ckpt.torch, "save", real_save)

    files = sorted(p.name for p in ckpt.checkpoint_dir(tmp_path).iterdir())
    assert files == ["step-00000100.pt"]  # no half-written step 200, no temp file left behind
    path, document = ckpt.load_latest(tmp_path)
    assert path.name == "step-00000100.pt"
    assert torch.equal(document["weights"], good["weights"])
