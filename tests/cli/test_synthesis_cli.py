"""The analyze / synthesize / resynth / run commands as a user runs them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from melwave.audio.config import PRESETS
from melwave.audio.features import MelExtractor
from melwave.audio.melfile import load_mel
from melwave.cli import main


def run(*args: str) -> int:
    return main([*args, "--no-progress"]) if args[0] in {"analyze", "synthesize", "resynth", "run"} else main(list(args))


def test_resynth_griffinlim_writes_matching_audio(wav_file, tmp_path):
    src = wav_file("in.wav", seconds=1.0)
    out = tmp_path / "out.wav"
    assert run("resynth", "-i", src, "-o", str(out), "-m", "griffinlim") == 0
    wave, sr = sf.read(out)
    original, _ = sf.read(src)
    assert sr == 22050
    assert abs(len(wave) - len(original)) < 256
    cfg = PRESETS["hifigan-22k"]
    n = min(len(wave), len(original))
    mel_in = MelExtractor(cfg)(torch.tensor(original[:n], dtype=torch.float32))
    mel_out = MelExtractor(cfg)(torch.tensor(wave[:n], dtype=torch.float32))
    # Griffin-Lim keeps the spectral envelope: log-mel error well below that of silence vs signal.
    assert (mel_in - mel_out).abs().mean() < 0.5


def test_resynth_hifigan_universal_reconstructs(wav_file, tmp_path):
    src = wav_file("voice.wav", seconds=1.0, sr=44100, channels=2)
    out = tmp_path / "voice_out.wav"
    assert run("resynth", "-i", src, "-o", str(out)) == 0
    wave, sr = sf.read(out)
    assert sr == 22050
    cfg = PRESETS["hifigan-22k"]
    reference = MelExtractor(cfg)(torch.tensor(sf.read(src)[0].mean(axis=1)[::2].copy(), dtype=torch.float32))
    got = MelExtractor(cfg)(torch.tensor(wave, dtype=torch.float32))
    frames = min(reference.shape[-1], got.shape[-1])
    error = (reference[:, :frames] - got[:, :frames]).abs().mean()
    silence = (reference[:, :frames] - np.log(1e-5)).abs().mean()
    assert error < 0.25 * silence


def test_folder_mirrors_tree_and_bad_files_do_not_stop_batch(wav_file, tmp_path, capsys):
    wav_file("in/a.wav", seconds=0.5)
    wav_file("in/deep/b.wav", seconds=0.5)
    (tmp_path / "in" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    (tmp_path / "in" / "empty.wav").write_bytes(b"")
    code = run("analyze", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "mels"))
    err = capsys.readouterr().err
    assert code == 1  # something failed
    assert (tmp_path / "mels" / "a.pt").exists() and (tmp_path / "mels" / "deep" / "b.pt").exists()
    assert "broken.wav" in err and "empty.wav" in err and "2 done" in err and "2 failed" in err
    # Nothing half-written for the failures, and no temp files left behind.
    assert sorted(p.name for p in (tmp_path / "mels").rglob("*")) == ["a.pt", "b.pt", "deep"]
    mel = load_mel(tmp_path / "mels" / "deep" / "b.pt")
    assert mel.config == PRESETS["hifigan-22k"] and mel.source.endswith("b.wav")
    assert mel.duration == pytest.approx(0.5, abs=0.01)


def test_glob_and_list_inputs(wav_file, tmp_path):
    wav_file("g/x/1.wav", seconds=0.3)
    wav_file("g/y/2.wav", seconds=0.3)
    assert run("analyze", "-i", str(tmp_path / "g" / "**" / "*.wav"), "-o", str(tmp_path / "out1")) == 0
    assert {p.relative_to(tmp_path / "out1").as_posix() for p in (tmp_path / "out1").rglob("*.pt")} == {"x/1.pt", "y/2.pt"}
    listing = tmp_path / "g" / "list.txt"
    listing.write_text("# two files\nx/1.wav\n\ny/2.wav\n")
    assert run("analyze", "-i", str(listing), "-o", str(tmp_path / "a.npy"), str(tmp_path / "b.npy")) == 0
    assert np.load(tmp_path / "a.npy").shape[0] == 80


def test_existing_output_refused_then_overwrite_and_skip(wav_file, tmp_path, capsys):
    src = wav_file("in.wav", seconds=0.3)
    out = tmp_path / "m.pt"
    out.write_bytes(b"precious")
    assert run("analyze", "-i", src, "-o", str(out)) == 1
    assert out.read_bytes() == b"precious"
    assert "exists" in capsys.readouterr().err
    assert run("analyze", "-i", src, "-o", str(out), "--skip-existing") == 0
    assert out.read_bytes() == b"precious"
    assert run("analyze", "-i", src, "-o", str(out), "--overwrite") == 0
    assert load_mel(out).mel.shape[0] == 80


def test_mel_config_mismatch_names_fields(wav_file, tmp_path, capsys):
    src = wav_file("in.wav", seconds=0.3)
    mel = tmp_path / "g.pt"
    assert run("analyze", "-i", src, "-o", str(mel), "--mel-preset", "gomin-24k") == 0
    assert run("synthesize", "-i", str(mel), "-o", str(tmp_path / "g.wav"), "-m", "hifigan-universal") == 1
    err = capsys.readouterr().err
    assert "n_mels: 128 (expected 80)" in err and "sample_rate: 24000 (expected 22050)" in err
    assert not (tmp_path / "g.wav").exists()
    # Griffin-Lim has no weights: it adapts to the file's own config.
    assert run("synthesize", "-i", str(mel), "-o", str(tmp_path / "g.wav"), "-m", "griffinlim") == 0
    assert sf.info(str(tmp_path / "g.wav")).samplerate == 24000


def test_bad_mels_reported(tmp_path, capsys):
    bad_bins = tmp_path / "bins.npy"
    np.save(bad_bins, np.zeros((64, 20), np.float32))
    nan = tmp_path / "nan.npy"
    arr = np.zeros((80, 20), np.float32)
    arr[3, 4] = np.nan
    np.save(nan, arr)
    code = run("synthesize", "-i", str(bad_bins), str(nan), "-o", str(tmp_path / "o1.wav"), str(tmp_path / "o2.wav"), "-m", "griffinlim")
    err = capsys.readouterr().err
    assert code == 1
    assert "bins.npy: mel has 64 bins" in err and "nan.npy: mel contains 1 NaN" in err


def test_run_mode_from_extensions(wav_file, tmp_path):
    src = wav_file("in.wav", seconds=0.3)
    assert run("run", "-i", src, "-o", str(tmp_path / "m.pt")) == 0
    assert run("run", "-i", str(tmp_path / "m.pt"), "-o", str(tmp_path / "back.wav"), "-m", "griffinlim") == 0
    assert sf.info(str(tmp_path / "back.wav")).frames > 0
    assert run("run", "-i", src, "-o", str(tmp_path / "x.txt")) == 2


def test_missing_input_and_no_inputs(tmp_path, capsys):
    assert run("analyze", "-i", str(tmp_path / "nope.wav"), "-o", str(tmp_path / "o.pt")) == 1
    assert "nope.wav: no such file" in capsys.readouterr().err
    (tmp_path / "emptydir").mkdir()
    assert run("analyze", "-i", str(tmp_path / "emptydir"), "-o", str(tmp_path / "o")) == 2


def test_chunked_cli_matches_whole_file(wav_file, tmp_path):
    src = wav_file("long.wav", seconds=3.0)
    whole, chunked = tmp_path / "whole.wav", tmp_path / "chunked.wav"
    assert run("resynth", "-i", src, "-o", str(whole), "--chunk-seconds", "0") == 0
    assert run("resynth", "-i", src, "-o", str(chunked), "--chunk-seconds", "0.7") == 0
    a, _ = sf.read(whole)
    b, _ = sf.read(chunked)
    snr = 10 * np.log10(np.sum(a**2) / np.sum((a - b) ** 2))
    # Chunks get 24 frames of context each side; what remains is 16-bit rounding and far-tail effects.
    assert snr > 30, snr


@pytest.mark.slow
def test_demo_writes_every_vocoder(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    for vocoder in ("griffinlim", "hifigan-universal", "hifigan-ljspeech"):
        assert f"{vocoder}.wav" in names and f"{vocoder}-mel.png" in names
    assert main(["demo", "-o", str(out)]) == 2  # refuses to write into a non-empty folder


def test_gomin_mel_files_are_read_as_gomin_config(tmp_path):
    # What GOMIN's run.py writes: the mel plus four of its settings, no format marker.
    path = tmp_path / "gomin.pt"
    torch.save({"melspec": torch.rand(1, 128, 40), "n_mels": 128, "sample_rate": 24000, "win_length": 1024, "hop_length": 256}, path)
    melfile = load_mel(path)
    assert melfile.config == PRESETS["gomin-24k"] and melfile.mel.shape == (128, 40)
    assert run("synthesize", "-i", str(path), "-o", str(tmp_path / "g.wav"), "-m", "griffinlim") == 0
    assert sf.info(str(tmp_path / "g.wav")).samplerate == 24000


class _Payload:
    """Unpickling this calls os.system: the test proves it never runs without --trust-file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_code_in_mel_file_refused_unless_trusted(tmp_path, capsys):
    import numpy as np

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "melwave-mel", "version": 1, "mel": torch.zeros(80, 8), "x": _Payload(marker),
                "mel_config": PRESETS["hifigan-22k"].to_dict(), "source": None, "duration": None}, evil)
    assert run("synthesize", "-i", str(evil), "-o", str(tmp_path / "e.wav"), "-m", "griffinlim") == 1
    assert "--trust-file" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "e.wav").exists()
    # A legacy file with numpy arrays needs unpickling too; with --trust-file it loads.
    legacy = tmp_path / "legacy.pt"
    torch.save({"format": "melwave-mel", "version": 1, "mel": np.zeros((80, 8), np.float32) - 5,
                "mel_config": PRESETS["hifigan-22k"].to_dict(), "source": None, "duration": None}, legacy)
    assert run("synthesize", "-i", str(legacy), "-o", str(tmp_path / "l.wav"), "-m", "griffinlim") == 1
    assert run("synthesize", "-i", str(legacy), "-o", str(tmp_path / "l.wav"), "-m", "griffinlim", "--trust-file") == 0


def test_resample_mel_converts_instead_of_refusing(wav_file, tmp_path, capsys):
    src = wav_file("in.wav", seconds=1.0)
    wide = tmp_path / "wide.yaml"
    wide.write_text(PRESETS["hifigan-22k"].replace(n_mels=128, fmax=11025.0).to_yaml())
    mel = tmp_path / "wide.pt"
    assert run("analyze", "-i", src, "-o", str(mel), "--mel-config", str(wide)) == 0
    out = tmp_path / "out.wav"
    assert run("synthesize", "-i", str(mel), "-o", str(out)) == 1  # refused by default, fields named
    assert "n_mels: 128 (expected 80)" in capsys.readouterr().err
    assert run("synthesize", "-i", str(mel), "-o", str(out), "--resample-mel") == 0
    assert "re-projected its filterbank" in capsys.readouterr().err
    cfg = PRESETS["hifigan-22k"]
    reference = MelExtractor(cfg)(torch.tensor(sf.read(src)[0], dtype=torch.float32))
    got = MelExtractor(cfg)(torch.tensor(sf.read(out)[0], dtype=torch.float32))
    frames = min(reference.shape[-1], got.shape[-1])
    silence = (reference[:, :frames] - np.log(1e-5)).abs().mean()
    assert (reference[:, :frames] - got[:, :frames]).abs().mean() < 0.25 * silence


def test_mel_preset_differing_from_a_trained_vocoder_is_refused(wav_file, tmp_path, capsys):
    # The preset is never silently dropped: one line naming the differing fields, exit != 0.
    src = wav_file("in.wav", seconds=0.3)
    out = tmp_path / "y.wav"
    assert run("resynth", "--mel-preset", "gomin-24k", "-m", "hifigan-universal", "-i", src, "-o", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hifigan-universal" in err
    assert "n_mels: 128 (expected 80)" in err and "sample_rate: 24000 (expected 22050)" in err
    assert not out.exists()
    # analyze with a model and a different preset: the same refusal.
    assert run("analyze", "--mel-preset", "gomin-24k", "-m", "hifigan-universal", "-i", src, "-o", str(tmp_path / "m.pt")) == 2
    # The model's own preset, or Griffin-Lim under any preset, is fine.
    assert run("resynth", "--mel-preset", "hifigan-22k", "-m", "hifigan-universal", "-i", src, "-o", str(out)) == 0
    assert run("resynth", "--mel-preset", "gomin-24k", "-m", "griffinlim", "-i", src, "-o", str(out), "--overwrite") == 0
    assert sf.info(str(out)).samplerate == 24000


def test_python_dash_m_melwave_works():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "melwave", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: melwave" in result.stdout and "resynth" in result.stdout
