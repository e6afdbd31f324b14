"""WGAN critic for conditional mels: (mel (B, n_mels, frames), labels (B, K)) -> scores (B, G).

len(channels) × [Conv2d(k4, s2), InstanceNorm (not on the first), LeakyReLU(0.2)], then a linear
head over the last map. Conditions enter in one of two ways:

- "maps" (the source): each condition's embedding becomes one (n_mels/4, frames/4) map,
  upsampled to the input size and stacked with the mel as an extra input channel.
- "projection" (Miyato & Koyama 2018): score += <embedding(label), pooled features>; cheap and
  a strong conditioning signal.

With `strips = G > 1` the critic is G independent critics, one per time strip (as the source
trained its strips), computed as one grouped network; scores are (B, G). No BatchNorm: the
gradient penalty is defined per example.

`auxiliary_classifier: true` adds one linear head per condition on the pooled features (AC-GAN,
Odena et al. 2017): the recipe trains them to recognise the conditions of real mels and asks the
generator to make them recognisable — a direct signal to follow the labels, which a short
training otherwise learns slowly from the critic score alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.errors import ConfigError
from melwave.models.generators.cwgan import CWGANGenerator, cut_strips, init_weights

CONDITIONINGS = ("projection", "maps")


@dataclass(frozen=True)
class CriticConfig:
    channels: tuple[int, ...] = (32, 64, 128, 256)  # each a stride-2 conv; input sides must divide by 2**len
    conditioning: str = "projection"                 # projection | maps
    instance_norm: bool = True                       # InstanceNorm after every conv but the first
    slope: float = 0.2                               # LeakyReLU negative slope
    auxiliary_classifier: bool = False               # one classification head per condition (AC-GAN)

    def __post_init__(self) -> None:
        if self.conditioning not in CONDITIONINGS:
            raise ConfigError(f"critic.conditioning={self.conditioning!r}: expected one of {CONDITIONINGS}")
        if not self.channels or any(c < 1 for c in self.channels):
            raise ConfigError(f"critic.channels={self.channels}: expected positive channel counts")


class Critic(nn.Module):
    """Scores real-looking mels high: strips (B, G, n_mels, S) of normalised mels, labels (B, K)
    -> (B, G). `strips_of(mel)` cuts (B, n_mels, frames) mels into the strips it judges (G = 1:
    the whole mel); `score_mels` does both."""

    def __init__(self, config: CriticConfig, sizes: tuple[int, ...], n_mels: int, frames: int,
                 strips: int = 1, strip_overlap: int = 0):
        super().__init__()
        self.config = config
        self.strips, self.overlap = strips, strip_overlap
        width = (frames + (strips - 1) * strip_overlap) // strips
        scale = 2 ** len(config.channels)
        if n_mels % scale or width % scale:
            raise ConfigError(f"critic: input {n_mels} × {width} must divide by 2**len(critic.channels) = {scale}")
        self.n_mels, self.width = n_mels, width
        groups = strips
        maps = config.conditioning == "maps"
        self.map_size = (max(1, n_mels // 4), max(1, width // 4))
        self.label_maps = nn.ModuleList(
            nn.Embedding(n, groups * self.map_size[0] * self.map_size[1]) for n in sizes) if maps else nn.ModuleList()
        widths = [1 + (len(sizes) if maps else 0), *config.channels]
        self.convs = nn.ModuleList(
            nn.Conv2d(groups * cin, groups * cout, 4, 2, 1, groups=groups) for cin, cout in zip(widths, widths[1:]))
        self.norms = nn.ModuleList(
            nn.InstanceNorm2d(groups * c, affine=True) if config.instance_norm else nn.Identity() for c in config.channels[1:])
        last = config.channels[-1]
        self.head = nn.Conv2d(groups * last, groups, (n_mels // scale, width // scale), groups=groups)
        self.projections = nn.ModuleList(nn.Embedding(n, groups * last) for n in sizes) if not maps else nn.ModuleList()
        # Per strip and condition: logits from that strip's pooled features (a grouped 1×1 conv).
        self.classifiers = nn.ModuleList(
            nn.Conv1d(groups * last, groups * n, 1, groups=groups) for n in sizes) if config.auxiliary_classifier else nn.ModuleList()
        init_weights(self)

    @classmethod
    def for_generator(cls, config: CriticConfig, generator: CWGANGenerator) -> "Critic":
        g = generator.config
        return cls(config, generator.vocabulary.sizes, generator.mel_config.n_mels, g.frames, g.strips, g.strip_overlap)

    def strips_of(self, mel: Tensor) -> Tensor:
        """(B, n_mels, frames) -> (B, G, n_mels, S)."""
        return cut_strips(mel, self.strips, self.overlap)

    def score_strips(self, strips: Tensor, labels: Tensor, *, with_logits: bool = False):
        """(B, G, n_mels, S), (B, K) -> (B, G): each strip judged by its own critic.

        with_logits: also return [per condition (B, G, n_values) logits] of the auxiliary heads."""
        batch, groups = strips.shape[:2]
        x = strips.unsqueeze(2)
        if self.label_maps:
            maps = [F.interpolate(emb(labels[:, k]).view(batch * groups, 1, *self.map_size),
                                  size=(self.n_mels, self.width), mode="nearest").view(batch, groups, 1, self.n_mels, self.width)
                    for k, emb in enumerate(self.label_maps)]
            x = torch.cat([x, *maps], dim=2)
        x = x.flatten(1, 2)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i > 0:
                x = self.norms[i - 1](x)
            x = F.leaky_relu(x, self.config.slope)
        score = self.head(x).view(batch, groups)
        pooled = x.view(batch, groups, -1, x.shape[-2] * x.shape[-1]).sum(-1)  # (B, G, C)
        for k, emb in enumerate(self.projections):
            score = score + (emb(labels[:, k]).view(batch, groups, -1) * pooled).sum(-1)
        if not with_logits:
            return score
        flat = pooled.reshape(batch, -1, 1) / (x.shape[-2] * x.shape[-1])
        logits = [head(flat).view(batch, groups, -1) for head in self.classifiers]
        return score, logits

    def forward(self, strips: Tensor, labels: Tensor, with_logits: bool = False):
        return self.score_strips(strips, labels, with_logits=with_logits)

    def score_mels(self, mel: Tensor, labels: Tensor, *, with_logits: bool = False):
        return self.score_strips(self.strips_of(mel), labels, with_logits=with_logits)
