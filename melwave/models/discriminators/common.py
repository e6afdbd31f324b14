"""What every sub-discriminator does after its own input transform."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def conv_stack(x: Tensor, convs: nn.ModuleList, post: nn.Module, slope: float) -> tuple[Tensor, list[Tensor]]:
    """Run conv -> leaky ReLU layers then the `post` score layer, keeping every activation.

    Returns (score map, features) where features are the activations after each conv plus the
    score map itself, the maps feature matching compares.
    """
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), slope)
        features.append(x)
    x = post(x)
    features.append(x)
    return x, features
