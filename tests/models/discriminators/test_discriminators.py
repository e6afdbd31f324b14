import pytest
import torch

from melwave.errors import ConfigError
from melwave.models.discriminators import (
    MultiPeriodDiscriminator, MultiResolutionDiscriminator, MultiScaleDiscriminator, build_discriminator,
)

from _vocoder_checks import param_count


def _check(disc, lengths, expected_parts):
    for length in lengths:
        wave = torch.randn(2, length, requires_grad=True)
        scores, features = disc(wave)
        assert len(scores) == len(features) == expected_parts
        for score, maps in zip(scores, features):
            assert score.shape[0] == 2 and torch.isfinite(score).all()
            assert len(maps) >= 2 and all(m.shape[0] == 2 for m in maps)
            # The last feature map is the score itself (before flattening).
            assert maps[-1].numel() == score.numel()
        # Scores depend on the input: the generator gets adversarial gradient through them.
        sum(s.mean() for s in scores).backward()
        assert wave.grad is not None and wave.grad.abs().sum() > 0


def test_multi_period_periods_and_shapes():
    disc = MultiPeriodDiscriminator(channels=(4, 8, 8))
    assert [d.period for d in disc.discriminators] == [2, 3, 5, 7, 11]
    _check(disc, [1000, 2049], 5)
    # Each period folds the wave into (T/p, p) columns.
    _, features = disc(torch.randn(1, 2200))
    assert [maps[0].shape[-1] for maps in features] == [2, 3, 5, 7, 11]


def test_multi_scale_three_scales_with_pooling():
    disc = MultiScaleDiscriminator(preset="debug")
    _check(disc, [1024, 3001], 3)
    scores, _ = disc(torch.randn(1, 4096))
    # AvgPool(stride 2) between scales halves the resolution each time.
    assert scores[0].shape[-1] > scores[1].shape[-1] > scores[2].shape[-1]


def test_multi_resolution_shapes():
    _check(MultiResolutionDiscriminator(channels=4), [4096, 5000], 3)


def test_full_size_parameter_counts():
    # HiFi-GAN's MPD is 41.1M; MelGAN's 3-scale discriminator 16.9M.
    assert 41.0e6 < param_count(MultiPeriodDiscriminator()) < 41.2e6
    assert 16.8e6 < param_count(MultiScaleDiscriminator()) < 17.0e6


def test_build_combines_and_rejects_unknown():
    disc = build_discriminator({"mpd": {"channels": [4, 8]}, "mrd": {"channels": 4}})
    scores, features = disc(torch.randn(2, 4096))
    assert len(scores) == len(features) == 8
    with pytest.raises(ConfigError, match="unknown"):
        build_discriminator({"nope": {}})
    with pytest.raises(ConfigError, match="mpd"):
        build_discriminator({"mpd": {"bogus": 1}})


def test_generator_receives_adversarial_gradient_through_the_scores():
    # The MelGAN Keras tutorial swapped real and fake predictions, so its generator learned only
    # from feature matching. Here the score of generated audio must reach the generator.
    from melwave.audio.config import PRESETS
    from melwave.models.vocoders.melgan import MELGAN_CONFIGS, MelGAN

    torch.manual_seed(0)
    generator = MelGAN(MELGAN_CONFIGS["debug"], PRESETS["melgan-22k"]).apply_weight_norm()
    disc = MultiScaleDiscriminator(preset="debug")
    scores, _ = disc(generator(torch.randn(2, 80, 8)))
    loss = sum(((s - 1) ** 2).mean() for s in scores)  # LSGAN generator loss
    loss.backward()
    grads = [p.grad for p in generator.parameters()]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
