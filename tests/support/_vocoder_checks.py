"""Checks every vocoder family's tests run on a tiny instance (imported by test_<family>.py)."""

from __future__ import annotations

import copy

import torch

from melwave.models.io.load import load_vocoder
from melwave.models.io.model_file import load_model, save_model


def param_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def keras_param_count(module: torch.nn.Module, *, data_init: tuple[torch.nn.Module, ...] = ()) -> int:
    """Parameters as a Keras summary of a tensorflow-addons WeightNormalization model counts them.

    `module` must be in its weight-norm form. Its torch parameters are Keras' trainable ones:
    weight_v is TFA's kernel `v`, weight_g its `g` (per output channel of a conv, per INPUT
    channel of a transposed conv in both libraries: TFA norms over all kernel axes but the last,
    torch over all but dim 0), and the bias. Keras adds non-trainable bookkeeping: one
    `initialized` flag per WeightNormalization layer, and for layers wrapped with data_init=True
    (TFA's default) a `_naked_clone_layer` holding a second copy of the kernel and bias.
    """
    from torch.nn.utils import parametrize

    trainable = param_count(module)
    wrapped = [m for m in module.modules() if parametrize.is_parametrized(m, "weight")]
    clones = sum(layer.weight.numel() + (layer.bias.numel() if layer.bias is not None else 0) for layer in data_init)
    return trainable + len(wrapped) + clones


def build_on_meta(factory):
    """Instantiate a full-size model without allocating or initialising its weights."""
    with torch.device("meta"):
        return factory()


def check_shapes(vocoder, frame_counts, batch: int = 2) -> None:
    vocoder.eval()
    n_mels, hop = vocoder.mel_config.n_mels, vocoder.hop_length
    for frames in frame_counts:
        with torch.no_grad():
            wave = vocoder(torch.randn(batch, n_mels, frames))
        assert wave.shape == (batch, frames * hop), (frames, wave.shape)
        assert torch.isfinite(wave).all()


def check_save_load(vocoder, tmp_path, frames: int = 9) -> None:
    """Saved file alone rebuilds the model: same family, config, mel config and outputs."""
    vocoder.eval()
    mel = torch.randn(1, vocoder.mel_config.n_mels, frames)
    path = save_model(vocoder, tmp_path / f"{vocoder.family}.safetensors")
    for loaded in (load_model(path), load_vocoder(path)):
        assert type(loaded) is type(vocoder)
        assert loaded.config == vocoder.config and loaded.mel_config == vocoder.mel_config
        with torch.no_grad():
            assert torch.equal(loaded(mel), vocoder(mel))


def check_weight_norm_fold(vocoder, frames: int = 7, atol: float = 1e-5) -> None:
    """Training form (weight norm) and folded inference form compute the same function, and
    the training form really is reparametrised (it has g/v parameters)."""
    model = copy.deepcopy(vocoder).eval()
    model.apply_weight_norm()
    names = [n for n, _ in model.named_parameters()]
    assert any("parametrizations.weight.original0" in n for n in names)
    # Perturb g so that a fold which ignored g (or v) would change the output.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("original0"):
                p.mul_(1.5)
    mel = torch.randn(2, model.mel_config.n_mels, frames)
    with torch.no_grad():
        before = model(mel)
        model.remove_weight_norm()
        after = model(mel)
    assert not any("parametrizations" in n for n, _ in model.named_parameters())
    torch.testing.assert_close(after, before, atol=atol, rtol=1e-4)


def check_receptive_field(vocoder, frames: int = 40, changed_from: int = 30) -> None:
    """Changing the mel from frame `changed_from` on leaves every sample before
    changed_from − receptive_frames untouched (what chunked synthesis relies on)."""
    vocoder.eval()
    assert changed_from - vocoder.receptive_frames > 0, "test mel too short for this receptive field"
    mel = torch.randn(1, vocoder.mel_config.n_mels, frames)
    changed = mel.clone()
    changed[..., changed_from:] += 3.0
    with torch.no_grad():
        a, b = vocoder(mel), vocoder(changed)
    edge = (changed_from - vocoder.receptive_frames) * vocoder.hop_length
    torch.testing.assert_close(a[..., :edge], b[..., :edge], atol=1e-5, rtol=0)
    assert not torch.allclose(a, b)
