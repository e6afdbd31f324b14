"""WGAN critic for conditional mels: (mel (B, n_mels, frames), labels (B, K)) -> scores (B, G).

len(channels) × [Conv2d(k4, s2 unless `kernels`/`strides` say otherwise), InstanceNorm (not on
the first unless `first_norm`), LeakyReLU(0.2)], then a linear head over the last map. Conditions
enter in one of three ways:

- "learned-maps" (DeepMelSpectrogramGenerator, exactly): each condition's embedding becomes one
  (n_mels/2, frames/2) map, upsampled ×2 by a learned bias-free ConvTranspose(k4, s2) + LeakyReLU
  (one upsampler shared by the conditions) and stacked with the mel as an extra input channel.
- "maps" (melwave's cheaper version of it): one (n_mels/4, frames/4) map per condition,
  nearest-upsampled to the input size and stacked with the mel.
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
from melwave.models.generators.cwgan import ConvStack, CWGANGenerator, cut_strips, init_weights

CONDITIONINGS = ("projection", "maps", "learned-maps")


@dataclass(frozen=True)
class CriticConfig(ConvStack):
    channels: tuple[int, ...] = (32, 64, 128, 256)  # each a stride-2 conv; input sides must divide by 2**len
    conditioning: str = "projection"                 # projection | maps
    instance_norm: bool = True                       # InstanceNorm after every conv but the first
    slope: float = 0.2                               # LeakyReLU negative slope
    auxiliary_classifier: bool = False               # one classification head per condition (AC-GAN)
    first_norm: bool = False                         # InstanceNorm after the first conv too (the source)
    bias: bool = True                                # conv and head biases (the source: none)
    kernels: tuple[tuple[int, int], ...] = ()        # per conv (kh, kw); () = (4, 4) everywhere
    strides: tuple[tuple[int, int], ...] = ()        # per conv (sh, sw); () = (2, 2); padding (k - s) / 2

    def __post_init__(self) -> None:
        if self.conditioning not in CONDITIONINGS:
            raise ConfigError(f"critic.conditioning={self.conditioning!r}: expected one of {CONDITIONINGS}")
        if not self.channels or any(c < 1 for c in self.channels):
            raise ConfigError(f"critic.channels={self.channels}: expected positive channel counts")
        for key in ("kernels", "strides"):
            value = getattr(self, key)
            if value and (len(value) != len(self.channels) or any(len(v) != 2 or min(v) < 1 for v in value)):
                raise ConfigError(f"critic.{key}={value}: expected {len(self.channels)} (height, width) pairs "
                                  f"of positive integers, one per conv, or [] for 4/2")
        if any((k - s) % 2 or k < s for ks, ss in zip(self.layer_kernels, self.layer_strides) for k, s in zip(ks, ss)):
            raise ConfigError(f"critic: kernels {self.layer_kernels} and strides {self.layer_strides}: each kernel "
                              f"must exceed its stride by an even number (padding (k - s) / 2)")



# DeepMelSpectrogramGenerator's critics, layer for layer (CWGANGP.py / shallow_CWGANGP.py).
SOURCE_CRITIC = CriticConfig(channels=(64, 128, 256, 512, 1), conditioning="learned-maps", first_norm=True, bias=False)
SOURCE_STRIPS_CRITIC = CriticConfig(channels=(128, 256, 1), conditioning="learned-maps", first_norm=True, bias=False,
                                    kernels=((4, 1), (8, 4), (8, 4)), strides=((2, 1), (4, 2), (4, 2)))


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
        scale = config.scale
        if n_mels % scale[0] or width % scale[1]:
            raise ConfigError(f"critic: input {n_mels} × {width} must divide by the critic's downsampling {scale[0]} × {scale[1]}")
        self.n_mels, self.width = n_mels, width
        groups = strips
        maps = config.conditioning in ("maps", "learned-maps")
        learned = config.conditioning == "learned-maps"
        if learned and (n_mels % 2 or width % 2):
            raise ConfigError(f"critic.conditioning=learned-maps: input {n_mels} × {width} must be even on both axes")
        self.map_size = (n_mels // 2, width // 2) if learned else (max(1, n_mels // 4), max(1, width // 4))
        self.label_maps = nn.ModuleList(
            nn.Embedding(n, groups * self.map_size[0] * self.map_size[1]) for n in sizes) if maps else nn.ModuleList()
        # One learned ×2 upsampler per strip critic, shared by its conditions (the source).
        self.map_upsampler = nn.ConvTranspose2d(groups, groups, 4, 2, 1, groups=groups, bias=False) if learned else None
        widths = [1 + (len(sizes) if maps else 0), *config.channels]
        self.convs = nn.ModuleList(
            nn.Conv2d(groups * cin, groups * cout, k, s, tuple((a - b) // 2 for a, b in zip(k, s)), groups=groups, bias=config.bias)
            for cin, cout, k, s in zip(widths, widths[1:], config.layer_kernels, config.layer_strides))
        normed = config.channels if config.first_norm else config.channels[1:]
        self.norms = nn.ModuleList(
            nn.InstanceNorm2d(groups * c, affine=True) if config.instance_norm else nn.Identity() for c in normed)
        last = config.channels[-1]
        self.head = nn.Conv2d(groups * last, groups, (n_mels // scale[0], width // scale[1]), groups=groups, bias=config.bias)
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
        if self.map_upsampler is not None:
            maps = [F.leaky_relu(self.map_upsampler(emb(labels[:, k]).view(batch, groups, *self.map_size)), self.config.slope)
                    .view(batch, groups, 1, self.n_mels, self.width) for k, emb in enumerate(self.label_maps)]
            x = torch.cat([x, *maps], dim=2)
        elif self.label_maps:
            maps = [F.interpolate(emb(labels[:, k]).view(batch * groups, 1, *self.map_size),
                                  size=(self.n_mels, self.width), mode="nearest").view(batch, groups, 1, self.n_mels, self.width)
                    for k, emb in enumerate(self.label_maps)]
            x = torch.cat([x, *maps], dim=2)
        x = x.flatten(1, 2)
        skip = 0 if self.config.first_norm else 1
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i >= skip:
                x = self.norms[i - skip](x)
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
