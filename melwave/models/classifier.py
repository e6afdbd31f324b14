"""Condition classifier: a small CNN on mel crops with one softmax head per condition.

Used to measure whether a generator follows its conditions (GANSynth's pitch accuracy,
generalised to every condition): train it on REAL labelled audio, apply it to GENERATED mels.

API (what `melwave evaluate generator` calls):

    from melwave.models.io.load import load_classifier
    clf = load_classifier("classifier.safetensors")      # or a `melwave train classifier` run folder
    clf.vocabulary.names                                  # ("instrument", "pitch", "velocity")
    probs = clf.predict(mels)                             # mels: (B, n_mels, frames) in clf.mel_config units
    probs["pitch"]                                        # (B, n_values) probabilities, rows sum to 1
    clf.predict_labels(mels)                              # {condition: [value name, ...]}
    clf.accuracy(mels, labels)                            # {condition: fraction correct}; labels (B, K) indices
    clf.encode_labels([{"pitch": "C4", ...}, ...])        # value names -> (B, K) indices

The file is a standard melwave model (`melwave.models.io.model_file.save_model/load_model`, family
`mel-classifier`): safetensors weights + model config (conditions, crop frames, channels) + the
MelConfig, so mels made under any other MelConfig are refused with the differing fields named.
Mels longer than `frames` are cut to their first `frames` frames, shorter ones padded with
silence: the same crop the generator's training data used ("start").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.audio.config import MelConfig
from melwave.errors import ConfigError, MelFileError
from melwave.models.base import MelModel
from melwave.models.mel_crop import fixed_crop, silence_value
from melwave.models.vocabulary import Vocabulary


@dataclass(frozen=True)
class ClassifierConfig:
    conditions: tuple[dict, ...] = ()               # [{name, values}] from the training labels
    frames: int = 64                                # crop length in frames
    channels: tuple[int, ...] = (16, 32, 64, 128)   # conv blocks (3×3 conv, BN, ReLU, 2×2 max-pool)
    dropout: float = 0.2                            # before the heads

    def __post_init__(self) -> None:
        if self.frames < 1 or not self.channels or not 0 <= self.dropout < 1:
            raise ConfigError("classifier: frames >= 1, channels non-empty and 0 <= dropout < 1 expected")


CONFIGS: dict[str, ClassifierConfig] = {
    "small": ClassifierConfig(),
    "debug": ClassifierConfig(frames=16, channels=(4, 8)),
}


class MelClassifier(MelModel):
    """mel (B, n_mels, frames) in mel_config units -> {condition: logits (B, n_values)}."""

    family = "mel-classifier"
    config_class = ClassifierConfig
    named_configs = CONFIGS
    default_mel_preset = "hifigan-22k"

    def __init__(self, config: ClassifierConfig, mel_config: MelConfig):
        if not config.conditions:
            raise ConfigError("classifier: needs at least one condition")
        super().__init__(config, mel_config)
        self.vocabulary = Vocabulary.from_list(config.conditions, source="classifier.conditions")
        layers: list[nn.Module] = []
        cin = 1
        for cout in config.channels:
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)
        self.heads = nn.ModuleList(nn.Linear(cin, len(c.values)) for c in self.vocabulary.conditions)
        self.register_buffer("mel_mean", torch.zeros(mel_config.n_mels))
        self.register_buffer("mel_std", torch.ones(mel_config.n_mels))
        self.fill = silence_value(mel_config)

    @property
    def frames(self) -> int:
        """Input crop length: longer mels are cut to their first `frames`, shorter ones padded."""
        return self.config.frames

    def set_statistics(self, mean: Tensor, std: Tensor) -> None:
        self.mel_mean.copy_(mean)
        self.mel_std.copy_(std)

    def crop(self, mels: Tensor) -> Tensor:
        """(B, n_mels, T) -> (B, n_mels, frames): the first `frames` frames, silence-padded."""
        return torch.stack([fixed_crop(m, self.config.frames, 0, self.fill) for m in mels])

    def forward(self, mels: Tensor) -> dict[str, Tensor]:
        x = (mels - self.mel_mean[:, None]) / self.mel_std[:, None]
        # Mean + max over time and frequency: robust to where in the crop the energy sits.
        h = self.body(x.unsqueeze(1))
        pooled = self.dropout(h.mean(dim=(2, 3)) + h.amax(dim=(2, 3)))
        return {c.name: head(pooled) for c, head in zip(self.vocabulary.conditions, self.heads)}

    def check(self, mels: Tensor, mel_config: MelConfig | None = None) -> Tensor:
        if mel_config is not None:
            mel_config.require_same(self.mel_config, what="mels", expected_by="classifier")
        if mels.ndim == 2:
            mels = mels.unsqueeze(0)
        if mels.ndim != 3 or mels.shape[1] != self.mel_config.n_mels:
            raise MelFileError(f"classifier: expected (B, {self.mel_config.n_mels}, frames) mels, got {tuple(mels.shape)}")
        return self.crop(mels.float().to(self.device))

    @torch.no_grad()
    def predict(self, mels: Tensor, mel_config: MelConfig | None = None, *, batch_size: int = 64) -> dict[str, Tensor]:
        """(B, n_mels, T) mels -> {condition: (B, n_values) probabilities} (eval mode, batched)."""
        self.eval()
        outputs: dict[str, list[Tensor]] = {n: [] for n in self.vocabulary.names}
        for start in range(0, len(mels), batch_size):
            logits = self(self.check(mels[start:start + batch_size], mel_config))
            for name, value in logits.items():
                outputs[name].append(value.softmax(-1).cpu())
        return {n: torch.cat(v) if v else torch.zeros(0, len(self.vocabulary[n].values)) for n, v in outputs.items()}

    def predict_labels(self, mels: Tensor, mel_config: MelConfig | None = None) -> dict[str, list[str]]:
        probs = self.predict(mels, mel_config)
        return {n: [self.vocabulary[n].values[i] for i in p.argmax(-1).tolist()] for n, p in probs.items()}

    def encode_labels(self, rows: Sequence[Mapping[str, str]]) -> Tensor:
        """[{condition: value name}] -> (B, K) indices in this classifier's vocabulary."""
        return torch.tensor([self.vocabulary.encode(dict(r), source="labels") for r in rows], dtype=torch.long)

    def accuracy(self, mels: Tensor, labels: Tensor, mel_config: MelConfig | None = None) -> dict[str, float]:
        """{condition: fraction of mels whose predicted value equals labels[:, k]}."""
        probs = self.predict(mels, mel_config)
        labels = labels.cpu()
        return {n: float((probs[n].argmax(-1) == labels[:, k]).float().mean()) for k, n in enumerate(self.vocabulary.names)}

    def loss(self, mels: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Summed cross-entropy over the heads, and per-head accuracy (training)."""
        logits = self(mels)
        total = torch.zeros((), device=mels.device)
        accuracy = {}
        for k, name in enumerate(self.vocabulary.names):
            total = total + F.cross_entropy(logits[name], labels[:, k])
            accuracy[f"accuracy_{name}"] = float((logits[name].argmax(-1) == labels[:, k]).float().mean())
        return total, accuracy
