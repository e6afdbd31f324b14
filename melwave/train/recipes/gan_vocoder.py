"""GAN vocoder recipe: HiFi-GAN, MelGAN, GOMIN GAN, Vocos — one step function, configured.

Per step (after an optional mel-loss-only warm-up):
  1. discriminator: minimise adv_D(D(real), D(G(mel).detach()))
  2. generator:     minimise mel_weight·melL1 + adversarial_weight·adv_G(D(G(mel)))
                             + feature_weight·FM(D(real), D(G(mel))) + mrstft_weight·MRSTFT
The generator's adversarial term is the discriminator's score on ITS OWN output (the MelGAN
Keras tutorial swapped real and fake here, so its generator learnt from feature matching only).

Real and generated audio go through the discriminator as ONE concatenated batch: a single
forward per update keeps DistributedDataParallel to one forward/backward pair per module, and
the generator update uses the unwrapped discriminator so it doesn't all-reduce gradients that
are thrown away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from melwave.errors import ConfigError
from melwave.losses.adversarial import KINDS, discriminator_loss, generator_adversarial_loss
from melwave.losses.feature_matching import feature_matching_loss
from melwave.losses.spectral import MelL1Loss, MultiResolutionSTFTLoss
from melwave.models.base import Vocoder
from melwave.train.recipe import register_recipe, unwrap
from melwave.train.recipes.vocoder_base import VocoderRecipe
from melwave.train.state import TrainState


@dataclass(frozen=True)
class GANOptions:
    discriminators: dict[str, Any] = field(default_factory=lambda: {"mpd": {}, "msd": {}})  # name -> kwargs
    adversarial_loss: str = "lsgan"          # lsgan | hinge
    adversarial_weight: float = 1.0          # weight of the generator's adversarial loss
    mel_weight: float = 45.0                 # weight of mel-L1 (HiFi-GAN: 45)
    feature_weight: float = 2.0              # weight of feature matching (HiFi-GAN: 2, MelGAN: 10)
    mrstft_weight: float = 0.0               # weight of the multi-resolution STFT loss
    mel_warmup_steps: int = 0                # steps of mel/STFT-loss-only training before the GAN starts
    discriminator_learning_rate: float | None = None  # None: train.learning_rate
    weight_norm: bool = True                 # train the generator with weight norm (folded on export)
    validation_samples: int = 2              # clips whose audio/mel images go to TensorBoard

    def __post_init__(self) -> None:
        if self.adversarial_loss not in KINDS:
            raise ConfigError(f"adversarial_loss={self.adversarial_loss!r}: expected one of {KINDS}")
        if not self.discriminators:
            raise ConfigError("discriminators: at least one is needed, e.g. {mpd: {}, msd: {}}")
        if self.mel_warmup_steps < 0 or min(self.adversarial_weight, self.mel_weight, self.feature_weight, self.mrstft_weight) < 0:
            raise ConfigError("loss weights and mel_warmup_steps must be >= 0")


@register_recipe
class GANVocoderRecipe(VocoderRecipe):
    name = "gan"
    Options = GANOptions

    def build_training(self, generator: Vocoder) -> None:
        from melwave.models.discriminators import build_discriminator

        options: GANOptions = self.config.recipe.options
        try:
            discriminator = build_discriminator(options.discriminators).to(self.device)
        except ConfigError as err:
            raise ConfigError(f"recipe.discriminators: {err}") from None
        self.modules = {"generator": generator, "discriminator": discriminator}
        self.optimizers = {
            "generator": self.make_optimizer(generator.parameters()),
            "discriminator": self.make_optimizer(discriminator.parameters(), options.discriminator_learning_rate),
        }
        self.schedulers = {k: self.make_scheduler(o) for k, o in self.optimizers.items()}
        self.mel_l1 = MelL1Loss(self.mel_config).to(self.device)
        self.mrstft = MultiResolutionSTFTLoss().to(self.device)

    # --- one step -------------------------------------------------------------------------
    def train_step(self, batch: Tensor, state: TrainState) -> dict[str, float]:
        options: GANOptions = self.config.recipe.options
        generator, discriminator = self.modules["generator"], self.modules["discriminator"]
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]
        real = batch
        with torch.no_grad():
            mel = self.extractor(real)
        with self.autocast():
            fake = generator(mel)[..., : real.shape[-1]]
        fake = fake.float()
        adversarial = state.step >= options.mel_warmup_steps
        metrics: dict[str, float] = {}

        if adversarial:
            opt_d.zero_grad(set_to_none=True)
            with self.autocast():
                scores, _ = discriminator(torch.cat([real, fake.detach()]))
            d_loss = discriminator_loss(*_split(scores, len(real)), kind=options.adversarial_loss)
            d_loss.backward()
            metrics["d_grad_norm"] = self.clip_gradients(discriminator)
            opt_d.step()
            metrics["d_loss"] = d_loss.item()

        opt_g.zero_grad(set_to_none=True)
        mel_loss = self.mel_l1(fake, real)
        g_loss = options.mel_weight * mel_loss
        metrics["mel_l1"] = mel_loss.item()
        if options.mrstft_weight:
            mrstft = self.mrstft(fake, real)
            g_loss = g_loss + options.mrstft_weight * mrstft
            metrics["mrstft"] = mrstft.item()
        if adversarial:
            with self.autocast():
                scores, features = unwrap(discriminator)(torch.cat([real, fake]))
            _, fake_scores = _split(scores, len(real))
            real_features, fake_features = _split_features(features, len(real))
            adv = generator_adversarial_loss(fake_scores, kind=options.adversarial_loss)
            fm = feature_matching_loss(real_features, fake_features)
            g_loss = g_loss + options.adversarial_weight * adv + options.feature_weight * fm
            metrics["g_adv"] = adv.item()
            metrics["feature_matching"] = fm.item()
        g_loss.backward()
        metrics["g_grad_norm"] = self.clip_gradients(generator)
        opt_g.step()
        metrics["g_loss"] = g_loss.item()
        self.step_schedulers(state, None if adversarial else ["generator"])
        metrics["lr"] = opt_g.param_groups[0]["lr"]
        return metrics


def _split(scores: list[Tensor], n_real: int) -> tuple[list[Tensor], list[Tensor]]:
    """Scores of the concatenated [real; fake] batch -> (real scores, fake scores)."""
    return [s[:n_real] for s in scores], [s[n_real:] for s in scores]


def _split_features(features: list[list[Tensor]], n_real: int) -> tuple[list[list[Tensor]], list[list[Tensor]]]:
    return [[f[:n_real] for f in maps] for maps in features], [[f[n_real:] for f in maps] for maps in features]
