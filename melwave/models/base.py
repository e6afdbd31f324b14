"""Base classes stating the shape contracts every melwave model keeps.

Vocoder:      mel (B, n_mels, frames) -> waveform (B, frames * hop_length)
MelGenerator: conditions {name: (B,) long} + noise -> mel (B, n_mels, frames)

Every model owns its `MelConfig`: `prepare_melspectrogram` uses it, and `synthesize` refuses
mels whose config differs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from melwave.audio.config import MelConfig
from melwave.audio.features import MelExtractor
from melwave.errors import MelConfigMismatch, MelFileError


def as_wave_tensor(wave: Tensor | np.ndarray) -> Tensor:
    if isinstance(wave, np.ndarray):
        wave = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    return wave.float()


class Vocoder(nn.Module):
    """mel (B, n_mels, frames) -> waveform (B, frames * hop_length), at mel_config.sample_rate.

    Subclasses implement `forward` and set `family` (the registry name of the architecture) and,
    if they are rebuildable from a file, `config` (a frozen dataclass) and `from_config`.
    """

    family: ClassVar[str] = "vocoder"

    def __init__(self, mel_config: MelConfig):
        super().__init__()
        self.mel_config = mel_config
        self._extractor = MelExtractor(mel_config)

    # --- the API users call ---------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.mel_config.sample_rate

    @property
    def hop_length(self) -> int:
        return self.mel_config.hop_length

    @property
    def device(self) -> torch.device:
        for tensor in list(self.parameters()) + list(self.buffers()):
            return tensor.device
        return torch.device("cpu")

    @torch.no_grad()
    def prepare_melspectrogram(self, wave: Tensor | np.ndarray) -> Tensor:
        """(T,) or (B, T) waveform at self.sample_rate -> (n_mels, frames) or (B, n_mels, frames)."""
        wave = as_wave_tensor(wave).to(self.device)
        return self._extractor.to(self.device)(wave)

    def check_mel(self, mel: Tensor, mel_config: MelConfig | None = None, *, source: str = "mel") -> Tensor:
        """Validate a mel for this vocoder and return it as (B, n_mels, frames) float32."""
        if mel_config is not None and mel_config != self.mel_config:
            raise MelConfigMismatch(mel_config.diff(self.mel_config), what=source, expected_by=f"vocoder '{self.name}'")
        if mel.ndim == 2:
            mel = mel.unsqueeze(0)
        if mel.ndim != 3:
            raise MelFileError(f"{source}: expected (n_mels, frames) or (B, n_mels, frames), got shape {tuple(mel.shape)}")
        if mel.shape[1] != self.mel_config.n_mels:
            raise MelFileError(f"{source}: has {mel.shape[1]} mel bins, vocoder '{self.name}' expects {self.mel_config.n_mels}")
        if mel.shape[2] == 0:
            raise MelFileError(f"{source}: has zero frames")
        if not torch.isfinite(mel).all():
            raise MelFileError(f"{source}: contains NaN or infinite values")
        return mel.float()

    @torch.no_grad()
    def synthesize(self, mel: Tensor, mel_config: MelConfig | None = None, *, chunk_frames: int | None = None) -> Tensor:
        """Checked inference: (n_mels, frames) -> (T,), or (B, n_mels, frames) -> (B, T).

        With `chunk_frames`, long mels are vocoded in overlapping chunks (bounded memory).
        """
        squeeze = mel.ndim == 2
        mel = self.check_mel(mel.to(self.device), mel_config)
        if chunk_frames is not None and mel.shape[-1] > chunk_frames:
            from melwave.models.chunking import synthesize_chunked

            wave = synthesize_chunked(self, mel, chunk_frames=chunk_frames)
        else:
            wave = self(mel)
        return wave[0] if squeeze else wave

    @property
    def name(self) -> str:
        return getattr(self, "_name", None) or self.family

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    # --- rebuild-from-file support ---------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        config = getattr(self, "config", None)
        if config is None:
            return {}
        return dataclasses.asdict(config)

    @property
    def receptive_frames(self) -> int:
        """Mel frames of context either side a chunk needs to match whole-file output closely."""
        return 32


class MelGenerator(nn.Module):
    """conditions {name: (B,) long indices} and noise (B, z_dim) -> mel (B, n_mels, frames)."""

    family: ClassVar[str] = "generator"
