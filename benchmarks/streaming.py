"""Streaming inference (`vocoder.stream()`) of every shipped vocoder vs its offline run, same process.

    python benchmarks/streaming.py [--seconds 2] [--chunks 1 4 16] [--repeats 3] [--stream-repeats 1] [--threads 1]
                                   [--clock wall|cpu] [--models NAME ...] [--streamers windowed cached onnx]
                                   [--speech FILE ...]

The utterance is the first `--seconds` of the built-in example clip (melwave/assets/example.wav).
For each shipped vocoder that streams (the others print why they refuse), each streamer and each
chunk size k, side by side:
  windowed: each push re-runs the vocoder on context_frames + k + lookahead_frames frames
            (melwave.models.streaming.stream), every feed-forward family;
  cached:   layers that keep their input tails compute each sample once
            (melwave.models.streaming.cached), where the family's forward traces (else "n/a: why");
  onnx:     (`--streamers ... onnx`) the cached one with its steady pushes of k frames run by ONNX
            Runtime (melwave.models.streaming.onnx_stream; exported once per k, export not timed);
  first-sample latency = lookahead (frames a sample must wait for, in ms) + compute time of the
                         first push that returns samples;
  per-chunk speed      = audio of a push's k frames / its compute time, median over the pushes
                         after the first (x real time; below 1x the stream falls behind);
  stream / offline     = compute of the whole stream (all pushes + flush) / best offline run of
                         the whole utterance, in this process (1.0: streaming costs what offline does).
Every stream is checked against offline (max difference / offline peak). With --stream-repeats N
each stream runs N times and the fastest run is reported; offline is timed before and after the
streams and the faster is the reference (the load of a shared machine varies).

Griffin-Lim cannot stream exactly; `melwave.audio.rtpghi` streams it approximately (phase-gradient
heap integration, one frame of lookahead, no iterations). The last section compares it with offline
Griffin-Lim (32 iterations) on speech: PESQ (wide band) and multi-resolution STFT distance against
the recording, for each `--speech` file (default: the example clip's spoken sentence, its first 6 s;
`--speech $MELWAVE_SPEECH_DIR/nl/*.ogg` for recorded speech). `--speech none` skips it.
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
from melwave.models.streaming import NotStreamable, VocoderStream, cached_refusal, open_stream
from melwave.models.streaming.onnx_stream import onnx_stream, signature
from melwave.models.streaming.trace import trace_plan

EXAMPLE = Path(melwave.__file__).parent / "assets" / "example.wav"
EXAMPLE_SPEECH_SECONDS = 6.0  # the spoken sentence; a plucked arpeggio follows


# Wall-clock by default (what real time means); --clock cpu counts this process's CPU time, which
# on a shared, loaded machine leaves out the time other processes hold the core.
clock = time.perf_counter


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def run_stream(stream, mel: torch.Tensor, k: int) -> tuple[torch.Tensor, list[tuple[float, int]], float]:
    """(output, [(seconds, frames returned)] per push that returned samples, total seconds)."""
    stream.reset()
    pieces, pushes, total = [], [], 0.0
    for start in range(0, mel.shape[-1], k):
        begin = clock()
        wave = stream.push(mel[:, start : start + k])
        elapsed = clock() - begin
        total += elapsed
        if wave.numel():
            pushes.append((elapsed, wave.numel() // stream.vocoder.hop_length))
        pieces.append(wave)
    begin = clock()
    pieces.append(stream.flush())
    total += clock() - begin
    return torch.cat(pieces), pushes, total


def streamers(vocoder, kinds: list[str]) -> list[tuple[str, object]]:
    """(label, stream or a function of the chunk size making one) per kind asked for; an
    unavailable streamer is (label, "n/a: why")."""
    out = []
    for kind in kinds:
        if kind == "windowed":
            out.append((kind, VocoderStream(vocoder)))
        elif kind == "cached":
            stream = open_stream(vocoder)
            out.append((kind, stream if stream.kind == "cached" else f"n/a: {cached_refusal(vocoder) or 'not opted in'}"))
        elif kind == "onnx":
            try:
                signature(trace_plan(vocoder))  # refuses what has no steady-push graph, before any export
            except NotStreamable as err:
                out.append((kind, f"n/a: {err}"))
            else:
                out.append((kind, lambda k: onnx_stream(vocoder, chunk_frames=k)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--chunks", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=3, help="offline runs (best of)")
    parser.add_argument("--stream-repeats", type=int, default=1, help="runs of each stream (fastest reported)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="+", default=sorted(available_vocoders()), help="default: every named vocoder")
    parser.add_argument("--streamers", nargs="+", choices=("windowed", "cached", "onnx"), default=["windowed", "cached"])
    parser.add_argument("--speech", nargs="*", default=None,
                        help="speech files for Griffin-Lim vs RTPGHI (default: the example's sentence; 'none': skip)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: elapsed time; cpu: this process's CPU time (steadier on a loaded machine)")
    args = parser.parse_args()
    global clock
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    print(f"{args.threads} torch thread(s), {args.clock} clock; utterance: first {args.seconds:g} s of {EXAMPLE.name}")
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
        runs = streamers(vocoder, args.streamers)
        first = VocoderStream(vocoder)  # the measured reach, whichever streamers run
        lookahead_ms = 1000 * first.lookahead_frames * hop / rate
        rows = []
        for k in args.chunks:
            for label, stream in runs:
                if isinstance(stream, str):
                    rows.append((label, k, stream))
                    continue
                stream = stream(k) if callable(stream) else stream
                out, pushes, total = min((run_stream(stream, mel, k) for _ in range(args.stream_repeats)), key=lambda r: r[2])
                steady = [seconds / (frames * hop / rate) for seconds, frames in pushes[1:] if frames == k] or [float("nan")]
                diff = float((out - expected).abs().max() / expected.abs().max())
                rows.append((label, k, (1000 * pushes[0][0], 1 / statistics.median(steady), total, diff)))
        with torch.no_grad():  # again: the load of a shared machine drifts; the faster offline run is the reference
            offline_s = min(offline_s, best_time(lambda: vocoder(mel[None]), args.repeats))
        print(f"\n{name}: lookahead {first.lookahead_frames} frames = {lookahead_ms:.1f} ms, context "
              f"{first.context_frames} frames; offline {audio:.2f} s audio in {offline_s:.3f} s "
              f"({audio / offline_s:.2f}x real time); stream() gives the {vocoder.stream().kind} streamer")
        print(f"  {'streamer':>9s} {'chunk':>5s} {'first-sample latency':>30s} {'per-chunk speed':>16s} {'stream/offline':>15s} "
              f"{'max diff/peak':>14s}")
        for label, k, result in rows:
            if isinstance(result, str):
                print(f"  {label:>9s} {k:5d}   {result}")
                continue
            first_ms, speed, total, diff = result
            latency = f"{lookahead_ms + first_ms:7.1f} ms ({lookahead_ms:.0f} + {first_ms:.1f})"
            print(f"  {label:>9s} {k:5d} {latency:>30s} {speed:15.2f}x {total / offline_s:14.2f}x {diff:14.1e}")
    if args.speech != ["none"]:
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
