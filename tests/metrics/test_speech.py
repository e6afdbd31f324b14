import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import pytest

from testsignals import speechlike
from melwave.audio.io import resample
from melwave.metrics import speech
from melwave.metrics.pairs import PAIR_METRICS, pair_metrics
from melwave.metrics.pitch import track_pitch
from melwave.metrics.spectral import mel_l1, multi_resolution_stft_distance

RATE = 16000


def noise_like(x, seed=1):
    return (np.random.default_rng(seed).normal(size=len(x)) * x.std()).astype(np.float32)


def test_pesq_stoi_high_for_identity_low_for_noise(speech16):
    assert speech.pesq_wb(speech16, speech16, RATE) > 4.4
    assert speech.stoi(speech16, speech16, RATE) > 0.99
    noisy = noise_like(speech16)
    assert speech.pesq_wb(speech16, noisy, RATE) < 1.5
    assert speech.stoi(speech16, noisy, RATE) < 0.4


def test_pesq_and_stoi_decrease_with_added_noise(speech16):
    noise = noise_like(speech16, seed=3)
    pesq = [speech.pesq_wb(speech16, speech16 + level * noise, RATE) for level in (0.01, 0.1, 0.5)]
    stoi = [speech.stoi(speech16, speech16 + level * noise, RATE) for level in (0.01, 0.1, 0.5)]
    assert pesq[0] > pesq[1] > pesq[2]
    assert stoi[0] > stoi[1] > stoi[2]


def test_mcd_zero_for_identity_and_grows_with_distortion(speech16):
    assert speech.mel_cepstral_distortion(speech16, speech16, RATE) == pytest.approx(0.0, abs=1e-9)
    low = speech.mel_cepstral_distortion(speech16, speech16 + 0.02 * noise_like(speech16), RATE)
    high = speech.mel_cepstral_distortion(speech16, speech16 + 0.3 * noise_like(speech16), RATE)
    assert 0 < low < high
    assert speech.mel_cepstral_distortion(speech16, speech16, RATE, dtw=True) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("f0", [82.0, 196.0, 440.0, 880.0])
def test_pitch_tracker_recovers_a_tone(f0):
    t = np.arange(RATE) / RATE
    tone = 0.5 * np.sin(2 * np.pi * f0 * t) + 0.25 * np.sin(2 * np.pi * 2 * f0 * t + 1.0)
    tone[: RATE // 4] = 0  # a silent lead-in must come out unvoiced
    track = track_pitch(tone, RATE)
    voiced = track.f0[track.voiced]
    cents = 1200 * np.abs(np.log2(voiced / f0))
    assert np.median(cents) < 5
    assert track.voiced[5:20].sum() == 0 and track.voiced[40:90].all()
    assert track.periodicity[40:90].min() > 0.9


def test_pitch_tracker_calls_noise_unvoiced():
    track = track_pitch(np.random.default_rng(0).normal(size=RATE), RATE)
    assert track.voiced.mean() < 0.05


def test_pitch_scores_detect_a_transposition(speech16):
    same = speech.pitch_scores(speech16, speech16, RATE)
    assert same.f0_rmse_cents == pytest.approx(0.0, abs=1e-6) and same.vuv_f1 == 1.0 and same.periodicity_rmse == 0.0
    up = speechlike(f0=140.0 * 2 ** (100 / 1200))  # +100 cents
    shifted = speech.pitch_scores(speech16, up, RATE)
    assert 80 < shifted.f0_rmse_cents < 120


def test_alignment_recovers_a_delay(speech16):
    for delay in (37, -53, 0):
        late = np.roll(speech16, delay)
        _, _, lag = speech.align(speech16, late, RATE, max_lag_ms=10)
        assert abs(lag - delay) <= 2


def test_spectral_distances_zero_for_identity(speech16):
    x = resample(speech16, RATE, 22050)
    assert multi_resolution_stft_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    assert mel_l1(x, x) == 0.0
    assert multi_resolution_stft_distance(x, 0.5 * x) > 0.1
    assert mel_l1(x, 0.5 * x) == pytest.approx(math.log(2), rel=0.05)  # a -6 dB gain is ln 2 on log-magnitude mels


def test_pair_metrics_report_short_clips_instead_of_crashing(speech16):
    result = pair_metrics(speech16[:3000], RATE, speech16[:3000], RATE)  # 0.19 s
    assert math.isnan(result.values["pesq"]) and "shorter" in result.notes["pesq"]
    assert math.isnan(result.values["stoi"]) and "shorter" in result.notes["stoi"]
    assert result.values["mcd"] == pytest.approx(0.0, abs=1e-9)
    tiny = pair_metrics(speech16[:200], RATE, speech16[:200], RATE)
    assert set(tiny.values) == set(PAIR_METRICS)
    assert all(math.isnan(v) for v in tiny.values.values()) and all("too short" in n for n in tiny.notes.values())


def test_pair_metrics_handle_different_rates(speech16):
    # The output at another rate (as a 22.05 kHz vocoder's would be) is resampled, not misread.
    result = pair_metrics(speech16, RATE, resample(speech16, RATE, 22050), 22050)
    assert result.values["pesq"] > 4.3 and result.values["stoi"] > 0.98 and result.values["mcd"] < 0.3


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("speechmos") is None or importlib.util.find_spec("onnxruntime") is None,
                    reason="optional DNSMOS needs speechmos (--no-deps) and onnxruntime")
@pytest.mark.skipif(not os.environ.get("MELWAVE_SPEECH_DIR"), reason="set MELWAVE_SPEECH_DIR to a folder of recorded speech")
def test_dnsmos_prefers_clean_speech_over_noisy():
    from melwave.audio.io import load_audio

    clip = sorted(p for p in Path(os.environ["MELWAVE_SPEECH_DIR"]).rglob("*") if p.suffix in (".wav", ".ogg", ".flac", ".opus"))[0]
    wave = load_audio(clip, RATE).wave[: 6 * RATE]
    clean = speech.dnsmos_overall(wave, RATE)
    noisy = speech.dnsmos_overall(0.7 * wave + 0.1 * noise_like(wave), RATE)
    assert 1.0 <= noisy < clean <= 5.0
