"""Wide convolutions as overlap-save in exported graphs (`melwave.models.onnx.spectral_conv`):
the same convolution within float rounding, chosen only where it is cheaper, and HiFi-GAN V1's
graph no further from float64 than torch's own float32 output."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from melwave.models.onnx.spectral_conv import FRAME_LENGTHS, MIN_CHANNELS, SpectralConvRows, plan


def _relative(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).abs().max() / expected.abs().max())


@pytest.mark.float_sensitive
@pytest.mark.parametrize("c_in,c_out,kernel,dilation,n,bias", [
    (8, 8, 11, 1, 62, True), (6, 10, 7, 3, 62, False), (5, 4, 11, 5, 126, True), (3, 7, 3, 1, 94, True),
])
def test_overlap_save_computes_the_convolution(c_in, c_out, kernel, dilation, n, bias):
    """Against the float64 convolution, for lengths shorter than a frame, a frame, a frame and
    one, and many frames, batch 2: float32 rounding (~1e-7 of peak) where a wrong tap order,
    frame offset or inverse basis is O(1) off."""
    torch.manual_seed(0)
    conv = nn.Conv1d(c_in, c_out, kernel, dilation=dilation, padding=(kernel - 1) * dilation // 2, bias=bias)
    spectral = SpectralConvRows(conv, n)
    for samples in (1, 5, n, n + 1, 10 * n + 3):
        x = torch.randn(2, c_in, samples)
        with torch.no_grad():
            expected = conv.double()(x.double()).float()
            got = spectral(x[:, :, None])
        assert got.shape == (2, c_out, 1, samples)
        assert _relative(got[:, :, 0], expected) < 1e-5, (samples, _relative(got[:, :, 0], expected))
        conv.float()


def test_plan_takes_only_wide_same_convolutions_that_get_cheaper():
    wide = nn.Conv1d(256, 256, 11, padding=5)
    assert plan(wide) in FRAME_LENGTHS
    assert plan(nn.Conv1d(256, 256, 11, dilation=3, padding=15)) in FRAME_LENGTHS
    # Narrow layers (HiFi-GAN V1's 32- and 64-channel stages) and short kernels stay direct: the DFTs cost more than they save.
    assert plan(nn.Conv1d(32, 32, 11, padding=5)) is None
    assert plan(nn.Conv1d(128, 128, 3, padding=1)) is None
    # The mel-in first layer, however wide its output, and anything that is not a 'same' convolution.
    assert plan(nn.Conv1d(80, 512, 7, padding=3)) is None and MIN_CHANNELS > 80
    assert plan(nn.Conv1d(256, 256, 11, padding=0)) is None
    assert plan(nn.Conv1d(256, 256, 11, stride=2, padding=5)) is None
    assert plan(nn.Conv1d(256, 256, 11, padding=5, groups=2)) is None
    assert plan(nn.Conv1d(256, 256, 11, padding=5, padding_mode="reflect")) is None


def test_hifigan_v1_graph_takes_its_wide_layers_spectral_unless_told_not_to():
    """`melwave export` builds HiFi-GAN V1's graph with its 256- and 128-channel kernel-7/11
    layers in the frequency domain; `--direct-convs` (spectral_convs=False) keeps every one direct."""
    from melwave.audio.config import PRESETS
    from melwave.models.onnx.export import graph_module
    from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN

    model = HiFiGAN(HIFIGAN_CONFIGS["v1"], PRESETS["hifigan-22k"]).eval()
    spectral = [m for m in graph_module(model).modules() if isinstance(m, SpectralConvRows)]
    assert len(spectral) >= 12
    assert not any(isinstance(m, SpectralConvRows) for m in graph_module(model, spectral_convs=False).modules())


@pytest.mark.parametrize("flag,spectral", [([], True), (["--direct-convs"], False)])
def test_cli_export_passes_direct_convs_on(flag, spectral, monkeypatch, tmp_path):
    import melwave.models.onnx.export as onnx_export
    from melwave.cli import main

    seen = {}
    monkeypatch.setattr(onnx_export, "export_onnx", lambda model, path, **kwargs: seen.update(kwargs) or path)
    assert main(["export", "-m", "griffinlim", "-o", str(tmp_path / "g.onnx"), *flag]) == 0
    assert seen["spectral_convs"] is spectral


@pytest.mark.float_sensitive
def test_an_exported_spectral_convolution_runs_in_onnx_runtime_for_any_length():
    """Traced once (torch.onnx, dynamic batch and length, as `melwave export` traces), run by ONNX
    Runtime on other shapes: the float64 convolution within rounding."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from melwave.models.onnx.runtime import session_from

    torch.manual_seed(1)
    conv = nn.Conv1d(16, 12, 11, dilation=3, padding=15)
    module = SpectralConvRows(conv, 62).eval()
    dim = torch.export.Dim.DYNAMIC
    program = torch.onnx.export(module, (torch.randn(2, 16, 1, 300),), dynamo=True, input_names=["x"],
                                output_names=["y"], dynamic_shapes={"x": {0: dim, 3: dim}}, verbose=False)
    session = session_from(program.model_proto.SerializeToString())
    for batch, samples in ((1, 7), (3, 1001)):
        x = torch.randn(batch, 16, samples)
        with torch.no_grad():
            expected = conv.double()(x.double()).float()
        got = torch.as_tensor(session.run(["y"], {"x": x[:, :, None].numpy()})[0])
        assert got.shape == (batch, 12, 1, samples)
        assert _relative(got[:, :, 0], expected) < 1e-5


@pytest.mark.float_sensitive
@pytest.mark.slow  # ~1 minute: export and run HiFi-GAN V1 at full size
def test_hifigan_v1_graph_is_as_close_to_float64_as_torch_float32():
    """HiFi-GAN V1 (`hifigan-universal`) exported with its wide layers in the frequency domain:
    ONNX Runtime's output is no further from the float64 computation than torch's own float32
    output (measured 2.3e-4 vs 2.4e-4 of peak on this mel), and within the export check of it."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from melwave.models.onnx.export import export_bytes, graph_module
    from melwave.models.onnx.runtime import session_from
    from melwave.models.io.load import load_vocoder
    from testsignals import speech_like

    model = load_vocoder("hifigan-universal").eval()
    assert sum(isinstance(m, SpectralConvRows) for m in graph_module(model).modules()) >= 12
    mel = model.prepare_melspectrogram(speech_like(model.mel_config.sample_rate, 4.0))[None]
    session = session_from(export_bytes(model))
    with torch.no_grad():
        truth = copy.deepcopy(model).double()(mel.double()).float()
        torch_float32 = model(mel)
    got = torch.as_tensor(session.run(["wave"], {"mel": mel.numpy()})[0])
    assert _relative(got, torch_float32) < 1e-3
    assert _relative(got, truth) <= 2 * _relative(torch_float32, truth), (_relative(got, truth), _relative(torch_float32, truth))


def test_onnx_runtime_runs_the_spectral_layer_without_transposes_or_transposed_convolutions(tmp_path):
    """What made the layer slow where it was measured: a Transpose node (5-d transposes cost more
    than the products) and a ConvTranspose inverse (GEMM plus a scalar col2im, a tenth of the speed
    of a MatMul on an Intel Xeon). After ONNX Runtime's own optimisations neither is left: the
    transposed operand of the inverse is folded into a FusedMatMul."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")

    module = SpectralConvRows(nn.Conv1d(16, 16, 11, padding=5), 62).eval()
    dim = torch.export.Dim.DYNAMIC
    program = torch.onnx.export(module, (torch.randn(1, 16, 1, 300),), dynamo=True, input_names=["x"],
                                output_names=["y"], dynamic_shapes={"x": {0: dim, 3: dim}}, verbose=False)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # portable, no NCHWc
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(program.model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    ops = [node.op_type for node in onnx.load(tmp_path / "optimized.onnx").graph.node]
    assert "ConvTranspose" not in ops and "Transpose" not in ops, ops
    assert ops.count("FusedMatMul") == 1, ops
