"""Layers shared by several vocoders and discriminators (one job per module)."""

from melwave.models.blocks.activations import Snake, SnakeBeta
from melwave.models.blocks.antialias import AntiAliasedActivation, DownSample1d, UpSample1d, kaiser_sinc_filter
from melwave.models.blocks.amp import AMPBlock
from melwave.models.blocks.convnext import ConvNeXtBlock
from melwave.models.blocks.film import FiLM, film
from melwave.models.blocks.istft_head import ISTFT, ISTFTHead
from melwave.models.blocks.weight_norm import WeightNormMixin, apply_weight_norm, remove_weight_norm

__all__ = [
    "AMPBlock", "AntiAliasedActivation", "ConvNeXtBlock", "DownSample1d", "FiLM", "ISTFT", "ISTFTHead", "Snake",
    "SnakeBeta", "UpSample1d", "WeightNormMixin", "apply_weight_norm", "film",
    "kaiser_sinc_filter", "remove_weight_norm",
]
