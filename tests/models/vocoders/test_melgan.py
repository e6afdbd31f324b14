import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from melwave.audio.config import PRESETS
from melwave.errors import CheckpointError, ConfigError
from melwave.models.discriminators.multiscale import MultiScaleDiscriminator
from melwave.models.io.registry import families
from melwave.models.vocoders.melgan import MELGAN_CONFIGS, MelGAN, MelGANConfig

from _vocoder_checks import (build_on_meta, check_receptive_field, check_save_load, check_shapes, check_weight_norm_fold,
                             keras_param_count, param_count)


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return MelGAN(MELGAN_CONFIGS["debug"], PRESETS["melgan-22k"])


def test_full_size_parameter_count():
    # Kumar et al.: 4.3M generator parameters (80 mels, 512 channels).
    count = param_count(build_on_meta(lambda: MelGAN(MELGAN_CONFIGS["melgan"])))
    assert 4.2e6 < count < 4.4e6, count


def test_shapes_over_random_lengths(tiny):
    lengths = torch.randint(1, 40, (4,), generator=torch.Generator().manual_seed(3)).tolist()
    check_shapes(tiny, [1, 2] + lengths)
    with torch.no_grad():
        assert tiny(torch.randn(1, 80, 5)).abs().max() <= 1.0  # tanh output


def test_save_load_round_trip(tiny, tmp_path):
    assert "melgan" in families()
    check_save_load(tiny, tmp_path)


@pytest.mark.float_sensitive
def test_weight_norm_fold_keeps_outputs(tiny):
    check_weight_norm_fold(tiny)


def test_config_rejects_unknown_keys_and_wrong_hop():
    with pytest.raises(ConfigError, match="bogus"):
        MelGAN.from_config({"bogus": 1}, PRESETS["melgan-22k"])
    with pytest.raises(ConfigError, match="hop_length"):
        MelGAN(MelGANConfig(upsample_rates=(8, 8, 2)), PRESETS["melgan-22k"])
    assert MelGAN.from_config({"upsample_rates": [8, 8, 2, 2], "initial_channels": 32}, PRESETS["melgan-22k"]).config.upsample_rates == (8, 8, 2, 2)


@pytest.mark.float_sensitive
def test_output_depends_on_local_mel_only(tiny):
    check_receptive_field(tiny)


@pytest.mark.float_sensitive
def test_training_form_saves_through_folded_copy(tiny, tmp_path):
    from melwave.models.io.model_file import load_model, save_model

    tiny.apply_weight_norm()
    path = save_model(tiny.folded(), tmp_path / "g.safetensors")
    assert any("parametrizations" in k for k in tiny.state_dict())  # the original keeps training form
    mel = torch.randn(1, 80, 6)
    with torch.no_grad():
        torch.testing.assert_close(load_model(path)(mel), tiny.eval()(mel), atol=1e-5, rtol=1e-4)


# --- the Keras tutorial's MelGAN (named config "melgan-keras", MSD preset "melgan-keras") -------

@pytest.fixture
def tiny_keras():
    torch.manual_seed(0)
    return MelGAN(MELGAN_CONFIGS["debug-keras"], PRESETS["melgan-22k"])


def test_paper_melgan_stays_the_default():
    assert MelGAN().config == MELGAN_CONFIGS["melgan"] and MELGAN_CONFIGS["melgan"].style == "paper"
    with pytest.raises(ConfigError, match="MelGANConfig.style"):
        MelGANConfig(style="tf")


def test_keras_parameter_counts_equal_the_tutorials_summaries():
    # generator.summary(): Total 4,646,912 = Trainable 4,646,658 + Non-trainable 254 (29 WeightNormalization
    # flags + the data_init clone of the last conv, 224 + 1); discriminator.summary(): Total 16,924,107 =
    # Trainable 16,924,086 + 21 flags (7 per scale). How they are counted: _vocoder_checks.keras_param_count.
    generator = build_on_meta(lambda: MelGAN(MELGAN_CONFIGS["melgan-keras"])).apply_weight_norm()
    assert param_count(generator) == 4_646_658
    assert keras_param_count(generator, data_init=(generator.conv_post,)) == 4_646_912
    discriminator = build_on_meta(lambda: MultiScaleDiscriminator(preset="melgan-keras"))
    assert param_count(discriminator) == 16_924_086
    assert keras_param_count(discriminator) == 16_924_107


def test_keras_layers_are_the_tutorials():
    generator = build_on_meta(lambda: MelGAN(MELGAN_CONFIGS["melgan-keras"]))
    assert [(up.kernel_size[0], up.stride[0]) for up in generator.ups] == [(16, 8), (16, 8), (16, 2), (16, 2)]
    stack = generator.stacks[0]
    # k3 -> k3 per unit, identity skip (no shortcut convs), dilations 1, 3, 9 on the first conv.
    assert [(c.kernel_size[0], c.dilation[0]) for c in stack.dilated] == [(3, 1), (3, 3), (3, 9)]
    assert [(c.kernel_size[0], c.dilation[0]) for c in stack.second] == [(3, 1)] * 3
    assert not any("shortcut" in name or "proj" in name for name, _ in generator.named_parameters())
    generator.apply_weight_norm()
    assert not parametrize.is_parametrized(generator.conv_pre, "weight")  # the tutorial's plain Conv1D
    assert parametrize.is_parametrized(generator.conv_post, "weight")


def test_keras_generator_computes_the_tutorials_graph(tiny_keras):
    # The tutorial's graph written out with torch.nn.functional on the same weights: zero "same"
    # padding, LeakyReLU 0.3, "same" transposed convs (crop (16 - r)//2 in front), residual units.
    model = tiny_keras.eval()
    mel = torch.randn(2, 80, 5)

    def act(x):
        return F.leaky_relu(x, 0.3)

    with torch.no_grad():
        x = act(F.conv1d(mel, model.conv_pre.weight, model.conv_pre.bias, padding=3))
        for up, stack, rate in zip(model.ups, model.stacks, (8, 8, 2, 2)):
            full = F.conv_transpose1d(x, up.weight, up.bias, stride=rate)
            x = act(full[..., (16 - rate) // 2:][..., : x.shape[-1] * rate])
            inp = x
            for i, (a, b) in enumerate(zip(stack.dilated, stack.second)):
                h = inp if i == 0 else act(inp)
                h = act(F.conv1d(h, a.weight, a.bias, padding=a.dilation[0], dilation=a.dilation[0]))
                inp = inp + F.conv1d(h, b.weight, b.bias, padding=1)
            x = act(inp)
        expected = torch.tanh(F.conv1d(x, model.conv_post.weight, model.conv_post.bias, padding=3)).squeeze(1)
        # The same ops in the same order: equal to the last bit.
        assert torch.equal(model(mel), expected)


@pytest.mark.float_sensitive
def test_keras_generator_shapes_save_load_fold_and_receptive_field(tiny_keras, tmp_path):
    check_shapes(tiny_keras, [1, 2, 7, 13])
    check_save_load(tiny_keras, tmp_path)
    check_weight_norm_fold(tiny_keras)
    check_receptive_field(tiny_keras)
    tiny_keras.apply_weight_norm()
    mel = torch.randn(1, 80, 6)
    with torch.no_grad():  # the folded copy rebuilds the same layers with weight norm (conv_pre skipped)
        torch.testing.assert_close(tiny_keras.folded()(mel), tiny_keras.eval()(mel), atol=1e-5, rtol=1e-4)


@pytest.mark.float_sensitive
def test_keras_discriminator_pads_like_tensorflow_and_pools_by_two():
    torch.manual_seed(0)
    disc = MultiScaleDiscriminator(preset="debug-keras")
    wave = torch.randn(2, 1001)
    scores, features = disc(wave)
    # AveragePooling1D(): pool 2, stride 2, "valid"; "same" stride-4 convs give ceil(T / 4).
    assert [s.shape[-1] for s in scores] == [63, 32, 16]
    torch.testing.assert_close(disc.pool(wave[:, None]), wave[:, None, :1000].reshape(2, 1, 500, 2).mean(-1))
    # TF's "same" split for kernel 41, stride 4 on 1001 samples: 251 outputs need 41 + 4·250 - 1001
    # = 40 zeros, 20 before and 20 after; on 1000 samples 37 zeros: 18 before, 19 after.
    conv = disc.discriminators[0].convs[1]
    x = torch.randn(1, 8, 1000)
    with torch.no_grad():
        expected = F.conv1d(F.pad(x, (18, 19)), conv.weight, conv.bias, stride=4, groups=2)
        torch.testing.assert_close(conv(x), expected, rtol=0, atol=0)
    assert disc.discriminators[0].slope == 0.3


def test_keras_generator_gets_adversarial_gradient_from_keras_discriminator(tiny_keras):
    # One generator step of the LSGAN loss through the tutorial's discriminator reaches every
    # generator parameter (the tutorial's swapped train_step left only feature matching).
    torch.manual_seed(1)
    disc = MultiScaleDiscriminator(preset="debug-keras")
    tiny_keras.apply_weight_norm()
    scores, _ = disc(tiny_keras(torch.randn(2, 80, 4)))
    loss = sum(((1 - s) ** 2).mean() for s in scores)
    loss.backward()
    missing = [name for name, p in tiny_keras.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing
