"""Regenerate golden.pt beside this script: DeepMelSpectrogramGenerator's own models on seeded weights.

    python tests/goldens/deepmel/make_golden.py --source PATH/TO/DeepMelSpectrogramGenerator [--out FILE]

Runs the source's model code (CWGANGP.py, shallow_CWGANGP.py; plain torch) from a checkout, with
every tensor of every state dict filled by `seeded_state` (a rule of the tensor's name, shape and
a seed), and records what tests/models/io/test_deepmel.py needs to rebuild the same
weights and check melwave against the outputs: the state dicts' names and shapes, the seeds, a
checksum of the weights, the inputs (z, labels, the critic's input seed), the YAML settings
the loader reads, and the outputs (generator: every 8th mel row in full plus row and column sums;
critic: all scores). No weights are stored: the fixture stays small.

The source's models.py imports torchvision (for classifiers these models don't use); without it
installed, a stand-in module satisfies that import.
"""

from __future__ import annotations

import argparse
import math
import sys
import types
from pathlib import Path

import torch

BATCH = 3
Z_SEED, CRITIC_INPUT_SEED = 11, 12
GEN_SEED, CRITIC_SEED = 1000, 2000          # strip g of the strips model: seed + 10 * (g + 1)
DEEP_LABELS = [[0, 1], [2, 3], [1, 0]]     # (drill angle, drill force) per sample
STRIPS_LABELS = [[0], [3], [2]]            # drill force per sample (the strips config's one condition)
ROWS = list(range(0, 128, 8)) + [127]      # mel rows stored in full
YAML_KEYS = ("cls_pth", "num_class", "latent_dim", "n_mels", "sample_rate", "n_fft", "win_length", "hop_length",
             "f_min", "f_max", "power", "normalized", "window_fn", "in_strips", "num_strips")


def seeded_state(shapes: list[tuple[str, tuple[int, ...]]], seed: int) -> dict[str, torch.Tensor]:
    """The weights of a state dict as a function of (name, shape, seed) only, scaled so that the
    activations neither vanish nor explode through the layers (every output value matters)."""
    state: dict[str, torch.Tensor] = {}
    for index, (name, shape) in enumerate(shapes):
        rng = torch.Generator().manual_seed(seed * 1000 + index)
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            state[name] = torch.tensor(100, dtype=torch.long)
        elif leaf == "running_var":
            state[name] = 0.5 + torch.rand(shape, generator=rng)
        elif leaf == "running_mean":
            state[name] = 0.1 * torch.randn(shape, generator=rng)
        elif len(shape) == 1:  # norm scale and shift
            state[name] = (1.0 if leaf == "weight" else 0.0) + 0.1 * torch.randn(shape, generator=rng)
        elif "c_embedding" in name:
            state[name] = torch.randn(shape, generator=rng)
        else:
            # Transposed conv (in, out, kh, kw): each output sees about in·kh·kw/4 inputs;
            # Linear (out, in) and Conv2d (out, in, kh, kw): prod(shape[1:]).
            fan = shape[0] * math.prod(shape[2:]) / 4 if "deconv" in name else math.prod(shape[1:])
            state[name] = torch.randn(shape, generator=rng) / math.sqrt(max(fan, 1.0))
    return state


def shapes_of(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(t.shape)) for name, t in module.state_dict().items()]


def checksum(state: dict[str, torch.Tensor]) -> float:
    return float(sum(t.double().abs().sum() for t in state.values() if t.is_floating_point()))


def summary(mel: torch.Tensor) -> dict[str, torch.Tensor]:
    """(B, 128, frames) -> the stored part: full rows, row sums, column sums, peak."""
    return {"rows": mel[:, ROWS].clone(), "row_sums": mel.sum(-1), "col_sums": mel.sum(-2),
            "peak": mel.abs().amax()}


def _import_source(source: Path):
    sys.path.insert(0, str(source))
    try:
        import torchvision  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("torchvision")
        stand_in.models = types.ModuleType("torchvision.models")
        for name in ("GoogLeNet", "AlexNet", "resnet50"):
            setattr(stand_in.models, name, None)
        sys.modules.update({"torchvision": stand_in, "torchvision.models": stand_in.models})
    import CWGANGP
    import shallow_CWGANGP
    import tools
    return CWGANGP, shallow_CWGANGP, tools


def main() -> None:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="a DeepMelSpectrogramGenerator checkout")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().with_name("golden.pt"))
    args = parser.parse_args()
    deep_mod, shallow_mod, tools = _import_source(args.source.resolve())
    torch.manual_seed(0)

    z = torch.randn(BATCH, 64, generator=torch.Generator().manual_seed(Z_SEED))
    x = torch.randn(BATCH, 1, 128, 128, generator=torch.Generator().manual_seed(CRITIC_INPUT_SEED)).abs()
    fixture: dict = {"batch": BATCH, "z": z, "critic_input_seed": CRITIC_INPUT_SEED, "rows": ROWS,
                     "gen_seed": GEN_SEED, "critic_seed": CRITIC_SEED}

    # The deep model, as CWGANGP_generate.py builds it: input (1, 128, 128), config_CWGAN_GP.yaml.
    config = yaml.safe_load((args.source / "config_CWGAN_GP.yaml").read_text())
    gen = deep_mod.Generator(input_shape=(1, 128, 128), z_dim=config["latent_dim"], classes=config["num_class"])
    dis = deep_mod.Discriminator(input_shape=(1, 128, 128), classes=config["num_class"], fm_idx=config["dis_fm_idx"])
    gen_state, dis_state = seeded_state(shapes_of(gen), GEN_SEED), seeded_state(shapes_of(dis), CRITIC_SEED)
    gen.load_state_dict(gen_state)
    dis.load_state_dict(dis_state)
    gen.eval(), dis.eval()
    c = torch.tensor(DEEP_LABELS).T.unsqueeze(-1)  # (K, B, 1): the train scripts' label layout
    with torch.no_grad():
        mel = gen(z, c)[:, 0]
        scores = dis(x, c)[0]
    fixture["deep"] = {"yaml": {k: config[k] for k in YAML_KEYS}, "labels": torch.tensor(DEEP_LABELS),
                       "gen_shapes": shapes_of(gen), "critic_shapes": shapes_of(dis),
                       "gen_checksum": checksum(gen_state), "critic_checksum": checksum(dis_state),
                       "mel": summary(mel), "scores": scores}

    # The strips model, as Shallow_CWGANGP_generate.py builds it: 8 × input (1, 128, 16).
    config = yaml.safe_load((args.source / "config_Sh_CWGAN_GP.yaml").read_text())
    strips = config["num_strips"]
    gens = [shallow_mod.ShallowGenerator(input_shape=(1, 128, 16), z_dim=config["latent_dim"], classes=config["num_class"])
            for _ in range(strips)]
    diss = [shallow_mod.ShallowDiscriminator(input_shape=(1, 128, 16), classes=config["num_class"], fm_idx=config["dis_fm_idx"])
            for _ in range(strips)]
    gen_states = [seeded_state(shapes_of(g), GEN_SEED + 10 * (i + 1)) for i, g in enumerate(gens)]
    dis_states = [seeded_state(shapes_of(d), CRITIC_SEED + 10 * (i + 1)) for i, d in enumerate(diss)]
    for module, state in [*zip(gens, gen_states), *zip(diss, dis_states)]:
        module.load_state_dict(state)
        module.eval()
    c = torch.tensor(STRIPS_LABELS).T.unsqueeze(-1)
    with torch.no_grad():
        mel = tools.mel_spectrogram_from_strips(torch.stack([g(z, c) for g in gens], 0))[:, 0]
        scores = torch.stack([d(x[..., i * 16:(i + 1) * 16], c)[0] for i, d in enumerate(diss)], dim=1)
    fixture["strips"] = {"yaml": {k: config[k] for k in YAML_KEYS}, "labels": torch.tensor(STRIPS_LABELS),
                         "gen_shapes": shapes_of(gens[0]), "critic_shapes": shapes_of(diss[0]),
                         "gen_checksum": sum(map(checksum, gen_states)), "critic_checksum": sum(map(checksum, dis_states)),
                         "mel": summary(mel), "scores": scores}

    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fixture, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes); deep mel peak {fixture['deep']['mel']['peak']:.4g}, "
          f"strips mel peak {fixture['strips']['mel']['peak']:.4g}")


if __name__ == "__main__":
    main()
