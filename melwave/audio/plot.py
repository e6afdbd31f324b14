"""Mel-spectrogram images (PNG) for the demo, the CLI and the HTML reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from melwave.audio.config import MelConfig
from melwave.utils.fileio import atomic_write


def _display_db(mel: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """Values in dB-like units whatever the config's compression, so images are comparable."""
    if cfg.compression == "log":
        scale = 10.0 if cfg.power == 2.0 else 20.0
        return mel * (scale / np.log(10))
    if cfg.compression == "log10":
        return mel * (10.0 if cfg.power == 2.0 else 20.0)
    if cfg.compression == "gomin":
        return mel * 100 - 100
    if cfg.compression == "diffwave":
        return mel * 100 - 80  # (20·log10(x) − 20 + 100)/100 -> 20·log10(x)
    if cfg.compression == "tfio-db":
        return mel / 2 if cfg.power == 2.0 else mel  # 20·log10 of a power mel is twice its dB
    if cfg.compression == "none":
        scale = 10.0 if cfg.power == 2.0 else 20.0
        return scale * np.log10(np.maximum(mel, 1e-10))
    return mel


def save_mel_image(path: str | Path, mel: torch.Tensor | np.ndarray, cfg: MelConfig, *, title: str | None = None,
                   overwrite: bool = False, dynamic_range: float = 80.0) -> Path:
    """Render a (n_mels, frames) mel as a PNG with time/mel axes; atomic, refuses to clobber."""
    from melwave.utils.optional import require

    matplotlib = require("matplotlib", "PNG mel images")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "PNG mel images")

    values = mel.detach().cpu().float().numpy() if isinstance(mel, torch.Tensor) else np.asarray(mel, dtype=np.float32)
    db = _display_db(values, cfg)
    top = float(db.max()) if db.size else 0.0
    seconds = values.shape[-1] / cfg.frame_rate
    fig, ax = plt.subplots(figsize=(max(4.0, min(12.0, 2 + seconds * 1.5)), 3), dpi=100)
    image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=top - dynamic_range, vmax=top,
                      extent=(0, seconds, 0, cfg.n_mels))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, format="%+.0f dB")
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"), overwrite=overwrite)
    finally:
        plt.close(fig)
    return Path(path)
