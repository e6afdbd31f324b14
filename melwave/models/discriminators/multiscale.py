"""Multi-scale discriminator (MelGAN; HiFi-GAN's MSD): the same conv stack on the waveform at
1×, ½× and ¼× rate, AvgPool1d(4, stride 2) between scales.

Each scale: conv k15 -> grouped strided convs k41 stride 4 -> conv k5 -> conv k3 to one channel,
LeakyReLU(0.2) between. MelGAN widths are 16, 64, 256, 1024, 1024, 1024; HiFi-GAN's MSD is the
same stack with other widths, groups and strides (`MSD_PRESETS["hifigan"]`).

`MSD_PRESETS["melgan-keras"]` is the MelGAN Keras tutorial's discriminator: MelGAN's widths and
groups, but Keras "same" zero padding (for the stride-4 convs TF's asymmetric split, the odd zero
on the right), LeakyReLU 0.3, and AveragePooling1D() (pool 2, stride 2, no padding) between scales.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrizations

from melwave.models.discriminators.common import conv_stack

LRELU_SLOPE = 0.2

# channels: widths after each conv but the last; groups: per conv; strides: of the k41 convs.
MSD_PRESETS = {
    "melgan": dict(channels=(16, 64, 256, 1024, 1024, 1024), groups=(1, 4, 16, 64, 256, 1), strides=(4, 4, 4, 4)),
    "hifigan": dict(channels=(128, 128, 256, 512, 1024, 1024, 1024), groups=(1, 4, 16, 16, 16, 16, 1), strides=(2, 2, 4, 4, 1)),
    "debug": dict(channels=(8, 16, 32, 32), groups=(1, 2, 4, 1), strides=(4, 4)),
    # The Keras tutorial's: 16,924,086 trainable parameters with weight norm, as Keras prints them
    # (16,924,107 with one `initialized` flag per WeightNormalization layer).
    "melgan-keras": dict(channels=(16, 64, 256, 1024, 1024, 1024), groups=(1, 4, 16, 64, 256, 1), strides=(4, 4, 4, 4),
                         same_padding=True, slope=0.3, pool=(2, 2, 0)),
    "debug-keras": dict(channels=(8, 16, 32, 32), groups=(1, 2, 4, 1), strides=(4, 4), same_padding=True, slope=0.3,
                        pool=(2, 2, 0)),
}


class SameConv1d(nn.Conv1d):
    """Conv1d with Keras/TF padding="same": ceil(T / stride) outputs, zeros split as TF splits
    them (the odd one after the signal). Built with padding=0; pads in forward."""

    def forward(self, x: Tensor) -> Tensor:
        span = self.dilation[0] * (self.kernel_size[0] - 1) + 1
        stride, length = self.stride[0], x.shape[-1]
        total = max((-(-length // stride) - 1) * stride + span - length, 0)
        return super().forward(F.pad(x, (total // 2, total - total // 2)))


def _norm(layer: nn.Module, kind: str) -> nn.Module:
    if kind == "weight":
        return parametrizations.weight_norm(layer)
    if kind == "spectral":
        return parametrizations.spectral_norm(layer)
    return layer


class ScaleDiscriminator(nn.Module):
    """wave (B, 1, T) -> (score (B, 1, T'), [feature maps])."""

    def __init__(self, channels: tuple[int, ...] = MSD_PRESETS["melgan"]["channels"], *,
                 groups: tuple[int, ...] = MSD_PRESETS["melgan"]["groups"],
                 strides: tuple[int, ...] = MSD_PRESETS["melgan"]["strides"], norm: str = "weight",
                 same_padding: bool = False, slope: float = LRELU_SLOPE):
        super().__init__()
        if len(groups) != len(channels) or len(strides) != len(channels) - 2:
            raise ValueError("ScaleDiscriminator: need len(groups) == len(channels) == len(strides) + 2")
        self.slope = slope
        if same_padding:  # Keras: zeros, TF's split
            def conv(c_in, c_out, kernel, stride=1, groups=1):
                return SameConv1d(c_in, c_out, kernel, stride=stride, groups=groups)
            first = conv(1, channels[0], 15)
        else:
            def conv(c_in, c_out, kernel, stride=1, groups=1):
                return nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups)
            first = nn.Conv1d(1, channels[0], 15, padding=7, padding_mode="reflect")
        layers = [first]
        for i in range(1, len(channels) - 1):
            layers.append(conv(channels[i - 1], channels[i], 41, stride=strides[i - 1], groups=groups[i]))
        layers.append(conv(channels[-2], channels[-1], 5))
        self.convs = nn.ModuleList(_norm(layer, norm) for layer in layers)
        self.post = _norm(conv(channels[-1], 1, 3), norm)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        x, features = conv_stack(x, self.convs, self.post, self.slope)
        return x, features


class MultiScaleDiscriminator(nn.Module):
    """wave (B, T) -> (scores: 3 × (B, 1, T_s), features: 3 × [maps])."""

    def __init__(self, scales: int = 3, preset: str = "melgan", *, first_norm: str | None = None):
        super().__init__()
        if preset not in MSD_PRESETS:
            raise ValueError(f"MultiScaleDiscriminator: unknown preset {preset!r}; expected one of {sorted(MSD_PRESETS)}")
        # HiFi-GAN uses spectral norm on the full-rate scale; MelGAN weight norm everywhere.
        first_norm = first_norm or ("spectral" if preset == "hifigan" else "weight")
        options = dict(MSD_PRESETS[preset])
        kernel, stride, padding = options.pop("pool", (4, 2, 2))  # MelGAN's code: AvgPool1d(4, 2, 2)
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(**options, norm=first_norm if i == 0 else "weight") for i in range(scales))
        self.pool = nn.AvgPool1d(kernel, stride=stride, padding=padding, count_include_pad=False)

    def forward(self, wave: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        x = wave.unsqueeze(1)
        scores, features = [], []
        for i, disc in enumerate(self.discriminators):
            if i > 0:
                x = self.pool(x)
            score, maps = disc(x)
            scores.append(score)
            features.append(maps)
        return scores, features
