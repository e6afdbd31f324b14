"""Batch throughput (seconds of audio per second) of `melwave resynth` with 1 and 2 worker
processes and with cross-file batching, as ratios against 1 process measured in the same run.

    python benchmarks/scale.py [--model hifigan-universal] [--files 24] [--batch-size 8] [--repeats 2] [--threads N]

Each case is the real command in a fresh interpreter on the same generated corpus (harmonic
tones of 0.5-3 s, so batches need padding), interleaved and best of `--repeats`; its time is the
whole command's wall time (start-up and model loading included, as a user pays them). The
baseline is `--jobs 1` with `--threads` torch threads (default: every core, as the command does
by itself); `--jobs 2` gives each worker half of them. Outputs of every case are checked to be
the baseline's within one 16-bit step, so a fast wrong answer cannot pass.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 22050


def corpus(folder: Path, files: int) -> float:
    """`files` harmonic tones of 0.5-3 s under `folder`; returns their total seconds."""
    rng = np.random.default_rng(0)
    total = 0.0
    for index in range(files):
        seconds = float(rng.uniform(0.5, 3.0))
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        f0 = rng.uniform(100, 300) * (1 + 0.03 * np.sin(2 * np.pi * 4 * t))
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        wave = sum(np.sin(k * phase) / k for k in range(1, 10)) * np.minimum(1, 10 * t) * np.minimum(1, 10 * (seconds - t))
        path = folder / f"{index % 4}" / f"clip{index:03d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.25 * wave / np.abs(wave).max()).astype(np.float32), SAMPLE_RATE)
        total += len(t) / SAMPLE_RATE
    return total


def run(model: str, data: Path, out: Path, threads: int, extra: list[str]) -> float:
    """Wall seconds of one `melwave resynth` over the corpus into a fresh `out`."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    command = [sys.executable, "-m", "melwave", "resynth", "-m", model, "-i", str(data), "-o", str(out), "--no-progress",
               "--device", "cpu", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"scale.py: {' '.join(command)} failed:\n{done.stderr}")
    return elapsed


def same_outputs(reference: Path, other: Path) -> float:
    """Largest sample difference between two output trees (every file must be in both)."""
    worst = 0.0
    for path in sorted(reference.rglob("*.wav")):
        a, _ = sf.read(path, dtype="float32")
        b, _ = sf.read(other / path.relative_to(reference), dtype="float32")
        if a.shape != b.shape:
            raise SystemExit(f"scale.py: {path.relative_to(reference)} has {len(a)} samples in one case, {len(b)} in another")
        worst = max(worst, float(np.abs(a - b).max()))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="hifigan-universal")
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    cases = {
        "1 process": ["--jobs", "1"],
        "2 processes": ["--jobs", "2"],
        f"1 process, --batch-size {args.batch_size}": ["--batch-size", str(args.batch_size)],
        f"2 processes, --batch-size {args.batch_size}": ["--jobs", "2", "--batch-size", str(args.batch_size)],
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        audio = corpus(root / "in", args.files)
        best = {name: float("inf") for name in cases}
        for repeat in range(args.repeats):
            for index, (name, extra) in enumerate(cases.items()):
                best[name] = min(best[name], run(args.model, root / "in", root / f"out{repeat}-{index}", args.threads, extra))
        differences = [same_outputs(root / "out0-0", root / f"out0-{i}") for i in range(1, len(cases))]
    baseline = audio / best["1 process"]
    print(f"melwave resynth -m {args.model}: {args.files} files, {audio:.1f} s of audio, {os.cpu_count()} cores, "
          f"baseline {args.threads} torch thread(s), best of {args.repeats}, wall time incl. start-up")
    for name, seconds in best.items():
        throughput = audio / seconds
        print(f"  {name:34s} {seconds:7.2f} s  {throughput:6.2f} s of audio/s  {throughput / baseline:5.2f}x")
    print(f"  outputs vs 1 process: largest sample difference {max(differences):.2e} (one 16-bit step is {1 / 32768:.2e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
