"""`melwave generate`: mel + wav + png per sample and labels.csv; bad conditions list the valid ones;
--all sweeps; outputs are never overwritten without --overwrite; same seed, same sounds."""

from __future__ import annotations

import csv
import dataclasses

import pytest
import soundfile as sf
import torch

from melwave.audio.config import PRESETS
from melwave.audio.melfile import load_mel
from melwave.cli import main
from melwave.inference.generate import demo_grid
from melwave.models.generators.cwgan import CONFIGS, CWGANGenerator
from melwave.models.io.model_file import save_model

CONDITIONS = ({"name": "instrument", "values": ["piano", "flute"]}, {"name": "velocity", "values": ["soft", "medium", "loud"]})


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    model = CWGANGenerator(dataclasses.replace(CONFIGS["debug"], conditions=CONDITIONS), PRESETS["hifigan-22k"])
    model.set_statistics(torch.full((80,), -6.0), torch.full((80,), 2.0), frames=100)
    return save_model(model, tmp_path_factory.mktemp("model") / "g.safetensors")


def run(model_file, out, *extra):
    return main(["generate", "-m", str(model_file), "-o", str(out), "--vocoder", "griffinlim", *extra])


def test_writes_mel_wav_png_and_labels(model_file, tmp_path):
    out = tmp_path / "out"
    assert run(model_file, out, "--condition", "instrument=flute", "--condition", "velocity=loud", "-n", "3") == 0
    stems = sorted(p.stem for p in out.glob("*.wav"))
    assert stems == [f"instrument-flute_velocity-loud_{i:03d}" for i in range(3)]
    for stem in stems:
        mel = load_mel(out / f"{stem}.pt")
        assert mel.config == PRESETS["hifigan-22k"] and mel.mel.shape == (80, 16)
        wave, rate = sf.read(out / f"{stem}.wav")
        assert rate == 22050 and len(wave) == 16 * 256
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((out / "labels.csv").open()))
    assert rows[0] == {"path": f"{stems[0]}.wav", "instrument": "flute", "velocity": "loud"}


def test_bad_conditions_list_the_valid_ones(model_file, tmp_path, capsys):
    assert run(model_file, tmp_path / "a", "--condition", "instrument=kazoo") == 2
    assert "unknown value 'kazoo'; valid: piano, flute" in capsys.readouterr().err
    assert run(model_file, tmp_path / "a", "--condition", "pitch=C4") == 2
    assert "instrument = piano|flute; velocity = soft|medium|loud" in capsys.readouterr().err
    assert run(model_file, tmp_path / "a", "--condition", "instrument") == 2
    assert not (tmp_path / "a").exists()


def test_all_sweeps_every_combination_and_never_overwrites(model_file, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert run(model_file, out, "--all", "-n", "1", "--no-images", "--condition", "velocity=soft") == 0
    assert sorted(p.stem for p in out.glob("*.wav")) == ["instrument-flute_velocity-soft_000", "instrument-piano_velocity-soft_000"]
    before = (out / "instrument-flute_velocity-soft_000.pt").read_bytes()
    assert run(model_file, out, "--all", "-n", "1", "--no-images", "--condition", "velocity=soft", "--seed", "9") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "instrument-flute_velocity-soft_000.pt").read_bytes() == before
    assert run(model_file, out, "--all", "-n", "1", "--no-images", "--condition", "velocity=soft", "--seed", "9", "--overwrite") == 0
    assert (out / "instrument-flute_velocity-soft_000.pt").read_bytes() != before


@pytest.mark.float_sensitive
def test_same_seed_same_mels_and_random_conditions_cover_values(model_file, tmp_path):
    assert run(model_file, tmp_path / "a", "-n", "12", "--no-images", "--batch-size", "5") == 0
    assert run(model_file, tmp_path / "b", "-n", "12", "--no-images") == 0
    a = {p.name: load_mel(p).mel for p in (tmp_path / "a").glob("*.pt")}
    b = {p.name: load_mel(p).mel for p in (tmp_path / "b").glob("*.pt")}
    assert a.keys() == b.keys() and len(a) == 12
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)    # batching does not change the noise stream
    assert {k.split("_")[0] for k in a} == {"instrument-piano", "instrument-flute"}


def test_demo_grid_with_a_given_model(model_file, tmp_path):
    paths = demo_grid(tmp_path / "demo", overwrite=False, model=model_file)
    wavs = [p for p in paths if p.suffix == ".wav"]
    assert len(wavs) == 2 + 3 - 1 and all(p.with_suffix(".png").exists() and p.with_suffix(".pt").exists() for p in wavs)
