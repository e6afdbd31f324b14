"""Training checkpoints: written atomically, loaded without executing code.

A checkpoint is one `torch.save` file of tensors and primitives only (module/optimizer/scheduler
state dicts, TrainState, RNG states, the resolved config as YAML text), so it loads with
`torch.load(weights_only=True)`. It is written to a temporary file beside its final name,
fsynced, then renamed: a `kill -9` at any moment leaves either the previous checkpoints or the
new complete one, never a partial file under a checkpoint name. The newest K are kept.
"""

from __future__ import annotations

import logging
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from melwave.errors import CheckpointError
from melwave.utils.fileio import atomic_write, torch_load_weights_only
from melwave.utils.headers import check_format

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "melwave-train-checkpoint"
CHECKPOINT_VERSION = 1
_NAME = re.compile(r"^step-(\d{8,})\.pt$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of the complete checkpoints in a run, oldest first (temp files ignored)."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def _fsync_dir(folder: Path) -> None:
    # The rename is only durable once the directory entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(run_dir: str | Path, step: int, payload: dict[str, Any], *, keep: int) -> Path:
    """Write checkpoint `step` atomically, then delete all but the newest `keep`."""
    folder = checkpoint_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    # Only one process writes checkpoints, so temp files present now were left by a killed run.
    for stale in folder.glob(".step-*.tmp.pt"):
        stale.unlink(missing_ok=True)
    path = folder / f"step-{step:08d}.pt"
    document = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    try:
        atomic_write(path, lambda tmp: torch.save(document, tmp), overwrite=True)
    except (OSError, RuntimeError) as err:
        # torch.save reports a full disk as RuntimeError ("file write failed"), plain writes as
        # OSError(ENOSPC). Either way the temp file is gone and older checkpoints are untouched.
        previous = list_checkpoints(run_dir)
        kept = f"; the last good checkpoint is still {previous[-1][1]}" if previous else ""
        raise CheckpointError(f"{path}: could not write checkpoint ({err}){kept}") from None
    _fsync_dir(folder)
    for _, old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with weights_only=True; refuse other formats/versions clearly."""
    path = Path(path)
    document = torch_load_weights_only(path, CheckpointError, map_location)
    check_format(document, source=path, kind="melwave training checkpoint", name=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION,
                 error=CheckpointError)
    return document


def load_latest(run_dir: str | Path, map_location: str | torch.device = "cpu") -> tuple[Path, dict[str, Any]] | None:
    """The newest readable checkpoint of a run (skipping unreadable ones with a warning), or None."""
    for _, path in reversed(list_checkpoints(run_dir)):
        try:
            return path, load_checkpoint(path, map_location)
        except CheckpointError as err:
            log.warning("skipping unreadable checkpoint: %s", err)
    return None


# --- RNG state as tensors and primitives (weights_only-loadable) ----------------------------
def rng_state() -> dict[str, Any]:
    """This process's python, numpy and torch (CPU and CUDA) generator states."""
    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    state = {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    python = state["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["state"].tolist()), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state({
        "bit_generator": "MT19937",
        "state": {"key": numpy["key"].numpy().astype(np.uint32), "pos": numpy["pos"]},
        "has_gauss": numpy["has_gauss"],
        "gauss": numpy["gauss"],
    })
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"].cpu())
