"""Vocos checkpoints as the authors publish them (`charactr/vocos-mel-24khz`): a folder with
`config.yaml` (feature_extractor / backbone / head, each `class_path` + `init_args`) and
`pytorch_model.bin`, the state dict of the authors' whole `Vocos` module (feature extractor
buffers, backbone, head).

The mel is torchaudio's `MelSpectrogram` as their `MelSpectrogramFeatures` builds it: HTK scale,
no filter norm, 0 Hz to sample_rate/2, win = n_fft, magnitude (power 1), reflect padding
("center": torch.stft's; "same": (n_fft − hop)/2 each side, no centring), then
`log(clamp(x, 1e-7))`. The network is melwave's `Vocos` with `head_padding` the head's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError, ConfigError
from melwave.utils.fileio import read_yaml_mapping

CONFIG, WEIGHTS = "config.yaml", "pytorch_model.bin"
FEATURES = "vocos.feature_extractors.MelSpectrogramFeatures"
BACKBONE = "vocos.models.VocosBackbone"
HEAD = "vocos.heads.ISTFTHead"
LOG_CLAMP = 1e-7  # vocos.modules.safe_log's clip_val


def matches(path: Path) -> bool:
    if not (path.is_dir() and (path / CONFIG).is_file() and (path / WEIGHTS).is_file()):
        return False
    try:
        config = read_yaml_mapping(path / CONFIG, expected="a mapping", error=CheckpointError)
    except CheckpointError:
        # Vocos's file names and nobody else's: `load` reads it again and says what is wrong.
        return True
    return {"feature_extractor", "backbone", "head"} <= set(config)


def _section(config: dict, name: str, class_path: str, source: Path) -> dict[str, Any]:
    section = config.get(name)
    if not isinstance(section, dict) or section.get("class_path") != class_path:
        found = section.get("class_path") if isinstance(section, dict) else section
        raise CheckpointError(f"{source}: {name}.class_path is {found!r}; melwave reads Vocos checkpoints with {class_path}")
    args = section.get("init_args") or {}
    if not isinstance(args, dict):
        raise CheckpointError(f"{source}: {name}.init_args: expected a mapping")
    return args


def mel_config_of(features: dict[str, Any], source: Path) -> MelConfig:
    """The MelConfig of `MelSpectrogramFeatures(**features)` (its defaults where a key is absent)."""
    unknown = set(features) - {"sample_rate", "n_fft", "hop_length", "n_mels", "padding"}
    if unknown:
        raise CheckpointError(f"{source}: feature_extractor.init_args has keys melwave does not know: {sorted(unknown)}")
    padding = features.get("padding", "center")
    if padding not in ("center", "same"):
        raise CheckpointError(f"{source}: feature_extractor.init_args.padding={padding!r}: expected center or same")
    n_fft = features.get("n_fft", 1024)
    try:
        return MelConfig(sample_rate=features.get("sample_rate", 24000), n_fft=n_fft, win_length=n_fft,
                         hop_length=features.get("hop_length", 256), n_mels=features.get("n_mels", 100), fmin=0.0,
                         fmax=None, padding="center" if padding == "center" else "symmetric", pad_mode="reflect",
                         power=1.0, normalized=False, mel_scale="htk", mel_norm="none", compression="log",
                         log_clamp=LOG_CLAMP)
    except ConfigError as err:
        raise CheckpointError(f"{source}: feature_extractor.init_args: {err}") from None


def load(path: Path, *, device="cpu", trust_file: bool = False, mel_config=None):
    from melwave.models.io.formats._torchfile import load_torch_file
    from melwave.models.io.gate import build_checked, checked_state
    from melwave.models.vocoders.vocos import Vocos, VocosConfig

    del mel_config  # config.yaml states the mel; load_vocoder checks a given one against it
    source = path / CONFIG
    config = read_yaml_mapping(source, what="Vocos config", error=CheckpointError,
                               expected="a Vocos config.yaml (feature_extractor, backbone, head)")
    mel = mel_config_of(_section(config, "feature_extractor", FEATURES, source), source)
    backbone = _section(config, "backbone", BACKBONE, source)
    head = _section(config, "head", HEAD, source)
    if backbone.get("adanorm_num_embeddings"):
        raise CheckpointError(f"{source}: backbone.init_args.adanorm_num_embeddings: conditional (EnCodec bandwidth) "
                              f"backbones are not supported, only mel Vocos")
    for key, expected in (("input_channels", mel.n_mels),):
        if backbone.get(key, expected) != expected:
            raise CheckpointError(f"{source}: backbone.init_args.{key}={backbone.get(key)!r}, expected {expected} (n_mels)")
    for key, expected in (("n_fft", mel.n_fft), ("hop_length", mel.hop_length), ("dim", backbone.get("dim"))):
        if head.get(key) != expected:
            raise CheckpointError(f"{source}: head.init_args.{key}={head.get(key)!r}, expected {expected!r} "
                                  f"(the feature extractor's / backbone's)")
    head_padding = head.get("padding", "same")
    if head_padding not in ("center", "same"):
        raise CheckpointError(f"{source}: head.init_args.padding={head_padding!r}: expected center or same")

    weights = path / WEIGHTS
    state = load_torch_file(weights, trust_file=trust_file)
    if not isinstance(state, dict):
        raise CheckpointError(f"{weights}: expected the state dict of a Vocos model (tensors by name)")
    state = checked_state(weights, state)
    prefix = "backbone.convnext."
    layers = len({key[len(prefix):].split(".")[0] for key in state if key.startswith(prefix)})
    try:
        dim, intermediate = state["backbone.embed.weight"].shape[0], state["backbone.convnext.0.pwconv1.weight"].shape[0]
    except KeyError as err:
        raise CheckpointError(f"{weights}: not a Vocos mel checkpoint (no {err.args[0]})") from None
    if layers != backbone.get("num_layers", layers) or dim != backbone.get("dim", dim):
        raise CheckpointError(f"{weights}: holds {layers} ConvNeXt layers of dim {dim}, config.yaml says "
                              f"{backbone.get('num_layers')} of {backbone.get('dim')}")
    _check_feature_buffers(state, mel, weights)
    config = VocosConfig(dim=dim, intermediate_dim=intermediate, layers=layers, head_padding=head_padding)
    model = build_checked(weights, "the Vocos network its config.yaml and tensors describe", lambda: Vocos(config, mel),
                          _melwave_keys(state))
    model.name = path.name
    model.provenance = {"files": [CONFIG, WEIGHTS]}
    return model.to(device).eval()


RENAMES = (("backbone.convnext.", "blocks."), ("backbone.final_layer_norm.", "final_norm."),
           ("backbone.embed.", "embed."), ("backbone.norm.", "norm."), ("head.out.", "head.out."))


def _melwave_keys(state: dict) -> dict:
    """The authors' names -> melwave's; their buffers (windows, filterbank) are rebuilt, not loaded."""
    renamed = {}
    for key, value in state.items():
        if key.startswith("feature_extractor.") or key == "head.istft.window":
            continue
        for old, new in RENAMES:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        renamed[key] = value
    return renamed


def _check_feature_buffers(state: dict, mel: MelConfig, weights: Path) -> None:
    """The checkpoint stores torchaudio's filterbank (n_freqs, n_mels): it must be the one the
    derived MelConfig builds, or the mel melwave computes would not be the one it was trained on."""
    import torch

    from melwave.audio.features import mel_basis

    stored = state.get("feature_extractor.mel_spec.mel_scale.fb")
    if stored is None:
        return
    ours = mel_basis(mel).T
    # Two float32 computations of the same triangles (torchaudio's and melwave's): rounding only.
    if stored.shape != ours.shape or not torch.allclose(stored.float(), ours, atol=1e-5, rtol=0):
        raise CheckpointError(f"{weights}: feature_extractor.mel_spec.mel_scale.fb is not the HTK filterbank of "
                              f"config.yaml's settings ({mel.n_mels} mels, 0-{mel.resolved_fmax:g} Hz at "
                              f"{mel.sample_rate} Hz)")
