import pytest
import torch

from melwave.audio.config import PRESETS
from melwave.errors import ConfigError
from melwave.models.vocoders.gomin import GOMIN_CONFIGS, GominGAN

from _vocoder_checks import build_on_meta, check_receptive_field, check_save_load, check_shapes, check_weight_norm_fold, param_count


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return GominGAN(GOMIN_CONFIGS["debug"], PRESETS["gomin-24k"]).eval()


def test_full_size_parameter_counts():
    full = build_on_meta(lambda: GominGAN(GOMIN_CONFIGS["gomin"]))
    assert 125.0e6 < param_count(full) < 125.5e6
    # 6 stages, each with one unshared FiLM layer on the mel path.
    assert len(full.film.layers) == len(full.ups) == 6
    assert full.ups[0].in_channels == 1536 and full.ups[-1].out_channels == 24
    small = build_on_meta(lambda: GominGAN(GOMIN_CONFIGS["small"]))
    assert 14e6 < param_count(small) < 15e6


def test_shapes_over_random_lengths(tiny):
    lengths = torch.randint(1, 16, (2,), generator=torch.Generator().manual_seed(5)).tolist()
    check_shapes(tiny, [1] + lengths)


@pytest.mark.float_sensitive
def test_output_depends_on_local_mel_only(tiny):
    _randomise_film(tiny)
    check_receptive_field(tiny, frames=24, changed_from=16)


def test_save_load_round_trip(tiny, tmp_path):
    check_save_load(tiny, tmp_path)


@pytest.mark.float_sensitive
def test_weight_norm_fold_keeps_outputs(tiny):
    check_weight_norm_fold(tiny, frames=4)


def test_rejects_unknown_keys_and_wrong_hop():
    with pytest.raises(ConfigError, match="channels"):
        GominGAN.from_config({"channels": 3}, PRESETS["gomin-24k"])
    with pytest.raises(ConfigError, match="hop_length"):
        GominGAN.from_config({"upsample_strides": [4, 4, 2, 2, 2], "initial_channels": 64}, PRESETS["gomin-24k"])


def _randomise_film(model):
    # Fresh init is N(0, 0.01): make the FiLM path strong enough to matter clearly.
    with torch.no_grad():
        for layer in model.film.layers:
            layer.weight.normal_(0, 0.2)


def test_film_carries_the_mel_into_every_stage(tiny):
    _randomise_film(tiny)
    mel = torch.rand(1, 128, 6)
    with torch.no_grad():
        base = tiny(mel)
        assert not torch.allclose(base, tiny(1.5 * mel), atol=1e-6)
        # Blind the main path to the mel: the output must still follow the mel's scale, which
        # only FiLM can deliver.
        tiny.conv_pre.weight.zero_()
        blind_a, blind_b = tiny(mel), tiny(1.5 * mel)
    assert (blind_a - blind_b).abs().max() > 1e-4


def test_film_layers_are_unshared_per_stage(tiny):
    _randomise_film(tiny)
    mel = torch.rand(1, 128, 5)
    with torch.no_grad():
        reference = tiny(mel)
        # Zeroing only the LAST stage's FiLM layer changes the output: it acts on its own.
        last = tiny.film.layers[-1]
        last.weight.zero_()
        last.bias.zero_()
        changed = tiny(mel)
    assert tiny.film.layers[0].weight.abs().sum() > 0
    assert not torch.allclose(reference, changed, atol=1e-6)


# BigVGAN's choices in the same family (formats/bigvgan.py builds these from a config.json).
BIGVGAN_STYLE = dict(initial_channels=64, resblock_kernel_sizes=(3, 5), resblock_dilations=((1, 3), (1,)),
                     upsample_kernel_sizes=(8, 8, 4, 4, 4, 4), activation="snakebeta", snake_log_scale=True,
                     film=False, pre_upsample_activation=False, final_tanh=False, final_bias=False)


@pytest.fixture(params=["1", "2"], ids=["resblock1", "resblock2"])
def bigvgan_style(request):
    from melwave.models.vocoders.gomin import GominGANConfig

    torch.manual_seed(0)
    model = GominGAN(GominGANConfig(**BIGVGAN_STYLE, resblock=request.param), PRESETS["gomin-24k"]).eval()
    with torch.no_grad():  # weights that carry a signal (the N(0, 0.01) init fades it out)
        for name, p in model.named_parameters():
            if name.endswith(("alpha", "beta")):  # log scale: away from the all-zero start
                p.uniform_(-0.5, 0.5)
            elif name.endswith("weight"):
                p.normal_(0, (0.3 if name.startswith("resblocks") else 1.0) / p[0].numel() ** 0.5)
    return model


@pytest.mark.float_sensitive
def test_bigvgan_style_variant(bigvgan_style, tmp_path):
    assert bigvgan_style.film is None and bigvgan_style.snakes is None and bigvgan_style.conv_post.bias is None
    check_shapes(bigvgan_style, [1, 5])
    check_receptive_field(bigvgan_style, frames=32, changed_from=24)
    check_save_load(bigvgan_style, tmp_path)
    check_weight_norm_fold(bigvgan_style, frames=4)


def test_bigvgan_style_clamps_instead_of_tanh(bigvgan_style):
    with torch.no_grad():
        bigvgan_style.conv_post.weight.mul_(1e4)
        wave = bigvgan_style(torch.randn(1, 128, 3))
    assert wave.abs().max() == 1.0 and (wave.abs() == 1.0).any()


def test_files_saved_before_the_variant_options_load_as_they_were():
    # A header written before antialias/film/... existed names only the old keys: the defaults
    # must rebuild melwave's earlier model (every Snake anti-aliased with BigVGAN's filters).
    from melwave.models.blocks.antialias import AntiAliasedActivation

    old = {"upsample_strides": [4, 4, 2, 2, 2, 2], "initial_channels": 64, "resblock_kernel_sizes": [3, 5],
           "resblock_dilations": [[1, 3], [1]], "activation": "snake"}
    model = GominGAN.from_config(old, PRESETS["gomin-24k"])
    assert isinstance(model.act_post, AntiAliasedActivation)
    assert all(isinstance(a, AntiAliasedActivation) for a in model.resblocks[0][0].acts2)
    assert model.film is not None and model.snakes is not None


def test_variant_options_are_checked():
    with pytest.raises(ConfigError, match="antialias"):
        GominGAN.from_config({"antialias": "stylegan"}, PRESETS["gomin-24k"])
    with pytest.raises(ConfigError, match="upsample_kernel_sizes"):
        GominGAN.from_config({"upsample_kernel_sizes": [8, 8, 4]}, PRESETS["gomin-24k"])
    with pytest.raises(ConfigError, match="upsample_kernel_sizes"):
        GominGAN.from_config({"upsample_kernel_sizes": [2, 8, 4, 4, 4, 4]}, PRESETS["gomin-24k"])
    with pytest.raises(ConfigError, match="resblock"):
        GominGAN.from_config({"resblock": "3"}, PRESETS["gomin-24k"])


@pytest.mark.parametrize("stride, kernel", [(3, 6), (3, 7), (4, 8), (5, 11), (2, 2)])
def test_upsampler_is_exactly_stride_times_longer(stride, kernel):
    from melwave.models.vocoders.gomin import _upsampler

    up = _upsampler(2, 2, stride, kernel)
    for frames in (1, 4):
        assert up(torch.randn(1, 2, frames)).shape[-1] == frames * stride
