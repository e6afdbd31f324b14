"""Losses: zero exactly when they should be, known values, and correct gradient directions."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from melwave.audio.config import PRESETS
from melwave.losses import MelL1Loss, MultiResolutionSTFTLoss, discriminator_loss, feature_matching_loss, generator_adversarial_loss


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), length=st.integers(2048, 6000))
def test_spectral_losses_vanish_on_identical_audio_and_not_otherwise(seed, length):
    wave = torch.randn(2, length, generator=torch.Generator().manual_seed(seed)) * 0.1
    mel_l1, mrstft = MelL1Loss(PRESETS["hifigan-22k"]), MultiResolutionSTFTLoss()
    assert float(mel_l1(wave, wave)) == 0.0
    assert float(mrstft(wave, wave)) < 1e-6
    other = wave.roll(17, dims=-1) * 0.5
    assert float(mel_l1(other, wave)) > 0.1
    assert float(mrstft(other, wave)) > 0.1


def test_adversarial_losses_known_values():
    real, fake = [torch.ones(3, 5)], [torch.zeros(3, 5)]
    assert float(discriminator_loss(real, fake, "lsgan")) == 0.0        # a perfect discriminator
    assert float(generator_adversarial_loss(fake, "lsgan")) == 1.0       # (0 - 1)^2
    assert float(discriminator_loss(real, fake, "hinge")) == 1.0         # relu(1-1) + relu(1+0)
    assert float(generator_adversarial_loss([torch.full((2,), 3.0)], "hinge")) == -3.0
    # Two sub-discriminators sum.
    assert float(generator_adversarial_loss(fake * 2, "lsgan")) == 2.0


def test_generator_loss_gradient_raises_the_fake_score():
    for kind in ("lsgan", "hinge"):
        score = torch.zeros(4, requires_grad=True)
        generator_adversarial_loss([score], kind).backward()
        assert (score.grad < 0).all(), kind   # descending the loss pushes D(fake) up


def test_feature_matching_is_l1_and_ignores_gradient_to_real():
    real = [[torch.ones(2, 3, requires_grad=True), torch.zeros(2, 4)]]
    fake = [[torch.zeros(2, 3, requires_grad=True), torch.zeros(2, 4)]]
    loss = feature_matching_loss(real, fake)
    assert loss.item() == 1.0
    loss.backward()
    assert real[0][0].grad is None and fake[0][0].grad is not None
    assert float(feature_matching_loss(real, real)) == 0.0


def test_mel_loss_gradient_is_finite_on_silence():
    # Generators start near silence; exactly-zero STFT bins must not turn the gradient into NaN.
    for preset in ("hifigan-22k", "gomin-24k", "melgan-22k"):
        fake = torch.zeros(2, 4096, requires_grad=True)
        target = 0.1 * torch.randn(2, 4096, generator=torch.Generator().manual_seed(0))
        MelL1Loss(PRESETS[preset])(fake, target).backward()
        assert torch.isfinite(fake.grad).all(), preset
