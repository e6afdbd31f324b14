"""`--jobs N`: one process's share of a batch run by N worker processes on this machine.

Worker j runs the pairs of sub-shard j (`Shard.split(N)`: the same hash rule, so the workers
partition the shard exactly) with `max(1, cores // N)` torch threads, and sends each FileResult
to the parent as it finishes; the parent prints the per-file lines, writes the manifest, keeps
the progress bar and prints one summary. Workers are started with `spawn`: a forked copy of a
process that has initialised OpenMP or CUDA can hang.

Ctrl-C reaches every worker of the terminal's process group; the parent also sends SIGINT to
each (for a signal sent to the parent alone), waits for them, and then raises KeyboardInterrupt.
A worker stops at once: the output being written is a temporary file beside its final name,
renamed into place only when complete (`melwave.utils.fileio.atomic_path`) and removed on
interruption, so no output is ever half-written. A worker that dies (killed, out of memory)
fails the files it had not finished, each on its own line.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from tqdm import tqdm

from melwave.cli.batch import echo
from melwave.errors import MelwaveError
from melwave.inference.runner import BatchReport, FileResult, Jobs, run_batch
from melwave.inference.sharding import Shard, shard_of

# Seconds a worker has to stop after SIGINT before it is killed.
STOP_SECONDS = 10.0


def cores() -> int:
    """CPUs this process may run on (its affinity: what Slurm or taskset granted), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclass(frozen=True)
class WorkerTask:
    """Everything a worker needs, pickled to it. `build(device) -> Jobs` loads the model there."""

    index: int
    jobs: int
    pairs: tuple[tuple[Path, Path], ...]
    threads: int
    device: str
    build: Callable[[str], Jobs]
    skip_existing: bool
    overwrite: bool


def _interrupt(signum, frame):
    """The first SIGINT or SIGTERM stops the worker; later ones (the parent relays Ctrl-C) are
    ignored, so they cannot interrupt the `finally` that removes a temporary output."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _worker(task: WorkerTask, messages) -> None:
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        import torch

        torch.set_num_threads(task.threads)
        jobs = task.build(task.device)
        messages.put(("notes", task.index, jobs.notes))
        run_batch(task.pairs, jobs.job, skip_existing=task.skip_existing, overwrite=task.overwrite, progress=False,
                  on_result=lambda result: messages.put(("result", task.index, result)),
                  group_job=jobs.group_job, group_size=jobs.group_size)
        messages.put(("done", task.index, None))
    except KeyboardInterrupt:
        sys.exit(130)
    except MelwaveError as err:
        messages.put(("error", task.index, str(err)))
    except Exception as err:  # noqa: BLE001 - reported by the parent in one line
        messages.put(("error", task.index, f"internal error in worker {task.index + 1}: {type(err).__name__}: {err}"))


def assign(keys: Sequence[str], shard: Shard, jobs: int) -> list[int]:
    """The 0-based worker of each key: the index of its sub-shard among `shard.split(jobs)`."""
    return [(shard_of(key, shard.count * jobs) - shard.index) // shard.count for key in keys]


def _stop(processes) -> None:
    processes = [p for p in processes if p.pid is not None]  # started ones
    for process in processes:
        if process.is_alive():
            try:
                os.kill(process.pid, signal.SIGINT)
            except OSError:
                pass
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():  # stuck (it ignores signals after the first): a temporary file may remain, no output
            process.kill()
            process.join()


class _Parent:
    """The parent's side: every message from the workers goes through `handle`."""

    def __init__(self, tasks: Sequence[WorkerTask], bar, on_result):
        self.tasks = {task.index: task for task in tasks}
        self.running = set(self.tasks)
        self.finished: dict[int, set[tuple[Path, Path]]] = {index: set() for index in self.tasks}
        self.report, self.bar, self.on_result = BatchReport(), bar, on_result
        self.shown: set[str] = set()

    def record(self, result: FileResult) -> None:
        self.report.add(result)
        echo(result)
        if self.on_result is not None:
            self.on_result(result)
        self.bar.update(1)

    def handle(self, kind: str, index: int, payload) -> None:
        if kind == "result":
            self.record(payload)
            self.finished[index].add((payload.source, payload.target))
        elif kind == "notes":
            for note in payload:
                if note not in self.shown:  # every worker builds the same jobs: say it once
                    self.shown.add(note)
                    print(f"melwave: note: {note}", file=sys.stderr)
        elif kind == "done":
            self.running.discard(index)
        elif kind == "error":
            raise MelwaveError(payload)

    def lost(self, index: int, exitcode: int | None) -> None:
        """A worker that exited without saying it was done: its unfinished files failed."""
        task = self.tasks[index]
        how = f"killed by signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit code {exitcode}"
        for source, target in task.pairs:
            if (source, target) not in self.finished[index]:
                self.record(FileResult(source, target, "failed", f"worker {index + 1} of {task.jobs} stopped ({how}) "
                                       "before finishing this file"))
        self.running.discard(index)


def run_parallel(pairs: Sequence[tuple[Path, Path]], keys: Sequence[str], *, shard: Shard, jobs: int,
                 build: Callable[[str], Jobs], device_for: Callable[[int], str], skip_existing: bool, overwrite: bool,
                 desc: str, progress: bool | None, on_result: Callable[[FileResult], None] | None = None) -> BatchReport:
    """Run `pairs` (whose shard keys are `keys`) in `jobs` worker processes; one merged report.

    `build(device)` makes each worker's Jobs (picklable: a module-level function or a partial of
    one); `device_for(j)` is worker j's device. Raises MelwaveError when a worker cannot start its
    jobs (the same error in every worker: the model cannot load), after stopping the others.
    """
    owner = assign(keys, shard, jobs)
    threads = max(1, cores() // jobs)
    tasks = [WorkerTask(j, jobs, share, threads, device_for(j), build, skip_existing, overwrite)
             for j in range(jobs) if (share := tuple(p for p, o in zip(pairs, owner) if o == j))]
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    processes = {task.index: context.Process(target=_worker, args=(task, messages), daemon=True) for task in tasks}
    start = time.perf_counter()
    bar = tqdm(total=len(pairs), desc=desc, unit="file", disable=not (sys.stderr.isatty() if progress is None else progress),
               file=sys.stderr)
    parent = _Parent(tasks, bar, on_result)
    try:
        for process in processes.values():
            process.start()
        while parent.running:
            try:
                parent.handle(*messages.get(timeout=0.5))
                continue
            except queue.Empty:
                pass
            for index in [i for i in parent.running if not processes[i].is_alive()]:
                # What it sent just before exiting may still be in the queue.
                while True:
                    try:
                        parent.handle(*messages.get(timeout=0.2))
                    except queue.Empty:
                        break
                if index in parent.running:
                    parent.lost(index, processes[index].exitcode)
    except BaseException:  # Ctrl-C, or a worker that could not start: stop them all
        _stop(processes.values())
        raise
    finally:
        bar.close()
    for process in processes.values():
        process.join()
    parent.report.seconds = time.perf_counter() - start
    return parent.report
