"""WGAN-GP recipe for the conditional mel generator (`recipe.name: wgan-gp`, model family cwgan).

One train_step = `n_critic` critic updates, then one generator update. The loop's batch holds
train.batch_size = n_critic × (critic batch) real examples; each critic update takes its own
slice, so every real example comes from the loop's resumable sampler. Per critic update:

    L_D = E[D(fake)] − E[D(real)] + λ · E[(‖∇D(x̂)‖ − 1)²]       (summed over strip critics)

with real, fake and interpolated examples scored in ONE critic call (a single forward/backward
pair under DistributedDataParallel). The generator update minimises −E[D(G(z, y))] with the
labels of the last real slice (so conditions follow the data's distribution).

With `critic.auxiliary_classifier` (AC-GAN) the critic also minimises the cross-entropy of its
condition heads on REAL mels, and the generator the cross-entropy of the heads on its own
output for the labels it was asked for, both × auxiliary_weight.

With `ema_decay` an exponential moving average of the generator's weights (melwave.train.ema,
warmed up) is what validation draws from and what is exported; it is checkpointed. A GAN's live
generator moves with every critic it chases; the average is the steadier model.

The data are labelled mel crops (`recipe.data`), normalised per mel bin with statistics
computed once from the training set and stored in the generator (they survive resume and ship
with the exported model). The condition vocabulary lives in `model.config.conditions`;
`conditions.prepare_config` fills it from the data's labels before the first run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from melwave.data.labelled import LabelledDataConfig
from melwave.errors import ConfigError
from melwave.losses.gradient_penalty import interpolate, penalty_from_scores
from melwave.models.generators.critic import Critic, CriticConfig
from melwave.models.generators.cwgan import CWGANGenerator
from melwave.train.ema import check_decay
from melwave.train.recipe import Validation, register_recipe, unwrap
from melwave.train.recipes.generator_base import GeneratorRecipe, envelope_l1
from melwave.train.state import TrainState


@dataclass(frozen=True)
class WGANGPOptions:
    n_critic: int = 5                                   # critic updates per generator update
    gp_weight: float = 10.0                             # λ of the gradient penalty
    critic_learning_rate: float | None = None           # None: train.learning_rate
    critic: CriticConfig = field(default_factory=CriticConfig)  # critic architecture
    data: LabelledDataConfig = field(default_factory=LabelledDataConfig)  # labels and crops
    grid_seed: int = 1234                               # fixed noise of the TensorBoard grids
    auxiliary_weight: float = 1.0                       # weight of the AC-GAN losses (critic.auxiliary_classifier)
    ema_decay: float | None = None                      # EMA of the generator's weights (exported); null: live weights

    def __post_init__(self) -> None:
        check_decay(self.ema_decay)
        if self.n_critic < 1:
            raise ConfigError(f"n_critic={self.n_critic}: expected >= 1")
        if self.gp_weight < 0:
            raise ConfigError(f"gp_weight={self.gp_weight}: expected >= 0")


@register_recipe
class WGANGPRecipe(GeneratorRecipe):
    name = "wgan-gp"
    Options = WGANGPOptions
    model_class = CWGANGenerator

    def build_training(self, generator: CWGANGenerator) -> None:
        options: WGANGPOptions = self.config.recipe.options
        if self.config.train.batch_size % options.n_critic:
            raise ConfigError(f"train.batch_size={self.config.train.batch_size} must be a multiple of recipe.n_critic="
                              f"{options.n_critic} (each critic update takes batch_size / n_critic real examples)")
        critic = Critic.for_generator(options.critic, generator).to(self.device)
        self.modules = {"generator": generator, "critic": critic}
        self.optimizers = {
            "generator": self.make_optimizer(generator.parameters()),
            "critic": self.make_optimizer(critic.parameters(), options.critic_learning_rate),
        }
        self.schedulers = {k: self.make_scheduler(o) for k, o in self.optimizers.items()}

    def train_step(self, batch: tuple[Tensor, Tensor], state: TrainState) -> dict[str, float]:
        options: WGANGPOptions = self.config.recipe.options
        generator, critic = self.modules["generator"], self.modules["critic"]
        plain_critic: Critic = unwrap(critic)
        z_dim = self.generator.config.z_dim
        mels, labels = batch
        reals = self.generator.normalize(mels).chunk(options.n_critic)
        label_chunks = labels.chunk(options.n_critic)
        totals = {"critic_loss": 0.0, "wasserstein": 0.0, "gradient_penalty": 0.0, "gradient_norm": 0.0}
        for real, label in zip(reals, label_chunks):
            with torch.no_grad(), self.autocast():
                fake = generator(torch.randn(real.shape[0], z_dim, device=self.device), label).float()
            real_strips, fake_strips = plain_critic.strips_of(real), plain_critic.strips_of(fake)
            mixed = interpolate(real_strips, fake_strips)
            count = real.shape[0]
            # train.precision bf16: the forward passes in bfloat16, losses and the penalty's norms in fp32.
            with self.autocast():
                scores, logits = critic(torch.cat([real_strips, fake_strips, mixed]), label.repeat(3, 1), with_logits=True)
            scores, logits = scores.float(), [lg.float() for lg in logits]
            score_real, score_fake, score_mixed = scores.split(count)
            penalty, norms = penalty_from_scores(score_mixed, mixed, weight=options.gp_weight)
            wasserstein = score_real.mean(0).sum() - score_fake.mean(0).sum()
            loss = penalty - wasserstein
            if logits:
                auxiliary = self.auxiliary_loss([lg[:count] for lg in logits], label)
                loss = loss + options.auxiliary_weight * auxiliary
                totals["critic_auxiliary"] = totals.get("critic_auxiliary", 0.0) + auxiliary.item()
            self.optimizers["critic"].zero_grad(set_to_none=True)
            loss.backward()
            self.optimizers["critic"].step()
            totals["critic_loss"] += loss.item()
            totals["wasserstein"] += wasserstein.item()
            totals["gradient_penalty"] += penalty.item()
            totals["gradient_norm"] += norms.mean().item()
        metrics = {k: v / options.n_critic for k, v in totals.items()}

        # The unwrapped critic: its gradients here are discarded, so they needn't be all-reduced.
        label = label_chunks[-1]
        with self.autocast():
            fake = generator(torch.randn(label.shape[0], z_dim, device=self.device), label)
            score, logits = plain_critic.score_mels(fake, label, with_logits=True)
        score, logits = score.float(), [lg.float() for lg in logits]
        generator_loss = -score.mean(0).sum()
        if logits:
            auxiliary = self.auxiliary_loss(logits, label)
            generator_loss = generator_loss + options.auxiliary_weight * auxiliary
            metrics["generator_auxiliary"] = auxiliary.item()
        self.optimizers["generator"].zero_grad(set_to_none=True)
        generator_loss.backward()
        self.optimizers["generator"].step()
        self.step_schedulers(state)
        self.update_ema(state)
        metrics["generator_loss"] = generator_loss.item()
        return metrics

    @staticmethod
    def auxiliary_loss(logits: list[Tensor], labels: Tensor) -> Tensor:
        """Cross-entropy of every condition head of every strip critic, summed over conditions."""
        total = torch.zeros((), device=labels.device)
        for k, logit in enumerate(logits):  # (B, G, n_values)
            groups = logit.shape[1]
            total = total + F.cross_entropy(logit.flatten(0, 1), labels[:, k].repeat_interleave(groups))
        return total

    @torch.no_grad()
    def validate(self, batches: Iterable[tuple[Tensor, Tensor]], state: TrainState) -> Validation:
        options: WGANGPOptions = self.config.recipe.options
        generator, critic = self.inference_model(), unwrap(self.modules["critic"])
        reals, labels = self.held_out_batch(batches)
        noise = torch.Generator().manual_seed(options.grid_seed)
        z = torch.randn(labels.shape[0], generator.config.z_dim, generator=noise).to(self.device)
        fakes = generator.generate(labels, z)
        real_norm, fake_norm = generator.normalize(reals), generator.normalize(fakes)
        result = Validation()
        result.scalars = {
            "wasserstein": float(critic.score_mels(real_norm, labels).mean(0).sum() - critic.score_mels(fake_norm, labels).mean(0).sum()),
            "envelope_l1": envelope_l1(real_norm, fake_norm),
        }
        result.images = self.validation_images(generator, reals, labels)
        return result
