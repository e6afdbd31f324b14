"""Distributed data parallel set-up: the same command alone or under `torchrun`.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; when WORLD_SIZE > 1
we join the process group (NCCL on GPUs, gloo on CPU), each rank takes its own GPU, modules are
wrapped in DistributedDataParallel (which broadcasts rank 0's initial weights and averages
gradients), and only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from melwave.errors import ConfigError


@dataclass(frozen=True)
class DistributedInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("train.device=cuda but no CUDA GPU is available (use auto or cpu)")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(preference: str = "auto") -> DistributedInfo:
    """Join the torchrun process group if launched by torchrun with >1 process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(preference, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size)
    return DistributedInfo(rank, world_size, local_rank, device)


def wrap_module(module: nn.Module, info: DistributedInfo) -> nn.Module:
    """DistributedDataParallel around `module` when distributed, else `module` itself."""
    if not info.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def any_true(flag: bool, info: DistributedInfo) -> bool:
    """True on every rank if `flag` is true on any rank (keeps ranks agreeing to stop)."""
    if not info.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def gather_objects(obj: Any, info: DistributedInfo) -> list[Any]:
    """[obj of rank 0, obj of rank 1, ...] on every rank."""
    if not info.enabled:
        return [obj]
    gathered: list[Any] = [None] * info.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier(info: DistributedInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistributedInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
