"""The aiSFX sound-effects embedding (Ma & Lerch, ISMIR 2022): a 512-d general-audio
embedding whose weights ship inside the `aisfx` wheel on PyPI (MIT code; weights CC BY 4.0,
~25 MB), so FAD works offline out of the box. Shown as FAD[aisfx].

We read its `models/checkpoint.pth` through importlib paths and never import the package (its
metadata pins old numpy/librosa; install it with `pip install --no-deps aisfx==0.1.2`). The
checkpoint is a pickle of (state_dict, dataset table); it is read through melwave.utils.safe_torch (data only),
allowing only numpy's scalar/dtype reconstructors that the table needs, so no code runs.

Front end (its librosa path, reproduced): 44.1 kHz mono, peak-normalised; power mel
spectrogram, 2048-point frames every 1024 samples, 96 HTK bands 0–22050 Hz with filters
normalised to unit area; log10(10000·mel + 1) divided by 9.4578 (the paper's normalisation
constant); 100-frame (~2.3 s) blocks every 50 frames, the last partial block dropped unless it
is the only one (then zero-padded).
Network (embedding_net of its CrossNet): 4 blocks of [conv3×3-BN-ReLU]×2 + 2×2 max-pool
(64, 128, 256, 512 channels; the last block pools 1×1), mean over frequency, max over time.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.errors import CheckpointError
from melwave.metrics.embeddings.base import settings_key, weights_key
from melwave.utils.optional import package_dir, require

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 1024
N_MELS = 96
NORM_MAX = 9.457798957824707
BLOCK = 100
BLOCK_HOP = 50


def aisfx_weights_path() -> Path:
    path = package_dir("aisfx", "the weights of the offline FAD embedding (FAD[aisfx])") / "models" / "checkpoint.pth"
    if not path.is_file():
        raise CheckpointError(f"{path}: aisfx is installed but its weights file is missing")
    return path


class _ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor, pool: int) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool2d(x, pool)


class AisfxNetwork(nn.Module):
    """(N, 100 frames, 96 mels) -> (N, 512)."""

    def __init__(self, base: int = 64):
        super().__init__()
        self.conv_block1 = _ConvBlock(1, base)
        self.conv_block2 = _ConvBlock(base, base * 2)
        self.conv_block3 = _ConvBlock(base * 2, base * 4)
        self.conv_block4 = _ConvBlock(base * 4, base * 8)

    def forward(self, x: Tensor) -> Tensor:
        x = x.unsqueeze(1)
        x = self.conv_block1(x, 2)
        x = self.conv_block2(x, 2)
        x = self.conv_block3(x, 2)
        x = self.conv_block4(x, 1)
        return x.mean(dim=3).amax(dim=2)


def _numpy_scalar(dtype, data=None):
    # The checkpoint's dataset table holds numpy scalars; only plain numeric ones are rebuilt.
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf" or not isinstance(data, bytes):
        raise CheckpointError("aisfx checkpoint: a numpy scalar that is not a plain number")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _numpy_dtype(spec, align=False, copy=False):
    if not isinstance(spec, str) or len(spec) > 8:
        raise CheckpointError("aisfx checkpoint: a numpy dtype that is not a plain type code")
    return np.dtype(spec)


def _load_checkpoint(path: Path) -> dict[str, Tensor]:
    from melwave.utils.safe_torch import read_torch_file

    stand_ins = {"numpy.core.multiarray.scalar": _numpy_scalar, "numpy._core.multiarray.scalar": _numpy_scalar,
                 "numpy.dtype": _numpy_dtype}
    try:
        loaded = read_torch_file(path, error=CheckpointError, stand_ins=stand_ins)
    except CheckpointError as err:
        raise CheckpointError(f"cannot read the aisfx checkpoint safely: {err}") from None
    state = loaded[0] if isinstance(loaded, (tuple, list)) else loaded
    prefix = "embedding_net."
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


@functools.lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    librosa = require("librosa", "the aisfx FAD embedding")
    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=0.0, fmax=SAMPLE_RATE / 2, htk=True, norm=1.0)


def aisfx_blocks(wave: np.ndarray) -> np.ndarray:
    """(T,) at 44.1 kHz -> (blocks, 100, 96) normalised log-mel blocks."""
    librosa = require("librosa", "the aisfx FAD embedding")
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    peak = float(np.abs(wave).max()) if wave.size else 0.0
    wave = wave / (peak if peak > 0 else 1.0)
    spec = np.abs(librosa.stft(wave, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT, center=True, pad_mode="constant")) ** 2
    mel = np.log10(_mel_filters() @ spec * 10000.0 + 1.0).T / NORM_MAX  # (frames, mels)
    frames = mel.shape[0]
    count = max(1, 1 + (frames - BLOCK) // BLOCK_HOP) if frames >= BLOCK else 1
    mel = np.vstack([mel, np.zeros((BLOCK, N_MELS), dtype=mel.dtype)])
    return np.stack([mel[i * BLOCK_HOP: i * BLOCK_HOP + BLOCK] for i in range(count)]).astype(np.float32)


class Aisfx:
    """AudioEmbedding: 512-d aiSFX embeddings, one per ~2.3 s block."""

    name = "aisfx"
    sample_rate = SAMPLE_RATE
    dim = 512

    def __init__(self, weights: str | Path | None = None, *, device: str = "cpu", batch_size: int = 16):
        self.weights_path = Path(weights) if weights is not None else aisfx_weights_path()
        self.device = device
        self.batch_size = batch_size
        self.network = AisfxNetwork()
        state = _load_checkpoint(self.weights_path)
        try:
            self.network.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise CheckpointError(f"{self.weights_path}: does not match the aisfx embedding network ({str(err).splitlines()[0]})") from None
        self.network.to(device).eval()

    @property
    def cache_key(self) -> str:
        return settings_key(name=self.name, weights=weights_key(self.weights_path), version=1)

    @torch.inference_mode()
    def embed(self, wave: np.ndarray) -> np.ndarray:
        blocks = torch.from_numpy(aisfx_blocks(wave))
        rows = [self.network(blocks[i:i + self.batch_size].to(self.device)).cpu().double().numpy()
                for i in range(0, len(blocks), self.batch_size)]
        return np.concatenate(rows)
