"""kan-bayashi/ParallelWaveGAN checkpoint folders: `checkpoint-<N>steps.pkl` + `config.yml` +
`stats.h5` (or `stats.npy`), loaded into melwave's ToolkitVocoder.

- The .pkl is `torch.save({"model": {"generator": state_dict, "discriminator": ...}, "optimizer": ...,
  "steps": ..., ...})`; it is read with `weights_only=True` (anything more needs trust_file).
  The generator's convs carry weight norm (`weight_g`/`weight_v`); it is folded into plain weights.
- `config.yml` gives the mel settings and `generator_type` + `generator_params`. Generators read:
  ParallelWaveGANGenerator (ConvInUpsampleNetwork), MelGANGenerator (out_channels > 1: Multi-band
  MelGAN, with `pqmf_params`) and HiFiGANGenerator; options melwave's networks do not implement
  (causal convs, other activations or paddings) are refused in one line naming them.
- The toolkit's features (`parallel_wavegan/bin/preprocess.py: logmelfilterbank`): librosa.stft
  (center=True, pad_mode="reflect", periodic Hann window of win_length centred in fft_size),
  magnitude, librosa's Slaney mel filterbank (fmin null = 0, fmax null = sr/2), then
  log10(max(mel, 1e-10)); training normalises them with the mean/scale of `stats.h5`
  (sklearn StandardScaler). Here that is MelConfig(padding="center", pad_mode="reflect", power=1,
  mel_scale="slaney", mel_norm="slaney", compression="log10", log_clamp=1e-10) plus the statistics
  as buffers of the model, applied in its forward.
- `stats.h5` needs h5py (the `toolkit` extra); `stats.npy` (`[mean, scale]`, what the toolkit writes
  with `format: npy`) is read by numpy without pickle.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError, ConfigError
from melwave.utils.fileio import read_yaml_mapping

CHECKPOINT = re.compile(r"checkpoint-(\d+)steps\.pkl$")
CONFIG = "config.yml"
GENERATOR_TYPES = ("ParallelWaveGANGenerator", "MelGANGenerator", "HiFiGANGenerator")


def _folder_and_checkpoint(path: Path) -> tuple[Path, Path | None]:
    if path.is_file():
        return path.parent, path if CHECKPOINT.search(path.name) else None
    checkpoints = sorted((p for p in path.glob("checkpoint-*steps.pkl") if CHECKPOINT.search(p.name)),
                         key=lambda p: int(CHECKPOINT.search(p.name).group(1)))
    # A training folder keeps several: the last one is what the toolkit's recipes decode with.
    return path, checkpoints[-1] if checkpoints else None


def matches(path: Path) -> bool:
    folder, checkpoint = _folder_and_checkpoint(path)
    return checkpoint is not None and (folder / CONFIG).is_file()


def load(path: Path, *, device="cpu", trust_file: bool = False, mel_config: MelConfig | None = None):
    """The folder (or its checkpoint .pkl) as a ToolkitVocoder; `mel_config` is ignored here
    (config.yml states the mel settings; load_vocoder checks a given one against them)."""
    import torch

    from melwave.models.io.formats._torchfile import load_torch_file
    from melwave.models.io.gate import build_checked, checked_state
    from melwave.models.vocoders.pwg import ToolkitVocoder

    del mel_config
    folder, checkpoint = _folder_and_checkpoint(path)
    config = read_config(folder / CONFIG)
    mel = toolkit_mel_config(config, source=str(folder / CONFIG))
    data = load_torch_file(checkpoint, trust_file=trust_file)
    try:
        state = data["model"]["generator"]
    except (TypeError, KeyError):
        raise CheckpointError(f"{checkpoint}: expected {{'model': {{'generator': state_dict}}}} (a ParallelWaveGAN toolkit checkpoint)") from None
    state = checked_state(checkpoint, state, what="model.generator state dict")
    # Stats registered on the generator (register_stats) are in its state dict; stats.h5 wins.
    stored_stats = (state.pop("mean", None), state.pop("scale", None))
    # A generator saved with its inference-time PQMF holds the filterbank too: rebuilt from config.
    state = {k: v for k, v in state.items() if not k.startswith("pqmf.")}
    model_config, renamed = toolkit_model(config, state, n_mels=mel.n_mels, source=str(folder / CONFIG))
    mean, scale = read_stats(folder, stored_stats, n_mels=mel.n_mels)
    renamed["feature_mean"], renamed["feature_scale"] = torch.from_numpy(mean), torch.from_numpy(scale)
    model = build_checked(checkpoint, f"the {config.get('generator_type', GENERATOR_TYPES[0])} its config.yml describes",
                          lambda: ToolkitVocoder(model_config, mel), renamed)
    model.name = folder.name
    model.provenance = {"checkpoint": checkpoint.name, "generator_type": config.get("generator_type", GENERATOR_TYPES[0])}
    return model.to(device).eval()


# --- config.yml -------------------------------------------------------------------------------

def read_config(path: Path) -> dict[str, Any]:
    # The toolkit writes it with yaml.Dumper; its values are plain scalars, lists and maps.
    return read_yaml_mapping(path, what="toolkit config", expected="a mapping of the toolkit's settings", error=CheckpointError)


def _need(config: Mapping[str, Any], key: str, source: str) -> Any:
    if key not in config:
        raise CheckpointError(f"{source}: no {key!r} (not a ParallelWaveGAN toolkit config?)")
    return config[key]


def toolkit_mel_config(config: Mapping[str, Any], *, source: str) -> MelConfig:
    """The MelConfig equal to the toolkit's logmelfilterbank under these settings."""
    if config.get("sampling_rate_for_feats") not in (None, config.get("sampling_rate")):
        raise CheckpointError(f"{source}: sampling_rate_for_feats={config['sampling_rate_for_feats']} (features at another "
                              f"rate than the audio) is not supported")
    window = config.get("window", "hann")
    if window != "hann":
        raise CheckpointError(f"{source}: window={window!r}: melwave's mel analysis uses a Hann window only")
    fft = _need(config, "fft_size", source)
    try:
        return MelConfig(
            sample_rate=_need(config, "sampling_rate", source), n_fft=fft, win_length=config.get("win_length") or fft,
            hop_length=_need(config, "hop_size", source), n_mels=_need(config, "num_mels", source),
            fmin=config.get("fmin") or 0.0, fmax=config.get("fmax"), padding="center", pad_mode="reflect", power=1.0,
            normalized=False, mel_scale="slaney", mel_norm="slaney", compression="log10", log_clamp=1e-10)
    except ConfigError as err:
        raise CheckpointError(f"{source}: {err}") from None


def _params(config: Mapping[str, Any], defaults: Mapping[str, Any], supported: Mapping[str, Callable[[Any], bool]],
            source: str) -> dict[str, Any]:
    """generator_params over the toolkit constructor's defaults; refuses what melwave cannot build."""
    given = {k.replace("upsample_kernal_sizes", "upsample_kernel_sizes"): v  # the toolkit's own typo workaround (#295)
             for k, v in (config.get("generator_params") or {}).items()}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise CheckpointError(f"{source}: generator_params {unknown} unknown to {config.get('generator_type')}")
    params = {**defaults, **given}
    refused = [f"{k}={params[k]!r}" for k, ok in supported.items() if not ok(params[k])]
    if refused:
        raise CheckpointError(f"{source}: {config.get('generator_type', GENERATOR_TYPES[0])} with {', '.join(refused)} "
                              f"is not supported by melwave's networks")
    return params


LEAKY = "LeakyReLU"


def toolkit_model(config: Mapping[str, Any], state: dict, *, n_mels: int, source: str):
    """(ToolkitConfig, the state dict under melwave's names) for this config.yml's generator."""
    from melwave.models.vocoders.hifigan import HiFiGANConfig
    from melwave.models.vocoders.melgan import MelGANConfig
    from melwave.models.vocoders.pwg import ParallelWaveGANConfig, PQMFConfig, ToolkitConfig

    kind = config.get("generator_type", "ParallelWaveGANGenerator")
    mels = {"in_channels": lambda v: v == n_mels} if kind != "ParallelWaveGANGenerator" else {"aux_channels": lambda v: v == n_mels}
    try:
        if kind == "ParallelWaveGANGenerator":
            p = _params(config, PWG_DEFAULTS, {**mels, "in_channels": lambda v: v == 1, "out_channels": lambda v: v == 1,
                                               "bias": lambda v: v is True, "use_causal_conv": lambda v: v is False,
                                               "upsample_conditional_features": lambda v: v is True,
                                               "upsample_net": lambda v: v == "ConvInUpsampleNetwork",
                                               "upsample_params": _plain_upsample}, source)
            model = ToolkitConfig(parallel_wavegan=ParallelWaveGANConfig(
                upsample_scales=tuple(p["upsample_params"]["upsample_scales"]), layers=p["layers"], stacks=p["stacks"],
                kernel_size=p["kernel_size"], residual_channels=p["residual_channels"], gate_channels=p["gate_channels"],
                skip_channels=p["skip_channels"], aux_context_window=p["aux_context_window"]))
            return model, _rename(state, _pwg_names(), source)
        if kind == "MelGANGenerator":
            p = _params(config, MELGAN_DEFAULTS, {**mels, "kernel_size": lambda v: v == 7, "bias": lambda v: v is True,
                                                  "nonlinear_activation": lambda v: v == LEAKY,
                                                  "nonlinear_activation_params": lambda v: v == {"negative_slope": 0.2},
                                                  "pad": lambda v: v == "ReflectionPad1d", "pad_params": lambda v: not v,
                                                  "use_final_nonlinear_activation": lambda v: v is True,
                                                  "use_causal_conv": lambda v: v is False}, source)
            bands = p["out_channels"]
            melgan = MelGANConfig(upsample_rates=tuple(p["upsample_scales"]), initial_channels=p["channels"],
                                  dilations=tuple(p["stack_kernel_size"] ** j for j in range(p["stacks"])),
                                  residual_kernel=p["stack_kernel_size"], out_channels=bands)
            pqmf = PQMFConfig(subbands=bands, **_pqmf_params(config)) if bands > 1 else None
            return (ToolkitConfig(generator="melgan", melgan=melgan, pqmf=pqmf),
                    _rename(state, _melgan_names(len(melgan.upsample_rates), p["stacks"]), source))
        if kind == "HiFiGANGenerator":
            p = _params(config, HIFIGAN_DEFAULTS, {**mels, "out_channels": lambda v: v == 1, "kernel_size": lambda v: v == 7,
                                                   "bias": lambda v: v is True, "nonlinear_activation": lambda v: v == LEAKY,
                                                   "nonlinear_activation_params": lambda v: v == {"negative_slope": 0.1},
                                                   "use_causal_conv": lambda v: v is False}, source)
            if list(p["upsample_kernel_sizes"]) != [2 * s for s in p["upsample_scales"]]:
                raise CheckpointError(f"{source}: upsample_kernel_sizes must be twice upsample_scales (the toolkit asserts it)")
            hifigan = HiFiGANConfig(upsample_rates=tuple(p["upsample_scales"]), upsample_kernel_sizes=tuple(p["upsample_kernel_sizes"]),
                                    upsample_initial_channel=p["channels"], resblock="1" if p["use_additional_convs"] else "2",
                                    resblock_kernel_sizes=tuple(p["resblock_kernel_sizes"]),
                                    resblock_dilation_sizes=tuple(tuple(d) for d in p["resblock_dilations"]),
                                    upsample_padding="toolkit")
            return ToolkitConfig(generator="hifigan", hifigan=hifigan), _rename(state, _hifigan_names(p["use_additional_convs"]), source)
    except (ConfigError, TypeError, ValueError) as err:
        raise CheckpointError(f"{source}: generator_params do not describe a valid {kind} ({' '.join(str(err).split())[:200]})") from None
    raise CheckpointError(f"{source}: generator_type {kind!r} is not supported; melwave reads {', '.join(GENERATOR_TYPES)}")


# The toolkit constructors' defaults (parallel_wavegan/models/*.py), for keys a config leaves out.
PWG_DEFAULTS = {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "layers": 30, "stacks": 3, "residual_channels": 64,
                "gate_channels": 128, "skip_channels": 64, "aux_channels": 80, "aux_context_window": 2, "dropout": 0.0,
                "bias": True, "use_weight_norm": True, "use_causal_conv": False, "upsample_conditional_features": True,
                "upsample_net": "ConvInUpsampleNetwork", "upsample_params": {"upsample_scales": [4, 4, 4, 4]}}
MELGAN_DEFAULTS = {"in_channels": 80, "out_channels": 1, "kernel_size": 7, "channels": 512, "bias": True,
                   "upsample_scales": [8, 8, 2, 2], "stack_kernel_size": 3, "stacks": 3, "nonlinear_activation": LEAKY,
                   "nonlinear_activation_params": {"negative_slope": 0.2}, "pad": "ReflectionPad1d", "pad_params": {},
                   "use_final_nonlinear_activation": True, "use_weight_norm": True, "use_causal_conv": False}
HIFIGAN_DEFAULTS = {"in_channels": 80, "out_channels": 1, "channels": 512, "kernel_size": 7, "upsample_scales": [8, 8, 2, 2],
                    "upsample_kernel_sizes": [16, 16, 4, 4], "resblock_kernel_sizes": [3, 7, 11],
                    "resblock_dilations": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "use_additional_convs": True, "bias": True,
                    "nonlinear_activation": LEAKY, "nonlinear_activation_params": {"negative_slope": 0.1},
                    "use_causal_conv": False, "use_weight_norm": True}


def _plain_upsample(params: Any) -> bool:
    """ConvInUpsampleNetwork as melwave builds it: nearest repeat, no activation, 1-bin freq kernel."""
    if not isinstance(params, Mapping) or "upsample_scales" not in params:
        return False
    return (params.get("nonlinear_activation") is None and params.get("interpolate_mode", "nearest") == "nearest"
            and params.get("freq_axis_kernel_size", 1) == 1 and not params.get("use_causal_conv", False)
            and set(params) <= {"upsample_scales", "nonlinear_activation", "nonlinear_activation_params", "interpolate_mode",
                                "freq_axis_kernel_size", "aux_channels", "aux_context_window", "use_causal_conv"})


def _pqmf_params(config: Mapping[str, Any]) -> dict[str, Any]:
    if "pqmf_params" in config:
        return dict(config["pqmf_params"])
    version = tuple(int(x) for x in re.findall(r"\d+", str(config.get("version", "0.1.0")))[:3])
    # The toolkit's load_model: files written by version <= 0.4.2 used cutoff 0.15 (its later default is 0.142).
    return {"taps": 62, "cutoff_ratio": 0.15, "beta": 9.0} if version <= (0, 4, 2) else {}


# --- parameter names: the toolkit's -> melwave's (inside ToolkitVocoder.generator) ------------

def _pwg_names() -> list[tuple[str, str]]:
    return [(r"first_conv\.", "first_conv."), (r"upsample_net\.conv_in\.", "conv_in."),
            (r"upsample_net\.upsample\.up_layers\.(\d+)\.", lambda m: f"upsample.{int(m.group(1)) // 2}."),
            (r"conv_layers\.(\d+)\.conv\.", r"layers.\1.conv."), (r"conv_layers\.(\d+)\.conv1x1_aux\.", r"layers.\1.aux."),
            (r"conv_layers\.(\d+)\.conv1x1_out\.", r"layers.\1.out."), (r"conv_layers\.(\d+)\.conv1x1_skip\.", r"layers.\1.skip."),
            (r"last_conv_layers\.1\.", "post1."), (r"last_conv_layers\.3\.", "post2.")]


def _melgan_names(stages: int, stacks: int) -> list[tuple[str, str]]:
    """The toolkit's MelGAN is one Sequential: pad, conv, then per stage LeakyReLU, ConvTranspose
    and `stacks` residual stacks, then LeakyReLU, pad, conv (, tanh)."""
    names = [(r"melgan\.1\.", "conv_pre.")]
    index = 2
    for i in range(stages):
        names.append((rf"melgan\.{index + 1}\.", f"ups.{i}."))
        for j in range(stacks):
            at = index + 2 + j
            names += [(rf"melgan\.{at}\.stack\.2\.", f"stacks.{i}.{j}.conv."), (rf"melgan\.{at}\.stack\.4\.", f"stacks.{i}.{j}.proj."),
                      (rf"melgan\.{at}\.skip_layer\.", f"stacks.{i}.{j}.shortcut.")]
        index += 2 + stacks
    names.append((rf"melgan\.{index + 2}\.", "conv_post."))
    return names


def _hifigan_names(additional_convs: bool) -> list[tuple[str, str]]:
    first = "convs1" if additional_convs else "convs"
    return [(r"input_conv\.", "conv_pre."), (r"upsamples\.(\d+)\.1\.", r"ups.\1."),
            (r"blocks\.(\d+)\.convs1\.(\d+)\.1\.", rf"resblocks.\1.{first}.\2."),
            (r"blocks\.(\d+)\.convs2\.(\d+)\.1\.", r"resblocks.\1.convs2.\2."), (r"output_conv\.1\.", "conv_post.")]


def _rename(state: dict, names: list[tuple[str, Any]], source: str) -> dict:
    renamed = {}
    for key, value in state.items():
        for pattern, replacement in names:
            new, count = re.subn("^" + pattern, replacement, key, count=1)
            if count:
                renamed["generator." + new] = value
                break
        else:
            raise CheckpointError(f"{source}: the checkpoint's generator has a tensor {key!r} its generator_type does not have")
    return renamed


# --- stats.h5 / stats.npy ---------------------------------------------------------------------

def read_stats(folder: Path, stored: tuple[Any, Any], *, n_mels: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) float32 of n_mels values each, from stats.h5, stats.npy or the checkpoint."""
    h5, npy = folder / "stats.h5", folder / "stats.npy"
    if h5.is_file():
        from melwave.utils.optional import require

        h5py = require("h5py", "reading a ParallelWaveGAN toolkit stats.h5")
        try:
            with h5py.File(h5, "r") as handle:
                datasets = [handle["mean"], handle["scale"]]
                # The declared sizes first: a tiny file can declare a huge (fill-value) dataset.
                if any(not isinstance(d, h5py.Dataset) or d.size != n_mels or d.dtype.kind != "f" for d in datasets):
                    raise ValueError(f"'mean' and 'scale' must each hold {n_mels} floats (num_mels)")
                mean, scale = (np.asarray(d[()]) for d in datasets)
        except (OSError, KeyError, TypeError, ValueError, AttributeError) as err:
            raise CheckpointError(f"{h5}: expected HDF5 datasets 'mean' and 'scale' ({' '.join(str(err).split())[:150]})") from None
        source = h5
    elif npy.is_file():
        from melwave.utils.safe_arrays import read_npy

        both = read_npy(npy, error=CheckpointError, what="[mean, scale] array")
        if both.ndim < 1 or len(both) != 2:
            raise CheckpointError(f"{npy}: expected [mean, scale], got an array of shape {both.shape}")
        mean, scale, source = both[0], both[1], npy
    elif stored[0] is not None and stored[1] is not None:
        mean, scale, source = stored[0].numpy(), stored[1].numpy(), folder / "checkpoint"
    else:
        raise CheckpointError(f"{folder}: no stats.h5 or stats.npy: the generator was trained on normalised features and "
                              f"cannot be used without the statistics it was normalised with")
    mean, scale = mean.reshape(-1).astype(np.float32), scale.reshape(-1).astype(np.float32)
    if mean.shape != (n_mels,) or scale.shape != (n_mels,):
        raise CheckpointError(f"{source}: mean/scale have {mean.size}/{scale.size} values, config.yml has num_mels={n_mels}")
    if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
        raise CheckpointError(f"{source}: mean/scale must be finite with scale > 0")
    return mean, scale
