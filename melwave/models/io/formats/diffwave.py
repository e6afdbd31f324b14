"""lmnt-com/diffwave checkpoints: a `.pt` file (or a folder holding `weights.pt`, as their
inference.py accepts) with `model` (the state dict) and `params` (their hyper-parameters, a dict
or their `AttrDict`, read by a stand-in class without running code).

The network is melwave's `DiffWave` (no FiLM), sized from `params` and checked against the
tensor shapes; the noise schedule is `params.noise_schedule`, and sampling is their
inference.py: full sampling over the training schedule by default, their fast schedule with
`vocoder.with_sampling(inference_schedule=...)` (the file's own is in `provenance`), or
melwave's DDIM with `with_sampling(sampler="ddim", inference_steps=N)`.

Their mel (preprocess.py): torchaudio MelSpectrogram(n_fft, win = 4·hop, hop, 20 Hz … sr/2,
HTK, no filter norm, magnitude, normalized STFT, centred reflect padding), then
`clamp((20·log10(max(x, 1e-5)) − 20 + 100)/100, 0, 1)`: melwave's "diffwave" compression.
"""

from __future__ import annotations

from pathlib import Path

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError, ConfigError
from melwave.models.io.formats._torchfile import pickle_names

SUFFIXES = (".pt", ".pth", ".ckpt")
FOLDER_FILE = "weights.pt"


def _file(path: Path) -> Path:
    return path / FOLDER_FILE if path.is_dir() else path


def matches(path: Path) -> bool:
    file = _file(path)
    if not (file.is_file() and file.suffix in SUFFIXES):
        return False
    names = pickle_names(file)
    return b"params" in names and b"diffusion_embedding.projection1" in names and b"residual_layers." in names


class AttrDictStandIn(dict):
    """Stands in for `diffwave.params.AttrDict` (a dict subclass) while unpickling: it receives
    the same items and nothing else is imported or called."""


# Network keys: their DiffWave module (and GOMIN's GomiDiff) -> melwave's DiffWaveNet.
RENAMES = (("input_projection.", "input_proj."), ("diffusion_embedding.projection1.", "embedding.proj1."),
           ("diffusion_embedding.projection2.", "embedding.proj2."), ("spectrogram_upsampler.conv1.", "upsampler.convs.0."),
           ("spectrogram_upsampler.conv2.", "upsampler.convs.1."), ("skip_projection.", "skip_proj."),
           ("output_projection.", "output_proj."))
LAYER_RENAMES = (("dilated_conv.", "dilated_conv."), ("diffusion_projection.", "step_proj."),
                 ("conditioner_projection.", "mel_proj."), ("output_projection.", "out_proj."))


def melwave_keys(state: dict, source: Path) -> dict:
    """Their network's state dict -> `DiffWave.state_dict()` names."""
    out = {}
    for key, value in state.items():
        new = None
        if key.startswith("residual_layers."):
            _, index, rest = key.split(".", 2)
            for old, name in LAYER_RENAMES:
                if rest.startswith(old):
                    new = f"network.layers.{index}.{name}{rest[len(old):]}"
        elif key.startswith("film_layers."):  # GOMIN: Conv1d per FiLM
            _, index, rest = key.split(".", 2)
            new = f"network.films.{index}.proj.{rest}"
        else:
            for old, name in RENAMES:
                if key.startswith(old):
                    new = f"network.{name}{key[len(old):]}"
        if new is None:
            raise CheckpointError(f"{source}: unexpected tensor {key!r} for a DiffWave network")
        out[new] = value
    return out


def build_into(build, state: dict, source: Path):
    """`build()` (a DiffWave) through the loading gate, with their tensors under melwave's names."""
    from melwave.models.io.gate import build_checked

    return build_checked(source, "the DiffWave network its settings describe", build, melwave_keys(state, source))


def load(path: Path, *, device="cpu", trust_file: bool = False, mel_config=None):
    from melwave.models.diffusion.schedule import NoiseScheduleConfig
    from melwave.models.io.formats._torchfile import load_torch_file
    from melwave.models.io.gate import checked_state
    from melwave.models.vocoders.diffwave import DiffWave, DiffWaveConfig

    del mel_config  # params state the mel; load_vocoder checks a given one against it
    file = _file(path)
    checkpoint = load_torch_file(file, trust_file=trust_file, stand_ins={"diffwave.params.AttrDict": AttrDictStandIn})
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict) or not isinstance(checkpoint.get("params"), dict):
        raise CheckpointError(f"{file}: expected lmnt-com/diffwave's {{'model': state_dict, 'params': {{...}}}}")
    state, params = checked_state(file, checkpoint["model"], what="'model' state dict"), dict(checkpoint["params"])
    if params.get("unconditional"):
        raise CheckpointError(f"{file}: params.unconditional is true: an unconditional DiffWave is not a vocoder")

    def need(key: str, kind=int):
        value = params.get(key)
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise CheckpointError(f"{file}: params.{key}={value!r}: expected an integer")
        return value

    hop, sample_rate, n_fft, n_mels = need("hop_samples"), need("sample_rate"), need("n_fft"), need("n_mels")
    layers, channels, cycle = need("residual_layers"), need("residual_channels"), need("dilation_cycle_length")
    betas = params.get("noise_schedule")
    fast = params.get("inference_noise_schedule") or ()
    def numbers(values) -> bool:
        return isinstance(values, (list, tuple)) and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in values)

    if not numbers(betas) or len(betas) < 2:
        raise CheckpointError(f"{file}: params.noise_schedule: expected a list of β values (numbers)")
    if not numbers(fast):
        raise CheckpointError(f"{file}: params.inference_noise_schedule: expected a list of β values (numbers)")
    if hop != 256:
        # Their mel upsampler is two fixed ×16 transposed convs, whatever hop_samples says.
        raise CheckpointError(f"{file}: params.hop_samples={hop}: their network upsamples by 256 (16·16), so only 256 works")
    try:
        mel = MelConfig(sample_rate=sample_rate, n_fft=n_fft, win_length=4 * hop, hop_length=hop, n_mels=n_mels,
                        fmin=20.0, fmax=None, padding="center", pad_mode="reflect", power=1.0, normalized=True,
                        mel_scale="htk", mel_norm="none", compression="diffwave")
        config = DiffWaveConfig(residual_layers=layers, residual_channels=channels, dilation_cycle=cycle, film_every=0,
                                upsample_strides=(16, 16),
                                schedule=NoiseScheduleConfig(num_train_steps=len(betas), beta_start=float(min(betas)),
                                                             beta_end=float(max(betas)), betas=tuple(float(b) for b in betas)),
                                inference_steps=len(betas), sampler="diffwave")
    except ConfigError as err:
        raise CheckpointError(f"{file}: params: {err}") from None
    model = build_into(lambda: DiffWave(config, mel), state, file)
    model.name = file.name
    model.provenance = {"files": [file.name], "inference_noise_schedule": [float(b) for b in fast]}
    return model.to(device).eval()
