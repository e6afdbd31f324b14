"""melwave's signal-processing priors re-expressed for an ONNX graph (used by `onnx_export`).

ONNX has no FFT of complex tensors that every runtime runs, no cummax and no complex numbers;
the exporter takes none of them. What the graph needs instead, each computing the function of
the torch code it stands for:

- a spectrum is real: (B, 2·n_freqs, F), real parts stacked over imaginary parts;
- the STFT of a signal is one Conv1d whose kernels are the windowed DFT basis (cos and −sin),
  stride hop; its inverse, overlap-add included, one ConvTranspose1d of the windowed inverse-DFT
  basis (`RealISTFT`'s), divided by the window envelope; or, for Griffin-Lim loops long enough to
  need float64 (`FLOAT32_MAX_ITERATIONS`), the same bases as MatMuls between framing and overlap-add;
- NNLS (`mel_to_linear`), the peak phase (`peak_phase_angle`) and the fast Griffin-Lim loop
  (`griffinlim.iterate`, its padding and cropping) are melwave's own functions, called with
  these transforms: one implementation of the algorithm, unrolled for the fixed iteration count.

Chunked synthesis: the graph has no state input, so each chunk starts from its own peak phase
(the torch model continues the previous chunk's phase, `forward_chunk`); the crossfade over
`receptive_frames` of context hides most of the difference (see tests/models/onnx/test_onnx.py).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from melwave.audio import phase_retrieval as gl
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


def _whole_hops(n_fft: int, hop: int) -> int:
    """Hops a frame spans, rounded up: frames are handled as that many blocks of one hop."""
    return -(-n_fft // hop)


def frame_signal(signal: Tensor, n_fft: int, hop: int, frames: int) -> Tensor:
    """(B, (F−1)·hop + n_fft) -> (B, F, n_fft): frame t is signal[t·hop : t·hop + n_fft].

    The signal is cut into blocks of one hop and each frame concatenated from r consecutive
    blocks: slices and a reshape, which every runtime runs for any dtype (ONNX Runtime's Conv,
    the other way to frame, is float32 only). The frame count is the input's (see
    `GraphGriffinLim.forward`).
    """
    r = _whole_hops(n_fft, hop)
    padded = nn.functional.pad(signal, (0, r * hop - n_fft))
    blocks = padded.reshape(signal.shape[0], frames + r - 1, hop)
    return torch.cat([blocks[:, j:j + frames] for j in range(r)], dim=-1)[..., :n_fft]


def overlap_add(frames: Tensor, hop: int) -> Tensor:
    """(B, F, n_fft) -> (B, (F−1)·hop + n_fft): frame t added at sample t·hop.

    `griffinlim._overlap_add`'s block sum, written without in-place slice updates (which the
    exporter would turn into scatters): block j of every frame, shifted j blocks along, summed.
    """
    batch, count, n_fft = frames.shape
    r = _whole_hops(n_fft, hop)
    blocks = nn.functional.pad(frames, (0, r * hop - n_fft)).reshape(batch, count, r, hop)
    out = sum(nn.functional.pad(blocks[:, :, j], (0, 0, j, r - 1 - j)) for j in range(r))
    return out.reshape(batch, (count + r - 1) * hop)[:, :(count - 1) * hop + n_fft]


class _NNLSOperators(nn.Module):
    """`griffinlim.nnls_operators(cfg)` as buffers: constants of the graph."""

    def __init__(self, cfg: MelConfig):
        super().__init__()
        for name, value in zip(("basis", "pinv"), gl.nnls_operators(cfg)):
            self.register_buffer(name, value.clone(), persistent=False)

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.basis, self.pinv


# Fast Griffin-Lim with momentum 0.99 amplifies each iteration's rounding, and the graph's DFTs
# round more than torch's FFTs (a float32 sum of 1024 products per bin). Up to this many iterations
# float32 convolutions stay well inside the export check (the shipped vocos-22k's 16: 2.1e-4 of peak
# from torch on 10 s of speech); the shipped griffinlim's 32 did not (1.9e-3 on the check's test mel,
# 2.9e-3 on melwave/assets/example.wav) and run in float64, where what remains is torch's own float32
# rounding (1.6e-4, 7.9e-4). Float64 for all would cost vocos-22k 1.9x its ONNX Runtime time
# (float64 GEMMs) and half again its export time (framing and overlap-add as slices: more nodes).
FLOAT32_MAX_ITERATIONS = 16


class GraphGriffinLim(nn.Module):
    """Magnitude (B, n_freqs, F) and initial phase angle -> (wave (B, F·hop), final phasor
    (B, 2·n_freqs, F)): `griffinlim.griffin_lim(..., return_phase=True)` with real DFTs, in float32
    as convolutions, or, beyond FLOAT32_MAX_ITERATIONS, in float64 as framing, MatMul and
    overlap-add (ONNX Runtime's Conv and ConvTranspose are float32 only; its MatMul is not)."""

    def __init__(self, cfg: MelConfig, iterations: int, momentum: float):
        super().__init__()
        self.cfg, self.iterations, self.momentum = cfg, iterations, momentum
        self.dtype = torch.float32 if iterations <= FLOAT32_MAX_ITERATIONS else torch.float64
        window = gl._window(cfg, torch.device("cpu"))
        forward, inverse = dft_bases(cfg.n_fft, window)  # (2·n_freqs, n_fft) each
        self.register_buffer("forward_basis", forward.to(self.dtype), persistent=False)
        self.register_buffer("inverse_basis", inverse.to(self.dtype), persistent=False)
        self.register_buffer("window_square", window.double().square().to(self.dtype), persistent=False)

    def _transforms(self, batch: int, frames: int) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
        """(synthesise, analyse) for `griffinlim.iterate`, spectra stacked (B, 2·n_freqs, F);
        synthesise's overlap-add is not yet divided by the envelope."""
        hop, n_fft = self.cfg.hop_length, self.cfg.n_fft
        if self.dtype == torch.float32:
            def synthesise(spec: Tensor) -> Tensor:
                return nn.functional.conv_transpose1d(spec, self.inverse_basis[:, None], stride=hop)[:, 0]

            def analyse(signal: Tensor) -> Tensor:
                spec = nn.functional.conv1d(signal[:, None], self.forward_basis[:, None], stride=hop)
                return spec.reshape(batch, self.forward_basis.shape[0], frames)

            return synthesise, analyse

        def synthesise(spec: Tensor) -> Tensor:
            return overlap_add(spec.transpose(1, 2) @ self.inverse_basis, hop)

        def analyse(signal: Tensor) -> Tensor:
            return self.forward_basis @ frame_signal(signal, n_fft, hop, frames).transpose(1, 2)

        return synthesise, analyse

    def forward(self, magnitude: Tensor, angle: Tensor) -> tuple[Tensor, Tensor]:
        cfg, (batch, _, frames) = self.cfg, magnitude.shape
        envelope = overlap_add(self.window_square.expand(1, frames, cfg.n_fft), cfg.hop_length)[0]
        inverse_envelope = 1.0 / gl.floor_envelope(envelope)
        # Each transform is given the input's frame count rather than one derived from the signal's
        # length: that length derives from the previous iteration's frames, and the exporter's
        # symbolic shapes would nest one level per unrolled iteration; simplifying them grew
        # exponentially (6 iterations: 5 min to export, the shipped vocos-22k's 16: > 20 min).
        overlap_added, analyse = self._transforms(batch, frames)

        def synthesise(spec: Tensor) -> Tensor:
            return overlap_added(spec) * inverse_envelope

        magnitude_t, angle_t = magnitude.to(self.dtype), angle.to(self.dtype)
        start = torch.cat([torch.cos(angle_t), torch.sin(angle_t)], dim=1)
        spec = gl.iterate(torch.cat([magnitude_t, magnitude_t], dim=1) * start, magnitude_t, cfg, frames,
                          iterations=self.iterations, momentum=self.momentum,
                          synthesise=synthesise, analyse=analyse, scale=_scale_stacked)
        wave = gl.crop(synthesise(spec), cfg, frames).to(magnitude.dtype)
        # As griffin_lim(return_phase=True): unit phasors, the initial ones where the magnitude is 0.
        phasor = _scale_stacked(spec, torch.ones_like(magnitude_t))
        real, imag = phasor.chunk(2, dim=1)
        keep = (real * real + imag * imag).sqrt() > 0.5
        return wave, torch.where(torch.cat([keep, keep], dim=1), phasor, start).to(magnitude.dtype)


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
