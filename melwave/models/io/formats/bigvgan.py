"""BigVGAN v1/v2 checkpoints as NVIDIA publishes them (`nvidia/bigvgan_v2_22khz_80band_256x`,
`_24khz_100band_256x`, `_44khz_128band_512x`, ...): a folder with `config.json` (HiFi-GAN-style
keys plus `activation`, `snake_logscale`, `use_tanh_at_final`, `use_bias_at_final`) and
`bigvgan_generator.pt` = `{"generator": state_dict}` with weight norm (`weight_g`/`weight_v`).

The network is melwave's GOMIN-family GAN with BigVGAN's choices (no FiLM, no Snake before the
upsamplers, BigVGAN's anti-aliasing on every AMP activation and the final one). The mel is
BigVGAN's (HiFi-GAN's): Slaney scale and norm, magnitude, reflect padding (n_fft − hop)/2 without
centring, `log(clamp(x, 1e-5))`; `fmax: null` means sample_rate/2.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError, ConfigError

CONFIG, WEIGHTS = "config.json", "bigvgan_generator.pt"
MEL_KEYS = ("sampling_rate", "n_fft", "num_mels", "hop_size", "win_size", "fmin", "fmax")
MODEL_KEYS = ("upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel", "resblock",
              "resblock_kernel_sizes", "resblock_dilation_sizes", "activation")
FILTER_TOLERANCE = 1e-6  # stored vs recomputed anti-aliasing taps: float32 rounding of the same formula


def _read_config(path: Path) -> Any:
    """config.json's value, or None when it is unreadable (`matches` only asks whether it is
    BigVGAN's; `load` reads it with `read_config`, whose errors say why)."""
    try:
        return read_config(path)
    except CheckpointError:
        return None


def read_config(path: Path) -> Any:
    from melwave.utils.safe_config import read_json

    return read_json(path, error=CheckpointError, what="BigVGAN config.json")


def _is_bigvgan_config(config: Any) -> bool:
    return isinstance(config, dict) and "activation" in config and "upsample_rates" in config


def matches(path: Path) -> bool:
    # A folder holding both files, or the weights file itself beside a BigVGAN config.json
    # (also v1's `g_<steps>` files). Read before the HiFi-GAN layout, which takes any .pt.
    if path.is_dir():
        return (path / WEIGHTS).is_file() and (path / CONFIG).is_file()
    return path.is_file() and path.suffix != ".json" and (path.parent / CONFIG).is_file() and \
        _is_bigvgan_config(_read_config(path.parent / CONFIG))


def mel_config_of(config: dict[str, Any], source: Path) -> MelConfig:
    """The MelConfig BigVGAN's `get_mel_spectrogram(wav, h)` computes for this config.json."""
    missing = [key for key in MEL_KEYS if key not in config]
    if missing:
        raise CheckpointError(f"{source}: missing mel key(s) {missing}; BigVGAN's config.json has {list(MEL_KEYS)}")
    try:
        return MelConfig(sample_rate=config["sampling_rate"], n_fft=config["n_fft"], win_length=config["win_size"],
                         hop_length=config["hop_size"], n_mels=config["num_mels"], fmin=config["fmin"],
                         fmax=config["fmax"], padding="symmetric", pad_mode="reflect", power=1.0, normalized=False,
                         mel_scale="slaney", mel_norm="slaney", compression="log", log_clamp=1e-5)
    except ConfigError as err:
        raise CheckpointError(f"{source}: {err}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_int_list(value: Any) -> bool:
    return isinstance(value, list) and all(_is_int(v) for v in value)


# config.json's generator keys and the JSON type BigVGAN's code expects of each.
_TYPES = {"upsample_rates": (_is_int_list, "a list of integers"), "upsample_kernel_sizes": (_is_int_list, "a list of integers"),
          "upsample_initial_channel": (_is_int, "an integer"), "resblock_kernel_sizes": (_is_int_list, "a list of integers"),
          "resblock_dilation_sizes": (lambda v: isinstance(v, list) and all(_is_int_list(d) for d in v),
                                      "a list of lists of integers"),
          "resblock": (lambda v: v in ("1", "2", 1, 2), '"1" or "2"'), "activation": (lambda v: isinstance(v, str), "a string")}


def _check_types(config: dict[str, Any], source: Path) -> None:
    from melwave.utils.safe_config import short_repr

    for key, (ok, expected) in _TYPES.items():
        if not ok(config[key]):
            raise CheckpointError(f"{source}: {key}={short_repr(config[key])}: expected {expected}")


def model_config_of(config: dict[str, Any], source: Path):
    """The `GominGANConfig` of BigVGAN(h) for this config.json."""
    from melwave.models.vocoders.gomin import GominGANConfig

    missing = [key for key in MODEL_KEYS if key not in config]
    if missing:
        raise CheckpointError(f"{source}: missing generator key(s) {missing}")
    _check_types(config, source)
    rates, kernels = config["upsample_rates"], config["upsample_kernel_sizes"]
    if isinstance(rates, list) and isinstance(kernels, list):
        for rate, kernel in zip(rates, kernels):
            if isinstance(rate, int) and isinstance(kernel, int) and (kernel - rate) % 2:
                # BigVGAN pads (k − u)//2: an odd k − u gives one sample more than u× per stage.
                raise CheckpointError(f"{source}: upsample kernel {kernel} with rate {rate}: melwave reads BigVGAN "
                                      f"generators whose kernel minus rate is even (every published one)")
    try:
        return GominGANConfig(
            upsample_strides=tuple(rates), initial_channels=config["upsample_initial_channel"],
            upsample_kernel_sizes=tuple(kernels), resblock=str(config["resblock"]),
            resblock_kernel_sizes=tuple(config["resblock_kernel_sizes"]),
            resblock_dilations=tuple(tuple(d) for d in config["resblock_dilation_sizes"]),
            activation=config["activation"], snake_log_scale=bool(config.get("snake_logscale", False)),
            antialias="bigvgan", film=False, pre_upsample_activation=False,
            # BigVGAN reads these two with h.get(..., True): v1 configs leave them out.
            final_tanh=bool(config.get("use_tanh_at_final", True)), final_bias=bool(config.get("use_bias_at_final", True)))
    except (ConfigError, TypeError) as err:
        raise CheckpointError(f"{source}: {err}") from None


def to_melwave_state(state: dict[str, Any], config, source: Path) -> dict[str, Any]:
    """BigVGAN's generator keys -> melwave's; the stored anti-aliasing filters are checked against
    the ones melwave computes (they are fixed by the design, not learned) and dropped."""
    from melwave.models.blocks.antialias import kaiser_sinc_filter

    expected_filter = kaiser_sinc_filter(0.25, 0.3, 12)  # ratio 2: cutoff 0.5/2, half-width 0.6/2
    per_stage = len(config.resblock_kernel_sizes)
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key.endswith((".upsample.filter", ".downsample.lowpass.filter")):
            stored = value.detach().float().reshape(-1)
            if stored.shape != expected_filter.shape or (stored - expected_filter).abs().max() > FILTER_TOLERANCE:
                raise CheckpointError(f"{source}: {key} is not BigVGAN's 12-tap Kaiser-sinc filter (ratio 2)")
            continue
        new = key
        if match := re.fullmatch(r"ups\.(\d+)\.0\.(.*)", key):
            new = f"ups.{match.group(1)}.{match.group(2)}"
        elif match := re.fullmatch(r"resblocks\.(\d+)\.(.*)", key):
            index, rest = int(match.group(1)), match.group(2)
            block = f"resblocks.{index // per_stage}.{index % per_stage}"
            if m := re.fullmatch(r"activations\.(\d+)\.act\.(alpha|beta)", rest):
                n = int(m.group(1))
                # AMPBlock1 interleaves its activations (first, second, first, ...); AMPBlock2 has firsts only.
                which, j = ("acts1", n) if config.resblock == "2" else (("acts1", "acts2")[n % 2], n // 2)
                rest = f"{which}.{j}.act.{m.group(2)}"
            elif m := re.fullmatch(r"convs\.(\d+)\.(.*)", rest):
                rest = f"convs1.{m.group(1)}.{m.group(2)}"
            new = f"{block}.{rest}"
        elif key.startswith("activation_post."):
            new = "act_post." + key[len("activation_post."):]
        out[new] = value
    return out


def load(path: Path, *, device="cpu", trust_file: bool = False, mel_config: MelConfig | None = None):
    from melwave.models.io.formats._torchfile import load_torch_file
    from melwave.models.io.gate import build_checked, checked_state
    from melwave.models.vocoders.gomin import GominGAN

    del mel_config  # config.json states the mel settings; load_vocoder checks a given one against them
    folder, weights = (path, path / WEIGHTS) if path.is_dir() else (path.parent, path)
    config_path = folder / CONFIG
    config = read_config(config_path)
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path}: not a JSON object (BigVGAN's config.json)")
    mel = mel_config_of(config, config_path)
    model_config = model_config_of(config, config_path)
    checkpoint = load_torch_file(weights, trust_file=trust_file)
    state = checkpoint.get("generator") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{weights}: expected {{'generator': state_dict}} (BigVGAN's bigvgan_generator.pt)")
    state = to_melwave_state(checked_state(weights, state, what="generator state dict"), model_config, weights)
    model = build_checked(weights, f"the BigVGAN generator its {config_path.name} describes",
                          lambda: GominGAN(model_config, mel), state)
    model.name = folder.name if path.is_dir() else path.name
    return model.to(device).eval()
