"""Discriminators for GAN vocoder training.

Every one maps wave (B, T) -> (scores: list[Tensor], features: list[list[Tensor]]): one score
map per sub-discriminator, and the intermediate activations of each for feature matching.
"""

from melwave.models.discriminators.multiperiod import MultiPeriodDiscriminator, PeriodDiscriminator
from melwave.models.discriminators.multiresolution import MultiResolutionDiscriminator, ResolutionDiscriminator
from melwave.models.discriminators.multiscale import MultiScaleDiscriminator, ScaleDiscriminator
from melwave.models.discriminators.build import DISCRIMINATORS, CombinedDiscriminator, build_discriminator

__all__ = [
    "DISCRIMINATORS", "CombinedDiscriminator", "MultiPeriodDiscriminator", "MultiResolutionDiscriminator",
    "MultiScaleDiscriminator", "PeriodDiscriminator", "ResolutionDiscriminator", "ScaleDiscriminator",
    "build_discriminator",
]
