"""DeepMelSpectrogramGenerator checkpoints (TzeLun/DeepMelSpectrogramGenerator) in melwave's networks.

What its users have: the file its train scripts save and its YAML config,

    train_CWGANGP.py         {"gen_state_dict": {...}, "dis_state_dict": {...}, "optim_*_state_dict",
                              "epoch", "*_loss_stats"}                       + config_CWGAN_GP.yaml
    train_ShallowCWGANGP.py  the same with a list of 8 state dicts (one per strip) for the
                              generators and critics                          + config_Sh_CWGAN_GP.yaml

`load_deepmel(PATH, YAML)` rebuilds the generator as melwave's `cwgan` `source` / `strips-source`
architecture (the same layers, `normalised: false`), so `generate(labels, z=z)` returns exactly
the source's raw linear power mel for the same z and labels; `load_deepmel_critic` does the same
for the critic. Sizes (z, vocabulary, mel height and frames) come from the tensors' shapes and
are checked against the YAML; the MelConfig is the source's analysis as the YAML states it (the
`cwgan-22k` / `cwgan-strips-22k` preset for the shipped configs).

Conditions: the YAML's `cls_pth` maps each outer class folder (drill angle: sm, lg, v) to its
inner folders (drill force: 0..3). Its dataset labels a file [outer index, inner index]; with two
entries in `num_class` the model takes both, named `drill_angle` and `drill_force` as its generate
script calls them; with one (the strips config) its train script takes only the inner index
(`labels[:, 1]`), i.e. `drill_force`.

Nothing from the file is executed: `torch.load(weights_only=True)`; a file that needs more is
refused unless `trust_file`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError, ConfigError
from melwave.utils.fileio import read_yaml_mapping
from melwave.models.generators.critic import SOURCE_CRITIC, SOURCE_STRIPS_CRITIC, Critic
from melwave.models.generators.cwgan import CONFIGS, CWGANGenerator
from melwave.models.io.formats._torchfile import load_torch_file

# The source's generate scripts' names for the outer and inner class folder levels.
CONDITION_NAMES = ("drill_angle", "drill_force")
# YAML key -> MelConfig field of the analysis settings its dataset uses.
_MEL_KEYS = {"sample_rate": "sample_rate", "n_fft": "n_fft", "win_length": "win_length", "hop_length": "hop_length",
             "n_mels": "n_mels", "f_min": "fmin", "f_max": "fmax", "power": "power", "normalized": "normalized"}
STRIPS_HOP = 345  # the strips config's hop: its preset is cwgan-strips-22k


def read_source_config(path: str | Path) -> dict[str, Any]:
    """The YAML config of a DeepMel training run, as a dict (yaml.safe_load: data only)."""
    return read_yaml_mapping(path, what="DeepMel config", expected="a DeepMel YAML config (a mapping with cls_pth, "
                             "num_class, latent_dim, n_mels, ...)")


def _field(config: Mapping[str, Any], key: str, source: Path) -> Any:
    if key not in config:
        raise ConfigError(f"{source}: missing key {key!r} (a DeepMel config states it)")
    return config[key]


# The type each field of a DeepMel YAML must have, as its train scripts use them. YAML gives
# "64" for a quoted 64: such a string is refused here, naming the field, rather than later
# where it would read as a size disagreeing with the checkpoint.
_INTEGERS = ("latent_dim", "n_mels", "sample_rate", "n_fft", "win_length", "hop_length")
_NUMBERS = ("f_min", "power")
_OPTIONAL_NUMBERS = ("f_max",)      # torchaudio takes null as sample_rate / 2
_BOOLEANS = ("normalized", "in_strips")
_TEXT = ("window_fn",)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _expect(source: Path, key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{source}: {key}={value!r:.60}: expected {expected}, got {_kind(value)}")


def check_source_config(config: Mapping[str, Any], source: Path) -> None:
    """Every field's type and range, named, before any is used (a bool is not an integer here)."""
    for key in _INTEGERS:
        value = _field(config, key, source)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _expect(source, key, value, "a positive integer")
    for key in _NUMBERS + _OPTIONAL_NUMBERS:
        value = _field(config, key, source)
        if value is None and key in _OPTIONAL_NUMBERS:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _expect(source, key, value, "a number" + (" or null" if key in _OPTIONAL_NUMBERS else ""))
    for key in _BOOLEANS:
        if key in config and not isinstance(config[key], bool):
            raise _expect(source, key, config[key], "true or false")
    for key in _TEXT:
        if key in config and not isinstance(config[key], str):
            raise _expect(source, key, config[key], "a string")
    if "num_strips" in config:
        value = config["num_strips"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _expect(source, "num_strips", value, "a positive integer")
    elif config.get("in_strips", False):
        raise ConfigError(f"{source}: in_strips is true but num_strips is missing (a positive integer)")


def source_conditions(config: Mapping[str, Any], source: Path) -> tuple[dict, ...]:
    """[{name, values}] from the YAML's class folders (`cls_pth`) and `num_class`."""
    folders = _field(config, "cls_pth", source)
    num_class = _field(config, "num_class", source)
    if not isinstance(folders, Mapping) or not folders:
        raise ConfigError(f"{source}: cls_pth must map each outer class folder to its list of inner folders")
    inner: list[str] | None = None
    for key, children in folders.items():
        if not isinstance(children, list) or not children or any(isinstance(c, (Mapping, list)) for c in children):
            raise ConfigError(f"{source}: cls_pth.{key}: expected a list of inner folder names (only two folder "
                              f"levels are supported, as the source's configs use)")
        names = [str(c) for c in children]
        if inner is not None and names != inner:
            raise ConfigError(f"{source}: cls_pth.{key}: inner folders {names} differ from {inner}; the source labels "
                              f"a file by the inner folder's position, so they must be the same for every outer folder")
        inner = names
    outer = [str(k) for k in folders]
    if (not isinstance(num_class, list) or len(num_class) not in (1, 2)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in num_class)):
        raise ConfigError(f"{source}: num_class={num_class!r:.60}: expected a list of one or two positive integers "
                          f"(class counts), got {_kind(num_class)}")
    levels = [outer, inner] if len(num_class) == 2 else [inner]
    names = CONDITION_NAMES if len(num_class) == 2 else CONDITION_NAMES[1:]
    for name, values, count in zip(names, levels, num_class):
        if len(values) != count:
            raise ConfigError(f"{source}: num_class={num_class} says {count} values of {name}, cls_pth has "
                              f"{len(values)} ({values})")
    return tuple({"name": n, "values": list(v)} for n, v in zip(names, levels))


def source_mel_config(config: Mapping[str, Any], source: Path) -> MelConfig:
    """The source's analysis under the YAML's settings: torchaudio MelSpectrogram, center=False,
    zero pad (n_fft − hop)/2, HTK mels of the power spectrum, no compression."""
    window = config.get("window_fn", "hann_window")
    if window != "hann_window":
        raise ConfigError(f"{source}: window_fn={window!r}: the source supports only hann_window")
    values = {_MEL_KEYS[key]: _field(config, key, source) for key in _MEL_KEYS}
    preset = "cwgan-strips-22k" if values["hop_length"] == STRIPS_HOP else "cwgan-22k"
    return MelConfig.parse({"preset": preset, **values}, source=f"{source} (mel settings)")


def load_checkpoint(path: str | Path, *, trust_file: bool = False) -> dict[str, Any]:
    """The dict a DeepMel train script saved, read without running code from it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such DeepMel checkpoint file")
    data = load_torch_file(path, trust_file=trust_file)
    if not isinstance(data, Mapping) or "gen_state_dict" not in data:
        keys = sorted(map(str, data)) if isinstance(data, Mapping) else type(data).__name__
        raise CheckpointError(f"{path}: not a DeepMel checkpoint: expected a dict with 'gen_state_dict' (and "
                              f"'dis_state_dict'), got {keys}")
    return dict(data)


def _state_dicts(value: Any, key: str, path: Path) -> list[dict[str, torch.Tensor]]:
    """One state dict (deep model) or a list of them (strips) -> a list of state dicts."""
    states = value if isinstance(value, list) else [value]
    if not states or not all(isinstance(s, Mapping) and s and all(isinstance(t, torch.Tensor) for t in s.values())
                             for s in states):
        raise CheckpointError(f"{path}: {key}: expected a state dict or a list of state dicts (one per strip)")
    return [dict(s) for s in states]


def _shape(state: Mapping[str, torch.Tensor], key: str, path: Path, what: str) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(f"{path}: {what} has no {key!r}: not a DeepMel {'strip ' if 'strip' in what else ''}model")
    return tuple(state[key].shape)


def _generator_config(states: list[dict], config: Mapping[str, Any], path: Path, yaml_path: Path):
    strips = len(states)
    first = states[0]
    conditions = source_conditions(config, yaml_path)
    n_mels = _field(config, "n_mels", yaml_path)
    z_shape = _shape(first, "z_reshape.fc.0.weight", path, "gen_state_dict")
    latent = _field(config, "latent_dim", yaml_path)
    if z_shape[1] != latent:
        raise CheckpointError(f"{path}: the generator takes z of size {z_shape[1]}, {yaml_path} says latent_dim={latent}")
    sizes = [_shape(first, f"c_embedding.{k}.weight", path, "gen_state_dict") for k in range(len(conditions))]
    if any(f"c_embedding.{len(conditions)}.weight" in s for s in states):
        raise CheckpointError(f"{path}: the generator has more condition embeddings than {yaml_path}'s num_class")
    for (rows, _), cond in zip(sizes, conditions):
        if rows != len(cond["values"]):
            raise CheckpointError(f"{path}: the generator's {cond['name']} embedding has {rows} values, {yaml_path} "
                                  f"has {len(cond['values'])} ({cond['values']})")
    base = CONFIGS["strips-source"] if strips > 1 else CONFIGS["source"]
    h0 = n_mels // base.scale[0]
    area = sizes[0][1]
    if h0 < 1 or area % h0:
        raise CheckpointError(f"{path}: condition maps of {area} values do not fit n_mels={n_mels} of {yaml_path}")
    width = area // h0 * base.scale[1]
    in_strips = config.get("in_strips", False)
    if in_strips != (strips > 1) or (strips > 1 and strips != config.get("num_strips")):
        raise CheckpointError(f"{path}: holds {strips} generator(s), {yaml_path} says in_strips={in_strips}, "
                              f"num_strips={config.get('num_strips')}")
    return dataclasses.replace(base, conditions=conditions, z_dim=z_shape[1], frames=width * strips, normalised=False)


def _join(states: list[dict[str, torch.Tensor]], key: str, dim: int) -> torch.Tensor:
    return torch.cat([s[key] for s in states], dim=dim)


def generator_state(states: list[dict[str, torch.Tensor]], n_conditions: int, n_layers: int) -> dict[str, torch.Tensor]:
    """The source's generator state dict(s) -> melwave's (strips side by side in the groups)."""
    out: dict[str, torch.Tensor] = {}
    for k in range(n_conditions):
        out[f"embeddings.{k}.weight"] = _join(states, f"c_embedding.{k}.weight", 1)  # (n, G·h0·w0)
    out["project.weight"] = torch.stack([s["z_reshape.fc.0.weight"] for s in states])  # (G, out, z)
    for i in range(n_layers):
        out[f"ups.{i}.weight"] = _join(states, f"conv_transpose_layers.{i}.deconv.0.weight", 0)
        if i < n_layers - 1:
            for name in ("weight", "bias", "running_mean", "running_var"):
                out[f"norms.{i}.{name}"] = _join(states, f"conv_transpose_layers.{i}.deconv.1.{name}", 0)
            # One counter for the grouped norm; unused in eval mode and with a set momentum.
            out[f"norms.{i}.num_batches_tracked"] = states[0][f"conv_transpose_layers.{i}.deconv.1.num_batches_tracked"]
    return out


def critic_state(states: list[dict[str, torch.Tensor]], n_conditions: int, n_layers: int, head_shape) -> dict[str, torch.Tensor]:
    """The source's critic state dict(s) -> melwave's Critic (strips side by side in the groups)."""
    out: dict[str, torch.Tensor] = {}
    for k in range(n_conditions):
        out[f"label_maps.{k}.weight"] = _join(states, f"c_embedding.{k}.weight", 1)
    out["map_upsampler.weight"] = _join(states, "c_embed_upsampling.deconv.0.weight", 0)
    for i in range(n_layers):
        out[f"convs.{i}.weight"] = _join(states, f"conv_layers.{i}.0.weight", 0)
        out[f"norms.{i}.weight"] = _join(states, f"conv_layers.{i}.1.weight", 0)
        out[f"norms.{i}.bias"] = _join(states, f"conv_layers.{i}.1.bias", 0)
    # Linear(h·w -> 1) over the flattened last (1, h, w) map = a (1, h, w) convolution per strip.
    out["head.weight"] = torch.cat([s["fc.fc.0.weight"].reshape(1, *head_shape) for s in states])
    return out


def _load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    expected = module.state_dict()
    own = {k: v for k, v in expected.items() if k not in state}
    # melwave's own buffers (normalisation statistics) keep their values.
    for key in ("mel_mean", "mel_std", "stats_frames"):
        if key in own:
            state[key] = own.pop(key)
    bad = [k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    if own or bad:
        problem = (f"missing {sorted(own)[:3]}" if own else
                   f"{bad[0]} has shape {tuple(state[bad[0]].shape)}, expected {tuple(expected[bad[0]].shape)}")
        raise CheckpointError(f"{path}: {what} does not match the source's architecture ({problem})")
    module.load_state_dict(state, strict=True)


def load_deepmel(path: str | Path, source_config: str | Path, *, device: str | torch.device = "cpu",
                 trust_file: bool = False) -> CWGANGenerator:
    """A DeepMel checkpoint + its YAML config -> melwave's generator (eval mode, `normalised: false`)."""
    path, yaml_path = Path(path), Path(source_config)
    model = _generator(load_checkpoint(path, trust_file=trust_file), path, yaml_path)
    return model.to(device).eval()


def _sized(path: Path, what: str, build, states: list[dict]) -> torch.nn.Module:
    """`build()` after the loading gate's sizing on the meta device (op budget, MAX_MODEL_PARAMS,
    layer reach): the source's tensors are rearranged before loading, so names are compared by
    `_load_strict` afterwards."""
    from melwave.models.io.gate import check_size, sized_skeleton

    check_size(path, what, sized_skeleton(path, what, build, sum(len(s) for s in states)))
    return build()


def _generator(checkpoint: Mapping[str, Any], path: Path, yaml_path: Path) -> CWGANGenerator:
    config = read_source_config(yaml_path)
    check_source_config(config, yaml_path)
    try:
        states = _state_dicts(checkpoint["gen_state_dict"], "gen_state_dict", path)
        model_config = _generator_config(states, config, path, yaml_path)
        mel = source_mel_config(config, yaml_path)
        model = _sized(path, "the DeepMel generator its config describes", lambda: CWGANGenerator(model_config, mel), states)
        state = generator_state(states, len(model_config.conditions), len(model_config.channels))
    except KeyError as err:
        raise CheckpointError(f"{path}: gen_state_dict has no {err.args[0]!r}: not a DeepMel generator") from None
    _load_strict(model, state, path, "gen_state_dict")
    model.provenance = {"layout": "deepmel", "source": str(path), "source_config": str(yaml_path)}
    model.name = path.stem
    return model.eval()


def load_deepmel_critic(path: str | Path, source_config: str | Path, *, device: str | torch.device = "cpu",
                        trust_file: bool = False) -> Critic:
    """The critic of a DeepMel checkpoint (`dis_state_dict`) as melwave's Critic (scores (B, G))."""
    path, yaml_path = Path(path), Path(source_config)
    checkpoint = load_checkpoint(path, trust_file=trust_file)
    generator = _generator(checkpoint, path, yaml_path)
    if "dis_state_dict" not in checkpoint:
        raise CheckpointError(f"{path}: no 'dis_state_dict' (the critic) in this DeepMel checkpoint")
    states = _state_dicts(checkpoint["dis_state_dict"], "dis_state_dict", path)
    config = SOURCE_STRIPS_CRITIC if len(states) > 1 else SOURCE_CRITIC
    critic = Critic.for_generator(config, generator)
    try:
        state = critic_state(states, len(generator.vocabulary.names), len(config.channels), critic.head.weight.shape[1:])
    except KeyError as err:
        raise CheckpointError(f"{path}: dis_state_dict has no {err.args[0]!r}: not a DeepMel critic") from None
    _load_strict(critic, state, path, "dis_state_dict")
    return critic.to(device).eval()


def convert_deepmel(path: str | Path, source_config: str | Path, output: str | Path, *, overwrite: bool = False,
                    trust_file: bool = False, half: bool = False,
                    allow_nonfinite: bool = False) -> tuple[Path, CWGANGenerator]:
    """A DeepMel checkpoint + YAML -> one melwave `.safetensors` generator (its MelConfig, its
    vocabulary and `normalised: false` in the header; `provenance` names the source files), which
    `melwave.load_generator(FILE)` loads alone. Never replaces `output` unless `overwrite`; NaN/Inf
    weights are refused unless `allow_nonfinite`; write failures are one OutputError."""
    from melwave._version import __version__
    from melwave.models.io.finite import check_finite
    from melwave.models.io.model_file import save_model
    from melwave.utils.fileio import output_errors, prepare_output

    output = prepare_output(output, suffix=".safetensors", kind="melwave models", overwrite=overwrite)
    model = load_deepmel(path, source_config, trust_file=trust_file)
    check_finite(model, path, half=half, allow_nonfinite=allow_nonfinite)
    provenance = {**model.provenance, "converted_by": f"melwave {__version__}"}
    with output_errors(output):
        save_model(model, output, overwrite=overwrite, half=half, extra={"provenance": provenance})
    return output, model
