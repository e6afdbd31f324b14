"""Distillation recipe: a fast student vocoder regresses a pretrained teacher's waveform.

Per step, for a batch of crops (B, 2, T) = (recording, teacher's output for the same samples):
    mel  = mel(recording)
    loss = complex_weight · compressed-complex MR-STFT(student(mel), teacher)
         + mel_weight · mel-L1(student, teacher) + wave_weight · L1(student, teacher)
         + real_mel_weight · mel-L1(student, recording)
The teacher's output is a deterministic function of the mel, phase included, so unlike the
recording itself it is a target the student can match exactly: no discriminator, no phase
ambiguity, and a step costs one forward/backward of the student (a GAN step on this CPU costs
~40 times that). `real_mel_weight` pulls magnitudes toward the recording where the teacher is
weak (HiFi-GAN on music). Teacher targets are computed once per file and cached
(`melwave.train.teacher`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from melwave.errors import ConfigError
from melwave.losses.spectral import CompressedComplexSTFTLoss, MelL1Loss
from melwave.models.base import Vocoder
from melwave.train.recipe import register_recipe
from melwave.train.recipes.vocoder_base import VocoderRecipe
from melwave.train.state import TrainState

if TYPE_CHECKING:  # pragma: no cover
    from melwave.data.audio_segments import PairedSegments, ValidationClips


@dataclass(frozen=True)
class DistillOptions:
    teacher: str = "hifigan-universal"     # any load_vocoder name or path playing the run's mel config
    teacher_cache: str = "~/.cache/melwave/teacher"  # targets, keyed by teacher + mel + audio (shareable)
    complex_weight: float = 1.0            # compressed complex multi-resolution STFT vs the teacher
    mel_weight: float = 15.0               # mel-L1 vs the teacher
    wave_weight: float = 0.0               # waveform L1 vs the teacher
    real_mel_weight: float = 0.0           # mel-L1 vs the recording (where the teacher is weak)
    weight_norm: bool = False              # train the student with weight norm (folded on export)
    validation_samples: int = 2            # clips whose audio/mel images go to TensorBoard

    def __post_init__(self) -> None:
        weights = {k: getattr(self, k) for k in ("complex_weight", "mel_weight", "wave_weight", "real_mel_weight")}
        negative = [k for k, v in weights.items() if v < 0]
        if negative:
            raise ConfigError(f"recipe.{negative[0]}={weights[negative[0]]!r}: expected >= 0")
        if not any(weights.values()):
            raise ConfigError("recipe: every loss weight is 0; set complex_weight, mel_weight, wave_weight or real_mel_weight")
        if not self.teacher:
            raise ConfigError("recipe.teacher: expected a vocoder name or path, e.g. hifigan-universal")


@register_recipe
class DistillVocoderRecipe(VocoderRecipe):
    name = "distill"
    Options = DistillOptions

    def build_training(self, student: Vocoder) -> None:
        self.modules = {"generator": student}
        self.optimizers = {"generator": self.make_optimizer(student.parameters())}
        self.schedulers = {"generator": self.make_scheduler(self.optimizers["generator"])}
        self.mel_l1 = MelL1Loss(self.mel_config).to(self.device)
        self.complex_stft = CompressedComplexSTFTLoss().to(self.device)

    def datasets(self, data_dir: str | Path | None) -> tuple[PairedSegments, ValidationClips | None]:
        """The recordings' crops paired with the teacher's output for the same samples: (2, T) each."""
        from melwave.data.audio_segments import PairedSegments
        from melwave.train.teacher import TeacherTargets

        options: DistillOptions = self.config.recipe.options
        train_set, val_set = super().datasets(data_dir)
        teacher = TeacherTargets(options.teacher, self.mel_config, options.teacher_cache, self.device)
        targets = teacher.targets(train_set.waves, train_set.files, rank=self.context.rank,
                                  world_size=self.context.world_size)
        del teacher  # the teacher's weights are not needed while training
        return PairedSegments(train_set, targets, align=self.mel_config.hop_length), val_set

    def train_step(self, batch: Tensor, state: TrainState) -> dict[str, float]:
        """batch: (B, 2, T) = (recording, teacher output) crops."""
        options: DistillOptions = self.config.recipe.options
        student, optimizer = self.modules["generator"], self.optimizers["generator"]
        real, target = batch[:, 0], batch[:, 1]
        with torch.no_grad():
            mel = self.extractor(real)
        with self.autocast():
            fake = student(mel)[..., : real.shape[-1]]
        fake = fake.float()
        metrics: dict[str, float] = {}
        loss = fake.new_zeros(())
        terms = (("complex_weight", "complex_stft", lambda: self.complex_stft(fake, target)),
                 ("mel_weight", "mel_l1_teacher", lambda: self.mel_l1(fake, target)),
                 ("wave_weight", "wave_l1_teacher", lambda: F.l1_loss(fake, target[..., : fake.shape[-1]])),
                 ("real_mel_weight", "mel_l1_real", lambda: self.mel_l1(fake, real)))
        for weight_name, metric, term in terms:
            weight = getattr(options, weight_name)
            if weight:
                value = term()
                loss = loss + weight * value
                metrics[metric] = value.item()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        metrics["grad_norm"] = self.clip_gradients(student)
        optimizer.step()
        self.step_schedulers(state)
        metrics["loss"] = loss.item()
        metrics["lr"] = optimizer.param_groups[0]["lr"]
        return metrics
