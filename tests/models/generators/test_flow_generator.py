"""The flow generator: shapes and the generate contract, classifier-free guidance, the rectified-flow
path and its samplers (property tests), save/load, and the conditioned ConvNeXt block."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from melwave.audio.config import PRESETS
from melwave.errors import ConfigError
from melwave.inference.generate import check_sampling, load_generator
from melwave.models.blocks.convnext import ConvNeXtBlock
from melwave.models.diffusion.rectified_flow import interpolate, sample, training_times, velocity_target
from melwave.models.generators.flow import CONFIGS, FlowGenerator
from melwave.models.io.model_file import save_model

CONDITIONS = ({"name": "instrument", "values": ["piano", "flute", "organ"]},
              {"name": "pitch", "values": ["C4", "G4"]})


def make(**changes) -> FlowGenerator:
    """The debug model with every weight random (the zero-initialised output and modulations
    would otherwise make the untrained network ignore its labels)."""
    torch.manual_seed(0)
    model = FlowGenerator(dataclasses.replace(CONFIGS["debug"], conditions=CONDITIONS, **changes), PRESETS["hifigan-22k"])
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    model.set_statistics(torch.linspace(-8, -4, 80), torch.full((80,), 2.0), frames=100)
    return model.eval()


@pytest.mark.float_sensitive
def test_generate_contract_shapes_determinism_and_labels():
    model = make()
    labels = torch.tensor([[0, 0], [2, 1], [1, 0]])
    assert model.z_dim == 80 * 16
    z = torch.randn(3, model.z_dim)
    mel = model.generate(labels, z)
    assert mel.shape == (3, 80, 16) and torch.isfinite(mel).all()
    assert torch.equal(mel, model.generate(labels, z))                        # same z, same mel
    assert not torch.allclose(mel, model.generate(labels, torch.randn(3, model.z_dim)))
    flipped = model.generate(torch.tensor([[1, 1], [2, 1], [1, 0]]), z)       # the labels steer the output
    assert not torch.allclose(mel[0], flipped[0]) and torch.allclose(mel[1:], flipped[1:], atol=1e-5)
    # Seeded noise when z is not given; log mels never fall below the analysis floor.
    a = model.generate(labels, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, model.generate(labels, generator=torch.Generator().manual_seed(5)))
    assert float(mel.min()) >= float(torch.log(torch.tensor(1e-5)))
    assert model(torch.randn(3, 80, 16), torch.rand(3), labels).shape == (3, 80, 16)
    with pytest.raises(ConfigError, match="out of range"):
        model.generate(torch.tensor([[3, 0]]))
    with pytest.raises(ConfigError, match=r"expected noise of shape \(1, 1280\)"):
        model.generate(torch.tensor([[0, 0]]), torch.randn(1, 64))


def test_sampling_settings_default_from_config_and_are_checked():
    model = make()
    assert model.sampling_settings() == {"steps": 2, "guidance": 2.0}
    z, labels = torch.randn(1, model.z_dim), torch.tensor([[0, 1]])
    assert torch.equal(model.generate(labels, z), model.generate(labels, z, steps=2, guidance=2.0))
    assert not torch.allclose(model.generate(labels, z), model.generate(labels, z, steps=5))
    assert not torch.allclose(model.generate(labels, z), model.generate(labels, z, guidance=1.0))
    with pytest.raises(ConfigError, match="--steps 0"):
        check_sampling(model, {"steps": 0})
    with pytest.raises(ConfigError, match="--guidance -1"):
        check_sampling(model, {"guidance": -1.0})
    with pytest.raises(ConfigError, match="--temperature: .* it takes: --steps, --guidance"):
        check_sampling(model, {"temperature": 0.5})


@pytest.mark.float_sensitive
def test_classifier_free_guidance_combines_conditional_and_null_predictions():
    model = make()
    x, t, labels = torch.randn(4, 80, 16), torch.rand(4), torch.tensor([[0, 0], [1, 1], [2, 0], [0, 1]])
    null = torch.tensor([[3, 2]] * 4)                         # each condition's null token: index = its size
    conditional, unconditional = model(x, t, labels), model(x, t, null)
    assert not torch.allclose(conditional, unconditional)
    assert torch.equal(model.guided_velocity(x, t, labels, 1.0), conditional)
    torch.testing.assert_close(model.guided_velocity(x, t, labels, 0.0), unconditional, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.guided_velocity(x, t, labels, 3.0), unconditional + 3 * (conditional - unconditional),
                               atol=1e-5, rtol=1e-5)
    dropped = model.drop_labels(labels, torch.tensor([True, False, True, False]))
    assert dropped.tolist() == [[3, 2], [1, 1], [3, 2], [0, 1]]


@pytest.mark.float_sensitive
def test_path_and_velocity_target():
    data, noise = torch.randn(5, 80, 16), torch.randn(5, 80, 16)
    assert torch.equal(interpolate(data, noise, torch.zeros(5)), noise)
    assert torch.equal(interpolate(data, noise, torch.ones(5)), data)
    t, h = torch.rand(5) * 0.9, 1e-3
    slope = (interpolate(data.double(), noise.double(), t.double() + h) - interpolate(data.double(), noise.double(), t.double())) / h
    torch.testing.assert_close(slope, velocity_target(data, noise).double())
    # The regression target is the field that carries x_t straight to the data point.
    x_t = interpolate(data, noise, t)
    torch.testing.assert_close((data - x_t) / (1 - t)[:, None, None], velocity_target(data, noise), atol=1e-4, rtol=1e-4)


@pytest.mark.float_sensitive
@pytest.mark.parametrize("steps", [1, 3, 8])
def test_euler_with_the_true_velocity_lands_on_a_single_data_point(steps):
    point = torch.randn(1, 80, 16)
    # The exact velocity field of a one-point data distribution: v(x, t) = (x₁ − x) / (1 − t).
    field = lambda x, t: (point - x) / (1 - t)[:, None, None]  # noqa: E731
    landed = sample(field, torch.randn(4, 80, 16), steps=steps, solver="euler")
    torch.testing.assert_close(landed, point.expand(4, -1, -1), atol=1e-5, rtol=1e-5)


@pytest.mark.float_sensitive
def test_heun_is_exact_on_straight_paths_and_second_order():
    noise, point = torch.randn(2, 8), torch.randn(2, 8)
    straight = sample(lambda x, t: velocity_target(point, noise), noise, steps=2, solver="heun")
    torch.testing.assert_close(straight, point)
    # dx/dt = t·c: x(1) = x0 + c/2. Euler's error is O(1/steps), Heun's ~0 (exact for linear-in-t fields).
    c = torch.ones(1, 3)
    euler = sample(lambda x, t: t[:, None] * c, torch.zeros(1, 3), steps=4, solver="euler")
    heun = sample(lambda x, t: t[:, None] * c, torch.zeros(1, 3), steps=4, solver="heun")
    assert torch.allclose(heun, c / 2) and not torch.allclose(euler, c / 2, atol=0.05)


def test_training_times_lie_in_the_unit_interval():
    torch.manual_seed(0)
    uniform = training_times(4000, "uniform")
    logit = training_times(4000, "logit-normal", mean=0.0, std=1.0)
    for times in (uniform, logit):
        assert times.shape == (4000,) and float(times.min()) >= 0 and float(times.max()) <= 1
    # Logit-normal concentrates on the middle of the path.
    assert ((logit - 0.5).abs() < 0.25).float().mean() > ((uniform - 0.5).abs() < 0.25).float().mean() + 0.1
    with pytest.raises(ConfigError, match="expected one of"):
        training_times(2, "cosine")


def test_save_load_round_trip_gives_the_same_mels(tmp_path):
    model = make()
    path = save_model(model, tmp_path / "flow.safetensors")
    loaded = load_generator(path)
    assert isinstance(loaded, FlowGenerator) and loaded.config == model.config and loaded.vocabulary == model.vocabulary
    torch.testing.assert_close(loaded.mel_mean, model.mel_mean)
    labels = torch.tensor([[1, 0], [2, 1]])
    a = model.generate(labels, generator=torch.Generator().manual_seed(3), steps=3, guidance=1.5)
    b = loaded.generate(labels, generator=torch.Generator().manual_seed(3), steps=3, guidance=1.5)
    assert torch.equal(a, b)


def test_untrained_statistics_are_refused(tmp_path):
    model = FlowGenerator(dataclasses.replace(CONFIGS["debug"], conditions=CONDITIONS), PRESETS["hifigan-22k"])
    path = save_model(model, tmp_path / "untrained.safetensors")
    with pytest.raises(Exception, match="no normalisation statistics"):
        load_generator(path)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="model.kernel=4"):
        dataclasses.replace(CONFIGS["debug"], kernel=4)
    with pytest.raises(ConfigError, match="model.solver='rk4'"):
        dataclasses.replace(CONFIGS["debug"], solver="rk4")
    with pytest.raises(ConfigError, match="at least one condition"):
        FlowGenerator(CONFIGS["debug"], PRESETS["hifigan-22k"])


def test_small_preset_size():
    # Stated in the preset's comment and configs/generator/flow-small.yaml: ~2.4M with the notes vocabulary.
    notes = ({"name": "instrument", "values": list("abcdefgh")}, {"name": "pitch", "values": [str(i) for i in range(24)]},
             {"name": "velocity", "values": ["soft", "medium", "loud"]})
    model = FlowGenerator(dataclasses.replace(CONFIGS["small"], conditions=notes), PRESETS["hifigan-22k"])
    assert 2.3e6 < sum(p.numel() for p in model.parameters()) < 2.5e6


def test_conditioned_convnext_block_starts_as_identity_and_keeps_the_plain_layout():
    block = ConvNeXtBlock(8, 16, cond_dim=4)
    x = torch.randn(2, 8, 10)
    assert torch.equal(block(x, torch.randn(2, 4)), x)         # adaLN-Zero: modulation starts at zero
    with torch.no_grad():
        block.modulation.weight.normal_()
    assert not torch.allclose(block(x, torch.randn(2, 4)), x)
    # Without cond_dim the state dict is the plain block's (saved Vocos models still load).
    assert set(ConvNeXtBlock(8, 16, layer_scale_init=0.1).state_dict()) == {
        "dwconv.weight", "dwconv.bias", "norm.weight", "norm.bias", "pwconv1.weight", "pwconv1.bias",
        "pwconv2.weight", "pwconv2.bias", "gamma"}
