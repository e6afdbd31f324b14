"""Building discriminators by name from a training config.

`build_discriminator({"mpd": {}, "mrd": {"channels": 16}})` -> one module running all of them;
its forward concatenates their scores and feature lists, so a loss can treat them uniformly.
"""

from __future__ import annotations

from typing import Any, Mapping

from torch import Tensor, nn

from melwave.errors import ConfigError
from melwave.models.discriminators.multiperiod import MultiPeriodDiscriminator
from melwave.models.discriminators.multiresolution import MultiResolutionDiscriminator
from melwave.models.discriminators.multiscale import MultiScaleDiscriminator

DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "mpd": MultiPeriodDiscriminator,
    "msd": MultiScaleDiscriminator,
    "mrd": MultiResolutionDiscriminator,
}


def _tupled(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value


class CombinedDiscriminator(nn.Module):
    """wave (B, T) -> (scores, features) of every named discriminator, in the given order."""

    def __init__(self, discriminators: Mapping[str, nn.Module]):
        super().__init__()
        self.parts = nn.ModuleDict(discriminators)

    def forward(self, wave: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        scores, features = [], []
        for part in self.parts.values():
            s, f = part(wave)
            scores += s
            features += f
        return scores, features


def build_discriminator(spec: Mapping[str, Mapping[str, Any] | None]) -> CombinedDiscriminator:
    """{name: keyword arguments} with names from DISCRIMINATORS -> CombinedDiscriminator."""
    parts = {}
    for name, kwargs in spec.items():
        if name not in DISCRIMINATORS:
            raise ConfigError(f"discriminator {name!r}: unknown; expected one of {sorted(DISCRIMINATORS)}")
        try:
            parts[name] = DISCRIMINATORS[name](**{k: _tupled(v) for k, v in (kwargs or {}).items()})
        except TypeError as err:
            raise ConfigError(f"discriminator {name!r}: {err}") from None
    if not parts:
        raise ConfigError("no discriminators configured")
    return CombinedDiscriminator(parts)
