"""Strips generator: one grouped forward pass vs the same 8 generators run one after another,
next to the deep generator, at batch 1 and 64 (CPU, inference, no_grad).

    python benchmarks/strips.py [--threads N] [--repeats R] [--preset strips] [--device cuda]

Prints milliseconds per call and the ratios; the target is batched >= 4× faster than sequential.
All three run in this process on the same machine state, so the ratios are comparable.

What to expect on a CPU: at batch 1 each strip generator is a handful of tiny kernels, so eight
of them in a row pay eight times the per-call overhead and the single grouped pass wins by that
factor. At batch 64 the same arithmetic dominates both ways (the grouped layers do exactly the
eight generators' multiply-adds), so the ratio tends to 1 on one CPU thread.
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


def timed(fn, repeats: int, sync=lambda: None) -> float:
    """Median milliseconds of `repeats` calls after two warm-ups; `sync` waits for queued GPU work."""
    fn()
    fn()
    sync()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - start)
    return 1000 * statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per measurement (median)")
    parser.add_argument("--preset", default="strips", choices=[k for k, v in CONFIGS.items() if v.strips > 1])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]: where the kernels launch per strip matters most")
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
    ok = True
    for batch in (1, 64):
        z = torch.randn(batch, strips_cfg.z_dim, device=device)
        labels = torch.stack([torch.randint(len(c["values"]), (batch,)) for c in CONDITIONS], dim=1).to(device)
        with torch.no_grad():
            same = torch.allclose(batched(z, labels), sequential_strips(pieces, z, labels, strips_cfg.strip_overlap), atol=1e-5)
            t_batched = timed(lambda: batched(z, labels), args.repeats, sync)
            t_sequential = timed(lambda: sequential_strips(pieces, z, labels, strips_cfg.strip_overlap), args.repeats, sync)
            t_deep = timed(lambda: deep(z, labels), args.repeats, sync)
        ratio = t_sequential / t_batched
        ok &= ratio >= 4 and same
        print(f"{batch:>5}  {t_batched:>10.2f}  {t_sequential:>13.2f}  {t_deep:>8.2f}  {ratio:>10.1f}×  {t_deep / t_batched:>11.2f}×"
              f"{'' if same else '  (OUTPUTS DIFFER)'}")
    print(f"\nbatched strips >= 4× faster than sequential at every batch size: {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
