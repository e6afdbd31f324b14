"""Audio embeddings for FAD, by name.

  "aisfx"                      offline, weights inside the `aisfx` wheel (the default)
  "vggish:WEIGHTS[:PCA]"       torchvggish weights the user supplies
"""

from __future__ import annotations

from melwave.errors import ConfigError
from melwave.metrics.embeddings.base import AudioEmbedding, EmbeddingCache

EMBEDDINGS_HELP = "aisfx (offline, default) | vggish:WEIGHTS.pth[:PCA.pth]"


def get_embedding(spec: str, *, device: str = "cpu") -> AudioEmbedding:
    name, _, rest = spec.partition(":")
    if name == "aisfx":
        from melwave.metrics.embeddings.aisfx import Aisfx

        return Aisfx(rest or None, device=device)
    if name == "vggish":
        from melwave.metrics.embeddings.vggish import VGGish

        if not rest:
            raise ConfigError("embedding 'vggish' needs its weights: vggish:PATH/vggish-10086976.pth[:PATH/vggish_pca_params.pth]")
        weights, _, pca = rest.partition(":")
        return VGGish(weights, pca or None, device=device)
    raise ConfigError(f"unknown embedding {spec!r}; available: {EMBEDDINGS_HELP}")


__all__ = ["AudioEmbedding", "EmbeddingCache", "get_embedding", "EMBEDDINGS_HELP"]
