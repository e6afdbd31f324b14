"""ONNX export of every feed-forward family and the ONNX Runtime backend: same output as torch,
dynamic batch and length, the MelConfig in the file's metadata, chunking, refusals, the CLI."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
onnx = pytest.importorskip("onnx")

from melwave.audio.config import PRESETS, MelConfig  # noqa: E402
from melwave.cli import main  # noqa: E402
from melwave.errors import OutputExistsError  # noqa: E402
from melwave.models.onnx.export import ExportError, RealISTFT, export_onnx  # noqa: E402
from melwave.models.onnx.runtime import OnnxVocoder, session_from  # noqa: E402
from melwave.models.io.load import load_vocoder  # noqa: E402
from melwave.models.io.model_file import save_model
from melwave.models.io.registry import family_class

# The ONNX graph runs the same float32 arithmetic as torch in another order (other convolution
# kernels; the inverse DFT as a matrix product instead of an FFT): ~1e-6 of peak apart measured.
# 1e-3 of peak (the bound) still fails for any wrong operator, framing or padding.
TOLERANCE = 1e-3
CFG = PRESETS["hifigan-22k"]
FAMILIES = ["hifigan", "melgan", "vocos", pytest.param("gomin-gan", marks=pytest.mark.slow)]  # gomin: ~20 s to trace


def _debug(family: str, cfg: MelConfig = CFG):
    torch.manual_seed(0)
    cls = family_class(family)
    return cls.from_config(dataclasses.asdict(cls.named_configs["debug"]), cfg).eval()


def _mel(batch: int, frames: int, n_mels: int = 80, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, n_mels, frames, generator=torch.Generator().manual_seed(seed)) * 2 - 5


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """family -> (torch model, path of its .onnx), each exported once for the module."""
    cache = {}

    def get(family: str):
        if family not in cache:
            model = _debug(family)
            path = tmp_path_factory.mktemp("onnx") / f"{family}.onnx"
            export_onnx(model, path, source=f"debug {family}")
            cache[family] = (model, path)
        return cache[family]

    return get


@pytest.mark.float_sensitive
@pytest.mark.parametrize("family", FAMILIES)
def test_exported_graph_equals_torch_for_any_batch_and_length(family, exported):
    model, path = exported(family)
    session = session_from(path)
    for batch, frames in ((1, 11), (3, 53), (2, 130)):
        mel = _mel(batch, frames, seed=frames)
        got = session.run(["wave"], {"mel": mel.numpy()})[0]
        with torch.no_grad():
            expected = model(mel).numpy()
        assert got.shape == expected.shape == (batch, frames * CFG.hop_length)
        assert _relative(got, expected) <= TOLERANCE, (family, batch, frames)


def test_metadata_round_trip_rebuilds_config_and_mel_config(exported):
    model, path = exported("vocos")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["melwave.format"] == "melwave-onnx" and meta["family"] == "vocos"
    cfg = MelConfig.from_dict(json.loads(meta["mel_config"]))
    assert cfg == model.mel_config
    rebuilt = family_class(meta["family"]).from_config(json.loads(meta["model_config"]), cfg)
    assert rebuilt.config == model.config
    assert int(meta["sample_rate"]) == cfg.sample_rate and int(meta["hop_length"]) == cfg.hop_length
    assert int(meta["receptive_frames"]) == model.receptive_frames
    assert json.loads(meta["provenance"])["source"] == "debug vocos"
    graph = onnx.load(str(path)).graph
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1] == 80 and isinstance(dims[2], str)  # batch and frames dynamic


@pytest.mark.float_sensitive
def test_onnx_vocoder_is_a_vocoder_with_chunking(exported):
    model, path = exported("hifigan")
    vocoder = load_vocoder(path)
    assert isinstance(vocoder, OnnxVocoder) and vocoder.family == "hifigan" and vocoder.mel_config == model.mel_config
    assert vocoder.receptive_frames == model.receptive_frames
    mel = _mel(1, 150, seed=3)[0]
    with torch.no_grad():
        whole = model.synthesize(mel).numpy()
        chunked_torch = model.synthesize(mel, chunk_frames=40).numpy()
    chunked = vocoder.synthesize(mel, chunk_frames=40).numpy()
    assert chunked.shape == whole.shape == (150 * CFG.hop_length,)
    assert _relative(vocoder.synthesize(mel).numpy(), whole) <= TOLERANCE
    assert _relative(chunked, chunked_torch) <= TOLERANCE
    # The features come from the metadata's MelConfig, as for the torch model.
    wave = torch.randn(2048, generator=torch.Generator().manual_seed(0)) * 0.1
    assert torch.equal(vocoder.prepare_melspectrogram(wave), model.prepare_melspectrogram(wave))


@pytest.mark.float_sensitive
def test_backend_onnxruntime_exports_in_memory(tmp_path):
    model = _debug("melgan")
    saved = save_model(model, tmp_path / "melgan.safetensors")
    vocoder = load_vocoder(saved, backend="onnxruntime")
    assert isinstance(vocoder, OnnxVocoder) and vocoder.family == "melgan"
    mel = _mel(2, 37)
    with torch.no_grad():
        assert _relative(vocoder(mel).numpy(), model(mel).numpy()) <= TOLERANCE


@pytest.mark.float_sensitive
def test_real_istft_matches_torch_istft_for_every_padding():
    """The graph's inverse STFT (DFT basis as a ConvTranspose1d, envelope division) against the
    torch module it replaces, on a random spectrum, for each framing melwave uses."""
    from melwave.models.blocks.istft_head import ISTFT

    spec = torch.randn(2, 257, 19, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    for pad_left in (0, (512 - 128) // 2, 256):
        torch_istft = ISTFT(512, 128, 400, pad_left)
        real = RealISTFT.like(torch_istft)
        got = real(torch.cat([spec.real, spec.imag], dim=1))
        expected = torch_istft(spec)
        # float32 sums of 512 terms in two orders: ~1e-6 of peak.
        assert got.shape == expected.shape and _relative(got.numpy(), expected.numpy()) < 1e-5, pad_left


def _prior_vocos(name: str, **changes):
    """A tiny Vocos with a signal-processing prior and a head that corrects it (random, not zero)."""
    torch.manual_seed(0)
    cls = family_class("vocos")
    model = cls.from_config(dataclasses.asdict(dataclasses.replace(cls.named_configs[name], **changes)), CFG).eval()
    torch.nn.init.normal_(model.head.out.weight, std=0.02)
    return model


def _speech_mel(model, batch: int, frames: int) -> torch.Tensor:
    from testsignals import speech_like

    waves = torch.stack([torch.from_numpy(speech_like(model.mel_config.sample_rate, (frames + 2) * model.hop_length / model.mel_config.sample_rate,
                                                      seed=i)).float() for i in range(batch)])
    with torch.no_grad():
        return model.prepare_melspectrogram(waves)[..., :frames].contiguous()


def _assert_graph_equals_torch(model, path, shapes=((1, 11), (3, 53), (2, 130))):
    session = session_from(path)
    for batch, frames in shapes:
        for mel in (_mel(batch, frames, seed=frames), _speech_mel(model, batch, frames)):
            got = session.run(["wave"], {"mel": mel.numpy()})[0]
            with torch.no_grad():
                expected = model(mel).numpy()
            assert got.shape == expected.shape == (batch, frames * model.hop_length)
            assert _relative(got, expected) <= TOLERANCE, (model.name, batch, frames, _relative(got, expected))


@pytest.mark.float_sensitive
@pytest.mark.parametrize("name,changes", [("debug-prior", {}), ("debug-gl", {"prior_gl_iterations": 1})])
def test_vocos_with_a_signal_processing_prior_exports_to_one_graph(name, changes, tmp_path):
    """NNLS, peak phase and Griffin-Lim inside the graph (real DFTs as convolutions): the same
    output as torch. Measured ~1e-5 of peak: float64 NNLS and peak picking make the phase
    decisions the same bits in both runtimes; what remains is float32 DFT rounding."""
    model = _prior_vocos(name, **changes)
    path = export_onnx(model, tmp_path / "prior.onnx")
    _assert_graph_equals_torch(model, path)


# vocos-22k: 16 iterations, float32 DFTs as convolutions, exported in ~30 s. griffinlim: 32,
# which amplify float32 DFT rounding past the check (1.9e-3 of peak), so its graph iterates in
# float64 (`onnx_dsp.FLOAT32_MAX_ITERATIONS`): exported in ~60 s, 1.6e-4 of peak on the check's mel,
# <= 7.6e-4 on speech. The loud random (2, 300) mel was 1.09e-3 apart until the peak-phase start
# stopped deciding near-flat floor bins on the last bits of log() (see
# test_peak_phase_start_is_the_same_in_onnx_runtime).


@pytest.mark.float_sensitive
@pytest.mark.slow  # all three ~2.5 minutes here
@pytest.mark.parametrize("name", ["debug-gl", "vocos-22k", "griffinlim"])
def test_shipped_vocos_and_griffin_lim_export(name, tmp_path):
    model = _prior_vocos("debug-gl") if name == "debug-gl" else load_vocoder(name).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    _assert_graph_equals_torch(model, path, shapes=((1, 11), (3, 53), (2, 300)))


@pytest.mark.float_sensitive
def test_peak_phase_start_is_the_same_in_onnx_runtime():
    """Griffin-Lim's peak-phase start, traced and run by ONNX Runtime, on a loud mel whose floor
    regions hold near-flat log-magnitude triples: ORT's float64 log() differs from torch's in the
    last bits there, and a start that switched the parabolic offset on a curvature threshold took
    another branch in 17,000 bins (offsets 0 vs 0.5, phases up to 1e-3 rad apart after cumsum)."""
    from melwave.audio import phase_retrieval as gl

    shipped = load_vocoder("griffinlim")
    cfg = shipped.mel_config
    mel = _mel(2, 300, seed=300)
    with torch.no_grad():
        magnitude = gl.mel_to_linear(mel, cfg, iterations=shipped.config.nnls_iterations)

    class Start(torch.nn.Module):
        def forward(self, magnitude):
            return gl.peak_phase_angle(magnitude, cfg)

    program = torch.onnx.export(Start(), (magnitude,), dynamo=True, verbose=False)
    got = torch.as_tensor(session_from(program.model_proto.SerializeToString()).run(None, {"magnitude": magnitude.numpy()})[0])
    with torch.no_grad():
        expected = gl.peak_phase_angle(magnitude, cfg)
    difference = (got - expected).abs()
    difference = torch.minimum(difference, 2 * torch.pi - difference)  # angles in [0, 2π)
    assert difference.max() < 1e-5, float(difference.max())  # float32 rounding of the final angle; the threshold bug: 1e-3


@pytest.mark.float_sensitive
def test_graph_framing_and_overlap_add_for_any_hop():
    """The float64 Griffin-Lim graph's framing and overlap-add (slices of whole hops) against
    torch's unfold and a plain loop, for a hop that divides n_fft and two that do not."""
    from melwave.models.onnx.dsp import frame_signal, overlap_add

    for n_fft, hop in ((16, 4), (16, 5), (16, 7)):
        frames = 6
        signal = torch.randn(2, (frames - 1) * hop + n_fft, dtype=torch.float64)
        assert torch.equal(frame_signal(signal, n_fft, hop, frames), signal.unfold(-1, n_fft, hop))
        chunks = torch.randn(2, frames, n_fft, dtype=torch.float64)
        expected = torch.zeros_like(signal)
        for t in range(frames):
            expected[:, t * hop:t * hop + n_fft] += chunks[:, t]
        assert torch.allclose(overlap_add(chunks, hop), expected, rtol=0, atol=1e-12), (n_fft, hop)


@pytest.mark.float_sensitive
def test_float64_graph_griffin_lim_computes_torch_griffin_lim():
    """Past FLOAT32_MAX_ITERATIONS the graph's Griffin-Lim runs in float64 (MatMul, not Conv):
    the same function as `griffinlim.griffin_lim` in float64, here run by torch (the ONNX Runtime
    run of the shipped griffinlim is the slow test above)."""
    from melwave.audio import phase_retrieval as gl
    from melwave.models.onnx.dsp import FLOAT32_MAX_ITERATIONS, GraphGriffinLim

    iterations = FLOAT32_MAX_ITERATIONS + 1
    magnitude = torch.rand(2, CFG.n_fft // 2 + 1, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # A zero start: torch takes an initial phase as complex64, which would round any other angle.
    angle = torch.zeros_like(magnitude)
    graph = GraphGriffinLim(CFG, iterations, 0.99)
    assert graph.dtype == torch.float64
    wave, phasor = graph(magnitude, angle)
    expected, phase = gl.griffin_lim(magnitude, CFG, iterations=iterations, init=torch.polar(torch.ones_like(magnitude), angle),
                                     return_phase=True)
    # torch's float64 run still takes its window and envelope in float32 (`griffinlim._window`):
    # a 1e-7 difference that 17 momentum iterations amplify to ~1e-5. A wrong framing, basis or
    # envelope is O(1) off.
    assert _relative(wave.numpy(), expected.numpy()) < 1e-4
    assert torch.allclose(phasor, torch.cat([phase.real, phase.imag], dim=1).to(phasor.dtype), atol=1e-3)


@pytest.mark.float_sensitive
def test_rows_2d_computes_the_same_convolutions():
    """The 2-d form HiFi-GAN's graph is exported in (kernel (1, k) over rows of height 1) against
    the 1-d layers, for dilation, stride, padding and output padding as HiFi-GAN uses them."""
    from melwave.models.onnx.export import Rows2d

    torch.manual_seed(0)
    layers = torch.nn.Sequential(torch.nn.Conv1d(8, 6, 7, padding=3), torch.nn.LeakyReLU(0.1),
                                 torch.nn.ConvTranspose1d(6, 5, 16, 8, padding=4),
                                 torch.nn.Conv1d(5, 5, 11, dilation=5, padding=25),
                                 torch.nn.ConvTranspose1d(5, 1, 3, 3, padding=2, output_padding=1))
    rows = Rows2d(copy.deepcopy(layers))
    x = torch.randn(2, 8, 29)
    with torch.no_grad():
        expected = layers(x)
        got = rows(x)
    # The same products summed by another kernel: float32 rounding, ~1e-7 of peak.
    assert got.shape == expected.shape and _relative(got.numpy(), expected.numpy()) < 1e-5


def test_what_cannot_be_exported_is_refused_in_one_line(tmp_path):
    from melwave.models.vocoders.griffinlim import GriffinLim, GriffinLimConfig

    for model, why in ((_debug("diffwave"), "sampler"), (GriffinLim(GriffinLimConfig(init="random"), mel_config=CFG), "random")):
        with pytest.raises(ExportError) as caught:
            export_onnx(model, tmp_path / "x.onnx")
        assert why in str(caught.value) and "\n" not in str(caught.value)
        assert not (tmp_path / "x.onnx").exists()


def test_export_never_overwrites(tmp_path):
    target = tmp_path / "keep.onnx"
    target.write_bytes(b"keep")
    with pytest.raises(OutputExistsError):
        export_onnx(_debug("hifigan"), target)
    assert target.read_bytes() == b"keep"


@pytest.mark.float_sensitive
def test_cli_export_then_synthesize_and_resynth_with_onnxruntime(tmp_path, wav_file, capsys):
    model = _debug("hifigan")
    saved = save_model(model, tmp_path / "tiny.safetensors")
    onnx_file = tmp_path / "tiny.onnx"
    assert main(["export", "-m", str(saved), "-o", str(onnx_file)]) == 0
    assert "MelConfig" in capsys.readouterr().err
    src = wav_file("in.wav", seconds=0.5)
    mel_file = tmp_path / "in.pt"
    assert main(["analyze", "-i", src, "-o", str(mel_file), "-m", str(saved), "--no-progress"]) == 0
    out_onnx, out_torch = tmp_path / "onnx.wav", tmp_path / "torch.wav"
    assert main(["synthesize", "-i", str(mel_file), "-o", str(out_onnx), "-m", str(onnx_file), "--no-progress"]) == 0
    assert main(["synthesize", "-i", str(mel_file), "-o", str(out_torch), "-m", str(saved), "--no-progress"]) == 0
    a, _ = sf.read(out_onnx, dtype="float32")
    b, _ = sf.read(out_torch, dtype="float32")
    # 16-bit PCM quantisation dominates the two paths' difference.
    assert a.shape == b.shape and np.abs(a - b).max() <= TOLERANCE * np.abs(b).max() + 2 / 32768
    out = tmp_path / "resynth.wav"
    assert main(["resynth", "-i", src, "-o", str(out), "-m", str(onnx_file), "--backend", "onnxruntime", "--no-progress"]) == 0
    assert sf.info(out).frames > 0
    diffwave = save_model(_debug("diffwave"), tmp_path / "diffwave.safetensors")
    assert main(["export", "-m", str(diffwave), "-o", str(tmp_path / "dw.onnx")]) == 2
    assert "cannot be exported" in capsys.readouterr().err


def test_a_file_that_is_not_a_melwave_onnx_model_is_one_line(tmp_path):
    from melwave.errors import CheckpointError

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf")
    # melwave reads the protobuf itself before ONNX Runtime does (tests/robustness/test_export_convert_hostile.py).
    with pytest.raises(CheckpointError, match="junk.onnx: not a valid ONNX model") as caught:
        load_vocoder(junk)
    assert "\n" not in str(caught.value)
    # A valid ONNX model without melwave's metadata is refused naming what is missing.
    foreign = tmp_path / "foreign.onnx"
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["mel"], ["wave"])], "g",
                                   [onnx.helper.make_tensor_value_info("mel", onnx.TensorProto.FLOAT, None)],
                                   [onnx.helper.make_tensor_value_info("wave", onnx.TensorProto.FLOAT, None)])
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)]), str(foreign))
    with pytest.raises(CheckpointError, match="foreign.onnx: not an ONNX model exported by melwave"):
        load_vocoder(foreign)


def _default_opset(path) -> int:
    return next(entry.version for entry in onnx.load(str(path)).opset_import if entry.domain in ("", "ai.onnx"))


@pytest.mark.float_sensitive
def test_the_requested_opset_is_the_one_written_and_recorded(tmp_path):
    model = _debug("melgan")
    path = export_onnx(model, tmp_path / "opset19.onnx", opset=19)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    # The control for the refusals below: an opset in range is written and recorded as asked.
    assert _default_opset(path) == 19 and meta["opset"] == "19"
    mel = _mel(2, 21)
    with torch.no_grad():
        assert _relative(load_vocoder(path)(mel).numpy(), model(mel).numpy()) <= TOLERANCE


def test_opsets_the_exporter_cannot_write_are_refused_in_one_line(tmp_path, capsys):
    from melwave.models.onnx.export import supported_opsets

    supported = supported_opsets()
    stated = f"{supported.start}-{supported.stop - 1}"
    # Before: the out-of-range numbers wrote an opset-18 file whose metadata claimed the number asked for.
    for opset in (supported.start - 1, 7, supported.stop, 10**6, True, "18"):
        with pytest.raises(ExportError, match=f"writes ONNX opsets {stated}") as caught:
            export_onnx(_debug("melgan"), tmp_path / "x.onnx", opset=opset)
        assert "\n" not in str(caught.value)
    assert not (tmp_path / "x.onnx").exists()
    # The CLI refuses before loading: a model that does not exist is never looked up.
    assert main(["export", "-m", "no-such-model", "-o", str(tmp_path / "y.onnx"), "--opset", "13"]) == 2
    err = capsys.readouterr().err
    assert stated in err and "no-such-model" not in err and err.count("\n") == 1


def test_a_conversion_the_exporter_did_not_do_is_refused_not_written(tmp_path, monkeypatch):
    """torch.onnx.export keeps opset 18 when its version conversion fails (measured: MelGAN asked
    for 17, Vocos for 26): simulated here for any opset, as a future torch may fail elsewhere."""
    real = torch.onnx.export

    def keeps_18(*args, **kwargs):
        return real(*args, **{**kwargs, "opset_version": 18})

    monkeypatch.setattr(torch.onnx, "export", keeps_18)
    with pytest.raises(ExportError, match="could not write opset 20 for it .*left opset 18") as caught:
        export_onnx(_debug("melgan"), tmp_path / "kept.onnx", opset=20)
    assert "\n" not in str(caught.value) and not (tmp_path / "kept.onnx").exists()
