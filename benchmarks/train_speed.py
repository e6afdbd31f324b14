"""Training speed per vocoder family: optimizer steps per second of each recipe's real
train_step (the same code `melwave train vocoder` runs), on synthetic audio batches.

    python benchmarks/train_speed.py                      # every configs/vocoder/*.debug.yaml
    python benchmarks/train_speed.py --full --batch-size 4 --steps 3   # the full-size configs too
    python benchmarks/train_speed.py --config configs/vocoder/vocos.yaml --set train.batch_size=4

Each line says which config (debug or full), the batch and segment size, and the measured rate
after one untimed warm-up step.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from melwave.train.config import load_run_config  # noqa: E402
from melwave.train.recipe import RecipeContext, get_recipe  # noqa: E402
from melwave.train.state import TrainState  # noqa: E402


def synthetic_batch(batch: int, samples: int, rate: int) -> torch.Tensor:
    """Harmonic tones plus noise: spectrally busy enough that losses do real work."""
    t = torch.arange(samples) / rate
    rows = [sum(torch.sin(2 * torch.pi * k * (110 + 37 * i) * t) / k for k in range(1, 6)) for i in range(batch)]
    return 0.2 * torch.stack(rows) + 0.01 * torch.randn(batch, samples)


def measure(path: Path, overrides: list[str], steps: int, device: torch.device) -> dict:
    config = load_run_config(path, [*overrides, f"train.device={device.type}"])
    torch.manual_seed(0)
    recipe = get_recipe(config.recipe.name)(config, RecipeContext(device=device))
    recipe.build()
    batch = synthetic_batch(config.train.batch_size, config.data.segment_samples, config.mel.sample_rate).to(device)
    state = TrainState(step=10**6)  # past any mel-only warm-up: time the full adversarial step
    recipe.train_step(batch, state)  # warm-up (allocations, kernel selection)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        recipe.train_step(batch, state)
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    params = sum(p.numel() for p in recipe.modules["generator"].parameters())
    return {"config": path.stem, "family": config.model.family, "recipe": config.recipe.name,
            "generator_params": params, "batch": config.train.batch_size, "segment": config.data.segment_samples,
            "steps_per_s": steps / elapsed, "s_per_step": elapsed / steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", help="config(s) to time (default: every *.debug.yaml)")
    parser.add_argument("--full", action="store_true", help="also time the full-size configs")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per config")
    parser.add_argument("--batch-size", type=int, help="override train.batch_size")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override KEY=VALUE")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    folder = REPO / "configs" / "vocoder"
    paths = [Path(c) for c in args.config] if args.config else sorted(folder.glob("*.debug.yaml"))
    if args.full and not args.config:
        paths += sorted(p for p in folder.glob("*.yaml") if not p.name.endswith(".debug.yaml"))
    overrides = list(args.overrides) + ([f"train.batch_size={args.batch_size}"] if args.batch_size else [])
    device = torch.device(args.device)
    print(f"training speed on {device} ({torch.get_num_threads()} threads), {args.steps} timed steps each")
    print(f"{'config':36s} {'family':10s} {'recipe':9s} {'G params':>9s} {'batch x samples':>16s} {'steps/s':>8s} {'s/step':>7s}")
    for path in paths:
        row = measure(path, overrides, args.steps, device)
        print(f"{row['config']:36s} {row['family']:10s} {row['recipe']:9s} {row['generator_params'] / 1e6:8.2f}M "
              f"{row['batch']:>6d} x {row['segment']:<7d} {row['steps_per_s']:8.2f} {row['s_per_step']:7.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
