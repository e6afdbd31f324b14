"""GOMIN's diffusion checkpoint (`checkpoints/diffusion_state_dict.pt` of ryeoat3/gomin): the
bare state dict of its `DiffusionWrapper`, i.e. `model.` + its `GomiDiff` network (DiffWave with
a FiLM conv before every dilation cycle), no hyper-parameters.

Sizes come from the tensor shapes (layers, channels, mels; the dilation cycle is layers / FiLM
convs, as GomiDiff ties them); the 50-step schedule and the sampler are GOMIN's
(diffusers DDPMScheduler(1e-4 … 0.05), every step, x_0 clipped). The file holds no mel
settings: the gomin-24k preset is GOMIN's own, or the one given.
"""

from __future__ import annotations

import re
from pathlib import Path

from melwave.errors import CheckpointError
from melwave.models.io.formats._torchfile import pickle_names
from melwave.models.io.formats.diffwave import SUFFIXES, build_into

STEPS = 50  # GOMIN's DiffusionConfig.num_diffusion_steps (the embedding table is not stored)


def matches(path: Path) -> bool:
    if not (path.is_file() and path.suffix in SUFFIXES):
        return False
    names = pickle_names(path)
    return b"model.film_layers." in names and b"model.diffusion_embedding.projection1" in names


def load(path: Path, *, device="cpu", trust_file: bool = False, mel_config=None):
    from melwave.audio.config import PRESETS
    from melwave.models.diffusion.schedule import NoiseScheduleConfig
    from melwave.models.io.formats._torchfile import load_torch_file
    from melwave.models.io.gate import checked_state
    from melwave.models.vocoders.diffwave import DIFFWAVE_CONFIGS, DiffWave, DiffWaveConfig

    state = load_torch_file(path, trust_file=trust_file)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected GOMIN's bare state dict (tensors by name)")
    state = checked_state(path, state)
    if not all(key.startswith("model.") for key in state):
        raise CheckpointError(f"{path}: expected every key under 'model.' (GOMIN's DiffusionWrapper)")
    state = {key[len("model."):]: value for key, value in state.items()}
    try:
        channels = state["input_projection.weight"].shape[0]
        n_mels = state["residual_layers.0.conditioner_projection.weight"].shape[1]
    except KeyError as err:
        raise CheckpointError(f"{path}: not a GOMIN diffusion checkpoint (no model.{err.args[0]})") from None
    layers = len({int(m.group(1)) for key in state if (m := re.match(r"residual_layers\.(\d+)\.", key))})
    films = len({int(m.group(1)) for key in state if (m := re.match(r"film_layers\.(\d+)\.", key))})
    if films == 0 or layers % films:
        raise CheckpointError(f"{path}: {layers} residual layers and {films} FiLM convs: GOMIN has one FiLM per dilation cycle")
    mel_config = mel_config or PRESETS["gomin-24k"]
    if n_mels != mel_config.n_mels:
        raise CheckpointError(f"{path}: the network expects {n_mels} mel bins but the mel config has n_mels={mel_config.n_mels}")
    gomin = DIFFWAVE_CONFIGS["gomin"]
    cycle = layers // films
    config = DiffWaveConfig(residual_layers=layers, residual_channels=channels, dilation_cycle=cycle, film_every=cycle,
                            upsample_strides=(16, 16), schedule=NoiseScheduleConfig(num_train_steps=STEPS, beta_start=1e-4, beta_end=0.05),
                            inference_steps=STEPS, sampler=gomin.sampler, clip_sample=gomin.clip_sample)
    model = build_into(lambda: DiffWave(config, mel_config), state, path)
    model.name = path.name
    model.provenance = {"files": [path.name]}
    return model.to(device).eval()
