"""Generator and critic shapes, the strips model's one batched pass == its generators run one by one,
crossfade, grouped transposed convolution against PyTorch's, and save/load through the registry."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from melwave.audio.config import PRESETS
from melwave.errors import ConfigError
from melwave.models.generators.critic import Critic, CriticConfig
from melwave.models.generators.cwgan import (
    CONFIGS, CWGANConfig, CWGANGenerator, GroupedConvTranspose2d, crossfade_windows, cut_strips, join_strips,
    sequential_strips, split_strips,
)
from melwave.models.io.model_file import load_model, save_model

CONDITIONS = ({"name": "instrument", "values": ["piano", "flute", "organ"]},
              {"name": "velocity", "values": ["soft", "loud"]})
MEL = PRESETS["hifigan-22k"]


def make(preset: str, **changes) -> CWGANGenerator:
    torch.manual_seed(0)
    return CWGANGenerator(dataclasses.replace(CONFIGS[preset], conditions=CONDITIONS, **changes), MEL)


def labels(batch: int) -> torch.Tensor:
    return torch.stack([torch.randint(3, (batch,)), torch.randint(2, (batch,))], dim=1)


@pytest.mark.parametrize("preset,frames", [("debug", 16), ("strips-debug", 20), ("small", 64)])
@pytest.mark.parametrize("conditioning", ["projection", "maps"])
def test_generator_and_critic_shapes(preset, frames, conditioning):
    model = make(preset)
    batch = 3
    mel = model(torch.randn(batch, model.config.z_dim), labels(batch))
    assert mel.shape == (batch, 80, frames)
    critic = Critic.for_generator(CriticConfig(channels=(4, 8), conditioning=conditioning), model)
    scores = critic.score_mels(mel, labels(batch))
    assert scores.shape == (batch, model.config.strips)
    scores.sum().backward()
    assert all(p.grad is not None for p in critic.parameters())


def test_source_sizes_match_the_reference():
    model = CWGANGenerator(dataclasses.replace(CONFIGS["source"], conditions=CONDITIONS), PRESETS["cwgan-22k-log"])
    assert (model.h0, model.w0) == (4, 4)                       # z -> 512×4×4, one 4×4 map per condition
    assert model.embeddings[0].weight.shape == (3, 16)          # Embedding(n, 16)
    assert [up.in_channels for up in model.ups] == [514, 512, 256, 128, 64]
    assert model(torch.randn(2, 64), labels(2)).shape == (2, 128, 128)
    # Layer for layer the source's: no Linear bias, no norm after it, bias-free transposed convs.
    assert model.project.bias is None and isinstance(model.project_norm, nn.Identity)
    assert all(up.bias is None for up in model.ups) and len(model.norms) == 4
    critic = Critic.for_generator(CriticConfig(channels=(64, 128, 256, 512, 1), conditioning="maps"), model)
    assert critic.convs[0].in_channels == 1 + 2 and critic.head.weight.shape == (1, 1, 4, 4)  # Linear(16 -> 1)


@pytest.mark.float_sensitive
@pytest.mark.parametrize("train_mode", [True, False])
def test_strips_batched_equals_sequential(train_mode):
    model = make("strips-debug", strip_overlap=4).train(train_mode)
    with torch.no_grad():  # make BatchNorm running stats and biases non-trivial
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for norm in model.norms:
            norm.running_mean.uniform_(-0.2, 0.2)
            norm.running_var.uniform_(0.5, 1.5)
    pieces = split_strips(model)
    assert len(pieces) == 4 and all(p.config.strips == 1 for p in pieces)
    assert all(isinstance(up, nn.ConvTranspose2d) for up in pieces[0].ups)   # the plain PyTorch layers
    z, y = torch.randn(5, model.config.z_dim), labels(5)
    together = model(z, y)
    one_by_one = sequential_strips(pieces, z, y, model.config.strip_overlap)
    torch.testing.assert_close(together, one_by_one, atol=1e-5, rtol=1e-5)
    # Each strip really comes from its own generator: changing strip 2's weights changes only its frames.
    with torch.no_grad():
        pieces[2].ups[-1].bias.add_(1.0)
    changed = (sequential_strips(pieces, z, y, 4) - one_by_one).abs().amax(dim=(0, 1)) > 1e-6
    width, stride = model.config.strip_frames, model.config.strip_frames - 4
    assert changed.nonzero().flatten().tolist() == list(range(2 * stride, 2 * stride + width))


def _perturbed(model: CWGANGenerator) -> CWGANGenerator:
    """Non-trivial biases, norm affines and running statistics, so every fold is exercised."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for norm in model.modules():
            if isinstance(norm, nn.BatchNorm2d):
                norm.running_mean.uniform_(-0.2, 0.2)
                norm.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.float_sensitive
@pytest.mark.parametrize("preset,mel", [("small", "hifigan-22k"), ("strips", "hifigan-22k"), ("debug", "hifigan-22k"),
                                        ("strips-debug", "hifigan-22k"), ("source", "cwgan-22k-log"),
                                        ("strips-source", "cwgan-22k-log")])
def test_folded_inference_form_equals_the_layers(preset, mel):
    # Eval + no_grad runs the folded form (BatchNorm in the weights, label embeddings as tables);
    # with autograd on the same model runs its layers. Same function within float rounding.
    torch.manual_seed(0)
    model = _perturbed(CWGANGenerator(dataclasses.replace(CONFIGS[preset], conditions=CONDITIONS), PRESETS[mel]))
    z, y = torch.randn(4, model.config.z_dim), labels(4)
    layers = model(z, y).detach()
    with torch.no_grad():
        folded = model(z, y)
    assert folded.shape == layers.shape
    assert (folded - layers).abs().max() <= 1e-5 * layers.abs().max()
    # New weights (an optimizer step, a loaded checkpoint) rebuild the folded form.
    with torch.no_grad():
        model.ups[0].weight.mul_(1.5)
        model.norms[0].running_var.mul_(2.0) if len(model.norms) else None
        again = model(z, y)
    layers = model(z, y).detach()
    assert (again - folded).abs().max() > 1e-3 * layers.abs().max()
    assert (again - layers).abs().max() <= 1e-5 * layers.abs().max()


@pytest.mark.float_sensitive
def test_crossfade_sums_to_one_and_cut_inverts_join_without_overlap():
    windows = crossfade_windows(5, 12, 4)
    joined = join_strips(torch.ones(1, 5, 1, 12), 4, windows)
    torch.testing.assert_close(joined, torch.ones(1, 1, 5 * 8 + 4))
    strips = torch.randn(2, 4, 3, 6)
    torch.testing.assert_close(cut_strips(join_strips(strips, 0), 4, 0), strips)
    # With overlap, a constant strip stays constant through the seam (no click).
    assert torch.allclose(join_strips(torch.full((1, 3, 2, 10), 0.7), 3), torch.tensor(0.7))


@pytest.mark.float_sensitive
@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("kernel, stride, padding, bias", [((4, 4), (2, 2), (1, 1), True),
                                                           ((8, 4), (4, 2), (2, 1), False),   # the source's strips
                                                           ((4, 1), (2, 1), (1, 0), False)])
@pytest.mark.parametrize("batch, grad", [(2, True), (1, True), (1, False)])  # batch 1 without autograd: one bmm + col2im
def test_grouped_transposed_conv_equals_pytorch(groups, kernel, stride, padding, bias, batch, grad):
    torch.manual_seed(1)
    mine = GroupedConvTranspose2d(groups, 5, 7, kernel, stride, bias=bias)
    reference = nn.ConvTranspose2d(5 * groups, 7 * groups, kernel, stride, padding, groups=groups, bias=bias)
    reference.load_state_dict(mine.state_dict())
    x = torch.randn(batch, 5 * groups, 3, 4)
    with torch.set_grad_enabled(grad):
        out = mine(x)
    assert out.shape == (batch, 7 * groups, 3 * stride[0], 4 * stride[1])
    # Other kernels (native, oneDNN, bmm + col2im) summing the same products in another order: float rounding.
    torch.testing.assert_close(out, reference(x), atol=1e-5, rtol=1e-5)


def test_config_errors_name_the_problem():
    with pytest.raises(ConfigError, match="does not split"):
        CWGANConfig(frames=21, channels=(8, 4), strips=4, strip_overlap=4)
    with pytest.raises(ConfigError, match="divide by"):
        CWGANConfig(frames=18, channels=(8, 4))
    with pytest.raises(ConfigError, match="at least one condition"):
        CWGANGenerator(CONFIGS["debug"], MEL)
    with pytest.raises(ConfigError, match="model.kernels"):
        CWGANConfig(frames=16, channels=(8, 4), kernels=((4, 4),))
    with pytest.raises(ConfigError, match="even number"):
        CWGANConfig(frames=16, channels=(8, 4), kernels=((5, 4), (4, 4)))
    with pytest.raises(ConfigError, match="critic.strides"):
        CriticConfig(channels=(4, 8), strides=((2, 2),))


@pytest.mark.float_sensitive
def test_strips_source_is_eight_source_strip_generators():
    """`strips-source`: per strip z -> 512×4×4 -> (8,4)/(4,2) -> 256 -> (8,4)/(4,2) -> 128 -> (4,1)/(2,1) -> 1."""
    conditions = ({"name": "drill_force", "values": ["0", "1", "2", "3"]},)
    model = CWGANGenerator(dataclasses.replace(CONFIGS["strips-source"], conditions=conditions), PRESETS["cwgan-strips-22k"])
    assert (model.h0, model.w0) == (4, 4) and model.config.strip_frames == 16
    assert [tuple(up.weight.shape) for up in model.ups] == [(8 * 513, 256, 8, 4), (8 * 256, 128, 8, 4), (8 * 128, 1, 4, 1)]
    assert model(torch.randn(2, 64), torch.tensor([[0], [3]])).shape == (2, 128, 128)
    pieces = split_strips(model.eval())
    z, y = torch.randn(2, 64), torch.tensor([[1], [2]])
    # Grouped vs one-by-one transposed convolutions: rounding only.
    torch.testing.assert_close(model(z, y), sequential_strips(pieces, z, y, 0), atol=1e-5, rtol=1e-5)


def test_save_load_round_trip_keeps_vocabulary_statistics_and_output(tmp_path):
    model = make("strips-debug").eval()
    model.set_statistics(torch.linspace(-5, -1, 80), torch.linspace(1, 2, 80), frames=123)
    path = save_model(model, tmp_path / "g.safetensors")
    loaded = load_model(path)
    assert isinstance(loaded, CWGANGenerator) and loaded.vocabulary == model.vocabulary
    assert int(loaded.stats_frames) == 123
    z, y = torch.randn(2, 8), labels(2)
    torch.testing.assert_close(loaded.generate(y, z), model.generate(y, z))
    mel = loaded.generate(y, z)
    assert mel.min() >= torch.log(torch.tensor(MEL.log_clamp)) - 1e-6   # never below the analysis floor


def test_auxiliary_classifier_heads_give_logits_per_strip_and_condition():
    model = make("strips-debug")
    critic = Critic.for_generator(CriticConfig(channels=(4, 8), auxiliary_classifier=True), model)
    mel = model(torch.randn(3, 8), labels(3))
    score, logits = critic.score_mels(mel, labels(3), with_logits=True)
    assert score.shape == (3, 4) and [tuple(lg.shape) for lg in logits] == [(3, 4, 3), (3, 4, 2)]
    assert isinstance(critic.score_mels(mel, labels(3)), torch.Tensor)
