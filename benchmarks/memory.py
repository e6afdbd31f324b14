"""Peak memory (RSS) of vocoding long files in chunks, each case in a fresh subprocess.

    python benchmarks/memory.py                       # Griffin-Lim 10 and 60 min; HiFi-GAN V1 1 and 3 min
    python benchmarks/memory.py --cases hifigan-universal:10 griffinlim:60 analysis:60

Case `VOCODER:MINUTES` vocodes MINUTES of 22.05 kHz mel (a 10 s speech-like mel tiled to length)
with `Vocoder.synthesize(mel, chunk_frames=...)` as the CLI does (10 s chunks by default) and
reports the child's peak RSS from resource.getrusage. `analysis:MINUTES` measures the mel
extractor on MINUTES of audio. Chunked vocoding keeps one chunk's activations alive, so peak RSS
is a constant (interpreter, torch, weights, one chunk) plus the input mel and the output wave,
both linear in length: 60 min = 99 MB of mel + 318 MB of float32 wave. HiFi-GAN V1 runs at
about real time on one loaded core, so its long cases take as long as the audio; the default
measures it at 1 and 3 min and extrapolates with the measured slope.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

SAMPLE_RATE, HOP = 22050, 256


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def child(vocoder_name: str, minutes: float, chunk_seconds: float, threads: int) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    frames = int(minutes * 60 * SAMPLE_RATE / HOP)
    t = np.arange(10 * SAMPLE_RATE) / SAMPLE_RATE
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    voice = sum(np.sin(k * 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE) * np.exp(-((k * f0 - 700) / 900) ** 2) for k in range(1, 30))
    clip = torch.from_numpy((0.1 * voice).astype(np.float32))
    start = time.perf_counter()
    if vocoder_name == "analysis":
        from melwave.audio.config import PRESETS
        from melwave.audio.features import MelExtractor

        baseline = rss_mb()
        wave = clip.repeat(math.ceil(frames * HOP / len(clip)))[: frames * HOP]
        mel = MelExtractor(PRESETS["hifigan-22k"])(wave)
        result = {"input_mb": wave.numel() * 4 / 2**20, "output_mb": mel.numel() * 4 / 2**20}
    else:
        from melwave.models.io.load import load_vocoder

        vocoder = load_vocoder(vocoder_name)
        ten_seconds = vocoder.prepare_melspectrogram(clip)
        baseline = rss_mb()
        mel = ten_seconds.repeat(1, math.ceil(frames / ten_seconds.shape[-1]))[:, :frames].contiguous()
        chunk_frames = math.ceil(chunk_seconds * SAMPLE_RATE / HOP)
        last = [time.perf_counter()]

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            if now - last[0] > 10 or done == total:
                last[0] = now
                rate = done * HOP / SAMPLE_RATE / (now - start)
                eta = (total - done) * HOP / SAMPLE_RATE / max(rate, 1e-9)
                print(f"  [{vocoder_name} {minutes:g} min] {100 * done / total:5.1f}%  {rate:5.1f}x real time  ETA {eta:5.0f} s",
                      file=sys.stderr, flush=True)

        from melwave.models.chunking import synthesize_chunked

        checked = vocoder.check_mel(mel)  # what synthesize does before chunking
        wave = synthesize_chunked(vocoder, checked, chunk_frames=chunk_frames, progress=progress)
        result = {"input_mb": mel.numel() * 4 / 2**20, "output_mb": wave.numel() * 4 / 2**20}
    result.update(peak_mb=rss_mb(), baseline_mb=baseline, seconds=time.perf_counter() - start)
    print(json.dumps(result))


def run_case(case: str, chunk_seconds: float, threads: int) -> dict:
    name, minutes = case.rsplit(":", 1)
    command = [sys.executable, __file__, "--child", name, minutes, str(chunk_seconds), str(threads)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return {"case": name, "minutes": float(minutes), **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["griffinlim:10", "griffinlim:60", "hifigan-universal:1",
                                                       "hifigan-universal:3", "analysis:60"])
    parser.add_argument("--chunk-seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for case in args.cases:
        print(f"running {case} ...", file=sys.stderr, flush=True)
        rows.append(run_case(case, args.chunk_seconds, args.threads))
    print(f"peak RSS, chunks of {args.chunk_seconds:g} s, {args.threads} torch thread(s)")
    print(f"  {'case':20s} {'minutes':>7s} {'peak MB':>8s} {'after load':>10s} {'mel in':>7s} {'wave out':>8s} {'time s':>7s}")
    for row in rows:
        print(f"  {row['case']:20s} {row['minutes']:7g} {row['peak_mb']:8.0f} {row['baseline_mb']:10.0f} "
              f"{row['input_mb']:7.0f} {row['output_mb']:8.0f} {row['seconds']:7.0f}")
    # What grows with length is the input mel and the output wave (the "mel in" and "wave out"
    # columns, linear in minutes); the rest is per-chunk working memory, independent of length.
    # Bound for longer files = the largest measured peak + growth of mel and wave to that length.
    for name in sorted({row["case"] for row in rows}):
        mine = [row for row in rows if row["case"] == name]
        longest = max(mine, key=lambda row: row["minutes"])
        growth = (longest["input_mb"] + longest["output_mb"]) / longest["minutes"]
        peak = max(row["peak_mb"] for row in mine)
        estimates = ", ".join(f"{minutes} min <= {peak + growth * max(0, minutes - longest['minutes']):.0f} MB"
                              for minutes in (10, 60) if minutes > longest["minutes"])
        measured = ", ".join(f"{row['minutes']:g} min {row['peak_mb']:.0f} MB" for row in sorted(mine, key=lambda r: r["minutes"]))
        print(f"  {name}: measured {measured}" + (f"; bound {estimates}" if estimates else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
