"""Regenerate golden.npz beside this script: the MelGAN Keras tutorial's mel, computed by TensorFlow.

Run with a Python that has TensorFlow (not melwave's venv; `pip install tensorflow-cpu numpy`):

    python tests/goldens/melgan_keras_mel/make_golden.py [OUT]    (default: golden.npz beside it)

The input is a fixed, seeded test signal (stored in the file too). The analysis is the tutorial's
`MelSpec` layer with its default arguments: tf.signal.stft
(1024/256, pad_end=True), the square of its magnitude, tf.signal.linear_to_mel_weight_matrix
(80 bands, 125-7600 Hz, 22050 Hz) and tfio.audio.dbscale(top_db=80). tensorflow-io does not
install next to current TensorFlow, so dbscale's definition (square, 10·log10, floor top_db below
the tensor's max) is spelled out with the same TF ops. Used by tests/audio/test_source_mels.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

SAMPLE_RATE, FRAME_LENGTH, FRAME_STEP, N_MELS, FMIN, FMAX, TOP_DB = 22050, 1024, 256, 80, 125.0, 7600.0, 80.0
NUM_SAMPLES = 6700  # not a multiple of the hop, so pad_end's zeros reach the last frames


def test_signal() -> np.ndarray:
    """A rising chirp, two harmonics and seeded noise, peak 0.8, a fade-in so the first frame is quiet."""
    t = np.arange(NUM_SAMPLES) / SAMPLE_RATE
    chirp = np.sin(2 * np.pi * (100 * t + 0.5 * 20000 * t**2))
    tones = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.25 * np.sin(2 * np.pi * 1320 * t)
    noise = 0.05 * np.random.default_rng(16).standard_normal(NUM_SAMPLES)
    wave = (chirp + tones + noise) * np.minimum(1.0, t / 0.05)
    return (0.8 * wave / np.abs(wave).max()).astype(np.float32)


def main(out: str) -> None:
    wave = test_signal()
    filterbank = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=N_MELS, num_spectrogram_bins=FRAME_LENGTH // 2 + 1, sample_rate=SAMPLE_RATE,
        lower_edge_hertz=FMIN, upper_edge_hertz=FMAX)
    stft = tf.signal.stft(tf.constant(wave[None]), FRAME_LENGTH, FRAME_STEP, None, pad_end=True)
    mel = tf.matmul(tf.square(tf.abs(stft)), filterbank)
    log_spec = 10.0 * (tf.math.log(tf.math.square(mel)) / tf.math.log(10.0))  # tfio.audio.dbscale
    db = tf.math.maximum(log_spec, tf.math.reduce_max(log_spec) - TOP_DB)
    np.savez_compressed(out, wave=wave, filterbank=filterbank.numpy(), mel_db=db.numpy()[0].T,
                        tensorflow_version=np.array(tf.__version__))
    print(f"{out}: mel {db.shape[1]} frames x {N_MELS}, TensorFlow {tf.__version__}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().with_name("golden.npz")))
