"""Inverse STFT aligned with a MelConfig's frames, and the Vocos head that feeds it.

Frame f of a mel made with `MelConfig` starts at waveform sample f·hop − pad_left, where
pad_left depends on the config's padding (center: n_fft/2, symmetric: (n_fft−hop)/2, end and
none: 0). `ISTFT` overlap-adds windowed inverse FFTs, divides by the summed squared window
(the least-squares inverse of torch.stft) and keeps samples pad_left … pad_left + F·hop, so F
frames give exactly F·hop samples lined up with the audio the mel came from. With "center"
padding this equals `torch.istft(center=True, length=F·hop)`; the explicit overlap-add also
covers the other paddings, where torch.istft's checks on the window envelope would refuse the
edges.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.audio.config import MelConfig

_ENVELOPE_FLOOR = 1e-11  # below this no frame covers the sample (only at a signal's very edge)
MAX_MAGNITUDE = 1e2  # exp() of an untrained head can overflow; Vocos clips at the same value
PRIOR_FLOOR = 1e-5  # prior magnitudes below this (the mel floor's order) are treated as this


class ISTFT(nn.Module):
    """Complex spectrum (B, n_fft//2+1, F) -> waveform (B, F·hop)."""

    def __init__(self, n_fft: int, hop_length: int, win_length: int, pad_left: int):
        super().__init__()
        if pad_left > n_fft - hop_length:
            raise ValueError(f"ISTFT: pad_left {pad_left} > n_fft - hop ({n_fft - hop_length}); the last samples would have no frame")
        self.n_fft, self.hop_length, self.pad_left = n_fft, hop_length, pad_left
        window = torch.hann_window(win_length)
        # torch.stft centres a shorter window inside the n_fft frame; do the same.
        left = (n_fft - win_length) // 2
        self.register_buffer("window", F.pad(window, (left, n_fft - win_length - left)), persistent=False)

    @classmethod
    def for_mel_config(cls, cfg: MelConfig) -> "ISTFT":
        return cls(cfg.n_fft, cfg.hop_length, cfg.win_length, cfg.pad_left)

    def forward(self, spec: Tensor) -> Tensor:
        frames = spec.shape[-1]
        hop, n_fft = self.hop_length, self.n_fft
        window = self.window.to(spec.real.dtype)
        chunks = torch.fft.irfft(spec, n=n_fft, dim=1) * window[None, :, None]  # (B, n_fft, F)
        total = (frames - 1) * hop + n_fft
        fold = dict(output_size=(1, total), kernel_size=(1, n_fft), stride=(1, hop))
        wave = F.fold(chunks, **fold)[:, 0, 0, :]
        envelope = F.fold(window.square()[None, :, None].expand(1, -1, frames), **fold)[0, 0, 0, :]
        start, end = self.pad_left, self.pad_left + frames * hop
        wave, envelope = wave[:, start:end], envelope[start:end]
        return torch.where(envelope > _ENVELOPE_FLOOR, wave / envelope.clamp_min(_ENVELOPE_FLOOR), torch.zeros_like(wave))


HEAD_PADDINGS = ("mel", "center", "same")


def head_pad_left(padding: str, cfg: MelConfig) -> int:
    """Where frame 0 of the head's inverse STFT starts, in samples before output sample 0.

    "mel": the mel config's own framing (melwave's models: frame f of the mel is frame f of the
    inverse STFT). "center" and "same": the Vocos authors' ISTFTHead(padding=...), which ignores
    how the mel was framed: "center" is torch.istft(center=True) (n_fft/2), "same" trims
    (n_fft − hop)/2 each side.
    """
    if padding == "mel":
        return cfg.pad_left
    if padding == "center":
        return cfg.n_fft // 2
    if padding == "same":
        return (cfg.n_fft - cfg.hop_length) // 2
    raise ValueError(f"ISTFTHead padding={padding!r}: expected one of {HEAD_PADDINGS}")


class ISTFTHead(nn.Module):
    """Features (B, dim, F) -> waveform (B, F·hop) via predicted log-magnitude and phase.

    A linear layer gives n_fft/2+1 log-magnitudes and n_fft/2+1 phases per frame; magnitude is
    exp(·) clipped at MAX_MAGNITUDE, and the phase enters as cos/sin so it wraps naturally.

    padding (see `head_pad_left`): "mel" for melwave's models, "center"/"same" for the Vocos
    authors' heads. Their "same" gives the same F·hop samples; their "center" (torch.istft
    without `length`) stops hop samples earlier, at (F−1)·hop: here those first (F−1)·hop
    samples are theirs and the last hop is the least-squares overlap-add of the frames that
    reach it, so every melwave vocoder keeps the F·hop contract chunking relies on.
    """

    def __init__(self, dim: int, cfg: MelConfig, padding: str = "mel"):
        super().__init__()
        self.n_freqs = cfg.n_fft // 2 + 1
        self.out = nn.Linear(dim, 2 * self.n_freqs)
        if padding == "mel":
            self.istft = ISTFT.for_mel_config(cfg)
        else:
            # The authors' head always uses a window of n_fft samples (win_length = n_fft).
            self.istft = ISTFT(cfg.n_fft, cfg.hop_length, cfg.n_fft, head_pad_left(padding, cfg))

    def spectrum(self, log_magnitude: Tensor, phase: Tensor, phasor: Tensor | None = None) -> Tensor:
        """The complex spectrum, rotated by a prior's unit `phasor` when given. (The ONNX export
        replaces this method with one giving real and imaginary parts stacked.)"""
        magnitude = log_magnitude.exp().clamp(max=MAX_MAGNITUDE)
        spec = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        return spec if phasor is None else spec * phasor

    def forward(self, x: Tensor, prior: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """x (B, dim, F) -> wave (B, F·hop).

        prior: optional (magnitude, unit phasor), each (B, n_freqs, F): the head's outputs then
        act as corrections, log-magnitude added to log(prior magnitude) and phase added to the
        prior's phase, so a zero head reproduces the prior exactly.
        """
        x = self.out(x.transpose(1, 2)).transpose(1, 2)  # (B, 2·n_freqs, F)
        # The FFT runs in float32 even under bf16/fp16 autocast (no half-precision complex FFT
        # of arbitrary size, and exp() of log-magnitudes needs the range).
        x = x.float()
        log_magnitude, phase = x.chunk(2, dim=1)
        if prior is None:
            return self.istft(self.spectrum(log_magnitude, phase))
        magnitude, phasor = prior
        log_magnitude = log_magnitude + torch.log(magnitude.float().clamp(min=PRIOR_FLOOR))
        return self.istft(self.spectrum(log_magnitude, phase, phasor))
