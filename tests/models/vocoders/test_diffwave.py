import pytest
import torch

from melwave.audio.config import PRESETS
from melwave.errors import ConfigError
from melwave.models.diffusion import NoiseScheduleConfig
from melwave.models.vocoders.diffwave import DIFFWAVE_CONFIGS, DiffWave, DiffWaveConfig

from _vocoder_checks import build_on_meta, check_save_load, check_shapes, param_count


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return DiffWave(DIFFWAVE_CONFIGS["debug"], PRESETS["hifigan-22k"]).eval()


def test_full_size_parameter_counts():
    # DiffWave BASE: 2.64M (30 layers, 64 channels, 80 mels).
    base = param_count(build_on_meta(lambda: DiffWave(DIFFWAVE_CONFIGS["base"], PRESETS["hifigan-22k"])))
    assert 2.6e6 < base < 2.7e6, base
    gomin = build_on_meta(lambda: DiffWave(DIFFWAVE_CONFIGS["gomin"], PRESETS["gomin-24k"]))
    assert len(gomin.network.layers) == 30 and len(gomin.network.films) == 3
    assert 7.2e6 < param_count(gomin) < 7.5e6


def test_shapes_and_seeded_determinism(tiny):
    check_shapes(tiny, [1, 2, 7, 13])
    mel = torch.randn(1, 80, 5)
    assert torch.equal(tiny(mel), tiny(mel))
    assert not torch.equal(tiny(mel, seed=1), tiny(mel, seed=2))
    assert tiny(mel).abs().max() <= 1.0


def test_full_reverse_process_runs_every_training_step(tiny, monkeypatch):
    seen = []
    forward = tiny.network.forward
    monkeypatch.setattr(tiny.network, "forward", lambda x, t, mel: seen.append(int(t[0])) or forward(x, t, mel))
    tiny(torch.randn(1, 80, 2), steps=tiny.config.schedule.num_train_steps)
    assert seen == list(range(7, -1, -1))
    seen.clear()
    tiny(torch.randn(1, 80, 2))
    assert len(seen) == tiny.config.inference_steps == 3


def test_save_load_round_trip_keeps_schedule_and_sampler(tiny, tmp_path):
    check_save_load(tiny, tmp_path)
    from melwave.models.io.model_file import load_model, save_model

    cfg = DiffWaveConfig(residual_layers=2, residual_channels=4, dilation_cycle=2, film_every=1,
                         schedule=NoiseScheduleConfig(num_train_steps=10, interpolation=0.4),
                         inference_steps=4, eta=0.5, seed=7)
    model = DiffWave(cfg, PRESETS["hifigan-22k"])
    loaded = load_model(save_model(model, tmp_path / "other.safetensors"))
    assert loaded.config == cfg and loaded.schedule.config.interpolation == 0.4
    torch.testing.assert_close(loaded.schedule.betas, model.schedule.betas)


def test_network_film_responds_to_mel_scale(tiny):
    net = tiny.network
    with torch.no_grad():
        net.output_proj.weight.normal_(0, 0.5)  # zero at init: make ε̂ visible
        for film in net.films:
            film.proj.weight.normal_(0, 0.5)
        # Leave FiLM as the only way the mel reaches the residual layers.
        for layer in net.layers:
            layer.mel_proj.weight.zero_()
            layer.mel_proj.bias.zero_()
        x, t, mel = torch.randn(1, 5 * 256), torch.tensor([3]), torch.rand(1, 80, 5)
        a, b = net(x, t, mel), net(x, t, 1.5 * mel)
        assert (a - b).abs().max() > 1e-3
        for film in net.films:
            film.proj.weight.zero_()
            film.proj.bias.zero_()
        torch.testing.assert_close(net(x, t, mel), net(x, t, 1.5 * mel))


def test_rejects_bad_configs():
    with pytest.raises(ConfigError, match="layers"):
        DiffWave.from_config({"layers": 3}, PRESETS["hifigan-22k"])
    with pytest.raises(ConfigError, match="schedule.*bogus"):
        DiffWave.from_config({"schedule": {"bogus": 1}}, PRESETS["hifigan-22k"])
    with pytest.raises(ConfigError, match="inference_steps"):
        DiffWaveConfig(inference_steps=51)
    with pytest.raises(ConfigError, match="hop_length"):
        DiffWave(DiffWaveConfig(upsample_strides=(16, 8)), PRESETS["hifigan-22k"])
