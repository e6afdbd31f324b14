"""melwave's fast Griffin-Lim vs librosa.griffinlim: same magnitude, iterations and momentum.

    python benchmarks/griffinlim.py [--seconds 10] [--iterations 32] [--repeats 3] [--threads 1] [--strict]

The magnitude is |STFT| (n_fft 1024, hop 256, centred, zero padded) of 10 s of chirp +
harmonics + noise; both run 32 iterations with momentum 0.99 in this process, best of
`--repeats` interleaved runs. Spectral convergence ‖S − |STFT(y)|‖ / ‖S‖ of both outputs is
measured with one function. Target (issue 2): >= 3x librosa's speed, equal or better convergence.
"""

from __future__ import annotations

import argparse
import time

import librosa
import numpy as np
import torch

from melwave.audio.config import PRESETS
from melwave.audio.phase_retrieval import griffin_lim, spectral_convergence


def signal(sample_rate: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    chirp = 0.3 * np.sin(2 * np.pi * (100 * t + 0.5 * (sample_rate / 2.5 - 100) / seconds * t**2))
    f0 = 220 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    harmonics = sum(0.2 / k * np.sin(k * phase) for k in range(1, 8))
    return (chirp + harmonics + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--iterations", type=int, default=32)
    parser.add_argument("--momentum", type=float, default=0.99)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = PRESETS["hifigan-22k"].replace(padding="center", pad_mode="constant")
    wave = signal(cfg.sample_rate, args.seconds)
    spec = np.abs(librosa.stft(wave, n_fft=cfg.n_fft, hop_length=cfg.hop_length, center=True, pad_mode="constant"))
    magnitude = torch.from_numpy(spec)[None]

    def run_librosa(seed: int = 0) -> np.ndarray:
        return librosa.griffinlim(spec, n_iter=args.iterations, hop_length=cfg.hop_length, n_fft=cfg.n_fft, center=True,
                                  pad_mode="constant", momentum=args.momentum, random_state=seed, length=len(wave))

    def run_ours(init: str = "peaks") -> torch.Tensor:
        with torch.inference_mode():
            return griffin_lim(magnitude, cfg, iterations=args.iterations, momentum=args.momentum, init=init,
                               generator=torch.Generator().manual_seed(0))

    run_librosa(), run_ours()  # warm-up
    t_librosa, t_ours = [], []
    for _ in range(args.repeats):
        elapsed, y_librosa = timed(run_librosa)
        t_librosa.append(elapsed)
        elapsed, y_ours = timed(run_ours)
        t_ours.append(elapsed)
    sc_librosa = [spectral_convergence(torch.from_numpy(run_librosa(seed))[None], magnitude, cfg).item() for seed in range(3)]
    sc_ours = spectral_convergence(y_ours, magnitude, cfg).item()
    sc_ours_random = spectral_convergence(run_ours("random"), magnitude, cfg).item()
    ratio = min(t_librosa) / min(t_ours)
    print(f"Griffin-Lim, {args.seconds:.0f} s of audio, {args.iterations} iterations, momentum {args.momentum}, "
          f"{args.threads} torch thread(s), best of {args.repeats}")
    print(f"  librosa.griffinlim  {min(t_librosa):6.3f} s   spectral convergence {np.mean(sc_librosa):.4f} "
          f"(3 random starts: {', '.join(f'{v:.4f}' for v in sc_librosa)})")
    print(f"  melwave griffin_lim {min(t_ours):6.3f} s   spectral convergence {sc_ours:.4f} "
          f"(peak-phase start; random start: {sc_ours_random:.4f})")
    print(f"  real-time factor: librosa {args.seconds / min(t_librosa):.1f}x, melwave {args.seconds / min(t_ours):.1f}x")
    speed_ok, quality_ok = ratio >= 3, sc_ours <= min(sc_librosa)
    print(f"  speed ratio melwave/librosa: {ratio:.2f}x  (target >= 3x: {'met' if speed_ok else 'MISSED'}); "
          f"convergence {'equal or better' if quality_ok else 'WORSE'} than librosa's best start")
    return 1 if args.strict and not (speed_ok and quality_ok) else 0


if __name__ == "__main__":
    raise SystemExit(main())
