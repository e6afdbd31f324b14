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


def test_output_depends_on_local_mel_only(tiny):
    _randomise_film(tiny)
    check_receptive_field(tiny, frames=24, changed_from=16)


def test_save_load_round_trip(tiny, tmp_path):
    check_save_load(tiny, tmp_path)


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
