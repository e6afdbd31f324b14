"""Filling a conditional model's conditions from its labelled training data.

Conditions are part of the architecture of the models trained on labelled mels (one embedding or
head per condition, one row per value), so they are fixed before the modules are built and stored
in RUN/config.yaml, where --resume finds them. Used by the wgan-gp and classifier recipes, whose
options both hold the labelled-data settings as `data`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


def prepare_config(config: Any, data_dir: str | Path) -> Any:
    """The run config with `model.config.conditions` filled from the data's labels (if unset)."""
    if config.model.resolved_config().get("conditions"):
        return config
    _, vocabulary = config.recipe.options.data.scan(data_dir)
    model = dataclasses.replace(config.model, config={**config.model.config, "conditions": vocabulary.to_list()})
    return dataclasses.replace(config, model=model)
