"""Cost of each evaluation metric on this machine, per second of audio (and per image / clip for
the networks), so users can size `melwave evaluate` runs. Prints one line per metric.

    python benchmarks/metrics_speed.py [--seconds 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def speechlike(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    pitch = 140 * (1 + 0.08 * np.sin(2 * np.pi * 1.3 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    wave = sum(np.exp(-((k * 140 - 700) / 500) ** 2) * np.sin(k * phase) for k in range(1, 30))
    return (0.4 * wave * np.clip(np.sin(2 * np.pi * 4 * t), 0, None) / np.abs(wave).max()).astype(np.float32)


def timed(fn, repeat: int) -> float:
    fn()  # warm-up: imports, JIT, model loading
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from melwave.metrics import spectral, speech
    from melwave.metrics.embeddings import get_embedding
    from melwave.metrics.fid import inception_features

    rate = 22050
    ref = speechlike(args.seconds, rate)
    out = ref + 0.01 * np.random.default_rng(0).normal(size=len(ref)).astype(np.float32)
    rows = [
        ("align", lambda: speech.align(ref, out, rate)),
        ("pesq (wb)", lambda: speech.pesq_wb(ref, out, rate)),
        ("stoi", lambda: speech.stoi(ref, out, rate)),
        ("mcd", lambda: speech.mel_cepstral_distortion(ref, out, rate)),
        ("mcd (dtw)", lambda: speech.mel_cepstral_distortion(ref, out, rate, dtw=True)),
        ("f0/vuv/periodicity", lambda: speech.pitch_scores(ref, out, rate)),
        ("mr_stft", lambda: spectral.multi_resolution_stft_distance(ref, out)),
        ("mel_l1", lambda: spectral.mel_l1(ref, out)),
    ]
    try:
        aisfx = get_embedding("aisfx")
        wave44 = speechlike(args.seconds, aisfx.sample_rate)
        rows.append(("embedding aisfx", lambda: aisfx.embed(wave44)))
    except Exception as err:  # noqa: BLE001 - optional package
        print(f"aisfx: skipped ({err})")
    for name, fn in rows:
        seconds = timed(fn, args.repeat)
        print(f"{name:22s} {1000 * seconds / args.seconds:8.1f} ms per audio second")
    images = np.zeros((8, 128, 128, 3), np.uint8)
    seconds = timed(lambda: inception_features(images), 1)
    print(f"{'inception (FID)':22s} {1000 * seconds / len(images):8.1f} ms per image")


if __name__ == "__main__":
    main()
