"""Regenerate the golden folders beside this script from a checkout of kan-bayashi/ParallelWaveGAN.

    .venv/bin/python tests/goldens/pwg/make_golden.py --source /path/to/ParallelWaveGAN [--out tests/goldens/pwg]

The toolkit's PyPI sdist does not build here, so its model modules are loaded by path from the
checkout (they need torch, numpy and, for PQMF, scipy) inside a throwaway package whose
`__init__` files import only them. For each generator this builds a small, seeded toolkit model
with weight norm (g perturbed so that a fold ignoring g would show), and writes a checkpoint
folder exactly as the toolkit's training does (`checkpoint-1steps.pkl`, `config.yml`, stats) plus
`golden.npz`: a log10 mel, the noise (Parallel WaveGAN) and the waveform the toolkit's own
`inference(c, normalize_before=True)` returns for them. `shapes.json.gz` lists the generator
tensors (name -> shape) of the published full-size configs, for the key-layout test.
Nothing from the checkout is copied into the fixture but the tensors its code produced.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml

HERE = Path(__file__).resolve().parent

# Small versions of each generator the layout reads, under one small mel analysis.
MEL = {"sampling_rate": 16000, "fft_size": 128, "win_length": 100, "window": "hann", "num_mels": 10,
       "fmin": 80, "fmax": 7600, "format": "npy", "version": "0.6.1"}
CASES = {
    "parallel_wavegan": {"hop_size": 16, "generator_type": "ParallelWaveGANGenerator", "generator_params": {
        "aux_channels": 10, "layers": 4, "stacks": 2, "residual_channels": 4, "gate_channels": 8, "skip_channels": 4,
        "aux_context_window": 2, "upsample_params": {"upsample_scales": [4, 4]}}},
    "melgan": {"hop_size": 16, "generator_type": "MelGANGenerator", "generator_params": {
        "in_channels": 10, "channels": 16, "upsample_scales": [4, 2, 2], "stacks": 2}},
    "multiband_melgan": {"hop_size": 16, "generator_type": "MelGANGenerator", "generator_params": {
        "in_channels": 10, "out_channels": 4, "channels": 16, "upsample_scales": [2, 2], "stacks": 3}},
    "hifigan": {"hop_size": 12, "format": "hdf5", "generator_type": "HiFiGANGenerator", "generator_params": {
        "in_channels": 10, "channels": 16, "upsample_scales": [4, 3], "upsample_kernel_sizes": [8, 6],
        "resblock_kernel_sizes": [3, 5], "resblock_dilations": [[1, 3], [1, 3]]}},
    "hifigan_v3": {"hop_size": 16, "generator_type": "HiFiGANGenerator", "generator_params": {
        "in_channels": 10, "channels": 16, "upsample_scales": [4, 4], "upsample_kernel_sizes": [8, 8],
        "resblock_kernel_sizes": [3, 5], "resblock_dilations": [[1, 2], [2, 6]], "use_additional_convs": False}},
}
# The toolkit's published full-size generators (egs/*/conf): only their tensor names and shapes are kept.
FULL = {
    "parallel_wavegan.v1": ("ParallelWaveGANGenerator", {}),
    "multi_band_melgan.v2": ("MelGANGenerator", {"in_channels": 80, "out_channels": 4, "channels": 384,
                                                 "upsample_scales": [8, 4, 2], "stacks": 4}),
    "melgan.v1": ("MelGANGenerator", {}),
    "hifigan.v1 (24 kHz, hop 300)": ("HiFiGANGenerator", {"upsample_scales": [5, 5, 4, 3], "upsample_kernel_sizes": [10, 10, 8, 6]}),
}
FRAMES = 12


def load_toolkit(source: Path):
    """The toolkit's `parallel_wavegan.models` from the checkout, without its package __init__s."""
    tmp = Path(tempfile.mkdtemp())
    pkg = tmp / "parallel_wavegan"
    for sub, names in {"layers": ["causal_conv", "pqmf", "residual_block", "residual_stack", "upsample", "layer_norm",
                                  "duration_predictor", "length_regulator"],
                       "models": ["melgan", "hifigan", "parallel_wavegan"]}.items():
        (pkg / sub).mkdir(parents=True)
        for name in names:
            shutil.copy(source / "parallel_wavegan" / sub / f"{name}.py", pkg / sub / f"{name}.py")
        imports = "\n".join(f"from .{name} import *  # noqa" for name in names if name not in ("layer_norm",))
        (pkg / sub / "__init__.py").write_text(imports + "\n")
    (pkg / "__init__.py").write_text("")
    (pkg / "utils").mkdir()
    (pkg / "utils" / "__init__.py").write_text("import numpy as np\n\ndef read_hdf5(path, name):\n"
                                               "    import h5py\n    with h5py.File(path, 'r') as f:\n        return f[name][()]\n")
    import scipy.signal
    import scipy.signal.windows

    if not hasattr(scipy.signal, "kaiser"):  # removed from scipy.signal in scipy 1.13; same function
        scipy.signal.kaiser = scipy.signal.windows.kaiser
    sys.path.insert(0, str(tmp))
    import parallel_wavegan.models as models  # noqa: E402
    from parallel_wavegan.layers import PQMF  # noqa: E402

    return models, PQMF


def toolkit_model(models, config: dict):
    return getattr(models, config["generator_type"])(**config["generator_params"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="checkout of kan-bayashi/ParallelWaveGAN")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    models, PQMF = load_toolkit(args.source)
    args.out.mkdir(parents=True, exist_ok=True)
    for index, (name, case) in enumerate(CASES.items()):
        config = {**MEL, **case}
        torch.manual_seed(index)
        model = toolkit_model(models, config)
        with torch.no_grad():
            # The toolkit's initialisations give near-constant outputs at this size: weights of unit
            # gain per layer instead, so every path (normalisation, fold, padding) shows.
            parameters = dict(model.named_parameters())
            for key, tensor in parameters.items():
                if key.endswith("weight_v"):
                    tensor.normal_(0, 1)
                elif key.endswith("bias"):
                    tensor.normal_(0, 0.1)
            for key, tensor in parameters.items():
                if key.endswith("weight_g"):  # |row| of the folded weight: U(0.6, 1.4), little tanh saturation
                    tensor.uniform_(0.6, 1.4)
        rng = np.random.default_rng(index)
        n_mels = config["num_mels"]
        mean = rng.normal(-2.0, 0.5, n_mels).astype(np.float32)
        scale = rng.uniform(0.5, 1.5, n_mels).astype(np.float32)
        mel = (mean + scale * rng.normal(0, 1, (FRAMES, n_mels))).astype(np.float32)  # (frames, n_mels), log10 units
        folder = args.out / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        if config["format"] == "hdf5":
            import h5py

            with h5py.File(folder / "stats.h5", "w") as handle:
                handle["mean"], handle["scale"] = mean, scale
        else:
            np.save(folder / "stats.npy", np.stack([mean, scale]))
        # Multi-band MelGAN's checkpoint in torch's legacy (pre-1.6) format, as the toolkit's early
        # releases wrote them; the others in today's zip format.
        torch.save({"model": {"generator": model.state_dict(), "discriminator": {}}, "steps": 1, "epochs": 1},
                   folder / "checkpoint-1steps.pkl", _use_new_zipfile_serialization=name != "multiband_melgan")
        (folder / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        # What the toolkit's load_model adds for inference: the stats, and PQMF for multi-band.
        if config["generator_params"].get("out_channels", 1) > 1:
            model.pqmf = PQMF(subbands=config["generator_params"]["out_channels"], **config.get("pqmf_params", {}))
        model.register_buffer("mean", torch.from_numpy(mean))
        model.register_buffer("scale", torch.from_numpy(scale))
        model.eval()
        golden = {"mel": mel.T.copy()}
        with torch.no_grad():
            if config["generator_type"] == "ParallelWaveGANGenerator":
                noise = torch.randn(FRAMES * config["hop_size"], 1)
                wave = model.inference(c=torch.from_numpy(mel), x=noise, normalize_before=True)
                golden["noise"] = noise[:, 0].numpy()
            else:
                wave = model.inference(torch.from_numpy(mel), normalize_before=True)
        golden["wave"] = wave[:, 0].numpy()
        np.savez(folder / "golden.npz", **golden)
        print(f"{name}: {sum(p.numel() for p in model.parameters()):,} parameters, wave {golden['wave'].shape}")
    shapes = {}
    for name, (kind, params) in FULL.items():
        with torch.device("meta"):
            model = getattr(models, kind)(**params)
        shapes[name] = {"generator_type": kind, "generator_params": params,
                        "tensors": {k: list(v.shape) for k, v in model.state_dict().items()}}
    (args.out / "shapes.json.gz").write_bytes(gzip.compress(json.dumps(shapes, separators=(",", ":")).encode(), mtime=0))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
