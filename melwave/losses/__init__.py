"""Training losses: adversarial (LSGAN, hinge), feature matching, spectral (mel-L1, MR-STFT)."""

from melwave.losses.adversarial import discriminator_loss, generator_adversarial_loss
from melwave.losses.feature_matching import feature_matching_loss
from melwave.losses.spectral import MelL1Loss, MultiResolutionSTFTLoss

__all__ = ["discriminator_loss", "generator_adversarial_loss", "feature_matching_loss", "MelL1Loss", "MultiResolutionSTFTLoss"]
