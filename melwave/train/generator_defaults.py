"""The run config of `melwave train generator --data DIR` without --config: sized for a CPU and fitted
to the data.

    config = default_config("cwgan", "data/speech", overrides=["train.batch_size=32"])

The starting point per family is DEFAULTS (the same settings as configs/generator/flow-cpu.yaml and
cwgan-cpu.yaml, which a test keeps equal); then, from the data:
- the conditions and their values (conditions.prepare_config, as for any config);
- the clip length: the median duration of the labelled files, in mel frames, rounded to the
  nearest length the model can make (`nearest_frames`), unless `model.config.frames` is given;
- no held-out combinations (`--held-out` asks for some).
`overrides` (--set, and the command's own flags turned into settings) are applied last, so an
explicit setting always wins over a default and over what the data suggested.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, Sequence

from melwave.train.config import RunConfig, apply_overrides, parse_run_config
from melwave.utils.dataclass_config import parse_dataclass

log = logging.getLogger("melwave.train")

FAMILIES = ("cwgan", "flow")
# The family trained without --family. Measured in docs/own-sounds.md: on two small spoken-word sets
# the WGAN-GP below is labelled right by the nearest-neighbour judge >= 97 % of the time after 6-10
# minutes of one CPU thread, the flow default 75-78 % after 10 minutes (it needs many more steps).
DEFAULT_FAMILY = "cwgan"

_TRAIN = {"seed": 0, "log_every": 25, "checkpoint_every": 250, "validate_every": 500}
_DATA_OPTIONS = {"crop": "start", "labels": "auto"}  # one-shots: the onset matters; labels.csv or name=value folders

DEFAULTS: dict[str, dict[str, Any]] = {
    "flow": {
        "train": {"steps": 3000, "batch_size": 64, "learning_rate": 0.0005, "betas": [0.9, 0.99], "weight_decay": 0.0,
                  "grad_clip": 1.0, "precision": "auto", **_TRAIN},
        "mel": "hifigan-22k",
        "model": {"family": "flow", "preset": "small",
                  "config": {"sampling_steps": 8, "guidance": 2.0, "solver": "heun", "clamp_to_data": True}},
        "data": {"validation_clips": 4},
        "recipe": {"name": "flow-matching", "p_uncond": 0.1, "time_distribution": "logit-normal", "ema_decay": 0.999,
                   "warmup_steps": 200, "data": dict(_DATA_OPTIONS)},
    },
    "cwgan": {
        "train": {"steps": 6000, "batch_size": 16, "learning_rate": 0.0004, "betas": [0.5, 0.9], "precision": "auto",
                  **_TRAIN},
        "mel": "hifigan-22k",
        "model": {"family": "cwgan", "preset": "cpu"},
        "data": {"validation_clips": 4},
        "recipe": {"name": "wgan-gp", "n_critic": 1, "gp_weight": 10.0, "critic_learning_rate": 0.0008,
                   "critic": {"channels": [16, 32, 64, 128], "conditioning": "projection", "instance_norm": False,
                              "auxiliary_classifier": True},
                   "auxiliary_weight": 1.0, "data": dict(_DATA_OPTIONS)},
    },
}


def default_document(family: str) -> dict[str, Any]:
    """A fresh copy of the family's CPU default, as the mapping a config file holds."""
    from melwave.errors import ConfigError

    if family not in DEFAULTS:
        raise ConfigError(f"--family {family!r}: expected one of {list(FAMILIES)}")
    return copy.deepcopy(DEFAULTS[family])


def default_config(family: str, data_dir: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """The family's CPU default with the clip length fitted to `data_dir` and `overrides` applied
    (conditions are filled later, by conditions.prepare_config, as for every config)."""
    from melwave.data.labelled import median_clip_seconds

    document = default_document(family)
    source = f"the {family} default (no --config)"
    config = parse_run_config(apply_overrides(document, list(overrides)), source=source)
    if any(item.partition("=")[0] in ("model.config.frames", "model.config") for item in overrides):
        return config  # the length was given: it is not the data's to choose
    items, _ = config.recipe.options.data.scan(data_dir)
    seconds = median_clip_seconds(items, where=str(data_dir))
    mel = config.mel
    target = seconds * mel.sample_rate / mel.hop_length
    model_config = {k: v for k, v in config.model.resolved_config().items() if k != "held_out"}
    frames = parse_dataclass(_model_config_class(config), model_config, "model.config").nearest_frames(round(target))
    log.info("clip length: median %.2f s of %d files -> %d frames (%.2f s) for the %s model", seconds, len(items), frames,
             frames * mel.hop_length / mel.sample_rate, family)
    return parse_run_config(apply_overrides(document, [f"model.config.frames={frames}", *overrides]), source=source)


def _model_config_class(config: RunConfig) -> type:
    from melwave.models.io.registry import family_class

    return family_class(config.model.family).config_class
