"""Which inputs a shard owns: a deterministic split of a batch over processes and machines.

The rule: an input belongs to shard `K` of `N` (K counts from 1) when

    int.from_bytes(sha256(key)[:8], "big") % N == K - 1

where `key` is the input's path relative to the root it was found under (the folder given to
`-i`, the fixed part of a glob, or, for a file named directly or listed in a `.txt`, its own
folder: its name), with `/` separators, in Unicode NFC, encoded as UTF-8 (undecodable bytes of a
file name kept as they are). The absolute path is not part of it, so the same corpus mounted
elsewhere splits the same. An input's shard depends on its key and N only: adding inputs never
moves an existing one. Shards of N are unions of shards of N·J (`Shard.split`), which is how
`--jobs` and torchrun ranks subdivide a shard without breaking the partition.

`resolve_shard` turns `--shard` and the environment into the Shard of this process:
`--shard K/N`, `--shard auto` (torchrun's RANK/WORLD_SIZE or srun's SLURM_PROCID of
SLURM_STEP_NUM_TASKS, times a Slurm array's task, see `from_environment`), and without `--shard`
torchrun's ranks (WORLD_SIZE > 1) split the batch on their own.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Mapping

from melwave.errors import ConfigError

_SPEC = re.compile(r"\s*(-?\d+)\s*/\s*(-?\d+)\s*")


def shard_key(relative: str) -> bytes:
    """The bytes hashed for an input whose path relative to its root is `relative`."""
    text = unicodedata.normalize("NFC", relative.replace(os.sep, "/"))
    # surrogateescape: a Linux file name that is not UTF-8 hashes as its own bytes.
    return text.encode("utf-8", "surrogateescape")


def shard_of(relative: str, count: int) -> int:
    """The 1-based shard of `count` that owns the input with this relative path."""
    digest = hashlib.sha256(shard_key(relative)).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1-based). `source`: where it came from, for the note that says so."""

    index: int = 1
    count: int = 1
    source: str = ""

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ConfigError(f"shard {self.index}/{self.count}: K must be between 1 and N")

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def tag(self) -> str:
        """For file names: `shard-2-of-4`."""
        return f"shard-{self.index}-of-{self.count}"

    @property
    def whole(self) -> bool:
        return self.count == 1

    def owns(self, relative: str) -> bool:
        return shard_of(relative, self.count) == self.index

    def split(self, parts: int) -> tuple["Shard", ...]:
        """This shard as `parts` shards of count·parts whose union is exactly this one: the hash
        modulo count·parts, taken modulo count, is the hash modulo count."""
        if parts < 1:
            raise ConfigError(f"cannot split a shard into {parts} parts")
        return tuple(Shard(self.index + j * self.count, self.count * parts, self.source) for j in range(parts))


def parse_shard(text: str) -> Shard:
    """`--shard K/N` (1 <= K <= N) as a Shard; every malformed value is a one-line ConfigError."""
    match = _SPEC.fullmatch(text)
    if not match:
        raise ConfigError(f"--shard {text!r}: expected K/N (shard K of N, counting from 1, e.g. 1/4) or auto")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ConfigError(f"--shard {text}: the number of shards N must be at least 1")
    if index == 0:
        raise ConfigError(f"--shard {text}: shards count from 1 (1/{count} .. {count}/{count}); for a Slurm array "
                          f"numbered from 0 use --shard auto, or --array=1-{count}")
    if not 1 <= index <= count:
        raise ConfigError(f"--shard {text}: K must be between 1 and N ({count})")
    return Shard(index, count, "--shard")


def _integer(env: Mapping[str, str], name: str) -> int:
    value = env.get(name, "")
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r}: expected an integer") from None


def _split(env: Mapping[str, str], rank_name: str, size_name: str) -> tuple[int, int]:
    """(0-based rank, size) from two environment variables, checked."""
    rank, size = _integer(env, rank_name), _integer(env, size_name)
    if size < 1 or not 0 <= rank < size:
        raise ConfigError(f"environment {rank_name}={rank}, {size_name}={size}: expected 0 <= {rank_name} < {size_name}")
    return rank, size


def torchrun_rank(env: Mapping[str, str]) -> tuple[int, int] | None:
    """(RANK, WORLD_SIZE) when torchrun started several copies of this command, else None."""
    if "WORLD_SIZE" not in env or _integer(env, "WORLD_SIZE") <= 1:
        return None
    return _split(env, "RANK", "WORLD_SIZE")


def _process_rank(env: Mapping[str, str]) -> tuple[tuple[int, int], str] | None:
    """This process among the copies of one launch: torchrun's, else srun's."""
    if (rank := torchrun_rank(env)) is not None:
        return rank, "torchrun RANK/WORLD_SIZE"
    # srun sets SLURM_STEP_NUM_TASKS in each task it starts. SLURM_NTASKS alone is no evidence of
    # copies: the batch script itself sees the job's --ntasks while running as one process, and
    # would take 1/ntasks of the batch and leave the rest undone.
    if "SLURM_STEP_NUM_TASKS" in env and "SLURM_PROCID" in env and _integer(env, "SLURM_STEP_NUM_TASKS") > 1:
        return _split(env, "SLURM_PROCID", "SLURM_STEP_NUM_TASKS"), "srun SLURM_PROCID/SLURM_STEP_NUM_TASKS"
    return None


def _array_task(env: Mapping[str, str]) -> tuple[tuple[int, int], str] | None:
    """This Slurm array task as (0-based position, task count), whatever the first id is."""
    if "SLURM_ARRAY_TASK_ID" not in env:
        return None
    task, count = _integer(env, "SLURM_ARRAY_TASK_ID"), _integer(env, "SLURM_ARRAY_TASK_COUNT")
    first = _integer(env, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in env else task
    last = _integer(env, "SLURM_ARRAY_TASK_MAX") if "SLURM_ARRAY_TASK_MAX" in env else first + count - 1
    # With a step or gaps (--array=0-15:4, --array=1,3,9) the ids do not number the shards.
    if last - first + 1 != count or not first <= task <= last:
        raise ConfigError(f"Slurm array task {task} of ids {first}..{last} with {count} tasks: --shard auto needs "
                          f"consecutive ids (--array=1-N or 0-(N-1)); otherwise give --shard K/N")
    return (task - first, count), "Slurm SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT"


def from_environment(env: Mapping[str, str]) -> Shard:
    """`--shard auto`: the array task's share (Slurm array ids from their first id, so
    `--array=0-3` and `--array=1-4` both give shards 1/4 .. 4/4), split again among the copies of
    one launch (torchrun ranks, or srun tasks). 1/1 when neither is in the environment."""
    array, process = _array_task(env), _process_rank(env)
    (a, a_count), a_source = array or ((0, 1), "")
    (p, p_count), p_source = process or ((0, 1), "")
    source = " x ".join(s for s in (a_source, p_source) if s) or "no launcher variables in the environment"
    return Shard(a * p_count + p + 1, a_count * p_count, source)


def resolve_shard(option: str | None, env: Mapping[str, str] | None = None) -> tuple[Shard, list[str]]:
    """(this process's shard, notes to print) for `--shard OPTION` (None: not given).

    Under torchrun (WORLD_SIZE > 1) every rank runs the same command line, so the shard asked for
    (or the whole batch, without --shard) is split by rank: the ranks never do the same input twice.
    """
    env = os.environ if env is None else env
    if option is not None and option.strip() == "auto":
        shard = from_environment(env)
        return shard, [f"--shard auto: shard {shard.label} ({shard.source})"]
    shard = parse_shard(option) if option is not None else Shard()
    rank = torchrun_rank(env)
    if rank is None:
        return shard, []
    part = shard.split(rank[1])[rank[0]]
    what = f"shard {shard.label}" if option is not None else "the batch"
    return part, [f"torchrun rank {rank[0]} of {rank[1]}: running shard {part.label} ({what} split by RANK/WORLD_SIZE)"]
