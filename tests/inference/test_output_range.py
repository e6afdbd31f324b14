"""Generated sound stays within bounds: cwgan's tanh output inside the data's range, flow's clamp,
the peak limiter of `melwave generate` (and --no-limit's count of clipped clips), and --seconds."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import soundfile as sf
import torch

from melwave.audio.config import PRESETS
from melwave.cli import main
from melwave.errors import ConfigError
from melwave.inference.generate import LimitReport, SamplePlan, check_seconds, write_samples
from melwave.inference.limiter import ceiling_amplitude, limit_peaks
from melwave.models.generators.cwgan import CONFIGS, CWGANGenerator
from melwave.models.generators.flow import CONFIGS as FLOW_CONFIGS, FlowGenerator
from melwave.models.io.model_file import load_model, save_model

CONDITIONS = ({"name": "word", "values": ["yes", "no"]}, {"name": "voice", "values": ["low", "high"]})
MEL = PRESETS["hifigan-22k"]
LOW, HIGH = torch.linspace(-11.5, -9.0, 80), torch.linspace(-1.0, -0.05, 80)


def loud_cwgan(output: str) -> CWGANGenerator:
    """A debug cwgan whose weights are scaled up: its untrained output swings far past any data."""
    torch.manual_seed(0)
    model = CWGANGenerator(dataclasses.replace(CONFIGS["debug"], conditions=CONDITIONS, output=output), MEL)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(40)
    model.set_statistics(torch.full((80,), -6.0), torch.full((80,), 2.0), frames=100)
    if output == "tanh":
        model.set_range(LOW, HIGH)
    return model.eval()


def test_cwgan_tanh_output_stays_in_the_data_range_where_linear_does_not():
    labels = torch.tensor([[0, 0], [1, 1], [0, 1], [1, 0]])
    z = 3 * torch.randn(4, 8)
    linear = loud_cwgan("linear").generate(labels, z)
    assert bool((linear > HIGH[None, :, None] + 1).any())          # the failure the option exists for
    bounded = loud_cwgan("tanh").generate(labels, z)
    assert bool((bounded <= HIGH[None, :, None] + 1e-5).all()) and bool((bounded >= LOW[None, :, None] - 1e-5).all())
    # Saturated everywhere: both ends of the range are reached, so the range really is the output's.
    assert torch.isclose(bounded.amax(dim=(0, 2)), HIGH, atol=1e-3).float().mean() > 0.5


@pytest.mark.float_sensitive
def test_unit_range_round_trip_and_training_units():
    model = loud_cwgan("tanh")
    mel = LOW[None, :, None] + (HIGH - LOW)[None, :, None] * torch.rand(2, 80, 16)
    unit = model.normalize(mel)
    assert unit.min() >= -1 and unit.max() <= 1
    torch.testing.assert_close(model.denormalize(unit), mel)


def test_range_buffers_survive_the_model_file_and_only_exist_when_asked(tmp_path):
    model = loud_cwgan("tanh")
    loaded = load_model(save_model(model, tmp_path / "g.safetensors"))
    torch.testing.assert_close(loaded.mel_high, HIGH)
    assert loaded.has_range
    plain = CWGANGenerator(dataclasses.replace(CONFIGS["debug"], conditions=CONDITIONS), MEL)
    assert "mel_low" not in plain.state_dict() and not plain.has_range          # existing layouts unchanged


def test_flow_clamp_to_data():
    torch.manual_seed(0)
    config = dataclasses.replace(FLOW_CONFIGS["debug"], conditions=CONDITIONS, clamp_to_data=True)
    model = FlowGenerator(config, MEL)
    model.set_statistics(torch.full((80,), -6.0), torch.full((80,), 30.0), frames=100)  # wild spread: noise lands far out
    labels = torch.tensor([[0, 0], [1, 1]])
    free = FlowGenerator(dataclasses.replace(config, clamp_to_data=False), MEL)
    free.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("mel_low") and not k.startswith("mel_high")})
    assert bool((free.eval().generate(labels, generator=torch.Generator().manual_seed(1)) > HIGH[None, :, None]).any())
    model.set_range(LOW, HIGH)
    mel = model.eval().generate(labels, generator=torch.Generator().manual_seed(1))
    assert bool((mel <= HIGH[None, :, None] + 1e-6).all()) and bool((mel >= LOW[None, :, None] - 1e-6).all())


@pytest.mark.float_sensitive
def test_limit_peaks_turns_down_only_loud_clips_to_the_ceiling():
    waves = torch.stack([torch.sin(torch.linspace(0, 60, 1000)) * a for a in (0.5, 1.0, 3.0)])
    limited_waves, limited = limit_peaks(waves)
    assert limited.tolist() == [False, True, True]
    torch.testing.assert_close(limited_waves[0], waves[0])
    ceiling = ceiling_amplitude()
    for i in (1, 2):
        assert abs(float(limited_waves[i].abs().max()) - ceiling) < 1e-6
        torch.testing.assert_close(limited_waves[i] / limited_waves[i].abs().max(), waves[i] / waves[i].abs().max())


class LoudVocoder:
    """A stand-in vocoder: a 440 Hz tone per clip, every second one at 4× full scale."""

    device = torch.device("cpu")
    mel_config = MEL

    def synthesize(self, mels, mel_config):
        samples = mels.shape[-1] * mel_config.hop_length
        tone = torch.sin(torch.arange(samples) * 2 * torch.pi * 440 / mel_config.sample_rate)
        return torch.stack([tone * (4.0 if i % 2 else 0.5) for i in range(len(mels))])


def plans(n: int) -> list[SamplePlan]:
    return [SamplePlan(f"clip_{i:03d}", {"word": "yes", "voice": "low"}) for i in range(n)]


def test_generated_audio_is_limited_by_default_and_counted(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="melwave")
    report = LimitReport()
    write_samples(loud_cwgan("tanh"), plans(4), tmp_path / "a", vocoder=LoudVocoder(), images=False, progress=False,
                  report=report)
    assert (report.clips, report.limited, report.clipped) == (4, 2, 0)
    peaks = [float(abs(sf.read(tmp_path / "a" / f"clip_{i:03d}.wav")[0]).max()) for i in range(4)]
    assert all(p < 0.9 for p in peaks) and abs(peaks[1] - ceiling_amplitude()) < 1e-3
    assert "peak limiter: 2 of 4 clips" in caplog.text

    caplog.clear()
    report = LimitReport()
    write_samples(loud_cwgan("tanh"), plans(4), tmp_path / "b", vocoder=LoudVocoder(), images=False, progress=False,
                  report=report, limit=False)
    assert (report.limited, report.clipped) == (0, 2)
    assert "2 of 4 clips reach full scale and are hard-clipped" in caplog.text


def test_seconds_cuts_clips_and_refuses_more_than_the_model_makes(tmp_path):
    model = loud_cwgan("tanh")                                  # 16 frames: 0.19 s
    write_samples(model, plans(1), tmp_path / "c", vocoder=LoudVocoder(), images=False, progress=False, seconds=0.1)
    wave, rate = sf.read(tmp_path / "c" / "clip_000.wav")
    assert len(wave) == round(0.1 * rate)
    with pytest.raises(ConfigError, match=r"--seconds 1: .* makes at most 0\.19 s"):
        check_seconds(model, 1.0)
    with pytest.raises(ConfigError, match="--seconds"):
        check_seconds(model, 0.0)


def test_generate_cli_seconds_and_no_limit(tmp_path):
    model_file = save_model(loud_cwgan("tanh"), tmp_path / "g.safetensors")
    out = tmp_path / "out"
    assert main(["generate", "-m", str(model_file), "-o", str(out), "--vocoder", "griffinlim", "-n", "2",
                 "--seconds", "0.15", "--no-images"]) == 0
    for path in out.glob("*.wav"):
        wave, rate = sf.read(path)
        assert len(wave) == round(0.15 * rate) and abs(wave).max() <= ceiling_amplitude() + 1e-4
    assert main(["generate", "-m", str(model_file), "-o", str(tmp_path / "x"), "--vocoder", "griffinlim",
                 "--seconds", "5"]) == 2
