"""`melwave stream` as a TTS front end uses it: a subprocess fed through a pipe, read as it writes."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import melwave
from melwave.audio.config import PRESETS
from melwave.audio.melfile import MelFile, save_mel
from melwave.models.io.model_file import save_model
from melwave.models.vocoders.melgan import MELGAN_CONFIGS, MelGAN
from testsignals import speech_like

TIMEOUT = 120  # seconds: importing torch in a fresh interpreter on a loaded 2-core machine


def start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "melwave", "stream", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def read_exactly(pipe, count: int, timeout: float = TIMEOUT) -> bytes:
    """`count` bytes from a pipe that is still open, or fail after `timeout` seconds."""
    data, deadline = b"", time.monotonic() + timeout
    while len(data) < count:
        ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"only {len(data)} of {count} bytes arrived within {timeout} s"
        chunk = os.read(pipe.fileno(), count - len(data))
        assert chunk, f"stream closed after {len(data)} of {count} bytes"
        data += chunk
    return data


def frame_major(mel: torch.Tensor) -> bytes:
    """(n_mels, F) -> the stdin format: F frames of n_mels little-endian float32."""
    return mel.T.contiguous().numpy().astype("<f4").tobytes()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch.manual_seed(0)
    model = MelGAN(MELGAN_CONFIGS["debug"], PRESETS["melgan-22k"]).eval()
    return save_model(model, tmp_path_factory.mktemp("model") / "tiny.safetensors"), model


@pytest.mark.float_sensitive
def test_pipe_writes_samples_before_the_input_ends_and_equals_offline(tiny_model):
    path, model = tiny_model
    lookahead, hop = model.stream().lookahead_frames, model.hop_length
    mel = torch.randn(model.mel_config.n_mels, 40, generator=torch.Generator().manual_seed(1)) - 3
    with torch.no_grad():
        expected = model(mel[None])[0].numpy()
    process = start("-m", str(path))
    try:
        # lookahead + 5 frames, one write per frame, stdin left open: the samples of 5 frames are
        # final and must come out now, not at end of input.
        for f in range(lookahead + 5):
            process.stdin.write(frame_major(mel[:, f : f + 1]))
            process.stdin.flush()
        early = read_exactly(process.stdout, 5 * hop * 4)
        process.stdin.write(frame_major(mel[:, lookahead + 5 :]))
        process.stdin.close()
        rest, stderr = process.stdout.read(), process.stderr.read().decode()
        assert process.wait(TIMEOUT) == 0, stderr
    finally:
        process.kill()
    wave = np.frombuffer(early + rest, dtype="<f4")
    assert wave.shape == expected.shape
    assert np.abs(wave - expected).max() <= 1e-4 * np.abs(expected).max()
    assert f"lookahead {lookahead} frames" in stderr and "22050 Hz mono float32" in stderr


def test_partial_last_frame_is_an_error(tiny_model):
    path, model = tiny_model
    process = start("-m", str(path))
    _, stderr = process.communicate(frame_major(torch.zeros(model.mel_config.n_mels, 2)) + b"\0" * 6, timeout=TIMEOUT)
    assert process.returncode == 2
    assert "stdin ended inside a frame: 6 bytes left over" in stderr.decode()


@pytest.mark.float_sensitive
def test_mel_file_in_chunks_to_s16_with_hifigan(tmp_path):
    universal = melwave.load_vocoder("hifigan-universal")
    mel = universal.prepare_melspectrogram(speech_like(22050, 0.3))
    save_mel(tmp_path / "utterance.pt", MelFile(mel=mel, config=universal.mel_config))
    process = start("-m", "hifigan-universal", "--mel", str(tmp_path / "utterance.pt"), "--chunk-frames", "5", "--pcm", "s16")
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, stderr.decode()
    with torch.no_grad():
        expected = universal(mel[None])[0].numpy()
    wave = np.frombuffer(stdout, dtype="<i2").astype(np.float64) / 32767
    assert wave.shape == expected.shape
    assert np.abs(wave - expected).max() <= 1e-4 * np.abs(expected).max() + 0.5 / 32767  # + s16 rounding


def test_a_vocoder_that_cannot_stream_refuses_in_one_line():
    process = start("-m", "vocos-22k")
    stdout, stderr = process.communicate(b"", timeout=TIMEOUT)
    assert process.returncode == 2 and stdout == b""
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("melwave: error: vocoder 'vocos-22k' cannot stream: its 'nnls-gl' prior")


def test_griffinlim_streams_an_approximation_through_the_pipe():
    cfg = PRESETS["hifigan-22k"]
    mel = torch.randn(cfg.n_mels, 12) - 4
    process = start("-m", "griffinlim")
    stdout, stderr = process.communicate(mel.T.contiguous().numpy().astype("<f4").tobytes(), timeout=TIMEOUT)
    assert process.returncode == 0, stderr.decode()
    wave = np.frombuffer(stdout, dtype="<f4")
    assert wave.shape == (12 * cfg.hop_length,) and np.isfinite(wave).all() and np.abs(wave).max() > 0
