"""GOMIN's diffusion checkpoint (checkpoints/diffusion_state_dict.pt) and sampler, exact.

GOMIN is not installable from a package registry: tests/goldens/gomin_diffusion/golden.json was
made by make_golden.py beside it from a checkout of ryeoat3/gomin, running its
own GomiDiff and its DiffusionWrapper's loop with diffusers' DDPMScheduler. It holds the
full-size checkpoint's names and shapes, and a small network's output and sampled audio for
weights that follow a seeded rule (no tensors of GOMIN's are stored).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import melwave
from melwave.audio.config import PRESETS
from melwave.models.diffusion.schedule import NoiseSchedule, NoiseScheduleConfig
from melwave.models.vocoders.diffwave import DIFFWAVE_CONFIGS, DiffWave
from repo_paths import GOLDENS

GOLDEN = GOLDENS / "gomin_diffusion"


def _script():
    """The make_golden.py beside the golden file: its seeded rule and inputs are the ones GOMIN ran on."""
    spec = importlib.util.spec_from_file_location("gomin_diffusion_golden", GOLDEN / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_golden = _script()
HOP, inputs, seeded_state = _golden.HOP, _golden.inputs, _golden.seeded_state
FIXTURE = json.loads((GOLDEN / "golden.json").read_text())


def small_checkpoint(tmp_path) -> Path:
    state = seeded_state([(name, shape) for name, shape in FIXTURE["small_names"]])
    path = tmp_path / "diffusion_state_dict.pt"
    torch.save({f"model.{name}": value for name, value in state.items()}, path)
    return path


def small_mel_config():
    return PRESETS["gomin-24k"].replace(n_mels=FIXTURE["small_config"]["in_channels"])


def test_full_size_key_layout_loads_with_sizes_from_shapes(tmp_path):
    state = {name: torch.zeros(shape) for name, shape in FIXTURE["full_names"]}
    torch.save(state, tmp_path / "diffusion_state_dict.pt")
    model = melwave.load_vocoder(tmp_path / "diffusion_state_dict.pt")
    assert isinstance(model, DiffWave) and model.provenance["layout"] == "gomin-diffusion"
    config = model.config
    assert (config.residual_layers, config.residual_channels, config.dilation_cycle, config.film_every) == (30, 128, 10, 10)
    assert (config.sampler, config.inference_steps, config.clip_sample) == ("ddpm", 50, True)
    assert model.mel_config == PRESETS["gomin-24k"]
    # Every stored tensor has a place in melwave's network and the reverse: parameter count equal.
    assert sum(t.numel() for t in state.values()) == sum(p.numel() for p in model.parameters())


@pytest.mark.float_sensitive
def test_network_output_equals_gomins(tmp_path):
    model = melwave.load_vocoder(small_checkpoint(tmp_path), mel_config=small_mel_config())
    mel, noise = inputs()
    with torch.no_grad():
        got = model.network(noise, torch.tensor([FIXTURE["step"]]), mel)[0]
    expected = torch.tensor(FIXTURE["network_output"])
    # Same network; skip sums in another order, fixture rounded to 1e-7: float32 rounding only.
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()


@pytest.mark.float_sensitive
def test_sampled_audio_equals_gomins_with_the_same_seed(tmp_path):
    model = melwave.load_vocoder(small_checkpoint(tmp_path), mel_config=small_mel_config())
    mel, _ = inputs()
    got = model.with_sampling(seed=FIXTURE["seed"])(mel)[0]
    expected = torch.tensor(FIXTURE["sampled_audio"])
    assert got.shape == expected.shape == (FIXTURE["frames"] * HOP,)
    # 50 steps; float64 (melwave) vs float32 (diffusers) schedule tables and float32 network
    # rounding: far below 1e-4 of the peak.
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_gomin_named_config_is_gomins_sampler():
    config = DIFFWAVE_CONFIGS["gomin"]
    assert (config.sampler, config.inference_steps, config.clip_sample) == ("ddpm", 50, True)
    assert (config.schedule.num_train_steps, config.schedule.beta_start, config.schedule.beta_end) == (50, 1e-4, 0.05)


@pytest.fixture(scope="module")
def diffusers_ddpm():
    if importlib.util.find_spec("diffusers") is None:
        pytest.skip("diffusers is not installed (scripts/setup.sh installs it)")
    from diffusers import DDPMScheduler

    return DDPMScheduler


@pytest.mark.float_sensitive
@pytest.mark.parametrize("clip", [True, False])
def test_step_ddpm_equals_diffusers(diffusers_ddpm, clip):
    """Every one of the 50 steps of diffusers' DDPMScheduler.step, on random ε̂ and the same noise."""
    theirs = diffusers_ddpm(beta_start=1e-4, beta_end=0.05, num_train_timesteps=50, clip_sample=clip)
    theirs.set_timesteps(50)
    ours = NoiseSchedule(NoiseScheduleConfig(num_train_steps=50, beta_start=1e-4, beta_end=0.05))
    ours.set_timesteps(50)
    assert ours.timesteps.tolist() == theirs.timesteps.tolist()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 300, generator=generator)
    for t in theirs.timesteps.tolist():
        epsilon = torch.randn(x.shape, generator=generator) * 1.5  # large enough that clipping acts
        expected = theirs.step(epsilon, t, x, generator=torch.Generator().manual_seed(t)).prev_sample
        got = ours.step_ddpm(epsilon, t, x, torch.Generator().manual_seed(t), clip_sample=clip)
        # float32 (diffusers) vs float64 (melwave) schedule tables: relative rounding ~1e-6.
        assert (got - expected).abs().max() <= 1e-4 * expected.abs().max(), t
        x = expected
