"""GOMIN's GAN checkpoint (`ryeoat3/gomin`: `checkpoints/gan_state_dict.pt`, the bare state dict
of its `GomiGAN`, which its run.py loads with `load_state_dict(torch.load(path))`).

Sizes are read from the tensor shapes (mel bands, channels, strides, resblock kernels); the
dilations are not stored, and GOMIN's published ones, (1, 3, 5) per block, are the only ones with
three convolutions per block. Its `lpf` buffers (the anti-aliasing filter, fixed by the design)
are checked against the ones melwave computes and dropped. The file holds no mel settings: the
mel is GOMIN's own, the `gomin-24k` preset (or the one given, e.g. another n_mels).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from melwave.audio.config import PRESETS, MelConfig
from melwave.errors import CheckpointError, ConfigError
from melwave.models.io.formats._torchfile import pickle_names
from melwave.models.io.formats.diffwave import SUFFIXES

FILENAME = "gan_state_dict.pt"
SIGNATURE = (b"film_generator.convs.", b"snake_ups.")  # key names only GomiGAN's state dict has
DILATIONS = {3: (1, 3, 5)}  # GOMIN's GANConfig: [[1, 3, 5]] * 3
FILTER_TOLERANCE = 1e-6  # stored vs recomputed taps: float32 rounding of the same float64 design


def matches(path: Path) -> bool:
    # Read before the HiFi-GAN layout, which takes any .pt file: by GOMIN's file name, or under
    # another name by the key names in the pickle (read, never run).
    if not path.is_file():
        return False
    return path.name == FILENAME or (path.suffix in SUFFIXES and all(m in pickle_names(path) for m in SIGNATURE))


def _count(state: dict[str, Any], pattern: str, source: Path) -> int:
    indices = {int(m.group(1)) for key in state if (m := re.fullmatch(pattern, key))}
    if indices != set(range(len(indices))):
        raise CheckpointError(f"{source}: layer indices of {pattern!r} are not 0..n-1: {sorted(indices)}")
    return len(indices)


def model_config_of(state: dict[str, Any], source: Path):
    """The `GominGANConfig` (GOMIN's choices) whose tensors have these shapes."""
    from melwave.models.vocoders.gomin import GominGANConfig

    try:
        width, _, _ = state["conv_pre.weight"].shape
        stages = _count(state, r"ups\.(\d+)\.weight", source)
        strides = []
        for i in range(stages):
            kernel = state[f"ups.{i}.weight"].shape[-1]
            if kernel % 2 or (kernel // 2) % 2:
                raise CheckpointError(f"{source}: ups.{i} has kernel {kernel}; GomiGAN's are 2·stride with an even stride")
            strides.append(kernel // 2)
        blocks = _count(state, r"resblocks\.(\d+)\.lpf", source)
        if not stages or blocks % stages:
            raise CheckpointError(f"{source}: {blocks} AMP blocks do not divide into {stages} upsampling stages")
        kernels, dilations = [], []
        for b in range(blocks // stages):
            kernels.append(state[f"resblocks.{b}.convs1.0.weight"].shape[-1])
            n = _count({k: v for k, v in state.items() if k.startswith(f"resblocks.{b}.")}, rf"resblocks\.{b}\.convs1\.(\d+)\.weight", source)
            if n not in DILATIONS:
                raise CheckpointError(f"{source}: AMP block {b} has {n} dilated convolutions; the dilations are not stored "
                                      f"in the file and melwave knows GOMIN's only ({DILATIONS})")
            dilations.append(DILATIONS[n])
        return GominGANConfig(upsample_strides=tuple(strides), initial_channels=width,
                              resblock_kernel_sizes=tuple(kernels), resblock_dilations=tuple(dilations), antialias="gomin")
    except KeyError as err:
        raise CheckpointError(f"{source}: not a GomiGAN state dict (no {err.args[0]})") from None
    except (ConfigError, ValueError) as err:
        raise CheckpointError(f"{source}: {err}") from None


def to_melwave_state(state: dict[str, Any], model, source: Path) -> dict[str, Any]:
    """GomiGAN's keys -> melwave's. Snake parameters are (C, 1) in GOMIN, (C,) in melwave."""
    per_stage = len(model.config.resblock_kernel_sizes)
    out: dict[str, Any] = {}
    for key, value in state.items():
        new = key
        if match := re.fullmatch(r"film_generator\.convs\.(.*)", key):
            new = f"film.layers.{match.group(1)}"
        elif match := re.fullmatch(r"snake_ups\.(\d+)\.alpha", key):
            new = f"snakes.{match.group(1)}.alpha"
        elif key == "snake_post.alpha":
            new = "act_post.alpha"
        elif match := re.fullmatch(r"resblocks\.(\d+)\.(.*)", key):
            index, rest = int(match.group(1)), match.group(2)
            stage, block = divmod(index, per_stage)
            if rest == "lpf":
                expected = model.resblocks[stage][block].acts1[0].filter.reshape(-1)
                stored = value.detach().float()
                if stored.ndim != 3 or stored.shape[-1] != expected.numel() or \
                        (stored - expected).abs().max() > FILTER_TOLERANCE:
                    raise CheckpointError(f"{source}: {key} is not GOMIN's anti-aliasing filter "
                                          f"(√2 · firwin({expected.numel()}, sr/4, width=0.6))")
                continue
            if m := re.fullmatch(r"snakes([12])\.(\d+)\.alpha", rest):
                # The first Snake of each step is anti-aliased (wrapped), the second plain.
                rest = f"acts1.{m.group(2)}.act.alpha" if m.group(1) == "1" else f"acts2.{m.group(2)}.alpha"
            new = f"resblocks.{stage}.{block}.{rest}"
        if new.endswith("alpha") and value.ndim == 2 and value.shape[-1] == 1:
            value = value[:, 0]
        out[new] = value
    return out


def load(path: Path, *, device="cpu", trust_file: bool = False, mel_config: MelConfig | None = None):
    from melwave.models.io.formats._torchfile import load_torch_file
    from melwave.models.io.gate import build_checked, checked_state, sized_skeleton
    from melwave.models.vocoders.gomin import GominGAN

    state = load_torch_file(path, trust_file=trust_file)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a bare state dict of tensors (GOMIN's gan_state_dict.pt)")
    state = checked_state(path, state)
    config = model_config_of(state, path)
    n_mels = state["conv_pre.weight"].shape[1]
    # GomiGAN's mel is its MelspecInversion's (gomin-24k) with n_mels = its in_channels.
    mel = mel_config or PRESETS["gomin-24k"].replace(n_mels=n_mels)
    if mel.n_mels != n_mels:
        raise CheckpointError(f"{path}: generator expects {n_mels} mel bins but the mel config has n_mels={mel.n_mels}")
    skeleton = sized_skeleton(path, "the GomiGAN its tensors describe", lambda: GominGAN(config, mel), len(state))
    model = build_checked(path, "the GomiGAN its tensors describe", lambda: GominGAN(config, mel),
                          to_melwave_state(state, skeleton, path))
    model.name = path.name
    return model.to(device).eval()
