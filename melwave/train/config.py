"""Run configuration: frozen dataclasses are the schema, YAML is how a run is written down.

A run config has five sections:
    train:  the loop (steps, batch size, optimiser basics, checkpoint/validation cadence)
    model:  the model family and its config, or a named preset of it (+ field overrides)
    mel:    a MelConfig preset name, or MelConfig fields (optionally `preset:` + overrides)
    data:   how training examples are cut from the data folder
    recipe: which training recipe (`name:`) and its options, whose schema the recipe owns

Unknown keys are errors naming the full key path (`train.batch_sise`); `--set a.b=value`
overrides are parsed as YAML scalars and then typed by the same schema, so `train.steps=abc`
fails with the path and the expected type. The dataclasses themselves are in
melwave.train.run_config; this module parses into them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from melwave.audio.config import MelConfig
from melwave.errors import ConfigError
from melwave.train.run_config import (  # noqa: F401 (the schema, importable from here as it always was)
    DEVICES, PRECISIONS, UNTIL_DEADLINE, DataConfig, ModelSection, RecipeSection, RunConfig, TrainConfig, family_presets)
from melwave.utils.dataclass_config import parse_dataclass
from melwave.utils.fileio import read_yaml_mapping
from melwave.utils.safe_config import MAX_DEPTH, parse_yaml, short_repr, short_str


def _parse_model(data: Any) -> ModelSection:
    section = parse_dataclass(ModelSection, data, "model")
    presets = family_presets(section.family)
    if section.preset is not None and section.preset not in presets:
        raise ConfigError(f"model.preset={short_repr(section.preset)}: unknown preset of {section.family}; known: {sorted(presets)}")
    return section


def _parse_recipe(data: Any) -> RecipeSection:
    from melwave.train.recipe import get_recipe

    if not isinstance(data, Mapping) or "name" not in data:
        raise ConfigError(f"recipe: expected a mapping with `name:` (the training recipe), got {short_repr(data)}")
    options = dict(data)
    name = options.pop("name")
    recipe = get_recipe(str(name))
    return RecipeSection(name=str(name), options=parse_dataclass(recipe.Options, options, "recipe"))


SECTIONS = ("train", "model", "mel", "data", "recipe")


def parse_run_config(data: Any, *, source: str = "config") -> RunConfig:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping with sections {list(SECTIONS)}")
    for key in data:
        if key not in SECTIONS:
            raise ConfigError(f"{source}: {short_str(key)}: unknown section; valid sections: {list(SECTIONS)}")
    for key in ("model", "mel", "recipe"):
        if key not in data:
            raise ConfigError(f"{source}: missing section '{key}'")
    try:
        return RunConfig(
            train=parse_dataclass(TrainConfig, data.get("train"), "train"),
            model=_parse_model(data["model"]),
            mel=MelConfig.parse(data["mel"], source="mel"),
            data=parse_dataclass(DataConfig, data.get("data"), "data"),
            recipe=_parse_recipe(data["recipe"]),
        )
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


# --- YAML files and --set overrides -------------------------------------------------------
def read_yaml(path: str | Path) -> dict[str, Any]:
    return read_yaml_mapping(path, expected=f"a mapping with sections {list(SECTIONS)}")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (value parsed as a YAML scalar/list) to a nested dict copy."""
    import copy

    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        shown = f"--set {short_repr(item)}"
        if not sep or not key:
            raise ConfigError(f"{shown}: expected KEY.PATH=VALUE, e.g. train.batch_size=8")
        parts = key.split(".")
        if len(parts) > MAX_DEPTH:  # a.a.a...: nesting no schema has, and that later walks recurse into
            raise ConfigError(f"{shown}: key nested deeper than {MAX_DEPTH} levels")
        # The value gets the same limits as a config file (size, nesting, aliases, numbers).
        value = parse_yaml(raw, source=f"{shown}: value") if raw != "" else ""
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif isinstance(child, str) and ".".join(parts[: depth + 1]) == "mel":
                child = node[part] = {"preset": child}  # `mel: hifigan-22k` then --set mel.fmax=...
            elif not isinstance(child, dict):
                raise ConfigError(f"{shown}: {short_str('.'.join(parts[:depth + 1]))} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def load_run_config(path: str | Path, overrides: list[str] = ()) -> RunConfig:
    return parse_run_config(apply_overrides(read_yaml(path), list(overrides)), source=str(path))
