"""Strips generator: one grouped forward pass vs the same 8 generators run one after another,
next to the deep generator, at batch 1 and 64 (inference: eval mode, no_grad).

    python benchmarks/strips.py [--threads N] [--repeats R] [--preset strips] [--device cuda]

Prints milliseconds per call and the ratios. The targets (batch 1): the single pass faster than
the deep model of the same output size, and >= 4× faster than the strips one by one; batch 64 is
reported as it is. All three run in this process on the same machine state, in the form
`generate` uses (eval + no_grad: the folded inference form of `cwgan_fused`, for all three).

What to expect on a CPU: at batch 1 each strip generator is a handful of tiny kernels, so eight
of them in a row pay eight times the per-call overhead and the single grouped pass wins by that
factor; against the deep model it wins only with no more weights to read (the `strips` preset has
the deep model's parameter budget). At batch 64 the arithmetic dominates both ways, so the ratio
to sequential tends to 1 on one CPU thread.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from melwave.audio.config import PRESETS
from melwave.models.generators.cwgan import CONFIGS, CWGANGenerator, sequential_strips, split_strips

CONDITIONS = ({"name": "instrument", "values": ["piano", "guitar", "trumpet", "flute"]},
              {"name": "pitch", "values": ["C3", "G3", "D4", "A4", "E5"]},
              {"name": "velocity", "values": ["soft", "medium", "loud"]})


def timed(fns: dict, repeats: int, sync=lambda: None) -> dict[str, float]:
    """Median milliseconds per call of each function, after two warm-ups each. The calls are
    interleaved (one of each per round), so a change in machine load during the measurement
    falls on all of them alike instead of on whichever ran at the time; `sync` waits for queued
    GPU work."""
    for fn in fns.values():
        fn()
        fn()
    sync()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            samples[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(values) for name, values in samples.items()}


def profile(fn, calls: int = 100) -> str:
    """torch.profiler's operator table (self CPU time, by input shape) over `calls` calls."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch.no_grad():
        fn()
        with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(calls):
                fn()
    return prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--repeats", type=int, default=20, help="timed rounds (one call of each model per round; medians)")
    parser.add_argument("--preset", default="strips", choices=[k for k, v in CONFIGS.items() if v.strips > 1])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]: where the kernels launch per strip matters most")
    parser.add_argument("--profile", action="store_true", help="also print a per-operator profile of each model at batch 1")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    # GPU work is queued: time until it has finished, not until it was launched.
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    mel = PRESETS["hifigan-22k"]
    strips_cfg = dataclasses.replace(CONFIGS[args.preset], conditions=CONDITIONS)
    batched = CWGANGenerator(strips_cfg, mel).eval().to(device)
    pieces = [p.eval().to(device) for p in split_strips(batched)]
    # The deep model at the nearest output length its upsampling allows.
    deep_frames = max(16, round(strips_cfg.frames / 16) * 16)
    deep = CWGANGenerator(dataclasses.replace(CONFIGS["small"], conditions=CONDITIONS, frames=deep_frames), mel).eval().to(device)
    print(f"strips: {strips_cfg.strips} generators of {mel.n_mels}×{strips_cfg.strip_frames} frames, overlap "
          f"{strips_cfg.strip_overlap} -> {mel.n_mels}×{strips_cfg.frames}; "
          f"{sum(p.numel() for p in batched.parameters()) / 1e6:.2f}M parameters in all")
    print(f"deep:   {mel.n_mels}×{deep_frames}, {sum(p.numel() for p in deep.parameters()) / 1e6:.2f}M parameters")
    print(f"device: {device}, threads: {args.threads}, median of {args.repeats} calls\n")
    print(f"{'batch':>5}  {'batched ms':>10}  {'sequential ms':>13}  {'deep ms':>8}  {'seq/batched':>11}  {'deep/batched':>12}")
    verdicts = []
    for batch in (1, 64):
        z = torch.randn(batch, strips_cfg.z_dim, device=device)
        labels = torch.stack([torch.randint(len(c["values"]), (batch,)) for c in CONDITIONS], dim=1).to(device)
        with torch.no_grad():
            same = torch.allclose(batched(z, labels), sequential_strips(pieces, z, labels, strips_cfg.strip_overlap), atol=1e-5)
            times = timed({"batched": lambda: batched(z, labels),
                           "sequential": lambda: sequential_strips(pieces, z, labels, strips_cfg.strip_overlap),
                           "deep": lambda: deep(z, labels)}, args.repeats, sync)
            t_batched, t_sequential, t_deep = times["batched"], times["sequential"], times["deep"]
        ratio = t_sequential / t_batched
        if batch == 1:
            verdicts = [("batch 1: single pass faster than the deep model", t_batched < t_deep and same),
                        ("batch 1: single pass >= 4× faster than the strips one by one", ratio >= 4 and same)]
        print(f"{batch:>5}  {t_batched:>10.2f}  {t_sequential:>13.2f}  {t_deep:>8.2f}  {ratio:>10.1f}×  {t_deep / t_batched:>11.2f}×"
              f"{'' if same else '  (OUTPUTS DIFFER)'}")
    if args.profile:
        z = torch.randn(1, strips_cfg.z_dim, device=device)
        labels = torch.zeros(1, len(CONDITIONS), dtype=torch.long, device=device)
        for name, model in (("strips, single pass", batched), ("deep", deep)):
            print(f"\n{name}, batch 1, 100 calls:\n{profile(lambda: model(z, labels))}")
    print()
    for what, met in verdicts:
        print(f"{what}: {'yes' if met else 'NO'}")


if __name__ == "__main__":
    main()
