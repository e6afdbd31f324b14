"""`melwave run` picks its mode from the extensions or --mode and loads a vocoder only to vocode;
--output-rate writes audio at the vocoder's, the input's or a given rate."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from melwave.audio.melfile import load_mel
from melwave.cli import main


def _tone(path, rate=16000, seconds=0.4):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), rate)
    return path


def test_run_analysis_uses_the_mel_preset_without_checking_a_vocoder(tmp_path):
    source = _tone(tmp_path / "a.flac")
    assert main(["run", "-i", str(source), "-o", str(tmp_path / "a.pt"), "--mel-preset", "gomin-24k", "--no-progress"]) == 0
    mel = load_mel(tmp_path / "a.pt")
    assert mel.config.n_mels == 128 and mel.config.sample_rate == 24000


def test_run_into_a_folder_says_which_mode_and_mode_analyze_writes_mels(tmp_path, capsys):
    data = tmp_path / "in"
    _tone(data / "a.wav"), _tone(data / "b.wav")
    assert main(["run", "-i", str(data), "-o", str(tmp_path / "wavs"), "-m", "griffinlim", "--no-progress"]) == 0
    assert "is a folder: running resynth" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "wavs").iterdir()) == ["a.wav", "b.wav"]
    assert main(["run", "-i", str(data), "-o", str(tmp_path / "mels"), "--mode", "analyze", "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "mels").iterdir()) == ["a.pt", "b.pt"]


@pytest.mark.parametrize("rate, expected", [("model", 22050), ("input", 16000), ("8000", 8000)])
def test_resynth_output_rate(tmp_path, rate, expected):
    source = _tone(tmp_path / "a.wav", rate=16000)
    out = tmp_path / f"out-{rate}.wav"
    assert main(["resynth", "-i", str(source), "-o", str(out), "-m", "griffinlim", "--output-rate", rate, "--no-progress"]) == 0
    info = sf.info(out)
    assert info.samplerate == expected
    assert abs(info.duration - 0.4) < 0.05  # the same length in seconds at any rate


def test_output_rate_input_for_a_mel_is_that_files_one_line_and_bad_values_stop_at_once(tmp_path, capsys):
    source = _tone(tmp_path / "a.wav")
    assert main(["analyze", "-i", str(source), "-o", str(tmp_path / "a.pt"), "--no-progress"]) == 0
    code = main(["synthesize", "-i", str(tmp_path / "a.pt"), "-o", str(tmp_path / "b.wav"), "-m", "griffinlim",
                 "--output-rate", "input", "--no-progress"])
    assert code == 1 and not (tmp_path / "b.wav").exists()
    assert "does not record its audio's sample rate" in capsys.readouterr().err
    assert main(["resynth", "-i", str(source), "-o", str(tmp_path / "c.wav"), "-m", "griffinlim", "--output-rate", "fast"]) == 2
    assert "--output-rate 'fast'" in capsys.readouterr().err
