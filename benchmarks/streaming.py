"""Streaming inference (`vocoder.stream()`) of every shipped vocoder vs its offline run, same process.

    python benchmarks/streaming.py [--seconds 2] [--chunks 1 4 16] [--repeats 3] [--threads 1] [--models NAME ...]
                                   [--speech FILE ...]

The utterance is the first `--seconds` of the built-in example clip (melwave/assets/example.wav).
For each shipped vocoder that streams (the others print why they refuse) and each chunk size k:
  first-sample latency = lookahead (frames a sample must wait for, in ms) + compute time of the
                         first push that returns samples (its window is the first lookahead + k frames);
  per-chunk speed      = audio of a push's k frames / its compute time, median over the pushes
                         after the first (x real time; below 1x the stream falls behind);
  stream / offline     = compute of the whole stream (all pushes + flush) / best offline run of
                         the whole utterance: the price of exactness, each push re-running its window's
                         context_frames + lookahead_frames frames of overlap.
Every stream is checked against offline (max difference / offline peak).

Griffin-Lim cannot stream exactly; `melwave.audio.rtpghi` streams it approximately (phase-gradient
heap integration, one frame of lookahead, no iterations). The last section compares it with offline
Griffin-Lim (32 iterations) on speech: PESQ (wide band) and multi-resolution STFT distance against
the recording, for each `--speech` file (default: the example clip's spoken sentence, its first 6 s;
`--speech $MELWAVE_SPEECH_DIR/nl/*.ogg` for recorded speech).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

import melwave
from melwave.audio.io import load_audio
from melwave.audio.rtpghi import RTPGHIStream
from melwave.models.io.registry import available_vocoders

EXAMPLE = Path(melwave.__file__).parent / "assets" / "example.wav"
EXAMPLE_SPEECH_SECONDS = 6.0  # the spoken sentence; a plucked arpeggio follows


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run_stream(stream, mel: torch.Tensor, k: int) -> tuple[torch.Tensor, list[tuple[float, int]], float]:
    """(output, [(seconds, frames returned)] per push that returned samples, total seconds)."""
    stream.reset()
    pieces, pushes, total = [], [], 0.0
    for start in range(0, mel.shape[-1], k):
        begin = time.perf_counter()
        wave = stream.push(mel[:, start : start + k])
        elapsed = time.perf_counter() - begin
        total += elapsed
        if wave.numel():
            pushes.append((elapsed, wave.numel() // stream.vocoder.hop_length))
        pieces.append(wave)
    begin = time.perf_counter()
    pieces.append(stream.flush())
    total += time.perf_counter() - begin
    return torch.cat(pieces), pushes, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--chunks", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=3, help="offline runs (best of)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="+", default=sorted(available_vocoders()), help="default: every named vocoder")
    parser.add_argument("--speech", nargs="*", default=None, help="speech files for Griffin-Lim vs RTPGHI (default: the example's sentence)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} torch thread(s); utterance: first {args.seconds:g} s of {EXAMPLE.name}")
    for name in args.models:
        vocoder = melwave.load_vocoder(name)
        reason = vocoder.streaming_refusal()
        if reason is not None:
            print(f"\n{name}: does not stream: {reason}")
            continue
        rate, hop = vocoder.sample_rate, vocoder.hop_length
        wave = load_audio(EXAMPLE, rate).wave[: int(args.seconds * rate)]
        mel = vocoder.prepare_melspectrogram(wave)
        audio = mel.shape[-1] * hop / rate
        with torch.no_grad():
            offline_s = best_time(lambda: vocoder(mel[None]), args.repeats)
            expected = vocoder(mel[None])[0]
        stream = vocoder.stream()
        lookahead_ms = 1000 * stream.lookahead_frames * hop / rate
        print(f"\n{name}: lookahead {stream.lookahead_frames} frames = {lookahead_ms:.1f} ms, context "
              f"{stream.context_frames} frames; offline {audio:.2f} s audio in {offline_s:.3f} s "
              f"({audio / offline_s:.2f}x real time)")
        print(f"  {'chunk':>5s} {'first-sample latency':>34s} {'per-chunk speed':>17s} {'stream/offline':>15s} {'max diff/peak':>14s}")
        for k in args.chunks:
            out, pushes, total = run_stream(stream, mel, k)
            first_ms = 1000 * pushes[0][0]
            steady = [seconds / (frames * hop / rate) for seconds, frames in pushes[1:] if frames == k] or [float("nan")]
            speed = 1 / statistics.median(steady)
            diff = float((out - expected).abs().max() / expected.abs().max())
            latency = f"{lookahead_ms + first_ms:7.1f} ms ({lookahead_ms:.0f} + {first_ms:.1f})"
            print(f"  {k:5d} {latency:>34s} {speed:15.2f}x {total / offline_s:14.2f}x {diff:14.1e}")
    compare_griffin_lim(args.speech)
    return 0


def compare_griffin_lim(files: list[str] | None) -> None:
    """Offline Griffin-Lim vs streamed RTPGHI (1-frame pushes) on speech: quality and speed."""
    from melwave.metrics.speech import Unavailable, pesq_wb
    from melwave.metrics.spectral import multi_resolution_stft_distance

    griffinlim = melwave.load_vocoder("griffinlim")
    cfg, rate = griffinlim.mel_config, griffinlim.sample_rate
    stream = RTPGHIStream(cfg)
    print(f"\nGriffin-Lim offline (32 iterations) vs RTPGHI streaming (lookahead {stream.lookahead_frames} frames = "
          f"{1000 * stream.lookahead_frames * cfg.hop_length / rate:.1f} ms), speech vs the recording:")
    print(f"  {'clip':28s} {'PESQ GL':>8s} {'PESQ RTPGHI':>12s} {'MR-STFT GL':>11s} {'MR-STFT RTPGHI':>15s} {'GL x RT':>8s} {'RTPGHI x RT':>12s}")
    clips = [(Path(f).name, load_audio(f, rate).wave) for f in files] if files else \
        [(f"{EXAMPLE.name} (0-{EXAMPLE_SPEECH_SECONDS:g} s)", load_audio(EXAMPLE, rate).wave[: int(EXAMPLE_SPEECH_SECONDS * rate)])]
    for name, wave in clips:
        mel = griffinlim.prepare_melspectrogram(wave)
        audio = mel.shape[-1] * cfg.hop_length / rate
        begin = time.perf_counter()
        offline = griffinlim(mel[None])[0]
        offline_s = time.perf_counter() - begin
        stream.reset()
        begin = time.perf_counter()
        streamed = torch.cat([stream.push(mel[:, f : f + 1]) for f in range(mel.shape[-1])] + [stream.flush()])
        stream_s = time.perf_counter() - begin
        scores = []
        for out in (offline, streamed):
            reference, output = wave[: len(out)], out.numpy()[: len(wave)]
            try:
                quality = f"{pesq_wb(reference, output, rate):.2f}"
            except Unavailable as err:
                quality = f"n/a ({err})"
            scores.append((quality, multi_resolution_stft_distance(reference, output)))
        print(f"  {name[:28]:28s} {scores[0][0]:>8s} {scores[1][0]:>12s} {scores[0][1]:11.3f} {scores[1][1]:15.3f} "
              f"{audio / offline_s:8.1f} {audio / stream_s:12.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
