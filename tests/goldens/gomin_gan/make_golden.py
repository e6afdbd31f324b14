"""Regenerate the golden files beside this script from a checkout of ryeoat3/gomin.

    .venv/bin/python tests/goldens/gomin_gan/make_golden.py --source /path/to/gomin [--out tests/goldens/gomin_gan]

GOMIN is not installable from a package registry, so its `gomin/models/gan.py` and `common.py`
are loaded by path from the checkout inside a throwaway package. `common.py` imports torchaudio's
MelSpectrogram at module level (used only by `prepare_melspectrogram`, which this never calls;
torchaudio cannot load here), so that one name gets a stand-in. This builds a small `GomiGAN`
(GOMIN's layout and kernels, 128 channels instead of 1536), sets every parameter by a seeded rule
that the test repeats (numpy's frozen legacy RandomState, so the rule gives the same numbers
everywhere), and runs GOMIN's own forward on a seeded mel. Written:
  golden.json         the GomiGAN arguments, the rule (seed; per tensor name, shape, scale, offset)
  golden.safetensors  GOMIN's own `lpf` buffers, the mel and the waveform GOMIN's code returns
Nothing from the checkout is copied into the fixture but the tensors its code produced.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
SEED = 20240611
FRAMES = 8
GAN_ARGS = {"in_channels": 128, "upsample_in_channels": 128, "upsample_strides": [4, 4, 2, 2, 2, 2],
            "resblock_kernel_sizes": [3, 7, 11], "resblock_dilations": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
            "sample_rate": 24000}


def seeded(seed: int, index: int, shape, scale: float, offset: float) -> torch.Tensor:
    """The rule: offset + scale · uniform(−1, 1) from RandomState(seed + index), as float32."""
    values = np.random.RandomState(seed + index).uniform(-1.0, 1.0, size=shape)
    return torch.from_numpy((offset + scale * values).astype(np.float32))


def _gomin_models(source: Path):
    stand_in = types.ModuleType("torchaudio")
    stand_in.transforms = types.ModuleType("torchaudio.transforms")
    stand_in.transforms.MelSpectrogram = None  # only prepare_melspectrogram would use it
    sys.modules.setdefault("torchaudio", stand_in)
    sys.modules.setdefault("torchaudio.transforms", stand_in.transforms)
    package = types.ModuleType("_gomin_models")
    package.__path__ = [str(source / "gomin" / "models")]  # its __init__ (diffusion imports) is not run
    sys.modules["_gomin_models"] = package
    return importlib.import_module("_gomin_models.gan")


def _rule(model: torch.nn.Module) -> list[list]:
    """Per parameter: name, shape, scale, offset. Snake α in [0.5, 1.5] (GOMIN divides by α);
    conv weights ±√(3 / fan-in) (unit variance through each layer; residual branches and conv_post
    smaller, so float32 rounding is not amplified); biases ±0.05."""
    rule = []
    for name, param in model.named_parameters():
        shape = list(param.shape)
        if name.endswith("alpha"):
            scale, offset = 0.5, 1.0
        elif name.endswith("bias"):
            scale, offset = 0.05, 0.0
        else:
            fan_in = param.shape[1] * param.shape[2] if "ups" not in name and "film" not in name else \
                param.shape[0] * param.shape[2] // 2  # ConvTranspose1d(in, out, 2s): in·2 taps reach each sample
            scale, offset = float(np.sqrt(3.0 / fan_in)), 0.0
            if name.startswith("resblocks"):
                scale *= 0.3  # residual branches small enough that the stages do not blow the signal up
            if name.startswith("conv_post"):
                scale *= 0.1  # and the final tanh stays out of saturation
        rule.append([name, shape, scale, offset])
    return rule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="a checkout of the GOMIN authors' repository")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    from safetensors.torch import save_file

    gan = _gomin_models(args.source.resolve())
    torch.manual_seed(0)
    model = gan.GomiGAN(**GAN_ARGS).eval()
    rule = _rule(model)
    with torch.no_grad():
        params = dict(model.named_parameters())
        for index, (name, shape, scale, offset) in enumerate(rule):
            params[name].copy_(seeded(SEED, index, shape, scale, offset))
    mel = seeded(SEED, len(rule), [1, GAN_ARGS["in_channels"], FRAMES], 0.5, 0.5)  # GOMIN mels lie in [0, 1]
    with torch.no_grad():
        wave = model(mel)
    peak = wave.abs().max().item()
    print(f"GomiGAN: {sum(p.numel() for p in model.parameters()):,} parameters; wave {tuple(wave.shape)}, peak {peak:.3f}")
    buffers = {name: b.contiguous() for name, b in model.named_buffers() if name.endswith("lpf")}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "golden.json").write_text(json.dumps(
        {"source": "GOMIN's gomin/models/gan.py GomiGAN", "gan_args": GAN_ARGS, "seed": SEED,
         "rule": "offset + scale * numpy RandomState(seed + index).uniform(-1, 1, shape), float32; "
                 "the mel is index len(tensors) with scale 0.5, offset 0.5",
         "tensors": rule}, indent=1) + "\n")
    save_file({**buffers, "mel": mel.contiguous(), "wave": wave.contiguous()}, str(args.out / "golden.safetensors"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
