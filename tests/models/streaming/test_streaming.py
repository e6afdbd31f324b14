"""Streaming inference (melwave.models.streaming), the windowed streamer: the concatenated stream
is the offline output, for every feed-forward family and any chunking, at a bounded cost per push;
the other families refuse with one line saying why. The windowed streamer is the reference the
cached one (tests/models/streaming/test_streaming_cached.py) is checked against, so it is tested here
directly, whichever one `vocoder.stream()` returns."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import melwave
from melwave.audio.config import PRESETS
from melwave.errors import MelFileError, MelwaveError
from melwave.models.base import Vocoder
from melwave.models.streaming import FrameNoise, VocoderStream, measure_reach
from melwave.models.vocoders.diffwave import DIFFWAVE_CONFIGS, DiffWave
from melwave.models.vocoders.gomin import GOMIN_CONFIGS, GominGAN, GominGANConfig
from melwave.models.vocoders.griffinlim import GriffinLim
from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN
from melwave.models.vocoders.melgan import MELGAN_CONFIGS, MelGAN
from melwave.models.vocoders.pwg import PWG_CONFIGS, ParallelWaveGAN
from melwave.models.vocoders.vocos import VOCOS_CONFIGS, Vocos
from repo_paths import GOLDENS
from testsignals import speech_like

PWG_DATA = GOLDENS / "pwg"
TOLERANCE = 1e-4  # of the offline peak: the float32 contract (different window lengths round differently)


def carry_signal(model: nn.Module) -> nn.Module:
    """Unit-gain random weights: the families' N(0, 0.01) init fades the signal out, and a
    near-constant output would hide a wrong sample behind the tolerance."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d)):
                fan_in = module.weight[0].numel()
            elif isinstance(module, nn.ConvTranspose1d):
                fan_in = module.weight.shape[0] * module.weight.shape[2] / module.stride[0]
            else:
                continue
            module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / math.sqrt(fan_in))
    return model.eval()


BIGVGAN_TINY = GominGANConfig(initial_channels=64, resblock_kernel_sizes=(3,), resblock_dilations=((1, 3),),
                              upsample_kernel_sizes=(8, 8, 4, 4, 4, 4), activation="snakebeta", snake_log_scale=True,
                              film=False, pre_upsample_activation=False, final_tanh=False, final_bias=False)
BUILDERS = {
    "hifigan": lambda: carry_signal(HiFiGAN(HIFIGAN_CONFIGS["debug"], PRESETS["hifigan-22k"])),
    "hifigan-v3": lambda: carry_signal(HiFiGAN(dataclasses.replace(HIFIGAN_CONFIGS["v3"], upsample_initial_channel=16),
                                               PRESETS["hifigan-22k"])),
    "melgan": lambda: carry_signal(MelGAN(MELGAN_CONFIGS["debug"], PRESETS["melgan-22k"])),
    "melgan-keras": lambda: carry_signal(MelGAN(MELGAN_CONFIGS["debug-keras"], PRESETS["melgan-22k"])),
    "gomin": lambda: carry_signal(GominGAN(GOMIN_CONFIGS["debug"], PRESETS["gomin-24k"])),
    "bigvgan": lambda: carry_signal(GominGAN(BIGVGAN_TINY, PRESETS["gomin-24k"])),
    # Symmetric mel framing, centre framing, and the authors' centre-padded head.
    "vocos": lambda: carry_signal(Vocos(VOCOS_CONFIGS["debug"], PRESETS["hifigan-22k"])),
    "vocos-center": lambda: carry_signal(Vocos(VOCOS_CONFIGS["debug"], PRESETS["gomin-24k"])),
    "vocos-head-center": lambda: carry_signal(Vocos(dataclasses.replace(VOCOS_CONFIGS["debug"], head_padding="center"),
                                                    PRESETS["hifigan-22k"])),
    "parallel-wavegan": lambda: carry_signal(ParallelWaveGAN(PWG_CONFIGS["debug"], PRESETS["hifigan-22k"])),
    # The ParallelWaveGAN toolkit's own small seeded generators (tests/goldens/pwg).
    **{f"toolkit-{case}": (lambda case=case: melwave.load_vocoder(PWG_DATA / case))
       for case in ("parallel_wavegan", "melgan", "multiband_melgan", "hifigan", "hifigan_v3")},
}
_built: dict[tuple[int, str, torch.dtype], Vocoder] = {}


def tiny(name: str, dtype: torch.dtype = torch.float32, builders: dict = BUILDERS) -> Vocoder:
    """`builders[name]`, built once per table and dtype from seed 0."""
    key = (id(builders), name, dtype)
    if key not in _built:
        torch.manual_seed(0)
        _built[key] = builders[name]().to(dtype)
    return _built[key]


def offline(vocoder: Vocoder, mel: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """vocoder(mel) for (n_mels, F); noise-driven vocoders get the noise a stream of `seed` draws."""
    with torch.no_grad():
        if getattr(vocoder, "noise_input", False):
            noise = FrameNoise(vocoder.hop_length, seed).draw(mel.shape[-1]).to(mel)
            return vocoder(mel[None], noise[None])[0]
        return vocoder(mel[None])[0]


class WindowRecorder:
    """Records the frame count of every window the vocoder is run on (a forward pre-hook)."""

    def __init__(self, vocoder: Vocoder):
        self.frames: list[int] = []
        self.handle = vocoder.register_forward_pre_hook(lambda module, args: self.frames.append(args[0].shape[-1]))

    def take(self) -> list[int]:
        frames, self.frames = self.frames, []
        return frames


def stream_in_chunks(stream, mel: torch.Tensor, sizes: list[int], recorder: WindowRecorder | None = None) -> torch.Tensor:
    """Push `mel` in chunks cycling through `sizes`, checking after every push that exactly the
    now-final samples came back and (with a recorder) that the window stayed bounded."""
    hop, lookahead = stream.vocoder.hop_length, stream.lookahead_frames
    bound = stream.context_frames + lookahead
    pieces, start, i = [], 0, 0
    while start < mel.shape[-1]:
        k = sizes[i % len(sizes)]
        pieces.append(stream.push(mel[:, start : start + k]))
        start, i = min(start + k, mel.shape[-1]), i + 1
        assert sum(p.numel() for p in pieces) == max(0, start - lookahead) * hop
        if recorder is not None:
            windows = recorder.take()
            assert len(windows) <= 1 and all(w <= k + bound for w in windows), (k, windows, bound)
    pieces.append(stream.flush())
    if recorder is not None:
        assert all(w <= bound for w in recorder.take())
    return torch.cat(pieces)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max() / b.abs().max())


# --- the contract: any chunking gives the offline output --------------------------------------

@pytest.mark.float_sensitive
@pytest.mark.parametrize("name", sorted(BUILDERS))
@settings(max_examples=12, deadline=None)
@given(frames=st.integers(1, 48), sizes=st.lists(st.integers(1, 12), min_size=1, max_size=6),
       ones=st.booleans(), scale=st.floats(0.5, 3.0), seed=st.integers(0, 2**16))
def test_any_chunking_streams_the_offline_output(name, frames, sizes, ones, scale, seed):
    vocoder = tiny(name)
    generator = torch.Generator().manual_seed(seed)
    mel = scale * torch.randn(vocoder.mel_config.n_mels, frames, generator=generator) - 2.0
    stream = VocoderStream(vocoder, seed=seed)
    recorder = WindowRecorder(vocoder)
    try:
        streamed = stream_in_chunks(stream, mel, [1] if ones else sizes, recorder)
    finally:
        recorder.handle.remove()
    expected = offline(vocoder, mel, seed)
    assert relative_error(streamed, expected) <= TOLERANCE


@pytest.mark.float_sensitive
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_exact_in_float64_with_the_measured_reach(name):
    # In float64 the stream is the offline output to rounding (~1e-16): every returned sample saw
    # exactly its offline inputs, start and end padding included.
    vocoder = tiny(name, torch.float64)
    mel = torch.randn(vocoder.mel_config.n_mels, 40, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    streamed = stream_in_chunks(VocoderStream(vocoder), mel, [1, 3, 2, 7])
    assert relative_error(streamed, offline(vocoder, mel)) < 1e-10


# Families whose outermost dependency is far above float64 rounding (in the others, e.g. GOMIN's
# cascaded Kaiser filters, the last frame of the cone weighs less than 1e-16).
VISIBLE_EDGE = ("hifigan-v3", "melgan", "melgan-keras", "vocos", "parallel-wavegan", "toolkit-parallel_wavegan",
                "toolkit-melgan", "toolkit-hifigan", "toolkit-hifigan_v3")


@pytest.mark.parametrize("name", VISIBLE_EDGE)
@pytest.mark.parametrize("side", ["context_frames", "lookahead_frames"])
def test_one_frame_less_reach_is_detected(name, side):
    # The measured reach is not only enough but needed: a frame less on either side and the
    # stream departs from offline, so the exactness tests above can fail.
    vocoder = tiny(name, torch.float64)
    mel = torch.randn(vocoder.mel_config.n_mels, 40, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    stream = VocoderStream(vocoder)
    setattr(stream, side, getattr(stream, side) - 1)
    assert relative_error(stream_in_chunks(stream, mel, [1, 3, 2, 7]), offline(vocoder, mel)) > 1e-7


_universal_cache: list[Vocoder] = []


def _universal() -> Vocoder:
    if not _universal_cache:
        _universal_cache.append(melwave.load_vocoder("hifigan-universal"))
    return _universal_cache[0]


@pytest.mark.float_sensitive
def test_the_shipped_hifigan_streams_exactly():
    # Short, so that it stays a fast test: the slow ones below vary the chunking and the length.
    universal = _universal()
    stream = VocoderStream(universal)
    assert (stream.context_frames, stream.lookahead_frames) == (13, 13)  # V1's kernels and upsampling, counted
    mel = universal.prepare_melspectrogram(speech_like(22050, 0.3))
    assert relative_error(stream_in_chunks(stream, mel, [1, 7, 3]), offline(universal, mel)) <= TOLERANCE


@pytest.mark.float_sensitive
@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(sizes=st.lists(st.integers(1, 24), min_size=1, max_size=8), seconds=st.floats(0.05, 1.2))
def test_the_shipped_hifigan_streams_exactly_for_any_chunking(sizes, seconds):
    universal = _universal()
    mel = universal.prepare_melspectrogram(speech_like(22050, seconds))
    stream = VocoderStream(universal)  # before the recorder: the first stream measures the reach with a forward pass
    recorder = WindowRecorder(universal)
    try:
        streamed = stream_in_chunks(stream, mel, sizes, recorder)
    finally:
        recorder.handle.remove()
    assert relative_error(streamed, offline(universal, mel)) <= TOLERANCE


@pytest.mark.float_sensitive
@pytest.mark.slow
def test_the_shipped_hifigan_reach_is_exact_and_minimal_in_float64():
    universal = melwave.load_vocoder("hifigan-universal").double()
    mel = universal.prepare_melspectrogram(speech_like(22050, 0.5)).double()
    expected = offline(universal, mel)
    assert relative_error(stream_in_chunks(VocoderStream(universal), mel, [1, 4, 2]), expected) < 1e-10
    for side in ("context_frames", "lookahead_frames"):  # measured 2.4e-4 and 1.9e-4
        stream = VocoderStream(universal)
        setattr(stream, side, getattr(stream, side) - 1)
        assert relative_error(stream_in_chunks(stream, mel, [1, 4, 2]), expected) > 1e-5


# --- bounded cost -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["hifigan", "vocos", "toolkit-parallel_wavegan"])
def test_work_and_memory_per_push_do_not_grow_with_the_utterance(name):
    vocoder = tiny(name)
    stream = VocoderStream(vocoder)
    bound = stream.context_frames + stream.lookahead_frames
    recorder = WindowRecorder(vocoder)
    frames = 400
    mel = torch.randn(vocoder.mel_config.n_mels, frames, generator=torch.Generator().manual_seed(2))
    try:
        for f in range(frames):
            stream.push(mel[:, f : f + 1])
            assert stream._mel.shape[-1] <= bound + 1  # buffered frames
        stream.flush()
    finally:
        recorder.handle.remove()
    windows = recorder.take()
    # One run per push once the lookahead is filled, plus the flush; each on at most 1 + reach frames.
    assert len(windows) == frames - stream.lookahead_frames + 1
    assert max(windows) == 1 + bound
    assert sum(windows) <= frames * (1 + bound)  # linear in the length: the past is never recomputed


# --- what the reach is --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_measured_reach_is_within_the_chunking_bound(name):
    # `receptive_frames` is what chunked synthesis relies on; the measured reach must not exceed it.
    vocoder = tiny(name)
    reach = measure_reach(vocoder)
    assert 0 < reach.left <= vocoder.receptive_frames and 0 < reach.right <= vocoder.receptive_frames


class Smear(Vocoder):
    """Frame f's hop samples = a weighted sum of mel frames [f − left, f + right] (zero padded),
    with a deliberately low `receptive_frames` (1): the probe must widen itself."""

    family = "test-smear"
    feed_forward = True

    def __init__(self, left: int, right: int):
        super().__init__(mel_config=PRESETS["hifigan-22k"].replace(n_mels=2, hop_length=4, n_fft=16, win_length=16))
        self.left, self.right = left, right
        self.weight = nn.Parameter(torch.randn(1, 2, left + right + 1, generator=torch.Generator().manual_seed(0)))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = F.conv1d(F.pad(mel, (self.left, self.right)), self.weight)[:, 0]
        return x.repeat_interleave(self.hop_length, dim=-1)

    @property
    def receptive_frames(self) -> int:
        return 1


@pytest.mark.float_sensitive
@pytest.mark.parametrize("left, right", [(2, 9), (9, 2), (0, 5), (5, 0)])
def test_reach_is_measured_per_side_beyond_a_low_bound(left, right):
    vocoder = Smear(left, right).eval()
    reach = measure_reach(vocoder)
    assert (reach.left, reach.right) == (left, right)
    mel = torch.randn(2, 30, generator=torch.Generator().manual_seed(3))
    stream = vocoder.stream()
    assert stream.lookahead_frames == right
    assert relative_error(stream_in_chunks(stream, mel, [1, 2, 5]), offline(vocoder, mel)) < 1e-6


def test_an_output_that_hides_its_input_cannot_be_measured():
    class Blind(Smear):
        def forward(self, mel):
            return torch.nan_to_num(super().forward(mel))

    with pytest.raises(MelwaveError, match="reach"):
        Blind(1, 1).stream()


# --- the streamer's interface -------------------------------------------------------------------

@pytest.mark.float_sensitive
@pytest.mark.parametrize("kind", ["windowed", "cached"])
def test_interface_shapes_reset_and_errors(kind):
    vocoder = tiny("melgan")
    n_mels, hop = vocoder.mel_config.n_mels, vocoder.hop_length
    stream = VocoderStream(vocoder) if kind == "windowed" else vocoder.stream()
    assert stream.kind == kind
    assert stream.flush().numel() == 0  # an empty utterance
    with pytest.raises(MelwaveError, match="reset"):
        stream.push(torch.zeros(n_mels, 1))
    stream.reset()
    mel = torch.randn(n_mels, 20, generator=torch.Generator().manual_seed(4))
    first = torch.cat([stream.push(mel[None, :, :12]), stream.push(mel[:, 12:]), stream.flush()])
    assert first.shape == (20 * hop,) and first.ndim == 1
    stream.reset()  # a new utterance gives the same output again (the same chunks: bit for bit)
    assert torch.equal(torch.cat([stream.push(mel[None, :, :12]), stream.push(mel[:, 12:]), stream.flush()]), first)
    stream.reset()  # other chunks: the same output to float rounding
    assert relative_error(torch.cat([stream.push(mel), stream.flush()]), first) <= TOLERANCE
    stream.reset()
    for bad, error in [(torch.zeros(2, n_mels, 3), "one utterance at a time"), (torch.zeros(n_mels + 1, 3), "mel bins"),
                       (torch.zeros(n_mels, 0), "zero frames"), (torch.full((n_mels, 2), float("nan")), "NaN")]:
        with pytest.raises(MelFileError, match=error):
            stream.push(bad)
    assert stream.received == 0


def test_noise_is_drawn_per_frame_whatever_the_chunking():
    source = FrameNoise(hop=32, seed=5)
    pieces = torch.cat([source.draw(k) for k in (1, 0, 3, 2)])
    assert torch.equal(pieces, FrameNoise(hop=32, seed=5).draw(6))
    assert not torch.equal(pieces, FrameNoise(hop=32, seed=6).draw(6))


def test_noise_driven_stream_restarts_its_noise_on_reset():
    vocoder = tiny("parallel-wavegan")
    mel = torch.randn(vocoder.mel_config.n_mels, 15, generator=torch.Generator().manual_seed(6))
    stream = vocoder.stream(seed=3)
    first = stream_in_chunks(stream, mel, [2])
    stream.reset()
    assert torch.equal(stream_in_chunks(stream, mel, [2]), first)
    assert not torch.allclose(stream_in_chunks(vocoder.stream(seed=4), mel, [2]), first)


# --- families that cannot stream exactly ----------------------------------------------------------

@pytest.mark.parametrize("build, reason", [
    (lambda: DiffWave(DIFFWAVE_CONFIGS["debug"], PRESETS["hifigan-22k"]), "reverse diffusion"),
    (lambda: Vocos(VOCOS_CONFIGS["debug-gl"], PRESETS["hifigan-22k"]), "'nnls-gl' prior.*Griffin-Lim"),
    (lambda: Vocos(VOCOS_CONFIGS["debug-prior"], PRESETS["hifigan-22k"]), "'nnls-peaks' prior's phase is accumulated"),
    (lambda: type("External", (Vocoder,), {"family": "external"})(mel_config=PRESETS["hifigan-22k"]), "not declared feed-forward"),
])
def test_families_that_cannot_stream_refuse_in_one_line(build, reason):
    with pytest.raises(MelwaveError, match="cannot stream: .*" + reason) as caught:
        build().stream()
    assert "\n" not in str(caught.value)


def test_the_shipped_vocos_refuses():
    with pytest.raises(MelwaveError, match="vocos-22k' cannot stream: its 'nnls-gl' prior"):
        melwave.load_vocoder("vocos-22k").stream()
