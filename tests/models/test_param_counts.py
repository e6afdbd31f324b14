"""Published generator sizes of the HiFi-GAN variants (Kong et al. 2020, Table 1)."""

import pytest

from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN

from _vocoder_checks import build_on_meta, param_count


@pytest.mark.parametrize("variant, low, high", [("v1", 13.8e6, 14.0e6), ("v2", 0.9e6, 0.95e6), ("v3", 1.4e6, 1.5e6)])
def test_hifigan_parameter_counts(variant, low, high):
    count = param_count(build_on_meta(lambda: HiFiGAN(HIFIGAN_CONFIGS[variant])))
    assert low < count < high, count


def test_every_named_config_builds_with_its_family_default_mel():
    from melwave.audio.config import PRESETS
    from melwave.models.base import Vocoder
    from melwave.models.registry import _FAMILIES, families

    checked = 0
    for family in families():
        cls = _FAMILIES[family]
        if not issubclass(cls, Vocoder):
            continue  # conditional families need conditions from data (tests/generators build them)
        for name, config in cls.named_configs.items():
            model = build_on_meta(lambda: cls(config, PRESETS[cls.default_mel_preset]))
            assert model.config == config and model.family == family, (family, name)
            assert "debug" in cls.named_configs
            checked += 1
    assert checked >= 9 + 4  # hifigan v1/v2/v3/debug included
