"""Filling a conditional model's conditions (and a generator's held-out combinations) from its
labelled training data.

Conditions are part of the architecture of the models trained on labelled mels (one embedding or
head per condition, one row per value), so they are fixed before the modules are built and stored
in RUN/config.yaml, where --resume finds them. Used by every recipe whose options hold the
labelled-data settings as `data` (the generator recipes and the classifier).

A generator's `recipe.data.holdout` is resolved here too, once, into two places of the run config:
`recipe.data.holdout.combinations` (the data loader leaves those clips out) and
`model.config.held_out` (the exported model lists them: `melwave generate --list`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from melwave.errors import ConfigError
from melwave.models.vocabulary import Vocabulary

if TYPE_CHECKING:  # pragma: no cover
    from melwave.data.holdout import HoldoutConfig
    from melwave.train.run_config import RunConfig


def prepare_config(config: RunConfig, data_dir: str | Path) -> RunConfig:
    """The run config with `model.config.conditions` filled from the data's labels (if unset) and,
    for a generator with `recipe.data.holdout`, the held-out combinations chosen (if unchosen)."""
    model_config = config.model.resolved_config()
    data = config.recipe.options.data
    holdout = data.holdout
    need_conditions = not model_config.get("conditions")
    need_holdout = holdout.enabled and (not holdout.combinations or "held_out" not in model_config)
    if not (need_conditions or need_holdout):
        return config
    items, vocabulary = data.scan(data_dir)
    changes: dict[str, Any] = {}
    if need_conditions:
        changes["conditions"] = vocabulary.to_list()
    else:
        # Combinations are chosen in the model's own value order (a resumed or pinned vocabulary).
        vocabulary = Vocabulary.from_list(model_config["conditions"], source="model.config.conditions")
    if need_holdout:
        holdout = resolve_holdout(config, [item.labels for item in items], vocabulary)
        data = dataclasses.replace(data, holdout=holdout)
        changes["held_out"] = [dict(c) for c in holdout.held_out]
    model = dataclasses.replace(config.model, config={**config.model.config, **changes})
    recipe = dataclasses.replace(config.recipe, options=dataclasses.replace(config.recipe.options, data=data))
    return dataclasses.replace(config, model=model, recipe=recipe)


def resolve_holdout(config: RunConfig, labels: list[dict[str, str]], vocabulary: Vocabulary) -> HoldoutConfig:
    """`recipe.data.holdout` with its combinations chosen from `labels`; only generators hold out."""
    from melwave.models.base import MelGenerator
    from melwave.models.io.registry import family_class

    if not issubclass(family_class(config.model.family), MelGenerator):
        raise ConfigError(f"recipe.data.holdout: only mel generators hold combinations out; model.family "
                          f"{config.model.family!r} trains on every labelled file")
    try:
        return config.recipe.options.data.holdout.resolved(labels, vocabulary)
    except ConfigError as err:
        raise ConfigError(f"recipe.data.{err}") from None
