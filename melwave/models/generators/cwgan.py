"""Conditional mel generator of the CWGAN-GP source system, deep or as parallel time strips.

    noise z (B, z_dim) + one label index per condition (B, K)  ->  mel (B, n_mels, frames)

DCGAN-style: z -> Linear [-> BatchNorm] -> LeakyReLU -> (c0, h0, w0) map; each condition's
embedding becomes `cond_maps` (h0, w0) maps concatenated to it; then len(channels) ×
[ConvTranspose(k4, s2 unless `kernels`/`strides` say otherwise), BatchNorm, LeakyReLU(0.2)], the
last one to a single channel without norm.

The named configs `source` and `strips-source` are the DeepMelSpectrogramGenerator models layer
for layer (no Linear bias, no BatchNorm after the Linear, no transposed-conv biases; the strips'
(8,4)/(4,2) and (4,1)/(2,1) kernels/strides), so its users' checkpoints load
(`melwave.models.io.formats.deepmel`); `small` and `strips` are melwave's variants.

Strips (`strips = G > 1`): the source trained 8 independent small generators, each drawing one
time strip from the same z and labels. Here the G generators are ONE module whose every layer is
grouped (grouped linear, grouped transposed convolutions, per-channel BatchNorm), so all strips come
out of a single forward pass; `split_strips` returns the G generators as separate modules with the
same weights, the sequential reference. Neighbouring strips may overlap by `strip_overlap` frames
and are crossfaded linearly there, so the seams don't click.

The network works on normalised values (unless `normalised: false`, as the source's models,
which output raw linear power mels); `generate` de-normalises with the per-bin statistics the
model stores (`generators.statistics`: buffers `mel_mean`, `mel_std`) into the model's `MelConfig` units, so any vocoder
made for that MelConfig can play the result.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.audio.config import MelConfig
from melwave.errors import ConfigError
from melwave.models.base import MelGenerator
from melwave.models.generators.cwgan_fused import FusedCWGAN, conv_transpose
from melwave.models.generators.data_range import DataRange
from melwave.models.generators.statistics import MelStatistics
from melwave.models.vocabulary import Vocabulary


OUTPUTS = ("linear", "tanh")


class ConvStack:
    """The geometry of a stack of 2-D (transposed) convolutions, shared by the generator's and the
    critic's configs: `kernels`/`strides` list one (mel, frame) pair per layer in `channels`, or
    are empty for DCGAN's 4/2 everywhere. `scale` is the total up- (generator) or down- (critic)
    sampling along (mel axis, frame axis)."""

    channels: tuple[int, ...]
    kernels: tuple[tuple[int, int], ...]
    strides: tuple[tuple[int, int], ...]

    @property
    def layer_kernels(self) -> tuple[tuple[int, int], ...]:
        return self.kernels or ((4, 4),) * len(self.channels)

    @property
    def layer_strides(self) -> tuple[tuple[int, int], ...]:
        return self.strides or ((2, 2),) * len(self.channels)

    @property
    def scale(self) -> tuple[int, int]:
        return (math.prod(s[0] for s in self.layer_strides), math.prod(s[1] for s in self.layer_strides))


@dataclass(frozen=True)
class CWGANConfig(ConvStack):
    """Generator architecture (saved with the weights; the mel size comes from the MelConfig).

    conditions:    [{name, values}] — filled from the training data's labels.
    frames:        output frames (for strips: G·(strip_frames − overlap) + overlap).
    z_dim:         noise size.
    channels:      channels[0] is the Linear's output map; each further entry is one upsampling
                   layer's output; a final upsampling layer goes to 1 channel.
                   Upsamplings = len(channels); n_mels and strip frames must divide by 2**len.
    cond_maps:     (h0, w0) maps per condition from its embedding (the source: 1).
    cond_embed:    size of a second embedding per condition, concatenated to z before the Linear
                   (0 = off, as the source). The maps alone reach only the first convolution;
                   through the Linear the labels shape every channel of the first map, which is
                   what makes a short CPU training follow pitch and instrument.
    strips:        1 = one deep generator; G > 1 = G strip generators run as one grouped network.
    strip_overlap: frames shared by neighbouring strips, crossfaded linearly.
    slope:         LeakyReLU negative slope.
    kernels:       per upsampling layer (kh, kw) over (mel, frame) axes; () = (4, 4) everywhere.
    strides:       per upsampling layer (sh, sw); () = (2, 2) everywhere. Padding is (k − s) / 2,
                   so each layer multiplies its axis by exactly s.
    project_bias:  a bias in the Linear from z (the source: none).
    project_norm:  BatchNorm after the Linear (the source: none).
    conv_bias:     biases in the transposed convolutions (the source: none).
    normalised:    the network outputs normalised mels that `generate` de-normalises with the
                   stored statistics (melwave); false: it outputs mel_config units directly
                   (the source, trained on raw linear power mels).
    output:        "linear": the last transposed conv's values as they are, normalised by the
                   per-bin mean and std (unbounded: a short training can draw bins far louder
                   than any recording). "tanh": the network works in [-1, 1] per bin, the
                   training mels' per-bin [min, max] (stored with the weights,
                   generators.data_range), and ends in tanh, so every generated value lies
                   within the data's range by construction.
    """

    conditions: tuple[dict, ...] = ()
    frames: int = 64
    z_dim: int = 64
    channels: tuple[int, ...] = (128, 64, 32, 16)
    cond_maps: int = 1
    cond_embed: int = 0
    strips: int = 1
    strip_overlap: int = 0
    slope: float = 0.2
    kernels: tuple[tuple[int, int], ...] = ()
    strides: tuple[tuple[int, int], ...] = ()
    project_bias: bool = True
    project_norm: bool = True
    conv_bias: bool = True
    normalised: bool = True
    output: str = "linear"

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ConfigError(f"model.output={self.output!r}: expected one of {OUTPUTS}")
        if self.output == "tanh" and not self.normalised:
            raise ConfigError("model.output=tanh works in the data's normalised range; it needs normalised: true")
        if self.z_dim < 1 or self.cond_maps < 1 or self.strips < 1 or self.strip_overlap < 0 or self.cond_embed < 0:
            raise ConfigError("model: z_dim, cond_maps, strips must be >= 1 and strip_overlap, cond_embed >= 0")
        if not self.channels or any(c < 1 for c in self.channels):
            raise ConfigError(f"model.channels={self.channels}: expected positive channel counts")
        for key in ("kernels", "strides"):
            value = getattr(self, key)
            if value and (len(value) != len(self.channels) or any(len(v) != 2 or min(v) < 1 for v in value)):
                raise ConfigError(f"model.{key}={value}: expected {len(self.channels)} (height, width) pairs "
                                  f"of positive integers, one per upsampling layer, or [] for 4/2")
        if any((k - s) % 2 or k < s for ks, ss in zip(self.layer_kernels, self.layer_strides) for k, s in zip(ks, ss)):
            raise ConfigError(f"model: kernels {self.layer_kernels} and strides {self.layer_strides}: each kernel must "
                              f"exceed its stride by an even number (padding (k - s) / 2)")
        strip = self.frames + (self.strips - 1) * self.strip_overlap
        if strip % self.strips:
            raise ConfigError(f"model: frames={self.frames} with strips={self.strips} and strip_overlap="
                              f"{self.strip_overlap} does not split into equal strips")
        if self.strips > 1 and self.strip_overlap >= self.strip_frames:
            raise ConfigError(f"model.strip_overlap={self.strip_overlap}: must be < strip width {self.strip_frames}")
        if self.strip_frames % self.scale[1]:
            raise ConfigError(f"model: strip width {self.strip_frames} frames must divide by the upsampling "
                              f"along time, {self.scale[1]}")

    @property
    def strip_frames(self) -> int:
        return (self.frames + (self.strips - 1) * self.strip_overlap) // self.strips

    def nearest_frames(self, target: int) -> int:
        """The output length this architecture can make that is nearest `target` frames: each strip
        (the whole mel when strips = 1) a multiple of the upsampling along time, wider than the
        overlap. What `melwave train generator` fits to the data's median clip length."""
        step, groups, overlap = self.scale[1], self.strips, self.strip_overlap
        strip = round((target + (groups - 1) * overlap) / groups / step) * step
        strip = max(strip, step * (overlap // step + 1))
        return groups * strip - (groups - 1) * overlap

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary.from_list(self.conditions, source="model.conditions")


# Named configs (`model.preset` in run configs); conditions come from the data.
CONFIGS: dict[str, CWGANConfig] = {
    # The default: 80 mels × 64 frames (0.74 s) under the hifigan-22k MelConfig; 0.34M parameters,
    # small enough for WGAN-GP (5 critic updates per step) to make progress on a shared 2-core CPU.
    "small": CWGANConfig(frames=64, z_dim=64, channels=(128, 64, 32, 16), cond_embed=16),
    # DeepMelSpectrogramGenerator's CWGAN-GP (CWGANGP.py), layer for layer: 128 × 128, z 64 ->
    # Linear (no bias, no norm) -> 512×4×4; 5 bias-free transposed convs 514..64 -> 1.
    "source": CWGANConfig(frames=128, z_dim=64, channels=(512, 512, 256, 128, 64), project_bias=False,
                          project_norm=False, conv_bias=False),
    # Strips: 8 small generators, 80 × 16 frames each, overlapping by 4 frames (100 frames in all),
    # channels 32-16-8: 0.67M parameters in all, the deep `small` model's budget (0.61M). The earlier
    # 64-32-16 strips had 2.5× that (1.50M, most of it the Linear's 10,240 outputs, whose weights a
    # batch-1 call reads from memory) and ran slower than the deep model (benchmarks/strips.py).
    "strips": CWGANConfig(frames=100, z_dim=64, channels=(32, 16, 8), cond_embed=16, strips=8, strip_overlap=4),
    # Its strips model (shallow_CWGANGP.py): 8 × (128 × 16), no seam handling; per strip z ->
    # 512×4×4 -> ConvT (8,4)/(4,2) -> 256 -> (8,4)/(4,2) -> 128 -> (4,1)/(2,1) -> 1, no biases.
    "strips-source": CWGANConfig(frames=128, z_dim=64, channels=(512, 256, 128), strips=8,
                                 kernels=((8, 4), (8, 4), (4, 1)), strides=((4, 2), (4, 2), (2, 1)),
                                 project_bias=False, project_norm=False, conv_bias=False),
    # The CPU default of `melwave train generator --family cwgan` (docs/own-sounds.md): `small` with
    # a tanh output inside the data's per-bin range. frames are fitted to the data.
    "cpu": CWGANConfig(frames=64, z_dim=64, channels=(128, 64, 32, 16), cond_embed=16, output="tanh"),
    "debug": CWGANConfig(frames=16, z_dim=8, channels=(8, 4), cond_embed=2),
    "strips-debug": CWGANConfig(frames=20, z_dim=8, channels=(8, 4), cond_embed=2, strips=4, strip_overlap=4),
}


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) weights as in the source (DCGAN); norms start at scale 1, shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (GroupedLinear, GroupedConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class GroupedLinear(nn.Module):
    """G independent Linear layers on the same input: (B, in) -> (B, G, out)."""

    def __init__(self, groups: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(groups, out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(groups, out_features)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        # All groups share the input, so the G layers are one (B, in) × (in, G·out) product.
        groups, out_features, in_features = self.weight.shape
        bias = self.bias.reshape(-1) if self.bias is not None else None
        return F.linear(x, self.weight.reshape(groups * out_features, in_features), bias).view(-1, groups, out_features)


class GroupedConvTranspose2d(nn.Module):
    """G independent ConvTranspose2d(cin, cout, kernel, stride, padding (kernel − stride) / 2), one
    per channel group: (B, G·cin, H, W) -> (B, G·cout, sh·H, sw·W), weights laid out as
    nn.ConvTranspose2d(groups=G).

    On a CPU the kernel is chosen by the layer's width (`cwgan_fused.conv_transpose`): oneDNN is
    2-4× slower than PyTorch's own kernel for the narrow layers and faster for the wide ones.
    """

    def __init__(self, groups: int, in_channels: int, out_channels: int, kernel: tuple[int, int] = (4, 4),
                 stride: tuple[int, int] = (2, 2), bias: bool = True):
        super().__init__()
        self.groups, self.stride = groups, tuple(stride)
        self.padding = tuple((k - s) // 2 for k, s in zip(kernel, stride))
        self.weight = nn.Parameter(torch.empty(groups * in_channels, out_channels, *kernel))
        self.bias = nn.Parameter(torch.zeros(groups * out_channels)) if bias else None
        nn.init.normal_(self.weight, 0.0, 0.02)

    def forward(self, x: Tensor) -> Tensor:
        return conv_transpose(x, self.weight, self.bias, self.stride, self.padding, self.groups)


def crossfade_windows(strips: int, width: int, overlap: int) -> Tensor:
    """(G, width) weights that sum to 1 at every output frame after overlap-add."""
    windows = torch.ones(strips, width)
    if overlap:
        ramp = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
        windows[1:, :overlap] = ramp
        windows[:-1, width - overlap:] = 1 - ramp
    return windows


def join_strips(strips: Tensor, overlap: int, windows: Tensor | None = None) -> Tensor:
    """(B, G, n_mels, S) -> (B, n_mels, G·(S − overlap) + overlap), crossfading the overlaps."""
    batch, groups, mels, width = strips.shape
    if overlap == 0:
        return strips.permute(0, 2, 1, 3).reshape(batch, mels, groups * width)
    if windows is None:
        windows = crossfade_windows(groups, width, overlap).to(strips)
    weighted = strips * windows[None, :, None, :]
    frames = groups * (width - overlap) + overlap
    # fold = overlap-add: blocks (n_mels × 1 × S) placed every S − overlap frames.
    columns = weighted.permute(0, 2, 3, 1).reshape(batch, mels * width, groups)
    out = F.fold(columns, output_size=(1, frames), kernel_size=(1, width), stride=(1, width - overlap))
    return out[:, :, 0, :]


def cut_strips(mel: Tensor, strips: int, overlap: int) -> Tensor:
    """(B, n_mels, frames) -> (B, G, n_mels, S): the strips a strip critic judges."""
    width = (mel.shape[-1] + (strips - 1) * overlap) // strips
    return mel.unfold(-1, width, width - overlap).permute(0, 2, 1, 3)


class CWGANGenerator(MelStatistics, DataRange, MelGenerator):
    """labels (B, K) long + z (B, z_dim) -> normalised mel (B, n_mels, frames) (`forward`),
    or de-normalised mel in `mel_config` units (`generate`)."""

    family = "cwgan"
    config_class = CWGANConfig
    named_configs = CONFIGS
    default_mel_preset = "cwgan-22k-log"  # 128 mels: every preset's upsampling divides it

    def __init__(self, config: CWGANConfig, mel_config: MelConfig):
        if not config.conditions:
            raise ConfigError("cwgan: the model needs at least one condition (model.conditions)")
        if mel_config.n_mels % config.scale[0]:
            raise ConfigError(f"cwgan: n_mels={mel_config.n_mels} must divide by the upsampling along the mel axis, "
                              f"{config.scale[0]}")
        super().__init__(config, mel_config)
        self.vocabulary = config.vocabulary
        groups = config.strips
        self.h0, self.w0 = mel_config.n_mels // config.scale[0], config.strip_frames // config.scale[1]
        c0 = config.channels[0]
        # Label embeddings joined to z (shared by all strips, like z itself).
        self.label_embeddings = nn.ModuleList(
            nn.Embedding(len(c.values), config.cond_embed) for c in self.vocabulary.conditions) if config.cond_embed else nn.ModuleList()
        self.project = GroupedLinear(groups, config.z_dim + len(self.label_embeddings) * config.cond_embed,
                                     c0 * self.h0 * self.w0, bias=config.project_bias)
        self.project_norm = nn.BatchNorm2d(groups * c0) if config.project_norm else nn.Identity()
        self.embeddings = nn.ModuleList(
            nn.Embedding(len(c.values), groups * config.cond_maps * self.h0 * self.w0) for c in self.vocabulary.conditions)
        widths = [c0 + len(self.embeddings) * config.cond_maps, *config.channels[1:], 1]
        # One strip (deep model): PyTorch's transposed convolution. Several: the batched version.
        layers = zip(widths, widths[1:], config.layer_kernels, config.layer_strides)
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(cin, cout, k, s, tuple((a - b) // 2 for a, b in zip(k, s)), bias=config.conv_bias)
            if groups == 1 else GroupedConvTranspose2d(groups, cin, cout, k, s, bias=config.conv_bias)
            for cin, cout, k, s in layers)
        self.norms = nn.ModuleList(nn.BatchNorm2d(groups * cout) for cout in widths[1:-1])
        # Normalisation statistics of the training mels, per mel bin (set by the recipe).
        self.register_statistics(mel_config.n_mels)
        if config.output == "tanh":
            self.register_range(mel_config.n_mels)
        self.register_buffer("windows", crossfade_windows(groups, config.strip_frames, config.strip_overlap), persistent=False)
        init_weights(self)

    @property
    def frames(self) -> int:
        return self.config.frames

    @property
    def uses_statistics(self) -> bool:
        # `normalised: false`: the network's output is already in mel_config units (the source).
        return self.config.normalised

    def normalize(self, mel: Tensor) -> Tensor:
        """mel_config units -> the network's units (per-bin [min, max] -> [-1, 1] with output tanh)."""
        return self.to_unit_range(mel) if self.config.output == "tanh" else super().normalize(mel)

    def denormalize(self, values: Tensor) -> Tensor:
        return self.from_unit_range(values) if self.config.output == "tanh" else super().denormalize(values)

    def strips_forward(self, z: Tensor, labels: Tensor) -> Tensor:
        """(B, z_dim), (B, K) -> (B, G, n_mels, strip_frames): every strip in one pass.

        In eval mode without autograd this runs the folded form (`cwgan_fused`), rebuilt whenever
        a weight or running statistic changed; the same function within float rounding.
        """
        if not self.training and not torch.is_grad_enabled():
            return self._fused_form()(z, labels)
        groups, c0 = self.config.strips, self.config.channels[0]
        batch = z.shape[0]
        if self.label_embeddings:
            z = torch.cat([z, *(emb(labels[:, k]) for k, emb in enumerate(self.label_embeddings))], dim=1)
        x = self.project(z).view(batch, groups * c0, self.h0, self.w0)
        x = F.leaky_relu(self.project_norm(x), self.config.slope).view(batch, groups, c0, self.h0, self.w0)
        maps = [emb(labels[:, k]).view(batch, groups, self.config.cond_maps, self.h0, self.w0)
                for k, emb in enumerate(self.embeddings)]
        x = torch.cat([x, *maps], dim=2).flatten(1, 2)
        for i, up in enumerate(self.ups):
            x = up(x)
            if i < len(self.norms):
                x = F.leaky_relu(self.norms[i](x), self.config.slope)
        return x  # (B, G, n_mels, S): one output channel per group

    def _fused_form(self) -> FusedCWGAN:
        # Any in-place update (optimizer step, load_state_dict) bumps a tensor's version; .to()
        # makes new tensors: either way the key changes and the folded form is rebuilt.
        key = tuple((t.data_ptr(), t._version) for t in (*self.parameters(), *self.buffers()))
        cached = self.__dict__.get("_fused_cache")
        if cached is None or cached[0] != key:
            cached = (key, FusedCWGAN.from_model(self))
            self.__dict__["_fused_cache"] = cached
        return cached[1]

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        """Normalised mel (B, n_mels, frames)."""
        mel = join_strips(self.strips_forward(z, labels), self.config.strip_overlap, self.windows)
        return torch.tanh(mel) if self.config.output == "tanh" else mel

    @torch.no_grad()
    def generate(self, labels: Tensor, z: Tensor | None = None, *, generator: torch.Generator | None = None) -> Tensor:
        """(B, K) label indices -> (B, n_mels, frames) in mel_config units (eval mode)."""
        labels = self.check_labels(labels.to(self.device))
        if z is None:
            z = torch.randn(labels.shape[0], self.config.z_dim, generator=generator).to(self.device)
        return self.to_mel_units(self(z.to(self.device), labels))


def split_strips(model: CWGANGenerator) -> list[CWGANGenerator]:
    """The G strip generators of a grouped model as G separate one-strip modules (same weights).

    Running them one after another and joining the strips is the sequential reference that the
    grouped forward pass must equal.
    """
    cfg = model.config
    groups = cfg.strips
    single_cfg = dataclasses.replace(cfg, strips=1, frames=cfg.strip_frames, strip_overlap=0)
    state = model.state_dict()
    pieces = []
    for g in range(groups):
        single = CWGANGenerator(single_cfg, model.mel_config)
        sliced = {}
        for key, value in single.state_dict().items():
            full = state[key]
            if key.startswith("project."):
                sliced[key] = full[g:g + 1]
            elif key.startswith("embeddings."):
                sliced[key] = full.view(full.shape[0], groups, -1)[:, g].contiguous()
            elif key in ("mel_mean", "mel_std", "stats_frames", "mel_low", "mel_high") or key.startswith("label_embeddings.") or value.ndim == 0:
                sliced[key] = full
            else:  # conv weights (G·cin, cout, k, k) and per-channel norm vectors (G·c,)
                size = value.shape[0]
                sliced[key] = full[g * size:(g + 1) * size]
        single.load_state_dict(sliced)
        single.train(model.training)
        pieces.append(single)
    return pieces


def sequential_strips(pieces: list[CWGANGenerator], z: Tensor, labels: Tensor, overlap: int) -> Tensor:
    """Run strip generators one after another: (B, n_mels, frames), normalised."""
    strips = torch.stack([piece.strips_forward(z, labels)[:, 0] for piece in pieces], dim=1)
    return join_strips(strips, overlap)
