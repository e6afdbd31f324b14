"""Building frozen-dataclass model configs from plain dicts (YAML, safetensors headers).

Unknown keys are an error naming the valid ones; lists become tuples (YAML and JSON have no
tuples, but frozen configs must be hashable and compare equal after a round trip); nested
dataclass fields are built recursively.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping, TypeVar

from melwave.errors import ConfigError

T = TypeVar("T")


def _to_tuple(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_to_tuple(v) for v in value)
    return value


def config_from_dict(cls: type[T], data: Mapping[str, Any] | None, *, source: str | None = None) -> T:
    """`cls(**data)` with unknown keys rejected and lists turned into (nested) tuples."""
    source = source or cls.__name__
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of {cls.__name__} fields, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {unknown}; valid: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, value in data.items():
        hint = hints.get(key)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[key] = value if isinstance(value, hint) else config_from_dict(hint, value, source=f"{source}.{key}")
        elif hint is float and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
        else:
            values[key] = _to_tuple(value)
    try:
        return cls(**values)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    except TypeError as err:
        raise ConfigError(f"{source}: {err}") from None
