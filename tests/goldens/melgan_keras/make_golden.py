"""Regenerate the golden files beside this script: the MelGAN Keras tutorial's own generator and
discriminator, run by Keras on seeded weights.

Run with a Python that has TensorFlow 2 / Keras 3 (not melwave's venv; `pip install tensorflow-cpu`):

    /tmp/tfenv/bin/python tests/goldens/melgan_keras/make_golden.py [--out tests/goldens/melgan_keras]

The tutorial's `residual_stack`, `conv_block`, `discriminator_block`, `create_generator`,
`create_discriminator` and `MelSpec` are copied below verbatim, with two stand-ins for packages
that do not install next to Keras 3:
- tensorflow-addons' `WeightNormalization` is the identity: weight norm reparametrises a kernel
  (w = g·v/‖v‖) without changing the function a layer computes for a given w, so these layers hold
  w itself (Keras 3 has no WeightNormalization layer).
- tensorflow-io's `dbscale` is spelled out with TF ops; `MelSpec` runs it only with training=True,
  i.e. when Keras traces the graph for shapes. The outputs here are inference (training=False),
  where `MelSpec` passes the mel through, as the tutorial's `generator.predict` does.
And one Keras 2 -> 3 change: `AveragePooling1D()` must now be given its pool size, Keras 2's
default 2 (strides default to the pool size, padding "valid", in both).

Every weight comes from a seeded rule (stored in golden.json, not the weights): the weighted
layers are taken in a fixed order (generator: graph order, conv_pre, then per stage the transposed
conv and c1..c6 of its residual stack, then conv_post; discriminator: scale by scale, conv1..conv7);
layer i draws kernel = RandomState(seed + i).normal(0, std_i, keras_kernel_shape) then
bias = the same generator's .normal(0, BIAS_STD, bias_shape), both cast to float32;
std_i = GAIN / sqrt(fan_in) (fan_in: input taps reaching one output, i.e. k·in/groups, or
k/stride·in for a transposed conv), with LAST_GAIN for the generator's tanh layer so the wave
stays off tanh's flat ends. golden.npz holds the inputs and what Keras returned.
"""

from __future__ import annotations

import argparse
import json
import math
import types
from pathlib import Path

import numpy as np
import tensorflow as tf
import keras
from keras import layers

HERE = Path(__file__).resolve().parent
SEED = 20210902  # the tutorial's date
GAIN, LAST_GAIN, BIAS_STD = 1.0, 0.5, 0.05
FRAMES, N_MELS, WAVE_SAMPLES = 16, 80, 4133  # an odd length: TF's "same" split and valid pooling show

# --- stand-ins (see the docstring) ------------------------------------------------------------
addon_layers = types.SimpleNamespace(WeightNormalization=lambda layer, data_init=True: layer)


def _dbscale(x, top_db=80):
    log_spec = 10.0 * (tf.math.log(tf.math.square(x)) / tf.math.log(10.0))
    return tf.math.maximum(log_spec, tf.math.reduce_max(log_spec) - top_db)


tfio = types.SimpleNamespace(audio=types.SimpleNamespace(dbscale=_dbscale))


# --- the tutorial's code, verbatim ---------------------------------------------------------------
class MelSpec(layers.Layer):
    def __init__(
        self,
        frame_length=1024,
        frame_step=256,
        fft_length=None,
        sampling_rate=22050,
        num_mel_channels=80,
        freq_min=125,
        freq_max=7600,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.fft_length = fft_length
        self.sampling_rate = sampling_rate
        self.num_mel_channels = num_mel_channels
        self.freq_min = freq_min
        self.freq_max = freq_max
        # Defining mel filter. This filter will be multiplied with the STFT output
        self.mel_filterbank = tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins=self.num_mel_channels,
            num_spectrogram_bins=self.frame_length // 2 + 1,
            sample_rate=self.sampling_rate,
            lower_edge_hertz=self.freq_min,
            upper_edge_hertz=self.freq_max,
        )

    def call(self, audio, training=True):
        # We will only perform the transformation during training.
        if training:
            # Taking the Short Time Fourier Transform. Ensure that the audio is padded.
            # In the paper, the STFT output is padded using the 'REFLECT' strategy.
            stft = tf.signal.stft(
                tf.squeeze(audio, -1),
                self.frame_length,
                self.frame_step,
                self.fft_length,
                pad_end=True,
            )

            # Taking the magnitude of the STFT output
            magnitude = tf.abs(stft)

            # Multiplying the Mel-filterbank with the magnitude and scaling it using the db scale
            mel = tf.matmul(tf.square(magnitude), self.mel_filterbank)
            log_mel_spec = tfio.audio.dbscale(mel, top_db=80)
            return log_mel_spec
        else:
            return audio


def residual_stack(input, filters):
    c1 = addon_layers.WeightNormalization(
        layers.Conv1D(filters, 3, dilation_rate=1, padding="same"), data_init=False
    )(input)
    lrelu1 = layers.LeakyReLU()(c1)
    c2 = addon_layers.WeightNormalization(
        layers.Conv1D(filters, 3, dilation_rate=1, padding="same"), data_init=False
    )(lrelu1)
    add1 = layers.Add()([c2, input])

    lrelu2 = layers.LeakyReLU()(add1)
    c3 = addon_layers.WeightNormalization(
        layers.Conv1D(filters, 3, dilation_rate=3, padding="same"), data_init=False
    )(lrelu2)
    lrelu3 = layers.LeakyReLU()(c3)
    c4 = addon_layers.WeightNormalization(
        layers.Conv1D(filters, 3, dilation_rate=1, padding="same"), data_init=False
    )(lrelu3)
    add2 = layers.Add()([add1, c4])

    lrelu4 = layers.LeakyReLU()(add2)
    c5 = addon_layers.WeightNormalization(
        layers.Conv1D(filters, 3, dilation_rate=9, padding="same"), data_init=False
    )(lrelu4)
    lrelu5 = layers.LeakyReLU()(c5)
    c6 = addon_layers.WeightNormalization(
        layers.Conv1D(filters, 3, dilation_rate=1, padding="same"), data_init=False
    )(lrelu5)
    add3 = layers.Add()([c6, add2])

    return add3


def conv_block(input, conv_dim, upsampling_factor):
    conv_t = addon_layers.WeightNormalization(
        layers.Conv1DTranspose(conv_dim, 16, upsampling_factor, padding="same"),
        data_init=False,
    )(input)
    lrelu1 = layers.LeakyReLU()(conv_t)
    res_stack = residual_stack(lrelu1, conv_dim)
    lrelu2 = layers.LeakyReLU()(res_stack)
    return lrelu2


def discriminator_block(input):
    conv1 = addon_layers.WeightNormalization(
        layers.Conv1D(16, 15, 1, "same"), data_init=False
    )(input)
    lrelu1 = layers.LeakyReLU()(conv1)
    conv2 = addon_layers.WeightNormalization(
        layers.Conv1D(64, 41, 4, "same", groups=4), data_init=False
    )(lrelu1)
    lrelu2 = layers.LeakyReLU()(conv2)
    conv3 = addon_layers.WeightNormalization(
        layers.Conv1D(256, 41, 4, "same", groups=16), data_init=False
    )(lrelu2)
    lrelu3 = layers.LeakyReLU()(conv3)
    conv4 = addon_layers.WeightNormalization(
        layers.Conv1D(1024, 41, 4, "same", groups=64), data_init=False
    )(lrelu3)
    lrelu4 = layers.LeakyReLU()(conv4)
    conv5 = addon_layers.WeightNormalization(
        layers.Conv1D(1024, 41, 4, "same", groups=256), data_init=False
    )(lrelu4)
    lrelu5 = layers.LeakyReLU()(conv5)
    conv6 = addon_layers.WeightNormalization(
        layers.Conv1D(1024, 5, 1, "same"), data_init=False
    )(lrelu5)
    lrelu6 = layers.LeakyReLU()(conv6)
    conv7 = addon_layers.WeightNormalization(
        layers.Conv1D(1, 3, 1, "same"), data_init=False
    )(lrelu6)
    return [lrelu1, lrelu2, lrelu3, lrelu4, lrelu5, lrelu6, conv7]


def create_generator(input_shape):
    inp = keras.Input(input_shape)
    x = MelSpec()(inp)
    x = layers.Conv1D(512, 7, padding="same")(x)
    x = layers.LeakyReLU()(x)
    x = conv_block(x, 256, 8)
    x = conv_block(x, 128, 8)
    x = conv_block(x, 64, 2)
    x = conv_block(x, 32, 2)
    x = addon_layers.WeightNormalization(
        layers.Conv1D(1, 7, padding="same", activation="tanh")
    )(x)
    return keras.Model(inp, x)


def create_discriminator(input_shape):
    inp = keras.Input(input_shape)
    out_map1 = discriminator_block(inp)
    pool1 = layers.AveragePooling1D(2)(inp)  # Keras 3 requires pool_size; Keras 2's default was 2
    out_map2 = discriminator_block(pool1)
    pool2 = layers.AveragePooling1D(2)(pool1)
    out_map3 = discriminator_block(pool2)
    return keras.Model(inp, [out_map1, out_map2, out_map3])


# --- seeded weights, run, store -------------------------------------------------------------------
def _producer(tensor):
    return tensor._keras_history.operation


def generator_layers(model) -> list:
    """Weighted layers in graph order: conv_pre, 4 × (transposed conv, c1..c6), conv_post."""
    weighted = [layer for layer in model.layers if layer.weights]
    kinds = [type(layer).__name__ for layer in weighted]
    assert kinds == ["Conv1D"] + (["Conv1DTranspose"] + ["Conv1D"] * 6) * 4 + ["Conv1D"], kinds
    return weighted


def discriminator_layers(model) -> list:
    """Per scale: the conv under each of lrelu1..lrelu6, then conv7 (the score), from the outputs."""
    ordered = []
    outputs = keras.tree.flatten(model.outputs)  # [scale 1: lrelu1..lrelu6, conv7, scale 2: ..., scale 3: ...]
    for scale in (outputs[0:7], outputs[7:14], outputs[14:21]):
        for k, tensor in enumerate(scale):
            op = _producer(tensor)
            if k < 6:
                assert isinstance(op, layers.LeakyReLU), op
                op = _producer(op._inbound_nodes[0].input_tensors[0])
            assert isinstance(op, layers.Conv1D), op
            ordered.append(op)
    assert len(set(map(id, ordered))) == 21
    return ordered


def fan_in(layer) -> float:
    k, a, b = layer.kernel.shape
    if isinstance(layer, layers.Conv1DTranspose):  # kernel (k, out, in): k/stride taps of each input
        return k / layer.strides[0] * b
    return k * a  # kernel (k, in/groups, out)


def set_weights(ordered: list, first_index: int, last_gain: float | None = None) -> list[dict]:
    described = []
    for j, layer in enumerate(ordered):
        index = first_index + j
        gain = last_gain if last_gain is not None and j == len(ordered) - 1 else GAIN
        std = gain / math.sqrt(fan_in(layer))
        rng = np.random.RandomState(SEED + index)
        kernel = rng.normal(0.0, std, tuple(layer.kernel.shape)).astype(np.float32)
        bias = rng.normal(0.0, BIAS_STD, tuple(layer.bias.shape)).astype(np.float32)
        layer.set_weights([kernel, bias])
        described.append({"index": index, "name": layer.name, "class": type(layer).__name__,
                          "kernel": list(kernel.shape), "bias": list(bias.shape), "std": std,
                          "strides": layer.strides[0], "dilation": layer.dilation_rate[0],
                          "groups": getattr(layer, "groups", 1), "padding": layer.padding})
    return described


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    generator = create_generator((None, 1))
    discriminator = create_discriminator((None, 1))
    gen_counts = int(sum(np.prod(w.shape) for w in generator.weights))
    disc_counts = int(sum(np.prod(w.shape) for w in discriminator.weights))
    gen_layers = set_weights(generator_layers(generator), 0, LAST_GAIN)
    disc_layers = set_weights(discriminator_layers(discriminator), len(gen_layers))

    mel = np.random.RandomState(SEED - 1).uniform(0, 1, (1, FRAMES, N_MELS)).astype(np.float32)  # as the tutorial's test input
    wave_in = np.random.RandomState(SEED - 2).uniform(-1, 1, (1, WAVE_SAMPLES, 1)).astype(np.float32)
    wave = generator(mel, training=False).numpy()
    maps = discriminator(wave_in, training=False)
    arrays = {"mel": mel[0].T, "wave": wave[0, :, 0], "disc_input": wave_in[0, :, 0]}
    for s, scale in enumerate(maps):
        for k, fmap in enumerate(scale):
            fmap = fmap.numpy()[0].T  # (C, T)
            if k == 6:
                arrays[f"score_{s}"] = fmap[0]
            else:  # full maps are up to 16 × 4133 floats: keep their means over time and over channels
                arrays[f"feature_{s}_{k}_channel_mean"] = fmap.mean(axis=1)
                arrays[f"feature_{s}_{k}_time_mean"] = fmap.mean(axis=0)
    np.savez_compressed(out / "golden.npz", **arrays)
    meta = {
        "source": "the Keras MelGAN spectral-inversion tutorial",
        "script": "tests/goldens/melgan_keras/make_golden.py",
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "weight_normalization": "omitted: tensorflow-addons does not install with Keras 3; it does not change the function",
        "seed": SEED,
        "rule": ("layer i (order below): rng = numpy RandomState(seed + i); kernel = rng.normal(0, std, kernel), "
                 "then bias = rng.normal(0, bias_std, bias); float32; Keras layouts (Conv1D (k, in/groups, out), "
                 "Conv1DTranspose (k, out, in))"),
        "bias_std": BIAS_STD,
        "inputs": {"mel": f"RandomState(seed - 1).uniform(0, 1, (1, {FRAMES}, {N_MELS})), stored (n_mels, frames)",
                   "disc_input": f"RandomState(seed - 2).uniform(-1, 1, (1, {WAVE_SAMPLES}, 1))"},
        "outputs": ("wave: generator(mel, training=False); per scale s: score_s (conv7), feature_s_k (lrelu k+1) "
                    "mean over time (channel_mean) and over channels (time_mean)"),
        "keras_param_counts": {"generator": gen_counts, "discriminator": disc_counts},
        "generator_layers": gen_layers,
        "discriminator_layers": disc_layers,
    }
    (out / "golden.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{out}: wave {wave.shape}, |wave| max {np.abs(wave).max():.3f}, scores "
          f"{[arrays[f'score_{s}'].shape for s in range(3)]} max "
          f"{[float(np.abs(arrays[f'score_{s}']).max()) for s in range(3)]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    main(parser.parse_args().out)
