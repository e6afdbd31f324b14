"""Wide 1-d convolutions as overlap-save in the frequency domain, for exported ONNX graphs.

A convolution with C_in·C_out·k multiply-adds per output sample (HiFi-GAN V1's 256-channel
kernel-11 layers: 720k) costs far fewer in the frequency domain, where it is one complex
C_out × C_in product per frequency: cut the input into frames of n samples that overlap by the
kernel's span − 1, take each frame's real DFT, mix channels per frequency, invert, and keep the
n − span + 1 samples that the circular wrap did not touch (overlap-save). In graph operators,
with no Transpose node (ONNX Runtime's transposes of these tensors cost more than the products
themselves; the one transposed operand below is folded into its MatMul):

    x (B, C, 1, T) -> (B, 1, C, T)              a reshape: channels become image rows
    Conv2d, kernel (1, n), stride hop, 2f outputs: the frames' DFTs   (B, f·2, C, nb)
    reshape (B, f, 2C, nb); MatMul with the per-frequency complex mixing as a real
    (f, 2·C_out, 2·C_in) matrix [[Re W, −Im W], [Im W, Re W]]          (B, f, 2·C_out, nb)
    reshape (B, 2f, C_out·nb); MatMul of its transpose with the (2f, hop) inverse DFT of the kept
    samples (ONNX Runtime: one FusedMatMul with transA): frames laid end to end  (B, C_out·nb, hop)
    -> (B, C_out, 1, T) + bias

The inverse was a ConvTranspose2d (kernel (1, hop), stride hop) until measured on an Intel Xeon
(AVX-512): ONNX Runtime runs that as a GEMM plus a scalar col2im at 3–4 GMAC/s, a tenth of the
transposed MatMul, and it ate the whole gain there (V1 2.61× real time spectral vs 2.59× direct;
with the MatMul inverse 3.07×).

The result is the same convolution with float32 rounding of another order (measured per layer:
4e-7 of peak from float64, where the direct float32 convolution is 3–4e-7). Whether a layer gets
faster depends on its size: the forward DFT is memory-bound and the cost model counts its and the
inverse's products as about three multiply-adds each, so `spectral_cost` estimates both forms and
`plan` picks the frame length (constants fitted on an AMD EPYC with the old inverse; on the Intel
Xeon the same choice of layers measured as fast as any other tried, ±1 %). Measured per layer on
the Intel Xeon (ONNX Runtime, one thread, against the same layer direct): 256 channels 1.5–2.2×
faster, 128 channels kernel 11 dilation 1 1.9×, kernel 7 1.3×; dilated 128-channel and all
64-channel layers 0.6–1.3×, kernel 3 slower. Whole HiFi-GAN V1: see docs/onnx.md and
`benchmarks/onnx_backend.py --direct-convs` for the comparison with the all-direct graph.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

FRAME_LENGTHS = (62, 94, 126)  # n + 2 = 2f a multiple of 16: ONNX Runtime blocks channels by 16
# Memory-bound DFT/inverse work in multiply-add equivalents per multiply-add (measured, ONNX Runtime, 1 thread).
_MEMORY_FACTOR = 3.2
# Use the spectral form only where it is estimated at least this much cheaper than the direct one.
_GAIN = 0.85
# Narrower inputs never win, and a vocoder's first layer (mel bands in) runs at the frame rate, where it
# costs nothing either way but where rounding of another order is amplified by every layer after it.
MIN_CHANNELS = 128


def _span(conv: nn.Conv1d) -> int:
    """Input samples one output of `conv` sees: (kernel − 1) · dilation + 1."""
    return (conv.kernel_size[0] - 1) * conv.dilation[0] + 1


def spectral_cost(c_in: int, c_out: int, span: int, n: int) -> float:
    """Estimated cost per output sample (multiply-add equivalents) of overlap-save with frames of n."""
    hop, f = n - span + 1, n // 2 + 1
    mixing = 4 * c_in * c_out * f / hop
    transforms = c_in * 2 * f * n / hop + c_out * 2 * f
    return mixing + _MEMORY_FACTOR * transforms


def plan(conv: nn.Conv1d) -> int | None:
    """The frame length at which `conv` is cheaper in the frequency domain, or None (stay direct).

    Only 'same' convolutions qualify: stride 1, one group, zero padding of (span − 1)/2 each side.
    """
    k, span = conv.kernel_size[0], _span(conv)
    if (conv.stride[0] != 1 or conv.groups != 1 or conv.padding_mode != "zeros" or isinstance(conv.padding, str)
            or 2 * conv.padding[0] != span - 1 or conv.in_channels < MIN_CHANNELS):
        return None
    direct = conv.in_channels * conv.out_channels * k
    best = min(((spectral_cost(conv.in_channels, conv.out_channels, span, n), n) for n in FRAME_LENGTHS
                if n - span + 1 >= n // 4), default=None)
    return best[1] if best is not None and best[0] < _GAIN * direct else None


class SpectralConvRows(nn.Module):
    """`conv` (a 'same' Conv1d) on rows of height 1, by overlap-save: (B, C_in, 1, T) -> (B, C_out, 1, T)."""

    def __init__(self, conv: nn.Conv1d, n: int):
        super().__init__()
        from melwave.models.onnx.dsp import dft_bases

        k, d, span = conv.kernel_size[0], conv.dilation[0], _span(conv)
        self.n, self.hop, self.freqs = n, n - span + 1, n // 2 + 1
        self.pad = conv.padding[0]
        f = self.freqs
        forward, inverse = dft_bases(n, torch.ones(n, dtype=torch.float64))  # (2f, n) each: real rows, then imaginary
        # Rows interleaved per frequency (re_0, im_0, re_1, ...), so the DFT output reshapes to
        # (B, f, [re; im] x C, nb) without a transpose.
        forward = forward.reshape(2, f, n).transpose(0, 1).reshape(2 * f, 1, 1, n)
        # Keep only the samples the circular wrap did not touch: positions span-1 .. n-1.
        inverse = inverse.reshape(2, f, n).transpose(0, 1).reshape(2 * f, n)[:, span - 1:]  # (2f, hop)
        # The convolution y[t] = Σ_j w[j] x[t + j·d − pad] is a circular convolution of each frame with
        # the kernel reversed and placed so that output sample span-1+t sees inputs t .. t+span-1.
        weight = conv.weight.detach().double().cpu()  # (C_out, C_in, k)
        taps = weight.new_zeros(weight.shape[0], weight.shape[1], n)
        taps[:, :, [span - 1 - j * d for j in range(k)]] = weight
        spectrum = torch.fft.rfft(taps, dim=-1)  # (C_out, C_in, f)
        real, imag = spectrum.real.permute(2, 0, 1), spectrum.imag.permute(2, 0, 1)  # (f, C_out, C_in)
        mixing = torch.cat([torch.cat([real, -imag], 2), torch.cat([imag, real], 2)], 1)  # (f, 2 C_out, 2 C_in)
        bias = conv.bias.detach() if conv.bias is not None else weight.new_zeros(weight.shape[0])
        self.register_buffer("forward_basis", forward.float())
        self.register_buffer("inverse_basis", inverse.float().contiguous())
        self.register_buffer("mixing", mixing.float().contiguous())
        self.register_buffer("bias", bias.float().cpu()[:, None, None])

    def forward(self, x: Tensor) -> Tensor:
        samples = x.shape[-1]
        rows = x.flatten(1, 2).unsqueeze(1)  # (B, 1, C_in, T)
        # Symmetric padding by n (the operator has no one-sided form) then dropping the n - pad
        # leading outputs: the same as padding by `pad` on the left, with whole frames to spare on the right.
        spectra = nn.functional.conv2d(rows, self.forward_basis, stride=(1, self.hop), padding=(0, self.n))
        spectra = spectra.unflatten(1, (self.freqs, 2)).flatten(2, 3)  # (B, f, 2 C_in, nb)
        mixed = torch.matmul(self.mixing, spectra)  # (B, f, 2 C_out, nb)
        batch, c_out, frames = mixed.shape[0], mixed.shape[2] // 2, mixed.shape[3]
        mixed = mixed.reshape(batch, 2 * self.freqs, c_out * frames)  # (B, 2f, C_out·nb): rows as the inverse's
        out = torch.matmul(mixed.transpose(1, 2), self.inverse_basis)  # (B, C_out·nb, hop)
        out = out.reshape(batch, c_out, 1, frames * self.hop)
        start = self.n - self.pad
        return out[..., start:start + samples] + self.bias
