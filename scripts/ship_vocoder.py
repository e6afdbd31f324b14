"""Copy a trained vocoder into melwave as a shipped, named model.

    .venv/bin/python scripts/ship_vocoder.py RUN_OR_FILE NAME [--overwrite]

RUN_OR_FILE: a training run folder (its exported model.safetensors), a model .safetensors, or a
training checkpoint (.pt; e.g. the last one before the adversarial phase started).

Writes melwave/pretrained/vocoders/NAME/model.safetensors (float16) and config.yaml (the run's
training config, when RUN is a run folder). The model card (README.md) is written by hand from
`melwave evaluate vocoder`. Prints the stored size and how far the float16 copy's output on the
built-in example is from the float32 model's (SNR; it should be far above anything audible).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from melwave.audio.features import MelExtractor
from melwave.audio.io import load_audio
from melwave.models.io.model_file import load_model, save_model
from melwave.models.vocoders.shipped import SHIPPED_DIR
from melwave.utils.fileio import atomic_write_bytes

EXAMPLE = Path(__file__).resolve().parents[1] / "melwave" / "assets" / "example.wav"


def model_from_checkpoint(path: Path) -> tuple[torch.nn.Module, str]:
    """(The exported generator of a training checkpoint (read weights-only), as `melwave train`
    exports it; the run config the checkpoint was trained with, as YAML text)."""
    import yaml

    from melwave.train.checkpoint import load_checkpoint
    from melwave.train.config import parse_run_config
    from melwave.train.recipe import RecipeContext, get_recipe

    document = load_checkpoint(path)
    config = parse_run_config(yaml.safe_load(document["config_yaml"]), source=str(path))
    recipe = get_recipe(config.recipe.name)(config, RecipeContext(device=torch.device("cpu")))
    recipe.build()
    recipe.modules["generator"].load_state_dict(document["modules"]["generator"])
    print(f"{path}: step {document['state']['step']}")
    return recipe.export_model(), document["config_yaml"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="training run folder, model .safetensors or checkpoint .pt")
    parser.add_argument("name", help="shipped name, e.g. vocos-22k")
    parser.add_argument("--overwrite", action="store_true", help="replace a shipped model of that name")
    args = parser.parse_args()

    config_yaml = None
    if args.source.suffix == ".pt":
        model, config_yaml = model_from_checkpoint(args.source)
    else:
        model = load_model(args.source)
        run_config = args.source / "config.yaml"
        if args.source.is_dir() and run_config.exists():
            config_yaml = run_config.read_text(encoding="utf-8")
    target = SHIPPED_DIR / args.name
    target.mkdir(parents=True, exist_ok=True)
    out = save_model(model, target / "model.safetensors", overwrite=args.overwrite, half=True,
                     extra={"name": args.name, "trained_by": "melwave"})
    if config_yaml is not None:
        atomic_write_bytes(target / "config.yaml", config_yaml.encode("utf-8"), overwrite=args.overwrite)

    shipped = load_model(out)
    wave = torch.from_numpy(load_audio(EXAMPLE, model.mel_config.sample_rate).wave)
    mel = MelExtractor(model.mel_config)(wave)[None]
    with torch.no_grad():
        reference, half = model(mel).flatten(), shipped(mel).flatten()
    snr = 10 * torch.log10(reference.pow(2).sum() / (reference - half).pow(2).sum().clamp(min=1e-20))
    params = sum(p.numel() for p in model.parameters())
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB, {params / 1e6:.2f}M parameters; "
          f"float16 copy vs float32 on the example: {snr:.1f} dB SNR")


if __name__ == "__main__":
    main()
