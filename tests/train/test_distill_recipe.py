"""Distillation: the teacher-target cache, crops aligned with their targets, the phase-aware loss,
and a student that moves toward its teacher."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from melwave.audio.config import PRESETS
from melwave.cli import main
from melwave.data.audio_segments import AudioSegments, PairedSegments
from melwave.errors import ConfigError
from melwave.losses.spectral import CompressedComplexSTFTLoss, MultiResolutionSTFTLoss
from melwave.train.config import load_run_config
from melwave.train.recipe import RecipeContext, get_recipe
from melwave.train.state import TrainState
from melwave.train.teacher import TeacherTargets

from vocoder_train_helpers import CONFIGS, tone

MEL = PRESETS["hifigan-22k"]


def test_compressed_complex_loss_hears_phase_that_magnitude_losses_miss():
    wave = torch.from_numpy(tone(0.5, 22050, 150.0, seed=0))[None]
    complex_loss, magnitude_loss = CompressedComplexSTFTLoss(), MultiResolutionSTFTLoss()
    assert float(complex_loss(wave, wave)) == 0.0
    # A sign flip keeps every magnitude and rotates every phase by π.
    assert float(magnitude_loss(-wave, wave)) < 1e-6
    assert float(complex_loss(-wave, wave)) > 0.1
    # Closer waveforms score lower.
    noise = 0.01 * torch.randn(wave.shape, generator=torch.Generator().manual_seed(0))
    assert float(complex_loss(wave + noise, wave)) < float(complex_loss(wave + 10 * noise, wave))


def _waves():
    return [tone(1.3, 22050, 140.0, seed=0), tone(0.9, 22050, 210.0, seed=1)]


@pytest.mark.float_sensitive
def test_teacher_targets_are_the_teachers_output_and_come_back_from_the_cache(tmp_path, monkeypatch):
    waves, files = _waves(), [tmp_path / "a.wav", tmp_path / "b.wav"]
    teacher = TeacherTargets("griffinlim", MEL, tmp_path / "cache", torch.device("cpu"))
    targets = teacher.targets(waves, files)
    for wave, target in zip(waves, targets):
        assert target.dtype == np.float16 and target.shape == wave.shape
        mel = teacher.extractor(torch.from_numpy(wave)[None])
        direct = teacher.teacher(mel)[0].numpy()[: len(wave)]
        n = min(len(direct), len(wave))
        np.testing.assert_allclose(target[:n].astype(np.float32), direct[:n], atol=2e-3 * np.abs(direct).max() + 1e-3)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2

    def fail(_wave):
        raise AssertionError("recomputed a cached target")

    again = TeacherTargets("griffinlim", MEL, tmp_path / "cache", torch.device("cpu"))
    monkeypatch.setattr(again, "compute", fail)
    for a, b in zip(again.targets(waves, files), targets):
        np.testing.assert_array_equal(a, b)


def test_cache_keys_separate_teachers_mels_and_audio(tmp_path):
    wave = _waves()[0]
    cpu = torch.device("cpu")
    a = TeacherTargets("griffinlim", MEL, tmp_path, cpu)
    other_mel = TeacherTargets("griffinlim", MEL.replace(fmax=7000.0), tmp_path, cpu)
    assert a.path(wave) != other_mel.path(wave)
    assert a.path(wave) != a.path(wave * 0.5)
    assert a.path(wave) == TeacherTargets("griffinlim", MEL, tmp_path, cpu).path(wave.copy())


def test_a_damaged_cache_file_is_recomputed_not_trusted(tmp_path, caplog):
    wave = _waves()[1]
    teacher = TeacherTargets("griffinlim", MEL, tmp_path, torch.device("cpu"))
    good = teacher.targets([wave], [tmp_path / "b.wav"])[0]
    path = teacher.path(wave)
    np.save(path, np.zeros(7, dtype=np.float16))  # wrong length
    with caplog.at_level(logging.WARNING):
        again = teacher.targets([wave], [tmp_path / "b.wav"])[0]
    assert "recomputing" in caplog.text
    np.testing.assert_array_equal(again, good)
    path.write_bytes(b"\x93NUMPY not really")
    np.testing.assert_array_equal(teacher.targets([wave], [tmp_path / "b.wav"])[0], good)


def test_paired_crops_start_on_the_hop_grid_with_their_targets(tmp_path):
    import soundfile as sf

    waves = _waves()
    for name, wave in zip("ab", waves):
        sf.write(tmp_path / f"{name}.wav", wave, 22050)
    segments = AudioSegments(sorted(tmp_path.glob("*.wav")), 22050, 2048)
    targets = [np.asarray(-w, dtype=np.float16) for w in segments.waves]  # any per-file signal
    paired = PairedSegments(segments, targets, align=256)
    for item in [(i, 1000 + i) for i in range(len(paired))]:
        pair = paired[item]
        file_index, start = segments.locate(item, 256)
        assert start % 256 == 0 and pair.shape == (2, 2048)
        np.testing.assert_array_equal(pair[0].numpy(), segments.waves[file_index][start: start + 2048])
        np.testing.assert_array_equal(pair[1].numpy(), targets[file_index][start: start + 2048].astype(np.float32))
    with pytest.raises(ValueError, match="target has"):
        PairedSegments(segments, [t[:-1] for t in targets], align=256)


def test_the_student_moves_toward_its_teacher():
    config = load_run_config(CONFIGS / "melwave-22k.debug.yaml", ["train.learning_rate=0.003"])
    torch.manual_seed(0)
    recipe = get_recipe("distill")(config, RecipeContext(device=torch.device("cpu")))
    recipe.build()
    real = torch.from_numpy(tone(2048 / 22050, 22050, 150.0, seed=0))[None].repeat(2, 1)
    target = torch.roll(real, 37, dims=-1)  # a teacher whose answer differs from the recording
    batch = torch.stack([real, target], dim=1)
    first = recipe.train_step(batch, TrainState())
    # 100 steps, not 60: at 60 the complex-STFT ratio was 0.67-0.72 depending on the thread count
    # (summation order), on the bound; at 100 it is 0.59-0.62 with 1 or 2 threads and generic kernels.
    for step in range(1, 100):
        last = recipe.train_step(batch, TrainState(step=step))
    assert last["complex_stft"] < 0.7 * first["complex_stft"]
    assert last["mel_l1_teacher"] < 0.7 * first["mel_l1_teacher"]


def test_distill_options_refuse_nonsense():
    with pytest.raises(ConfigError, match="complex_weight"):
        load_run_config(CONFIGS / "melwave-22k.debug.yaml", ["recipe.complex_weight=-1"])
    with pytest.raises(ConfigError, match="every loss weight is 0"):
        load_run_config(CONFIGS / "melwave-22k.debug.yaml", ["recipe.complex_weight=0", "recipe.mel_weight=0"])


def test_distill_cli_trains_resumes_and_reuses_the_cache(audio_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the debug config's cache folder is relative
    run = tmp_path / "run"
    args = ["train", "vocoder", "--config", str(CONFIGS / "melwave-22k.debug.yaml"), "--data", str(audio_dir), "--out", str(run)]
    assert main(args) == 0
    cached = sorted((tmp_path / "teacher-cache").glob("*.npy"))
    assert cached and (run / "model.safetensors").is_file()
    stamps = [p.stat().st_mtime_ns for p in cached]
    assert main(args[:-2] + ["--out", str(run), "--resume", "--set", "train.steps=6"]) == 0
    assert [p.stat().st_mtime_ns for p in cached] == stamps  # read back, not rewritten
    from melwave.models.io.load import load_vocoder

    student = load_vocoder(run)
    assert student.family == "vocos" and student(torch.zeros(1, 80, 8)).shape == (1, 8 * 256)
