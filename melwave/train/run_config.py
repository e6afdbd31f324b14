"""The run config's schema: frozen dataclasses, one per section, and RunConfig holding the five.

    RunConfig(train: TrainConfig, model: ModelSection, mel: MelConfig, data: DataConfig,
              recipe: RecipeSection)  ->  .to_dict() / .to_yaml(), the resolved plain form

Parsing YAML and `--set` overrides into these is melwave.train.config's job; it needs the recipe
registry (each recipe owns its options' schema). The schema needs none of that, so recipes can name
`RunConfig` in their signatures without an import cycle back to the parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from melwave.audio.config import MelConfig
from melwave.errors import ConfigError
from melwave.utils.dataclass_config import to_plain
from melwave.utils.safe_config import short_repr

PRECISIONS = ("fp32", "bf16", "auto")  # auto: bf16 where the device runs it fast (recipe.autocast_enabled)
# train.steps of a run bounded by its time budget alone (`--max-time` without --steps): a cap no run
# reaches, shown as "step N" rather than "step N/1000000000".
UNTIL_DEADLINE = 1_000_000_000
DEVICES = ("auto", "cpu", "cuda")


# --- the sections -------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000                  # optimizer steps to train for (total, counting resumed ones)
    batch_size: int = 16               # examples per step per process
    seed: int = 0                      # seeds python/numpy/torch (plus the rank) and the data order
    device: str = "auto"               # auto (cuda if available) | cpu | cuda
    precision: str = "fp32"            # fp32 | bf16 (autocast for forward passes) | auto (bf16 if fast here)
    learning_rate: float = 2e-4        # recipes' main learning rate
    betas: tuple[float, float] = (0.8, 0.99)  # Adam(W) betas
    weight_decay: float = 0.0          # AdamW weight decay
    lr_decay: float = 1.0              # exponential LR decay factor applied every lr_decay_every steps
    lr_decay_every: int = 1            # steps between LR decays
    grad_clip: float | None = None     # clip gradient norm to this (None: no clipping)
    log_every: int = 50                # steps between progress log lines
    checkpoint_every: int = 1000       # steps between checkpoints (also written at the end)
    keep_checkpoints: int = 3          # how many recent checkpoints to keep
    validate_every: int = 1000         # steps between validations (0: never)
    num_workers: int = 0               # DataLoader worker processes
    init: str | None = None            # start from these pretrained weights (name or path; --init overrides)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "checkpoint_every", "keep_checkpoints", "lr_decay_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}={short_repr(getattr(self, name))}: expected a positive integer")
        if self.validate_every < 0 or self.num_workers < 0:
            raise ConfigError("validate_every and num_workers must be >= 0")
        if self.device not in DEVICES:
            raise ConfigError(f"device={short_repr(self.device)}: expected one of {DEVICES}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision={short_repr(self.precision)}: expected one of {PRECISIONS}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate={short_repr(self.learning_rate)}: expected > 0")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay={short_repr(self.lr_decay)}: expected 0 < lr_decay <= 1")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"grad_clip={short_repr(self.grad_clip)}: expected > 0 or null")


@dataclass(frozen=True)
class ModelSection:
    family: str                                        # registered model family (melwave.models.io.registry)
    preset: str | None = None                          # named config of the family (e.g. hifigan v3)
    config: dict[str, Any] = field(default_factory=dict)  # family config fields (override the preset's)

    def resolved_config(self) -> dict[str, Any]:
        """The preset's fields updated with `config`: the full model config that gets built."""
        base = to_plain(family_presets(self.family)[self.preset]) if self.preset else {}
        if self.preset is not None and not isinstance(base, dict):  # pragma: no cover - preset table bug
            raise ConfigError(f"model.preset={short_repr(self.preset)}: not a config")
        return _deep_merge(base, self.config)


def _deep_merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `changes` applied; nested mappings (e.g. diffwave's schedule) merge key by key."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class DataConfig:
    segment_samples: int = 8192        # samples per training example (random crop; shorter files are zero-padded)
    validation_clips: int = 4          # files held out for validation (never trained on)
    validation_seconds: float = 2.0    # held-out clips are cut to at most this long
    split_seed: int = 0                # seeds the train/validation split (deterministic by path)

    def __post_init__(self) -> None:
        if self.segment_samples <= 0 or self.validation_clips < 0 or not self.validation_seconds > 0:
            raise ConfigError("segment_samples > 0, validation_clips >= 0 and validation_seconds > 0 expected")


@dataclass(frozen=True)
class RecipeSection:
    name: str                                           # the training recipe: gan | diffusion | ...
    options: Any = None                                 # the recipe's own frozen Options dataclass


@dataclass(frozen=True)
class RunConfig:
    train: TrainConfig
    model: ModelSection
    mel: MelConfig
    data: DataConfig
    recipe: RecipeSection

    def to_dict(self) -> dict[str, Any]:
        """Fully resolved, plain form (model preset expanded, mel fields spelled out)."""
        return {
            "train": to_plain(self.train),
            "model": {"family": self.model.family, "preset": None, "config": self.model.resolved_config()},
            "mel": self.mel.to_dict(),
            "data": to_plain(self.data),
            "recipe": {"name": self.recipe.name, **to_plain(self.recipe.options)},
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# --- model presets ------------------------------------------------------------------------
def family_presets(family: str) -> Mapping[str, Any]:
    """Named configs of a model family: its class's `named_configs` (e.g. hifigan v1/v2/v3)."""
    from melwave.models.io.registry import families, family_class

    if family not in families():
        raise ConfigError(f"model.family={short_repr(family)}: unknown; known families: {families()}")
    return family_class(family).named_configs
