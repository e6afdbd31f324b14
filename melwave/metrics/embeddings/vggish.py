"""VGGish (Hershey et al. 2017) as an audio embedding for FAD, loading the standard torchvggish
weights the user supplies (no download: `vggish-10086976.pth`, optionally the PCA file
`vggish_pca_params-970ea276.pth`).

Weights layout (a plain state dict):
  features.{0,3,6,8,11,13}.{weight,bias}   Conv2d 3×3: 1→64→128→256→256→512→512 (max-pool after 0, 3, 8, 13)
  embeddings.{0,2,4}.{weight,bias}         Linear 12288→4096→4096→128, each followed by ReLU
PCA file: pca_eigen_vectors (128, 128), pca_means (128, 1). With it, embeddings are
PCA-projected as VGGish's postprocessor does, but kept in float (no 8-bit quantisation). The
FAD reference implementation uses the embeddings without PCA, our default too.

Input features follow VGGish's own front end (vggish_input / mel_features):
16 kHz mono; 25 ms periodic-Hann frames every 10 ms, no padding; |rfft| with 512 points;
64 HTK-mel bands 125–7500 Hz (triangles in mel space, DC bin zeroed, no normalisation);
log(mel + 0.01); non-overlapping 96-frame (0.96 s) examples. A clip shorter than one example is
zero-padded to one example so short notes still get an embedding.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from melwave.errors import CheckpointError
from melwave.metrics.embeddings.base import settings_key, weights_key

SAMPLE_RATE = 16000
WINDOW = 400
HOP = 160
FFT = 512
N_MELS = 64
FMIN, FMAX = 125.0, 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


@functools.lru_cache(maxsize=1)
def vggish_mel_matrix() -> np.ndarray:
    """(FFT//2 + 1, N_MELS) weights, as VGGish's spectrogram_to_mel_matrix builds them."""
    bins_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, FFT // 2 + 1))
    edges = np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2)
    matrix = np.empty((FFT // 2 + 1, N_MELS))
    for i in range(N_MELS):
        lower, center, upper = edges[i:i + 3]
        matrix[:, i] = np.maximum(0.0, np.minimum((bins_mel - lower) / (center - lower), (upper - bins_mel) / (upper - center)))
    matrix[0, :] = 0.0
    return matrix


def vggish_examples(wave: np.ndarray) -> np.ndarray:
    """(T,) at 16 kHz -> (examples, 96, 64) log-mel patches."""
    wave = np.asarray(wave, dtype=np.float64).reshape(-1)
    needed = WINDOW + HOP * (EXAMPLE_FRAMES - 1)
    if len(wave) < needed:
        wave = np.pad(wave, (0, needed - len(wave)))
    frames = 1 + (len(wave) - WINDOW) // HOP
    index = np.arange(WINDOW)[None, :] + HOP * np.arange(frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic Hann
    magnitude = np.abs(np.fft.rfft(wave[index] * window, FFT))
    log_mel = np.log(magnitude @ vggish_mel_matrix() + LOG_OFFSET)
    examples = frames // EXAMPLE_FRAMES
    return log_mel[: examples * EXAMPLE_FRAMES].reshape(examples, EXAMPLE_FRAMES, N_MELS).astype(np.float32)


class VGGishNetwork(nn.Module):
    """(N, 1, 96, 64) log-mel examples -> (N, 128) embeddings (after the last ReLU)."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for spec in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
            if spec == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, spec, 3, padding=1), nn.ReLU(inplace=True)]
                channels = spec
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(nn.Linear(512 * 4 * 6, 4096), nn.ReLU(True), nn.Linear(4096, 4096), nn.ReLU(True),
                                        nn.Linear(4096, 128), nn.ReLU(True))

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        # TensorFlow flattened (N, H, W, C); the ported weights expect that order.
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        return self.embeddings(x)


def _load_state(path: Path, what: str) -> dict[str, Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {what} file")
    from melwave.utils.safe_torch import read_torch_file

    state = read_torch_file(path, error=CheckpointError)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


class VGGish:
    """AudioEmbedding: VGGish with user-supplied torchvggish weights."""

    sample_rate = SAMPLE_RATE
    dim = 128

    def __init__(self, weights: str | Path, pca: str | Path | None = None, *, device: str = "cpu", batch_size: int = 64):
        self.weights_path = Path(weights)
        self.pca_path = Path(pca) if pca is not None else None
        self.device = device
        self.batch_size = batch_size
        self.name = "vggish-pca" if pca is not None else "vggish"
        # PCA first: it is small, so a bad PCA file fails before 290 MB of weights are read.
        self.pca_vectors = self.pca_means = None
        if self.pca_path is not None:
            pca_state = _load_state(self.pca_path, "VGGish PCA")
            try:
                self.pca_vectors = pca_state["pca_eigen_vectors"].double().numpy()
                self.pca_means = pca_state["pca_means"].double().numpy().reshape(1, -1)
            except KeyError as err:
                raise CheckpointError(f"{self.pca_path}: PCA file lacks {err}; expected pca_eigen_vectors and pca_means") from None
            if self.pca_vectors.shape != (128, 128) or self.pca_means.shape != (1, 128):
                raise CheckpointError(f"{self.pca_path}: PCA shapes {self.pca_vectors.shape}/{self.pca_means.shape}, expected (128, 128)/(128, 1)")
        state = _load_state(self.weights_path, "VGGish weights")
        # Built on the meta device and filled by assignment: no time spent initialising 72M
        # parameters that the file replaces anyway.
        with torch.device("meta"):
            self.network = VGGishNetwork()
        try:
            self.network.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as err:
            raise CheckpointError(f"{self.weights_path}: does not match the torchvggish layout "
                                  f"(features.* convs + embeddings.* linears): {str(err).splitlines()[1:3]}") from None
        self.network.to(device).eval()

    @property
    def cache_key(self) -> str:
        return settings_key(name=self.name, weights=weights_key(self.weights_path), pca=weights_key(self.pca_path), version=1)

    @torch.inference_mode()
    def embed(self, wave: np.ndarray) -> np.ndarray:
        examples = torch.from_numpy(vggish_examples(wave))[:, None]
        rows = [self.network(examples[i:i + self.batch_size].to(self.device)).cpu().double().numpy()
                for i in range(0, len(examples), self.batch_size)]
        out = np.concatenate(rows)
        if self.pca_vectors is not None:
            out = (out - self.pca_means) @ self.pca_vectors.T
        return out
