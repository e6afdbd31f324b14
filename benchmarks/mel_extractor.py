"""melwave's MelExtractor vs librosa.feature.melspectrogram on the same settings and audio.

    python benchmarks/mel_extractor.py [--seconds 10] [--repeats 5] [--threads 1] [--strict]

Both run in this process on the same 10 s signal; each timing is the best of `--repeats`
(interleaved, so machine load hits both alike). Target (issue 2): ratio >= 1x.
"""

from __future__ import annotations

import argparse
import time

import librosa
import numpy as np
import torch

from melwave.audio.config import PRESETS
from melwave.audio.features import MelExtractor


def signal(sample_rate: int, seconds: float) -> np.ndarray:
    """Chirp + harmonics + noise, the same kind of signal the tests use."""
    rng = np.random.default_rng(0)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    chirp = 0.3 * np.sin(2 * np.pi * (100 * t + 0.5 * (sample_rate / 2.5 - 100) / seconds * t**2))
    phase = 2 * np.pi * 220 * t
    harmonics = sum(0.2 / k * np.sin(k * phase) for k in range(1, 8))
    return (chirp + harmonics + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def librosa_mel(wave: np.ndarray, cfg) -> np.ndarray:
    pad = (cfg.n_fft - cfg.hop_length) // 2
    mel = librosa.feature.melspectrogram(
        y=np.pad(wave, pad, mode="reflect"), sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
        win_length=cfg.win_length, center=False, power=cfg.power, n_mels=cfg.n_mels, fmin=cfg.fmin,
        fmax=cfg.resolved_fmax, htk=False, norm="slaney")
    return np.log(np.maximum(mel, cfg.log_clamp))


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target ratio is missed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = PRESETS["hifigan-22k"]
    wave = signal(cfg.sample_rate, args.seconds)
    extractor = MelExtractor(cfg)
    tensor = torch.from_numpy(wave)

    def ours() -> np.ndarray:
        with torch.inference_mode():
            return extractor(tensor).numpy()

    ref = librosa_mel(wave, cfg)  # warm-up (librosa caches filterbanks, numba compiles)
    got = ours()
    error = float(np.abs(ref - got).max())
    t_librosa, t_ours = [], []
    for _ in range(args.repeats):  # interleave so load spikes hit both
        t_librosa.append(best_of(lambda: librosa_mel(wave, cfg), 1))
        t_ours.append(best_of(ours, 1))
    ratio = min(t_librosa) / min(t_ours)
    print(f"mel extractor, hifigan-22k, {args.seconds:.0f} s of audio, {args.threads} torch thread(s), best of {args.repeats}")
    print(f"  librosa  {min(t_librosa) * 1e3:8.1f} ms")
    print(f"  melwave  {min(t_ours) * 1e3:8.1f} ms   (max |log-mel difference| {error:.1e})")
    print(f"  speed ratio melwave/librosa: {ratio:.2f}x  (target >= 1x: {'met' if ratio >= 1 else 'MISSED'})")
    return 1 if args.strict and ratio < 1 else 0


if __name__ == "__main__":
    raise SystemExit(main())
