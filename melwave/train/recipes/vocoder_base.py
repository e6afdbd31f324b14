"""The base of the vocoder recipes (gan, distill, diffusion): a Vocoder trained on audio segments.

`VocoderRecipe.build` makes the vocoder once from the run config (`model` + `mel`) and from then
on the vocoder's own `mel_config` is the run's mel config: the extractor that turns training audio
into mels, validation's mel-L1, the datasets (sample rate, hop grid) and `--init` all use it, so
nothing a recipe trains against can drift from what the exported model states.

The defaults are those of a vocoder that maps a mel to audio in one forward pass of
`modules["generator"]` (GAN, distillation): weight norm while training when `recipe.weight_norm`
says so, validation and export of the live weights. The diffusion recipe overrides them.
"""

from __future__ import annotations

import abc
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from torch import Tensor

from melwave.audio.config import MelConfig
from melwave.audio.features import MelExtractor
from melwave.errors import ConfigError
from melwave.models.base import Vocoder
from melwave.train.recipe import Recipe, Validation, unwrap
from melwave.train.recipes.vocoder_common import (
    VocoderValidation, build_vocoder, exported_copy, load_pretrained_into, set_weight_norm,
)
from melwave.train.state import TrainState

if TYPE_CHECKING:  # pragma: no cover
    from melwave.data.audio_segments import AudioSegments, ValidationClips

log = logging.getLogger(__name__)


class VocoderRecipe(Recipe):
    """A recipe whose product is `modules["generator"]`, a Vocoder: mel (B, n_mels, frames) ->
    wave (B, frames * hop_length). Batches are audio crops (B, T) (or what `datasets` pairs them
    with), T = data.segment_samples.

    Subclasses fill in `build_training(vocoder)`: `self.modules` (with the vocoder as "generator",
    the checkpoint key), optimizers, schedulers and their losses; their Options carry
    `validation_samples` (and, with the default `prepare_vocoder`, `weight_norm`).
    """

    trains = "vocoder"
    mel_config: MelConfig          # the vocoder's: the one mel config of the run
    extractor: MelExtractor        # training audio (B, T) -> mel (B, n_mels, frames), no gradient needed
    validation: VocoderValidation

    def build(self) -> None:
        vocoder = self.prepare_vocoder(build_vocoder(self.config)).to(self.device)
        self.mel_config = vocoder.mel_config
        self.build_training(vocoder)
        self.extractor = MelExtractor(self.mel_config).to(self.device)
        self.validation = VocoderValidation(self.mel_config, self.device, self.config.recipe.options.validation_samples)

    def prepare_vocoder(self, vocoder: Vocoder) -> Vocoder:
        """The freshly built vocoder as it trains (still on the CPU): with weight norm per
        `recipe.weight_norm` (folded again by `exported_copy`)."""
        return set_weight_norm(vocoder, self.config.recipe.options.weight_norm)

    @abc.abstractmethod
    def build_training(self, vocoder: Vocoder) -> None:
        """Create the modules (vocoder included, on self.device), optimizers, schedulers and losses."""

    @property
    def vocoder(self) -> Vocoder:
        """The trained vocoder, outside any DistributedDataParallel wrapper."""
        return unwrap(self.modules["generator"])

    # --- data -----------------------------------------------------------------------------
    def datasets(self, data_dir: str | Path | None) -> tuple[AudioSegments, ValidationClips | None]:
        """(AudioSegments, ValidationClips | None) from a folder, at the vocoder's sample rate."""
        from melwave.data.audio_segments import AudioSegments, ValidationClips, find_audio_files, split_files

        if data_dir is None:
            raise ConfigError("vocoder training needs --data DIR (a folder of audio files)")
        mel, data = self.mel_config, self.config.data
        if data.segment_samples % mel.hop_length:
            raise ConfigError(f"data.segment_samples={data.segment_samples}: must be a multiple of mel.hop_length ({mel.hop_length})")
        root = Path(data_dir)
        files = find_audio_files(root)
        train_files, val_files = split_files(files, root, data.validation_clips, data.split_seed)
        train_set = AudioSegments(train_files, mel.sample_rate, data.segment_samples)
        if not val_files and data.validation_clips:
            # One file only: validate on it (reported), rather than not at all.
            val_files = train_files[:1]
            log.warning("%s: only one audio file, so validation uses it too (scores are not held-out)", root)
        val_set = ValidationClips(val_files, mel.sample_rate, data.validation_seconds, mel.hop_length, mel.min_samples()) if val_files else None
        if val_set is not None and len(val_set) == 0:
            val_set = None
        return train_set, val_set

    # --- one-pass defaults ----------------------------------------------------------------
    def init_from(self, source: str) -> None:
        load_pretrained_into(self.vocoder, source, self.mel_config)

    def validate(self, batches: Iterable[Tensor], state: TrainState) -> Validation:
        vocoder = self.vocoder
        with self.autocast():
            return self.validation(lambda mel: vocoder(mel).float(), batches)

    def export_model(self) -> Vocoder:
        return exported_copy(self.vocoder)
