"""Adversarial losses over lists of discriminator scores (one tensor per sub-discriminator).

lsgan (Mao et al.; MelGAN, HiFi-GAN): D minimises (D(x)-1)^2 + D(G(z))^2, G minimises (D(G(z))-1)^2.
hinge (Vocos, GOMIN GAN):            D minimises relu(1-D(x)) + relu(1+D(G(z))), G minimises -D(G(z)).
Each sub-discriminator's loss is a mean over its outputs; the sub-discriminators are summed, as
in HiFi-GAN's reference training.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

KINDS = ("lsgan", "hinge")


def _check(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"adversarial loss {kind!r}: expected one of {KINDS}")


def discriminator_loss(real_scores: Sequence[Tensor], fake_scores: Sequence[Tensor], kind: str = "lsgan") -> Tensor:
    """Sum over sub-discriminators of the loss for telling real (scores→1) from fake (→0/−1)."""
    _check(kind)
    total = real_scores[0].new_zeros(())
    for real, fake in zip(real_scores, fake_scores, strict=True):
        if kind == "lsgan":
            total = total + torch.mean((real.float() - 1) ** 2) + torch.mean(fake.float() ** 2)
        else:
            total = total + torch.mean(torch.relu(1 - real.float())) + torch.mean(torch.relu(1 + fake.float()))
    return total


def generator_adversarial_loss(fake_scores: Sequence[Tensor], kind: str = "lsgan") -> Tensor:
    """Sum over sub-discriminators of the generator's loss for being judged real."""
    _check(kind)
    total = fake_scores[0].new_zeros(())
    for fake in fake_scores:
        total = total + (torch.mean((fake.float() - 1) ** 2) if kind == "lsgan" else -torch.mean(fake.float()))
    return total
