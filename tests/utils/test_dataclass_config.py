"""The one dict -> frozen-dataclass parser every config goes through (run sections, recipe
options, model architectures)."""

from dataclasses import dataclass, field

import pytest

from melwave.errors import ConfigError
from melwave.utils.dataclass_config import parse_dataclass, to_plain


@dataclass(frozen=True)
class Inner:
    a: float = 1.0
    name: str | None = None


@dataclass(frozen=True)
class Outer:
    sizes: tuple[tuple[int, ...], ...] = ((1,),)
    pair: tuple[float, float] = (0.5, 0.9)
    inner: Inner = field(default_factory=Inner)
    flag: bool = False

    def __post_init__(self) -> None:
        if self.pair[0] > self.pair[1]:
            raise ConfigError("pair must be increasing")


def test_lists_become_tuples_and_nested_dataclasses_are_built():
    built = parse_dataclass(Outer, {"sizes": [[1, 2], [3]], "inner": {"a": 2, "name": "x"}, "pair": [0, 1]})
    assert built == Outer(sizes=((1, 2), (3,)), pair=(0.0, 1.0), inner=Inner(a=2.0, name="x"))
    assert isinstance(built.inner.a, float) and isinstance(built.pair[0], float)
    assert parse_dataclass(Outer, to_plain(built)) == built  # round trip through plain dicts
    assert parse_dataclass(Outer, None) == Outer()


def test_unknown_keys_name_the_path_and_list_the_valid_ones():
    with pytest.raises(ConfigError, match=r"Outer\.nope: unknown key; valid keys of Outer: \['flag', 'inner', 'pair', 'sizes'\]"):
        parse_dataclass(Outer, {"nope": 1})
    with pytest.raises(ConfigError, match=r"model\.inner\.b: unknown key; valid keys of model\.inner: \['a', 'name'\]"):
        parse_dataclass(Outer, {"inner": {"b": 1}}, "model")


@pytest.mark.parametrize("data, path, expected", [
    ({"sizes": [[1, "two"]]}, r"cfg\.sizes\[0\]\[1\]", "an integer"),
    ({"sizes": 3}, r"cfg\.sizes", "a list"),
    ({"pair": [1]}, r"cfg\.pair", "a list of 2 values"),
    ({"inner": {"a": "loud"}}, r"cfg\.inner\.a", "a number"),
    ({"inner": {"name": 3}}, r"cfg\.inner\.name", "a string"),
    ({"inner": [1]}, r"cfg\.inner", "a mapping"),
    ({"flag": "yes"}, r"cfg\.flag", "true/false"),
])
def test_wrong_types_name_the_key_path(data, path, expected):
    with pytest.raises(ConfigError, match=f"{path}: expected {expected}"):
        parse_dataclass(Outer, data, "cfg")


def test_post_init_errors_get_the_path():
    with pytest.raises(ConfigError, match=r"cfg: pair must be increasing"):
        parse_dataclass(Outer, {"pair": [0.9, 0.1]}, "cfg")


def test_model_families_parse_through_it():
    from melwave.audio.config import PRESETS
    from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN

    with pytest.raises(ConfigError, match=r"model_config\.upsample_rates\[0\]: expected an integer"):
        HiFiGAN.from_config({"upsample_rates": ["x", 8, 2, 2]}, PRESETS["hifigan-22k"])
    with pytest.raises(ConfigError, match=r"model\.config\.bogus: unknown key"):
        HiFiGAN.from_config({"bogus": 1}, PRESETS["hifigan-22k"], path="model.config")
    assert HiFiGAN.named_configs is HIFIGAN_CONFIGS
