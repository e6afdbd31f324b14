"""`melwave evaluate vocoder` leads with what people hear: DNSMOS for speech, an embedding
distance for music and general audio, computed by default when their models are installed."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import soundfile as sf

from testsignals import speechlike
from melwave.audio.config import PRESETS
from melwave.errors import MelwaveError
from melwave.metrics.pairs import embedding_distance
from melwave.evaluation.vocoders import dnsmos_installed, evaluate_vocoders, lead_metric
from melwave.models.io.model_file import save_model
from melwave.models.vocoders.vocos import VOCOS_CONFIGS, Vocos
from melwave.utils.optional import MissingDependency, available

needs_models = pytest.mark.skipif(not (dnsmos_installed() and available("aisfx")),
                                  reason="DNSMOS and aisfx are installed by scripts/setup.sh")


@pytest.fixture(scope="module")
def clips_and_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("perceptual")
    sf.write(root / "a.wav", speechlike(2.0, 22050), 22050)
    sf.write(root / "b.wav", speechlike(2.0, 22050, f0=190.0, seed=2), 22050)
    import torch

    torch.manual_seed(0)
    noise = save_model(Vocos(VOCOS_CONFIGS["debug"], PRESETS["hifigan-22k"]), root / "untrained.safetensors")
    return sorted(root.glob("*.wav")), [str(noise), "griffinlim"]  # the untrained one first: sorting must move it


@needs_models
@pytest.mark.parametrize("content, lead", [("speech", "dnsmos_ovrl"), ("music", "emb_dist")])
def test_table_leads_with_the_perceptual_measure_and_sorts_by_it(clips_and_models, content, lead):
    clips, models = clips_and_models
    # DNSMOS costs seconds per clip: music (which does not lead with it) skips it.
    evaluation = evaluate_vocoders(models, clips, progress=False, content=content, dnsmos=content == "speech")
    assert evaluation.lead == lead and evaluation.headers[3] == lead
    assert {"emb_dist", "fd_emb"} <= set(evaluation.metrics)
    assert ({"dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"} <= set(evaluation.metrics)) == (content == "speech")
    # Given untrained first, Griffin-Lim (a real inversion) must come out on top by either measure.
    assert [s.model for s in evaluation.summaries] == ["griffinlim", "untrained"]
    best, worst = evaluation.summaries
    if lead == "dnsmos_ovrl":
        assert 1.0 <= worst.means[lead] < best.means[lead] <= 5.0
    else:
        assert 0.0 <= best.means[lead] < worst.means[lead]
    assert best.means["fd_emb"] < worst.means["fd_emb"]
    notes = evaluation.to_json()["what_metrics_reward"]
    assert set(notes) == set(evaluation.metrics) and all(notes.values()) and "phase" in notes["pesq"]


@pytest.mark.float_sensitive
def test_embedding_distance_is_zero_for_the_same_sound_and_grows_with_difference():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 16))
    assert embedding_distance(a, a) == pytest.approx(0.0, abs=1e-12)
    assert embedding_distance(a, a[::-1]) == pytest.approx(0.0, abs=1e-12)  # order of blocks does not matter
    assert embedding_distance(a, -a) == pytest.approx(2.0)
    assert 0 < embedding_distance(a, a + rng.normal(size=a.shape)) < 2
    assert math.isnan(embedding_distance(np.zeros((2, 4)), a[:, :4]))


def test_lead_falls_back_to_an_intrusive_measure_when_no_perceptual_one_runs():
    assert lead_metric("speech", ["pesq", "stoi"]) == "pesq"
    assert lead_metric("music", ["pesq", "mr_stft"]) == "mr_stft"
    assert lead_metric("speech", ["emb_dist", "pesq"]) == "emb_dist"
    assert lead_metric("general", ["dnsmos_ovrl", "emb_dist", "pesq"]) == "emb_dist"


def test_dnsmos_by_default_only_when_installed_and_required_when_asked(clips_and_models, monkeypatch):
    clips, _ = clips_and_models
    for name in [m for m in sys.modules if m == "speechmos" or m.startswith("speechmos.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "speechmos", None)
    evaluation = evaluate_vocoders(["griffinlim"], clips[:1], progress=False, embedding="none")
    assert not any(m.startswith("dnsmos") for m in evaluation.metrics) and evaluation.lead == "pesq"
    with pytest.raises(MissingDependency, match="speechmos.*melwave\\[eval\\]"):
        evaluate_vocoders(["griffinlim"], clips[:1], progress=False, embedding="none", dnsmos=True)
    with pytest.raises(MelwaveError, match="content 'speach'"):
        evaluate_vocoders(["griffinlim"], clips[:1], progress=False, content="speach")
