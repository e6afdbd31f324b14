"""Export a vocoder to ONNX: one graph from mel (batch, n_mels, frames) to wave (batch, samples).

Batch and frames are dynamic; samples = frames · hop_length. What a runtime needs to feed the
graph rides in the model's `metadata_props` (plain strings, readable by any ONNX runtime):

    melwave.format    "melwave-onnx"          melwave.version   ONNX_VERSION ("1")
    family            e.g. "hifigan"           model_config      JSON of the family's config
    mel_config        JSON of the MelConfig (sample rate, STFT, mel scale, log compression, ...)
    sample_rate, hop_length, n_mels, receptive_frames (chunking context), input, output
    opset             the default-domain opset the file imports (checked to be the one asked for)
    provenance        JSON: where the weights came from and the melwave version that exported them

Opsets: `supported_opsets()`, from the first torch's ONNX functions are written for to the newest
the installed onnx defines; others are refused in one line stating that range. Below it, torch
only attempts a version conversion, which silently keeps opset 18 for most vocoders (or leaves
newer operators in an older opset); so the written model's opset_import is checked against the
request, and a conversion that did not happen is refused instead of written.

ONNX has no inverse FFT of complex numbers, so melwave's inverse STFT (`blocks.istft_head.ISTFT`)
is re-expressed for the graph by `RealISTFT`: one ConvTranspose1d whose kernels are the windowed
inverse-DFT basis (the real and imaginary parts of each frame in, the overlap-added signal out),
divided by the window envelope, itself a ConvTranspose1d of the squared window. The same frames,
window, padding and envelope floor as the torch path; the export is checked against torch on a
test mel before the file is written.

Griffin-Lim (`init: peaks`) and Vocos with a signal-processing prior (`nnls-peaks`, `nnls-gl`)
export too: `melwave.models.onnx.dsp` unrolls the fixed NNLS and Griffin-Lim iterations with real
DFTs as convolutions and calls melwave's own `mel_to_linear`, `peak_phase_angle` and
`griffinlim.iterate`, so graph and torch compute the same function. The graph carries no phase
from one chunk to the next (torch's `forward_chunk` does). Not exportable (refused with one line
saying why): DiffWave (an iterative sampler drawing noise, not one feed-forward graph) and
Griffin-Lim with `init: random` (torch's generator cannot be reproduced in a graph).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from melwave.errors import MelwaveError
# The format name and version a melwave export carries: defined once, where they are checked.
from melwave.models.onnx.runtime import FORMAT as ONNX_FORMAT, VERSION as ONNX_VERSION

if TYPE_CHECKING:  # pragma: no cover
    from melwave.models.base import Vocoder

DEFAULT_OPSET = 18
# An exported graph must match torch within this fraction of the output's peak: the two paths run
# the same float32 arithmetic in different orders (ONNX Runtime's convolution kernels, the inverse
# DFT as a matrix product instead of an FFT). Tiny models differ by ~1e-6 of peak; HiFi-GAN V1 at
# full size, whose 30+ dilated layers amplify rounding ~1000x, by 7.8e-5 on 10 s of speech (its
# torch float32 output is itself 2.4e-4 from float64's). 1e-3 (the accuracy melwave promises for an export) still catches any
# wrong operator or framing.
VERIFY_TOLERANCE = 1e-3


class ExportError(MelwaveError):
    """A vocoder that cannot be exported to ONNX, or an export that failed its check."""


def supported_opsets() -> range:
    """Opsets the exporter writes: from the first torch's ONNX functions are written for (below
    it torch only attempts a conversion; see the module's docstring) to the newest onnx defines."""
    from melwave.utils.optional import require

    onnx = require("onnx", "ONNX export")
    try:  # private to torch: the opset torch.onnx.export builds graphs in before any conversion
        from torch.onnx._internal.exporter._constants import TORCHLIB_OPSET as lowest
    except ImportError:  # pragma: no cover - another torch layout
        lowest = DEFAULT_OPSET
    return range(int(lowest), int(onnx.defs.onnx_opset_version()) + 1)


def check_opset(opset: Any) -> int:
    """`opset` if the exporter can write it, else one line with the range it can."""
    supported = supported_opsets()
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in supported:
        raise ExportError(f"--opset {opset!r}: this exporter writes ONNX opsets {supported.start}-{supported.stop - 1} "
                          f"(default {DEFAULT_OPSET})")
    return opset


def written_opset(proto: Any) -> int | None:
    """The default-domain ("" or "ai.onnx") opset a ModelProto imports."""
    versions = [entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx")]
    return int(versions[0]) if versions else None


def _refusal(model: Vocoder) -> str | None:
    family = getattr(model, "family", "?")
    if family == "griffinlim" and getattr(model.config, "init", "peaks") != "peaks":
        return ("Griffin-Lim with init 'random' is not exported: its initial phase is drawn by torch's generator, "
                "which no ONNX runtime reproduces; use init 'peaks' (the default)")
    if family == "diffwave":
        return "DiffWave is an iterative sampler that draws noise at every step, not one feed-forward graph"
    return None


def check_exportable(model: Vocoder) -> None:
    reason = _refusal(model)
    if reason is not None:
        raise ExportError(f"vocoder '{model.name}' ({model.family}) cannot be exported to ONNX: {reason}")


class RealISTFT(nn.Module):
    """`ISTFT` for ONNX: (B, 2·n_freqs, F) real and imaginary parts stacked -> (B, F·hop).

    irfft of a frame: x[n] = (1/N) Σ_k c_k (Re X_k cos(2πkn/N) − Im X_k sin(2πkn/N)), c_k = 1 for
    DC and Nyquist, 2 otherwise; times the window, overlap-added at hop: exactly one
    ConvTranspose1d with those (windowed) basis functions as kernels.
    """

    def __init__(self, n_fft: int, hop_length: int, pad_left: int, window: Tensor, floor: float):
        super().__init__()
        from melwave.models.onnx.dsp import dft_bases

        self.hop_length, self.pad_left, self.floor = hop_length, pad_left, floor
        basis = dft_bases(n_fft, window)[1]  # (2·n_freqs, n_fft): windowed inverse DFT
        self.register_buffer("basis", basis[:, None, :].float(), persistent=False)
        self.register_buffer("window_square", window.detach().double().cpu().square()[None, None, :].float(), persistent=False)

    @classmethod
    def like(cls, istft: nn.Module) -> "RealISTFT":
        from melwave.models.blocks import istft_head

        return cls(istft.n_fft, istft.hop_length, istft.pad_left, istft.window, istft_head._ENVELOPE_FLOOR)

    def forward(self, spec: Tensor) -> Tensor:
        frames = spec.shape[-1]
        wave = torch.nn.functional.conv_transpose1d(spec, self.basis, stride=self.hop_length)[:, 0, :]
        ones = torch.ones_like(spec[:1, :1, :])
        envelope = torch.nn.functional.conv_transpose1d(ones, self.window_square, stride=self.hop_length)[0, 0, :]
        start = self.pad_left
        wave = wave[:, start:start + frames * self.hop_length]
        envelope = envelope[start:start + frames * self.hop_length]
        return torch.where(envelope > self.floor, wave / envelope.clamp_min(self.floor), torch.zeros_like(wave))


def _stacked_spectrum(head: nn.Module):
    """ISTFTHead.spectrum returning real and imaginary parts stacked on the frequency axis."""

    def spectrum(log_magnitude: Tensor, phase: Tensor, phasor: Tensor | None = None) -> Tensor:
        from melwave.models.blocks.istft_head import MAX_MAGNITUDE

        magnitude = log_magnitude.exp().clamp(max=MAX_MAGNITUDE)
        real, imag = magnitude * torch.cos(phase), magnitude * torch.sin(phase)
        if phasor is not None:  # a prior's unit phasor, stacked as (real, imag): complex product
            p_real, p_imag = phasor.chunk(2, dim=1)
            real, imag = real * p_real - imag * p_imag, real * p_imag + imag * p_real
        return torch.cat([real, imag], dim=1)

    return spectrum


def _conv_as_2d(conv: nn.Conv1d | nn.ConvTranspose1d) -> nn.Module:
    """The same convolution over (B, C, 1, T): kernel (1, k), weights (O, I, k) -> (O, I, 1, k)."""
    transpose = isinstance(conv, nn.ConvTranspose1d)
    extra = {"output_padding": (0, conv.output_padding[0])} if transpose else {}
    layer = (nn.ConvTranspose2d if transpose else nn.Conv2d)(
        conv.in_channels, conv.out_channels, (1, conv.kernel_size[0]), stride=(1, conv.stride[0]),
        padding=(0, conv.padding[0]), dilation=(1, conv.dilation[0]), groups=conv.groups, bias=conv.bias is not None, **extra)
    with torch.no_grad():
        layer.weight.copy_(conv.weight[:, :, None, :])
        if conv.bias is not None:
            layer.bias.copy_(conv.bias)
    return layer


class Rows2d(nn.Module):
    """A network of 1-d convolutions and pointwise operations run as 2-d ones over rows of height
    1: (B, C, T) -> (B, C, 1, T) -> the model -> the row axis dropped. The same arithmetic per output sample;
    ONNX Runtime runs 2-d convolutions in its blocked NCHWc layout with fused activations and sums
    (1-d ones by im2col and GEMM). HiFi-GAN V1, 10 s, 1 thread: 1.08x faster, and 7.8e-5 of peak
    from torch where the 1-d graph was 4.7e-4 (measured; both orders are float32 rounding, the
    NCHWc kernels' happens to be the closer to torch's). With `spectral`, each wide 'same' convolution
    that `onnx_spectral_conv.plan` finds cheaper runs as overlap-save in the frequency domain instead
    (HiFi-GAN V1: 20 of its layers; 1.15x faster again on an Intel Xeon, 1.2x on an AMD EPYC; as close
    to float64 as torch's float32)."""

    def __init__(self, model: nn.Module, spectral: bool = True):
        super().__init__()
        from melwave.models.onnx.spectral_conv import SpectralConvRows, plan

        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, (nn.Conv1d, nn.ConvTranspose1d)):
                    if child.padding_mode != "zeros" or isinstance(child.padding, str):
                        raise ValueError(f"{name}: only zero, integer padding runs as 2-d rows")
                    frame = plan(child) if spectral and isinstance(child, nn.Conv1d) else None
                    setattr(parent, name, _conv_as_2d(child) if frame is None else SpectralConvRows(child, frame))
        self.model = model

    def forward(self, mel: Tensor) -> Tensor:
        return self.model(mel.unsqueeze(2)).squeeze(-2)  # the row axis (HiFi-GAN squeezes its channel)


# Families whose forward is convolutions and pointwise operations only, so `Rows2d` applies.
_ROWS_2D = ("hifigan",)


def graph_module(model: Vocoder, *, spectral_convs: bool = True) -> nn.Module:
    """A copy of `model` that torch.onnx can trace: weight norm folded, every inverse STFT real;
    with `spectral_convs`, wide 'same' convolutions as overlap-save (`onnx_spectral_conv`)."""
    from melwave.models.blocks.istft_head import ISTFT, ISTFTHead
    from melwave.models.blocks.weight_norm import has_weight_norm

    from melwave.models.onnx import dsp as onnx_dsp

    check_exportable(model)
    if model.family == "griffinlim":
        cfg = model.config
        return onnx_dsp.GraphGriffinLimVocoder(model.mel_config, cfg.iterations, cfg.momentum, cfg.nnls_iterations).eval()
    twin = model.folded() if has_weight_norm(model) and hasattr(model, "folded") else copy.deepcopy(model)
    twin = twin.cpu().float().eval()
    prior = getattr(getattr(twin, "config", None), "prior", "none")
    if twin.family == "vocos" and prior != "none":
        # NNLS, peak phase and Griffin-Lim as real-valued graph operators; the chunk state
        # arguments have no graph counterpart (each call starts from its own peak phase).
        twin.graph_prior = onnx_dsp.GraphPrior(twin.mel_config, prior, twin.config.prior_iterations,
                                               twin.config.prior_gl_iterations)
        twin.__dict__["prior"] = lambda mel, previous=None, offset=0: twin.graph_prior(mel)
    for parent in list(twin.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ISTFT):
                setattr(parent, name, RealISTFT.like(child))
        if isinstance(parent, ISTFTHead):
            parent.spectrum = _stacked_spectrum(parent)
    return Rows2d(twin, spectral=spectral_convs) if twin.family in _ROWS_2D else twin


def metadata(model: Vocoder, source: str | None = None, opset: int = DEFAULT_OPSET) -> dict[str, str]:
    from melwave._version import __version__

    cfg = model.mel_config
    provenance = dict(getattr(model, "provenance", None) or {"layout": "melwave", "source": source or model.name})
    provenance["exported_by"] = f"melwave {__version__}"
    return {
        "melwave.format": ONNX_FORMAT,
        "melwave.version": ONNX_VERSION,
        "family": model.family,
        "name": model.name,
        "model_config": json.dumps(model.config_dict()),
        "mel_config": json.dumps(cfg.to_dict()),
        "sample_rate": str(cfg.sample_rate),
        "hop_length": str(cfg.hop_length),
        "n_mels": str(cfg.n_mels),
        "receptive_frames": str(int(model.receptive_frames)),
        "input": f"mel: float32 (batch, {cfg.n_mels}, frames), melwave mel_config units",
        "output": f"wave: float32 (batch, frames * {cfg.hop_length}) at {cfg.sample_rate} Hz",
        "opset": str(opset),
        "provenance": json.dumps(provenance),
    }


def _example(model: Vocoder, frames: int = 24, batch: int = 2) -> Tensor:
    """A test mel in the model's units: log-mel of a short harmonic tone plus noise."""
    generator = torch.Generator().manual_seed(0)
    cfg = model.mel_config
    samples = frames * cfg.hop_length
    t = torch.arange(samples, dtype=torch.float32) / cfg.sample_rate
    wave = 0.3 * torch.sin(2 * math.pi * 220 * t) + 0.05 * torch.randn(batch, samples, generator=generator)
    with torch.no_grad():
        mel = model.prepare_melspectrogram(wave.to(model.device)).cpu().float()
    return mel[..., :frames].contiguous()  # a strided example makes the exporter trace stride lookups


def export_proto(model: Vocoder, *, opset: int = DEFAULT_OPSET, source: str | None = None, spectral_convs: bool = True) -> Any:
    """The ONNX ModelProto of `model` with melwave's metadata (needs the onnx extra)."""
    from melwave.utils.optional import require

    require("onnxscript", "ONNX export")
    onnx = require("onnx", "ONNX export")
    check_opset(opset)
    graph = graph_module(model, spectral_convs=spectral_convs)
    example = _example(model)
    dim = torch.export.Dim.DYNAMIC
    # The exporter logs a line per torchvision operator it skips (torchvision is not installed), and
    # it and its graph optimiser log and print their progress: nothing a user of `melwave export` needs.
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(graph, (example,), dynamo=True, opset_version=opset, input_names=["mel"],
                                        output_names=["wave"], dynamic_shapes={"mel": {0: dim, 2: dim}}, verbose=False)
    except Exception as err:  # noqa: BLE001 - torch.export raises many types; the user needs one line
        first = " ".join(str(err).split())[:300]
        raise ExportError(f"vocoder '{model.name}' ({model.family}): torch.onnx.export failed ({type(err).__name__}: {first})") from None
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    proto = program.model_proto
    written = written_opset(proto)
    if written != opset:
        raise ExportError(f"vocoder '{model.name}' ({model.family}): the exporter could not write opset {opset} for it "
                          f"(its version conversion left opset {written}); choose another --opset (melwave tests every family at "
                          f"{DEFAULT_OPSET})")
    onnx.helper.set_model_props(proto, metadata(model, source, written))
    return proto


def verify(model: Vocoder, proto_bytes: bytes, *, tolerance: float = VERIFY_TOLERANCE) -> float:
    """Run the exported graph in ONNX Runtime and torch on a test mel of another batch size and
    length than the export's example; return the largest difference over the output's peak, or
    raise ExportError above `tolerance`."""
    from melwave.models.onnx.runtime import run_graph, session_from

    session = session_from(proto_bytes)
    mel = _example(model, frames=37, batch=3)
    with torch.no_grad():
        expected = model(mel.to(model.device)).float().cpu().numpy()
    got = run_graph(session, {"mel": mel.numpy()}, f"vocoder '{model.name}': the exported graph")[0]
    if got.shape != expected.shape:
        raise ExportError(f"vocoder '{model.name}': the ONNX graph gives shape {got.shape} where torch gives {expected.shape}")
    error = float(abs(got - expected).max() / max(float(abs(expected).max()), 1e-12))
    if not error <= tolerance:
        raise ExportError(f"vocoder '{model.name}': the ONNX graph differs from torch by {error:.2e} of the output's peak "
                          f"(allowed {tolerance:.0e}); not written")
    return error


def export_bytes(model: Vocoder, *, opset: int = DEFAULT_OPSET, source: str | None = None, check: bool = True,
                 spectral_convs: bool = True) -> bytes:
    data = export_proto(model, opset=opset, source=source, spectral_convs=spectral_convs).SerializeToString()
    if check:
        verify(model, data)
    return data


def _unrolled_iterations(model: Vocoder) -> int:
    """Griffin-Lim iterations the graph will unroll (0 for feed-forward vocoders)."""
    config = getattr(model, "config", None)
    if model.family == "griffinlim":
        return int(config.iterations)
    if model.family == "vocos" and getattr(config, "prior", "none") != "none":
        return int(getattr(config, "prior_gl_iterations", 0) or 0)
    return 0


def check_output(path: str | Path, *, overwrite: bool, opset: int) -> Path:
    """What can be refused before a model is loaded and traced (seconds to a minute): the
    suffix, an existing file, a folder that cannot be written, the opset."""
    from melwave.utils.fileio import prepare_output

    path = prepare_output(path, suffix=".onnx", kind="ONNX models", overwrite=overwrite)
    check_opset(opset)
    return path


def export_onnx(model: Vocoder, path: str | Path, *, overwrite: bool = False, opset: int = DEFAULT_OPSET,
                source: str | None = None, check: bool = True, spectral_convs: bool = True) -> Path:
    """Write `model` as one .onnx file (atomic; never replaces a file unless `overwrite`), after
    checking ONNX Runtime's output against torch's (`check`). `spectral_convs=False` keeps every
    convolution direct (the order of torch's sums; slower for HiFi-GAN V1). A folder that cannot
    be written or a full disk is one OutputError naming `path`, and leaves no file."""
    from melwave.utils.fileio import output_errors
    from melwave.utils.fileio import atomic_write_bytes

    path = check_output(path, overwrite=overwrite, opset=opset)
    check_exportable(model)
    iterations = _unrolled_iterations(model)
    if iterations >= 8:
        # Every Griffin-Lim iteration becomes a copy of the STFT/iSTFT subgraph: tracing grows with
        # them (measured on 2 CPU cores: the shipped vocos-22k's 16 in ~40 s, griffinlim's 32, in float64, in ~60 s).
        logging.getLogger("melwave").warning(
            "export: unrolling %d Griffin-Lim iterations into the graph; this takes about a minute on a CPU", iterations)
    data = export_bytes(model, opset=opset, source=source, check=check, spectral_convs=spectral_convs)
    with output_errors(path):
        return atomic_write_bytes(path, data, overwrite=overwrite)
