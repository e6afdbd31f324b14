"""Every registered model family against a published size.

A family missing from PUBLISHED fails `test_every_family_has_a_published_size`: a new family must
say what its size should be before it is trusted. Published means the paper that defines the
architecture, or, for melwave's own conditional families, the model card of the shipped model
(whose stated count is parsed from the card, so card and file cannot drift apart).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from melwave.audio.config import PRESETS
from melwave.models.base import Vocoder
from melwave.models.io.model_file import read_header
from melwave.models.io.registry import families, family_class

from _vocoder_checks import build_on_meta, keras_param_count, param_count
from repo_paths import REPO

PRETRAINED = REPO / "melwave" / "pretrained"


def _card_count(card: Path, pattern: str) -> int:
    """The parameter count a model card states, e.g. '465,665 parameters' after `pattern`."""
    # Within the card's bullet that starts with `pattern` (bullets may wrap over lines).
    match = re.search(r"^- " + pattern + r"(?:(?!\n- ).)*?([\d,]{5,}) parameters", card.read_text(encoding="utf-8"), re.S | re.M)
    assert match, f"{card}: states no parameter count after {pattern!r}"
    return int(match.group(1).replace(",", ""))


def _without(prefix: str):
    """Count only parameters whose name does not start with `prefix` (melwave's additions)."""
    return lambda model: sum(p.numel() for name, p in model.named_parameters() if not name.startswith(prefix))


def _shipped(family: str, file: str):
    """Build a shipped model's architecture (conditions included) from its header, on meta."""
    header = read_header(PRETRAINED / file)
    assert header["family"] == family
    return lambda: family_class(family).from_config(header["model_config"], PRESETS["hifigan-22k"])


# DeepMelSpectrogramGenerator's condition vocabularies (config_CWGAN_GP.yaml: drill angle 3 × drill
# force 4; config_Sh_CWGAN_GP.yaml, the strips: drill force 4).
_DRILL = ({"name": "drill_angle", "values": ["sm", "lg", "v"]}, {"name": "drill_force", "values": ["0", "1", "2", "3"]})


def _cwgan_source(preset: str, conditions: tuple, mel: str):
    """A `cwgan` named config of the DeepMel source, with the source's vocabulary, on meta."""
    import dataclasses

    cls = family_class("cwgan")
    return lambda: cls(dataclasses.replace(cls.named_configs[preset], conditions=conditions), PRESETS[mel])


def _flow_small_notes():
    """The `flow` family's `small` preset with the notes vocabulary (8 instruments × 24 pitches × 3 velocities)."""
    import dataclasses

    cls = family_class("flow")
    notes = tuple({"name": n, "values": [str(i) for i in range(k)]} for n, k in (("instrument", 8), ("pitch", 24), ("velocity", 3)))
    return lambda: cls(dataclasses.replace(cls.named_configs["small"], conditions=notes), PRESETS["hifigan-22k"])


# No flow model is published yet: its `small` preset counted by hand from flow.py's architecture
# (80 mels, 64 frames, dim 192, MLP 576, 6 blocks of kernel 7, cond 256, 64 time features).
_FLOW_SMALL = (80 * 192 + 192 + 192 * 64                       # 1×1 conv in, position embedding
               + 64 * 256 + 256 + 256 * 256 + 256              # time MLP
               + (9 + 25 + 4) * 256                            # label embeddings, one null row each
               + 6 * (192 * 7 + 192 + 2 * 192 + 192 * 576 + 576 + 576 * 192 + 192 + 256 * 3 * 192 + 3 * 192)  # blocks
               + 2 * 192 + 192 * 80 + 80)                      # final norm, 1×1 conv out

# family -> [(what is built, how it is counted, published count (or where to read it), relative tolerance, source)]
PUBLISHED: dict[str, list[tuple]] = {
    "hifigan": [("v1", param_count, 13.92e6, 0.005, "Kong et al. 2020 (HiFi-GAN), Table 1"),
                ("v2", param_count, 0.92e6, 0.01, "Kong et al. 2020, Table 1"),
                ("v3", param_count, 1.46e6, 0.01, "Kong et al. 2020, Table 1")],
    "melgan": [("melgan", param_count, 4.26e6, 0.005, "Kong et al. 2020, Table 1 (MelGAN)"),
               # Counted as Keras counts the tutorial's weight-normed model (see keras_param_count);
               # its last conv keeps TFA's default data_init=True, hence a second kernel + bias.
               ("melgan-keras", lambda m: keras_param_count(m.apply_weight_norm(), data_init=(m.conv_post,)),
                4_646_912, 0, "MelGAN Keras tutorial, generator.summary() Total params")],
    "vocos": [("vocos", param_count, 13.5e6, 0.005, "Siuzdak 2023 (Vocos), Table 1")],
    "diffwave": [("base", param_count, 2.64e6, 0.01, "Kong et al. 2021 (DiffWave BASE, 64 channels)")],
    # GOMIN is BigVGAN plus FiLM after every upsampling stage: without the FiLM layers it is
    # BigVGAN's 112M (Lee et al. 2023, Table 1; 128 instead of 100 mels adds 0.3M to conv_pre).
    "gomin-gan": [("gomin", _without("film"), 112e6, 0.01, "Lee et al. 2023 (BigVGAN), Table 1")],
    # The paper's Table 1 says 1.44M; the generator it describes (the toolkit's parallel_wavegan.v1,
    # which builds the same 1,334,309 parameters: tests/models/io/test_pwg.py) is 7.3% smaller.
    "parallel-wavegan": [("parallel-wavegan", param_count, 1.44e6, 0.08, "Yamamoto et al. 2020 (Parallel WaveGAN), Table 1")],
    "pwg-toolkit": [("parallel-wavegan", param_count, 1.44e6, 0.08, "Yamamoto et al. 2020 (Parallel WaveGAN), Table 1")],
    # No weights: the algorithm (Griffin & Lim 1984) is the whole vocoder.
    "griffinlim": [(None, param_count, 0, 0, "Griffin & Lim 1984")],
    "cwgan": [(_shipped("cwgan", "cwgan-notes/model.safetensors"), param_count,
               lambda: _card_count(PRETRAINED / "cwgan-notes" / "README.md", "Generator"), 0, "cwgan-notes model card"),
              (_cwgan_source("source", _DRILL, "cwgan-22k"), param_count, 7_490_544, 0, "DeepMelSpectrogramGenerator code"),
              (_cwgan_source("strips-source", _DRILL[1:], "cwgan-strips-22k"), param_count, 8 * 5_776_704, 0,
               "DeepMelSpectrogramGenerator code")],
    "flow": [(_flow_small_notes(), param_count, _FLOW_SMALL, 0, "flow.py's architecture, counted by hand")],
    "mel-classifier": [(_shipped("mel-classifier", "cwgan-notes/classifier.safetensors"), param_count,
                        lambda: _card_count(PRETRAINED / "cwgan-notes" / "README.md", "Classifier"), 0, "cwgan-notes model card")],
}


def test_every_family_has_a_published_size():
    unpublished = sorted(set(families()) - set(PUBLISHED))
    assert not unpublished, f"families without a published size to test against: {unpublished}"
    assert not set(PUBLISHED) - set(families()), "PUBLISHED names a family the registry does not know"


def _build(family: str, what):
    cls = family_class(family)
    if callable(what):
        return build_on_meta(what)
    if what is None:  # Griffin-Lim: built from a MelConfig alone
        return build_on_meta(lambda: cls(mel_config=PRESETS["hifigan-22k"]))
    return build_on_meta(lambda: cls(cls.named_configs[what], PRESETS[cls.default_mel_preset]))


@pytest.mark.parametrize("family, index", [(f, i) for f, entries in PUBLISHED.items() for i in range(len(entries))])
def test_size_matches_the_published_one(family, index):
    what, count, published, tolerance, source = PUBLISHED[family][index]
    published = published() if callable(published) else published
    got = count(_build(family, what))
    assert abs(got - published) <= tolerance * published, f"{family}: {got:,} parameters, {source} says {published:,.0f}"


def test_every_named_vocoder_config_builds_with_its_family_default_mel():
    # Conditional families are built from data (conditions); the shipped ones are covered above.
    checked = 0
    for family in families():
        cls = family_class(family)
        if not issubclass(cls, Vocoder) or not cls.named_configs:
            continue
        assert "debug" in cls.named_configs, f"{family}: no tiny 'debug' config for tests"
        for name, config in cls.named_configs.items():
            model = build_on_meta(lambda: cls(config, PRESETS[cls.default_mel_preset]))
            assert model.config == config and model.family == family, (family, name)
            checked += 1
    assert checked >= 9 + 4  # hifigan v1/v2/v3/debug included
