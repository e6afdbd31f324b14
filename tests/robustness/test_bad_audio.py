"""Odd and broken audio through load_audio -> prepare_melspectrogram -> synthesize.

Every input either works (with a note when it was resampled, down-mixed or beyond full scale)
or raises a MelwaveError whose message names the file. docs/robustness.md tabulates these cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from melwave.audio.io import load_audio
from melwave.errors import AudioError, AudioTooShortError, MelwaveError
from melwave.models.io.load import load_vocoder
from melwave.models.vocoders.griffinlim import GriffinLim, GriffinLimConfig

RATE = 22050


def tone(rate: int, seconds: float = 0.5, channels: int = 1, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    columns = [level * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)]
    return np.stack(columns, axis=1)


def write(path: Path, data: np.ndarray, rate: int = RATE, subtype: str | None = None, fmt: str | None = None) -> Path:
    sf.write(str(path), data, rate, subtype=subtype, format=fmt)
    return path


def _wav(tmp: Path, name: str, **kwargs) -> Path:
    return write(tmp / name, **kwargs)


# name -> (make(tmp_path) -> path, expected notes (substrings) or None for an error, error pattern)
CASES = {
    "16-bit mono 22.05 kHz": (lambda d: _wav(d, "ok.wav", data=tone(RATE)), [], None),
    "8-bit unsigned": (lambda d: _wav(d, "u8.wav", data=tone(RATE), subtype="PCM_U8"), [], None),
    "24-bit": (lambda d: _wav(d, "p24.wav", data=tone(RATE), subtype="PCM_24"), [], None),
    "32-bit float": (lambda d: _wav(d, "f32.wav", data=tone(RATE), subtype="FLOAT"), [], None),
    "64-bit float": (lambda d: _wav(d, "f64.wav", data=tone(RATE), subtype="DOUBLE"), [], None),
    "stereo": (lambda d: _wav(d, "st.wav", data=tone(RATE, channels=2)), ["down-mixed 2 channels"], None),
    "5.1 (6 channels)": (lambda d: _wav(d, "six.wav", data=tone(RATE, channels=6)), ["down-mixed 6 channels"], None),
    "8 kHz": (lambda d: _wav(d, "r8k.wav", data=tone(8000), rate=8000), ["resampled 8000 Hz -> 22050 Hz"], None),
    "16 kHz": (lambda d: _wav(d, "r16k.wav", data=tone(16000), rate=16000), ["resampled 16000 Hz"], None),
    "44.1 kHz stereo": (lambda d: _wav(d, "r44.wav", data=tone(44100, channels=2), rate=44100),
                        ["down-mixed 2", "resampled 44100 Hz"], None),
    "48 kHz": (lambda d: _wav(d, "r48.wav", data=tone(48000), rate=48000), ["resampled 48000 Hz"], None),
    "96 kHz 24-bit": (lambda d: _wav(d, "r96.wav", data=tone(96000), rate=96000, subtype="PCM_24"), ["resampled 96000 Hz"], None),
    "FLAC": (lambda d: _wav(d, "a.flac", data=tone(RATE)), [], None),
    "Ogg Vorbis": (lambda d: _wav(d, "a.ogg", data=tone(RATE), subtype="VORBIS"), [], None),
    "MP3": (lambda d: _wav(d, "a.mp3", data=tone(RATE), fmt="MP3"), [], None),
    "silent": (lambda d: _wav(d, "silent.wav", data=np.zeros((RATE, 1))), [], None),
    "clipped square wave": (lambda d: _wav(d, "clip.wav", data=np.sign(tone(RATE, level=1.0)) * 1.0), [], None),
    "float beyond full scale (x1000)": (lambda d: _wav(d, "loud.wav", data=tone(RATE, level=1000.0), subtype="FLOAT"),
                                        ["exceeds full scale"], None),
    "float at 1e30": (lambda d: _wav(d, "absurd.wav", data=tone(RATE, level=1e30), subtype="FLOAT"), None, "implausible"),
    "float with NaN": (lambda d: _wav(d, "nan.wav", data=np.where(np.arange(RATE)[:, None] == 5, np.nan, tone(RATE, 1.0)),
                                      subtype="FLOAT"), None, "NaN or infinite"),
    "float with Inf": (lambda d: _wav(d, "inf.wav", data=np.where(np.arange(RATE)[:, None] == 5, np.inf, tone(RATE, 1.0)),
                                      subtype="FLOAT"), None, "NaN or infinite"),
    "empty file (0 bytes)": (lambda d: (d / "empty.wav").write_bytes(b"") or d / "empty.wav", None, "empty"),
    "zero-length WAV (header, no frames)": (lambda d: _wav(d, "zero.wav", data=np.zeros((0, 1))), None, "no samples"),
    "truncated WAV (half the data)": (lambda d: _truncated(d), [], None),
    "WAV header only (data cut)": (lambda d: _truncated(d, keep=44, name="hdr.wav"), None, "no samples|cannot decode"),
    "WAV header declaring 0 Hz": (lambda d: _zero_rate(d), None, "invalid sample rate"),
    "random bytes named .wav": (lambda d: _bytes(d, "noise.wav", np.random.default_rng(0).bytes(5000)), None, "cannot decode"),
    "text file named .mp3": (lambda d: _bytes(d, "text.mp3", b"hello, this is not audio\n" * 40), None, "cannot decode"),
    "missing file": (lambda d: d / "missing.wav", None, "no such file"),
    "a directory": (lambda d: (d / "folder.wav").mkdir() or d / "folder.wav", None, "is a directory"),
}


def _bytes(directory: Path, name: str, data: bytes) -> Path:
    (directory / name).write_bytes(data)
    return directory / name


def _zero_rate(directory: Path) -> Path:
    data = bytearray(_wav(directory, "full_rate.wav", data=tone(RATE)).read_bytes())
    data[24:28] = (0).to_bytes(4, "little")  # the fmt chunk's sample-rate field
    return _bytes(directory, "zero_rate.wav", bytes(data))


def _truncated(directory: Path, keep: int | None = None, name: str = "trunc.wav") -> Path:
    full = _wav(directory, "full_" + name, data=tone(RATE))
    data = full.read_bytes()
    return _bytes(directory, name, data[: keep if keep is not None else len(data) // 2])


@pytest.fixture(scope="module")
def griffinlim() -> GriffinLim:
    return GriffinLim(config=GriffinLimConfig(iterations=4, nnls_iterations=5))


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_and_odd_audio(case, tmp_path, griffinlim):
    make, notes, error = CASES[case]
    path = make(tmp_path)
    if notes is None:
        with pytest.raises(AudioError, match=error) as info:
            load_audio(path, RATE)
        assert str(path) in str(info.value), info.value
        assert "\n" not in str(info.value)  # one line
        return
    audio = load_audio(path, RATE)
    for note in notes:
        assert any(note in n for n in audio.notes), (note, audio.notes)
    if not notes:
        assert audio.notes == [], audio.notes
    assert audio.wave.dtype == np.float32 and audio.wave.ndim == 1 and audio.sample_rate == RATE
    assert abs(audio.duration - 0.5) < 0.02 or case in ("silent", "truncated WAV (half the data)")
    mel = griffinlim.prepare_melspectrogram(audio.wave)
    assert torch.isfinite(mel).all()
    out = griffinlim.synthesize(mel)
    assert out.shape == (mel.shape[-1] * 256,) and torch.isfinite(out).all() and out.abs().max() <= 1


def test_pretrained_hifigan_on_silent_clipped_and_loud_audio(tmp_path):
    voc = load_vocoder("hifigan-universal")
    for name, data, subtype in (("silent.wav", np.zeros((RATE // 2, 1)), "PCM_16"),
                                ("clip.wav", np.sign(tone(RATE, level=1.0)), "PCM_16"),
                                ("loud.wav", tone(RATE, level=1000.0), "FLOAT")):
        audio = load_audio(write(tmp_path / name, data, subtype=subtype), RATE)
        out = voc.synthesize(voc.prepare_melspectrogram(audio.wave))
        assert torch.isfinite(out).all() and out.abs().max() <= 1
        if name == "silent.wav":
            assert out.abs().max() < 0.01  # silence in, (near) silence out


def test_too_short_audio_is_a_melwave_error(tmp_path, griffinlim):
    # 10 samples load fine, but no mel frame fits: a MelwaveError (the CLI adds the file name).
    audio = load_audio(write(tmp_path / "short.wav", tone(RATE)[:10]), RATE)
    with pytest.raises(AudioTooShortError, match="10 samples is too short") as info:
        griffinlim.prepare_melspectrogram(audio.wave)
    assert isinstance(info.value, MelwaveError)


@pytest.mark.slow
def test_one_hour_of_8_bit_audio_loads_and_analyses(tmp_path):
    # An hour at 22.05 kHz (79 M samples): decoded, analysed in bounded blocks, no error.
    path = tmp_path / "hour.wav"
    with sf.SoundFile(str(path), "w", RATE, 1, subtype="PCM_U8") as handle:
        block = tone(RATE, seconds=60.0, level=0.3)
        for _ in range(60):
            handle.write(block)
    audio = load_audio(path, RATE)
    assert abs(audio.duration - 3600) < 1
    mel = GriffinLim().prepare_melspectrogram(audio.wave)
    assert mel.shape == (80, 3600 * RATE // 256) and torch.isfinite(mel).all()
