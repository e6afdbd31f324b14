"""Feature matching (Larsen et al.; MelGAN, HiFi-GAN): L1 between the discriminators' internal
feature maps on real and on generated audio. Real features are targets (no gradient)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def feature_matching_loss(real_features: Sequence[Sequence[Tensor]], fake_features: Sequence[Sequence[Tensor]]) -> Tensor:
    """Sum over sub-discriminators and layers of mean |real - fake| (HiFi-GAN's reference form).

    real_features / fake_features: per sub-discriminator, the list of its layer outputs.
    """
    total = None
    for real_maps, fake_maps in zip(real_features, fake_features, strict=True):
        for real, fake in zip(real_maps, fake_maps, strict=True):
            term = torch.mean(torch.abs(real.detach().float() - fake.float()))
            total = term if total is None else total + term
    if total is None:
        raise ValueError("feature_matching_loss: no feature maps given")
    return total
