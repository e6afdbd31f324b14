import pytest
import torch

from melwave.audio.config import PRESETS
from melwave.errors import CheckpointError, ConfigError
from melwave.models.registry import families
from melwave.models.vocoders.melgan import MELGAN_CONFIGS, MelGAN, MelGANConfig

from _vocoder_checks import build_on_meta, check_receptive_field, check_save_load, check_shapes, check_weight_norm_fold, param_count


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


def test_weight_norm_fold_keeps_outputs(tiny):
    check_weight_norm_fold(tiny)


def test_config_rejects_unknown_keys_and_wrong_hop():
    with pytest.raises(ConfigError, match="bogus"):
        MelGAN.from_config({"bogus": 1}, PRESETS["melgan-22k"])
    with pytest.raises(ConfigError, match="hop_length"):
        MelGAN(MelGANConfig(upsample_rates=(8, 8, 2)), PRESETS["melgan-22k"])
    assert MelGAN.from_config({"upsample_rates": [8, 8, 2, 2], "initial_channels": 32}, PRESETS["melgan-22k"]).config.upsample_rates == (8, 8, 2, 2)


def test_output_depends_on_local_mel_only(tiny):
    check_receptive_field(tiny)


def test_training_form_saves_through_folded_copy(tiny, tmp_path):
    from melwave.models.registry import load_model, save_model

    tiny.apply_weight_norm()
    path = save_model(tiny.folded(), tmp_path / "g.safetensors")
    assert any("parametrizations" in k for k in tiny.state_dict())  # the original keeps training form
    mel = torch.randn(1, 80, 6)
    with torch.no_grad():
        torch.testing.assert_close(load_model(path)(mel), tiny.eval()(mel), atol=1e-5, rtol=1e-4)
