"""MelConfig: presets, YAML round trip, unknown keys, fingerprint, diff."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from melwave.audio.config import COMPRESSIONS, MEL_NORMS, MEL_SCALES, PAD_MODES, PADDINGS, PRESETS, MelConfig, get_preset
from melwave.errors import ConfigError, MelConfigMismatch, MelwaveError


@st.composite
def mel_configs(draw) -> MelConfig:
    """Valid MelConfigs covering every categorical option."""
    sample_rate = draw(st.sampled_from([8000, 16000, 22050, 24000, 44100, 48000]))
    n_fft = draw(st.sampled_from([256, 512, 1024, 2048]))
    win_length = draw(st.integers(n_fft // 2, n_fft))
    hop_length = draw(st.integers(16, n_fft // 2))
    fmax = draw(st.one_of(st.none(), st.floats(1000.0, sample_rate / 2)))
    fmin = draw(st.floats(0.0, min(500.0, (fmax or sample_rate / 2) - 1)))
    return MelConfig(
        sample_rate=sample_rate, n_fft=n_fft, win_length=win_length, hop_length=hop_length,
        n_mels=draw(st.integers(8, 160)), fmin=fmin, fmax=fmax,
        padding=draw(st.sampled_from(PADDINGS)), pad_mode=draw(st.sampled_from(PAD_MODES)),
        power=draw(st.sampled_from([1.0, 2.0])), normalized=draw(st.booleans()),
        mel_scale=draw(st.sampled_from(MEL_SCALES)), mel_norm=draw(st.sampled_from(MEL_NORMS)),
        compression=draw(st.sampled_from(COMPRESSIONS)),
        log_clamp=draw(st.floats(1e-10, 1e-2)), top_db=draw(st.one_of(st.none(), st.floats(10.0, 120.0))),
    )


def test_presets_are_valid_and_distinct():
    assert {"hifigan-22k", "cwgan-22k", "cwgan-22k-log", "cwgan-strips-22k", "gomin-24k", "melgan-22k"} <= set(PRESETS)
    prints = {name: cfg.fingerprint() for name, cfg in PRESETS.items()}
    assert len(set(prints.values())) == len(prints)
    for name, cfg in PRESETS.items():
        assert MelConfig.from_dict(cfg.to_dict()) == cfg, name
        assert get_preset(name) is cfg


def test_presets_match_the_source_systems():
    # Values from the source systems' code and the published configs (docs/sources.md).
    hifi = PRESETS["hifigan-22k"]
    assert (hifi.sample_rate, hifi.n_fft, hifi.win_length, hifi.hop_length, hifi.n_mels) == (22050, 1024, 1024, 256, 80)
    assert (hifi.fmin, hifi.fmax, hifi.power, hifi.compression, hifi.log_clamp) == (0.0, 8000.0, 1.0, "log", 1e-5)
    cw = PRESETS["cwgan-22k"]
    assert (cw.n_mels, cw.fmax, cw.power, cw.mel_scale, cw.padding, cw.compression) == (128, 11025.0, 2.0, "htk", "symmetric", "none")
    assert cw.pad_mode == PRESETS["cwgan-strips-22k"].pad_mode == "constant"  # torchaudio's pad= is zeros
    assert PRESETS["cwgan-strips-22k"].hop_length == 345
    mg = PRESETS["melgan-22k"]
    assert (mg.padding, mg.mel_scale, mg.compression, mg.top_db) == ("end", "tensorflow", "tfio-db", 80.0)
    go = PRESETS["gomin-24k"]
    assert (go.sample_rate, go.n_mels, go.padding, go.normalized, go.mel_scale, go.mel_norm, go.compression) == (
        24000, 128, "center", True, "slaney", "slaney", "gomin")


def test_unknown_preset_names_the_choices():
    with pytest.raises(ConfigError, match="hifigan-22k"):
        get_preset("nope")


@given(mel_configs())
@settings(max_examples=40, deadline=None)
def test_yaml_and_dict_round_trip(cfg: MelConfig):
    assert MelConfig.from_yaml(cfg.to_yaml()) == cfg
    assert MelConfig.from_dict(cfg.to_dict()) == cfg
    assert MelConfig.from_yaml(cfg.to_yaml()).fingerprint() == cfg.fingerprint()


def test_load_from_file(tmp_path):
    path = tmp_path / "mel.yaml"
    path.write_text(PRESETS["gomin-24k"].to_yaml())
    assert MelConfig.load(path) == PRESETS["gomin-24k"]
    with pytest.raises(ConfigError, match="missing.yaml"):
        MelConfig.load(tmp_path / "missing.yaml")


def test_one_reader_takes_a_preset_with_overrides(tmp_path):
    # The documented `preset:` form: the preset's fields, then the given ones on top.
    path = tmp_path / "mel.yaml"
    path.write_text("preset: gomin-24k\nn_mels: 80\nfmax: 8000\n")
    assert MelConfig.load(path) == PRESETS["gomin-24k"].replace(n_mels=80, fmax=8000.0)
    path.write_text("melgan-22k\n")  # a bare preset name is a whole config
    assert MelConfig.load(path) == PRESETS["melgan-22k"]
    assert MelConfig.parse({"preset": "hifigan-22k"}) == PRESETS["hifigan-22k"]
    with pytest.raises(ConfigError, match=r"mel\.yaml: preset='gomin'.*gomin-24k"):
        MelConfig.from_yaml("preset: gomin\n", source="mel.yaml")
    with pytest.raises(ConfigError, match="n_mel_bins"):  # unknown keys still rejected beside a preset
        MelConfig.parse({"preset": "hifigan-22k", "n_mel_bins": 80})
    with pytest.raises(ConfigError, match="fmax"):  # overrides are validated like any field
        MelConfig.parse({"preset": "hifigan-22k", "fmax": 20000})
    # Files melwave writes itself carry every field: the strict reader does not take presets.
    with pytest.raises(ConfigError, match="preset"):
        MelConfig.from_dict({"preset": "hifigan-22k"})


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_pad_left_is_where_frame_zero_starts(name):
    # Frame 0's window starts pad_left samples before signal sample 0: so the frame count of
    # any length follows from it (symmetric pads as much on the right, center n_fft//2 too).
    cfg = PRESETS[name]
    expected = {"center": cfg.n_fft // 2, "symmetric": (cfg.n_fft - cfg.hop_length) // 2}.get(cfg.padding, 0)
    assert cfg.pad_left == expected
    if cfg.padding in ("center", "symmetric"):
        for n in (cfg.n_fft, 3 * cfg.hop_length + 7, 10_000):
            assert cfg.num_frames(n) == 1 + (n + 2 * cfg.pad_left - cfg.n_fft) // cfg.hop_length


def test_unknown_keys_rejected_with_the_key_named():
    data = PRESETS["hifigan-22k"].to_dict() | {"hop_lenght": 256}
    with pytest.raises(ConfigError, match="hop_lenght"):
        MelConfig.from_dict(data)
    with pytest.raises(ConfigError, match="n_mel_bins"):
        MelConfig.from_yaml("sample_rate: 22050\nn_mel_bins: 80\n", source="my.yaml")
    # Non-string keys (YAML allows them) are named too, not a TypeError from sorting.
    with pytest.raises(ConfigError, match="'1'"):
        MelConfig.from_dict({1: 2, "a": 3})


@pytest.mark.parametrize("field, value", [
    ("sample_rate", 0), ("n_fft", -1), ("hop_length", 2.5), ("n_mels", True), ("win_length", 4096), ("hop_length", 2048),
    ("padding", "both"), ("pad_mode", "wrap"), ("mel_scale", "bark"), ("mel_norm", "l2"),
    ("compression", "sqrt"), ("power", 3.0), ("fmin", -1.0), ("fmax", 20000.0), ("fmax", "8k"),
    ("fmin", float("nan")), ("log_clamp", 0.0), ("top_db", -5.0), ("normalized", "yes"),
])
def test_invalid_values_name_the_field(field, value):
    data = PRESETS["hifigan-22k"].to_dict() | {field: value}
    with pytest.raises(ConfigError, match=f"MelConfig.{field}"):
        MelConfig.from_dict(data, source="cfg.yaml")


def test_integers_for_real_fields_give_the_same_config_and_fingerprint():
    # Bug fixed: MelConfig(power=2) == MelConfig(power=2.0) but their fingerprints differed.
    a = MelConfig(power=2, fmax=8000, top_db=80, fmin=0)
    b = MelConfig(power=2.0, fmax=8000.0, top_db=80.0, fmin=0.0)
    assert a == b and a.fingerprint() == b.fingerprint()
    assert isinstance(a.power, float) and isinstance(a.fmax, float)


# Fingerprints written into mel files and models must not change between runs or releases:
# these are the values melwave 0.1 wrote. A change here means old files stop matching.
# Issue 16 changed three presets on purpose, to equal their sources' analyses (zero padding for
# cwgan-22k / cwgan-strips-22k; TF's filterbank and tfio's dB for melgan-22k): new prints below.
# Files written before store their whole config, which keeps its old print (checked below), so
# they still load and are reported as a mismatch naming the changed fields, never silently mixed.
GOLDEN_FINGERPRINTS = {
    "cwgan-22k": "cafcac9f34de", "cwgan-22k-log": "949a8f607f66", "cwgan-strips-22k": "f926113be4a3",
    "gomin-24k": "6c6150ea8ec6", "hifigan-22k": "2072cd031c3b", "melgan-22k": "932b1c5d26d8",
}
BEFORE_ISSUE_16 = {
    "cwgan-22k": ({"pad_mode": "reflect"}, "83fbba5c57e0"),
    "cwgan-strips-22k": ({"pad_mode": "reflect"}, "40eb62f81980"),
    "melgan-22k": ({"mel_scale": "htk", "compression": "db"}, "5c7985d22707"),
}


def test_fingerprints_are_stable_across_releases():
    assert {name: PRESETS[name].fingerprint() for name in GOLDEN_FINGERPRINTS} == GOLDEN_FINGERPRINTS
    for name, (old_values, old_print) in BEFORE_ISSUE_16.items():
        assert PRESETS[name].replace(**old_values).fingerprint() == old_print, name


@pytest.mark.slow
def test_fingerprint_is_stable_across_processes():
    code = ("from melwave.audio.config import PRESETS; "
            "print(' '.join(PRESETS[n].fingerprint() for n in sorted(PRESETS)))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""}).stdout.split()
    assert other == [PRESETS[n].fingerprint() for n in sorted(PRESETS)]


def _changed(cfg: MelConfig, name: str):
    """A different valid value for field `name`."""
    value = getattr(cfg, name)
    alternatives = {
        "sample_rate": 44100, "n_fft": 2048, "win_length": 512, "hop_length": 128, "n_mels": 64, "fmin": 30.0,
        "fmax": None, "padding": "center", "pad_mode": "constant", "power": 2.0, "normalized": True,
        "mel_scale": "htk", "mel_norm": "none", "compression": "db", "log_clamp": 1e-6, "top_db": None,
    }
    new = alternatives[name]
    assert new != value, name
    return new


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(MelConfig)])
def test_fingerprint_and_diff_see_every_field(name):
    base = PRESETS["hifigan-22k"]
    other = base.replace(**{name: _changed(base, name)})
    assert other.fingerprint() != base.fingerprint()
    assert set(base.diff(other)) == {name}
    with pytest.raises(MelConfigMismatch, match=name) as info:
        base.require_same(other)
    assert isinstance(info.value, MelwaveError)
    base.require_same(base.replace())  # equal: no error


def test_diff_names_all_differing_fields():
    a, b = PRESETS["hifigan-22k"], PRESETS["cwgan-22k"]
    assert set(a.diff(b)) == {"n_mels", "fmax", "pad_mode", "power", "mel_scale", "mel_norm", "compression"}
    assert a.diff(b)["n_mels"] == (80, 128)


@given(mel_configs(), st.integers(1, 200_000))
@settings(max_examples=60, deadline=None)
def test_num_frames_and_min_samples_are_consistent(cfg: MelConfig, num_samples: int):
    frames = cfg.num_frames(num_samples)
    assert frames >= 0
    if num_samples >= cfg.min_samples():
        assert frames >= 1
    assert cfg.num_frames(cfg.min_samples()) >= 1
