"""The ONNX Runtime backend: a `Vocoder` that runs an exported graph (melwave.models.onnx_export).

`load_vocoder(X, backend="onnxruntime")` gives an `OnnxVocoder`: for a `.onnx` file melwave wrote,
its session; for anything else, the torch model exported in memory first (seconds; `melwave
export` once and pass the .onnx file to skip that). The MelConfig, family, model config and
chunking context come from the file's metadata, so `prepare_melspectrogram`, mel checks,
`synthesize(chunk_frames=...)` and evaluation work as for the torch model. Only onnxruntime is
needed to run a file (not onnx, not the exporter).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError, ConfigError
from melwave.models.base import Vocoder

FORMAT = "melwave-onnx"
VERSION = "1"


def session_from(model: bytes | str | Path, *, device: str | torch.device = "cpu") -> Any:
    """An onnxruntime InferenceSession of a model file or serialized bytes, using torch's thread
    count (OMP_NUM_THREADS / torch.set_num_threads) so both backends get the same cores."""
    from melwave.utils.optional import require

    ort = require("onnxruntime", "the ONNX Runtime backend")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CPUExecutionProvider"]
    if str(device).startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, sess_options=options, providers=providers)
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types for bad files
        where = "the exported graph" if isinstance(model, bytes) else str(model)
        raise CheckpointError(f"{where}: ONNX Runtime cannot load it ({' '.join(str(err).split())[:200]})") from None


class OnnxVocoder(Vocoder):
    """mel (B, n_mels, frames) -> wave (B, frames · hop), computed by an ONNX Runtime session."""

    backend = "onnxruntime"

    def __init__(self, session: Any, meta: dict[str, str], *, source: str):
        if meta.get("melwave.format") != FORMAT:
            raise CheckpointError(f"{source}: not an ONNX model exported by melwave (metadata melwave.format is "
                                  f"{meta.get('melwave.format')!r}, expected {FORMAT!r})")
        if meta.get("melwave.version") != VERSION:
            raise CheckpointError(f"{source}: melwave ONNX version {meta.get('melwave.version')!r} unsupported (this melwave reads {VERSION})")
        try:
            mel_config = MelConfig.from_dict(json.loads(meta["mel_config"]), source=f"{source}: metadata mel_config")
            model_config = json.loads(meta.get("model_config", "{}"))
            receptive = int(meta["receptive_frames"])
            provenance = json.loads(meta.get("provenance", "{}"))
        except ConfigError as err:
            raise CheckpointError(str(err)) from None
        except (KeyError, ValueError, TypeError) as err:
            raise CheckpointError(f"{source}: metadata of a melwave ONNX model is incomplete or invalid ({err})") from None
        super().__init__(mel_config, model_config)
        self.family = meta.get("family", "onnx")  # the exported family: callers branching on it see the real one
        self.provenance = provenance
        self._session = session
        self._receptive = receptive
        self.name = meta.get("name") or Path(source).stem

    def config_dict(self) -> dict[str, Any]:
        return dict(self.config or {})

    def forward(self, mel: Tensor) -> Tensor:
        wave = self._session.run(["wave"], {"mel": mel.detach().float().cpu().contiguous().numpy()})[0]
        return torch.from_numpy(wave).to(mel.device)

    @property
    def receptive_frames(self) -> int:
        return self._receptive


def load_onnx_vocoder(name_or_path: str | Path, *, device: str | torch.device = "cpu", mel_config: MelConfig | None = None,
                      trust_file: bool = False) -> OnnxVocoder:
    """`load_vocoder(..., backend="onnxruntime")`: a .onnx file melwave exported, or any vocoder
    melwave loads, exported in memory."""
    from melwave.models.registry import load_vocoder, require_mel_config

    key = str(name_or_path)
    if key.endswith(".onnx"):
        if not Path(key).is_file():
            raise CheckpointError(f"{key}: no such ONNX model file")
        session, source = session_from(key, device=device), key
    else:
        from melwave.models.onnx_export import export_bytes

        model = load_vocoder(key, mel_config=mel_config, trust_file=trust_file)
        session, source = session_from(export_bytes(model, source=key), device=device), key
    vocoder = OnnxVocoder(session, session.get_modelmeta().custom_metadata_map, source=source)
    if not key.endswith(".onnx"):
        vocoder.name = key
    if mel_config is not None:
        require_mel_config(vocoder, mel_config)
    return vocoder.eval()
