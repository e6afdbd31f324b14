"""melwave's signal-processing priors re-expressed for an ONNX graph (used by `onnx_export`).

ONNX has no FFT of complex tensors that every runtime runs, no cummax and no complex numbers;
the exporter takes none of them. What the graph needs instead, each computing the function of
the torch code it stands for:

- a spectrum is real: (B, 2·n_freqs, F), real parts stacked over imaginary parts;
- the STFT of a signal is one Conv1d whose kernels are the windowed DFT basis (cos and −sin),
  stride hop; its inverse, overlap-add included, one ConvTranspose1d of the windowed inverse-DFT
  basis (`RealISTFT`'s), divided by the window envelope;
- NNLS (`mel_to_linear`), the peak phase (`peak_phase_angle`) and the fast Griffin-Lim loop
  (`griffinlim.iterate`, its padding and cropping) are melwave's own functions, called with
  these transforms: one implementation of the algorithm, unrolled for the fixed iteration count.

Chunked synthesis: the graph has no state input, so each chunk starts from its own peak phase
(the torch model continues the previous chunk's phase, `forward_chunk`); the crossfade over
`receptive_frames` of context hides most of the difference (see tests/models/test_onnx.py).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from melwave.audio import griffinlim as gl
from melwave.audio.config import MelConfig


def dft_bases(n_fft: int, window: Tensor) -> tuple[Tensor, Tensor]:
    """(forward, inverse) windowed real DFT bases, each (2·n_freqs, n_fft) float64.

    forward: rows w[n]·cos(2πkn/N) then −w[n]·sin(2πkn/N): a frame's rfft, real over imaginary.
    inverse: irfft of a frame times the window, x[n] = (1/N) Σ_k c_k (Re X_k cos − Im X_k sin),
    c_k = 1 for DC and Nyquist, 2 otherwise.
    """
    window = window.detach().double().cpu()
    n_freqs = n_fft // 2 + 1
    k = torch.arange(n_freqs, dtype=torch.float64)[:, None]
    n = torch.arange(n_fft, dtype=torch.float64)[None, :]
    angle = 2 * math.pi * k * n / n_fft
    forward = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window
    weight = torch.full((n_freqs, 1), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0
    weight = weight / n_fft
    inverse = torch.cat([weight * torch.cos(angle), -weight * torch.sin(angle)]) * window
    return forward, inverse


def _scale_stacked(spec: Tensor, magnitude: Tensor) -> Tensor:
    """`griffinlim._scale_to_magnitude` for stacked spectra: S · a/|a|."""
    real, imag = spec.chunk(2, dim=1)
    factor = magnitude * torch.rsqrt((real * real + imag * imag).clamp(min=1e-32))
    return torch.cat([real * factor, imag * factor], dim=1)


class _NNLSOperators(nn.Module):
    """`griffinlim.nnls_operators(cfg)` as buffers: constants of the graph."""

    def __init__(self, cfg: MelConfig):
        super().__init__()
        for name, value in zip(("basis", "pinv"), gl.nnls_operators(cfg)):
            self.register_buffer(name, value.clone(), persistent=False)

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.basis, self.pinv


class GraphGriffinLim(nn.Module):
    """Magnitude (B, n_freqs, F) and initial phase angle -> (wave (B, F·hop), final phasor
    (B, 2·n_freqs, F)): `griffinlim.griffin_lim(..., return_phase=True)` with real DFTs."""

    def __init__(self, cfg: MelConfig, iterations: int, momentum: float):
        super().__init__()
        self.cfg, self.iterations, self.momentum = cfg, iterations, momentum
        forward, inverse = dft_bases(cfg.n_fft, gl._window(cfg, torch.device("cpu")))
        self.register_buffer("forward_basis", forward[:, None, :].float(), persistent=False)
        self.register_buffer("inverse_basis", inverse[:, None, :].float(), persistent=False)
        self.register_buffer("window_square", gl._window(cfg, torch.device("cpu")).square()[None, None, :], persistent=False)

    def forward(self, magnitude: Tensor, angle: Tensor) -> tuple[Tensor, Tensor]:
        cfg, frames = self.cfg, magnitude.shape[-1]
        hop = cfg.hop_length
        ones = torch.ones_like(magnitude[:1, :1, :])
        envelope = gl.floor_envelope(nn.functional.conv_transpose1d(ones, self.window_square, stride=hop)[0, 0])
        inverse_envelope = 1.0 / envelope

        def synthesise(spec: Tensor) -> Tensor:
            return nn.functional.conv_transpose1d(spec, self.inverse_basis, stride=hop)[:, 0] * inverse_envelope

        def analyse(signal: Tensor) -> Tensor:
            # The frame count restated as the input's: the exporter would otherwise derive it from
            # the signal's length, itself derived from the previous iteration's frames, and its
            # symbolic shapes would nest one level per unrolled iteration; simplifying them grew
            # exponentially (6 iterations: 5 min to export, the shipped vocos-22k's 16: > 20 min).
            spec = nn.functional.conv1d(signal[:, None], self.forward_basis, stride=hop)
            return spec.reshape(magnitude.shape[0], self.forward_basis.shape[0], frames)

        start = torch.cat([torch.cos(angle), torch.sin(angle)], dim=1)
        spec = gl.iterate(torch.cat([magnitude, magnitude], dim=1) * start, magnitude, cfg, frames,
                          iterations=self.iterations, momentum=self.momentum,
                          synthesise=synthesise, analyse=analyse, scale=_scale_stacked)
        wave = gl.crop(synthesise(spec), cfg, frames)
        # As griffin_lim(return_phase=True): unit phasors, the initial ones where the magnitude is 0.
        phasor = _scale_stacked(spec, torch.ones_like(magnitude))
        real, imag = phasor.chunk(2, dim=1)
        keep = (real * real + imag * imag).sqrt() > 0.5
        return wave, torch.where(torch.cat([keep, keep], dim=1), phasor, start)


class GraphPrior(nn.Module):
    """`Vocos.prior` for the graph: mel (B, n_mels, F) -> (magnitude (B, n_freqs, F), unit phasor
    stacked (B, 2·n_freqs, F)), for priors "nnls-peaks" and "nnls-gl"."""

    def __init__(self, cfg: MelConfig, prior: str, nnls_iterations: int, gl_iterations: int, momentum: float = 0.99):
        super().__init__()
        self.cfg, self.nnls_iterations = cfg, nnls_iterations
        self.nnls = _NNLSOperators(cfg)
        self.griffin_lim = GraphGriffinLim(cfg, gl_iterations, momentum) if prior == "nnls-gl" else None

    def forward(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        magnitude = gl.mel_to_linear(mel.float(), self.cfg, iterations=self.nnls_iterations, operators=self.nnls())
        angle = gl.peak_phase_angle(magnitude, self.cfg)
        if self.griffin_lim is None:
            return magnitude, torch.cat([torch.cos(angle), torch.sin(angle)], dim=1)
        return magnitude, self.griffin_lim(magnitude, angle)[1]


class GraphGriffinLimVocoder(nn.Module):
    """The `griffinlim` vocoder (init "peaks") for the graph: mel -> wave (B, F·hop)."""

    def __init__(self, cfg: MelConfig, iterations: int, momentum: float, nnls_iterations: int):
        super().__init__()
        self.cfg, self.nnls_iterations = cfg, nnls_iterations
        self.nnls = _NNLSOperators(cfg)
        self.griffin_lim = GraphGriffinLim(cfg, iterations, momentum)

    def forward(self, mel: Tensor) -> Tensor:
        magnitude = gl.mel_to_linear(mel, self.cfg, iterations=self.nnls_iterations, operators=self.nnls())
        wave, _ = self.griffin_lim(magnitude, gl.peak_phase_angle(magnitude, self.cfg))
        return wave.clamp(-1, 1)
