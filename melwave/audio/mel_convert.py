"""Converting a mel made under one MelConfig into another, where that is meaningful.

Two cases:
- Same STFT framing (sample rate, n_fft, window, hop, padding): only the frequency axis or the
  value scale differs (n_mels, fmin/fmax, mel scale/norm, power, compression, normalisation).
  The mel is inverted to a linear STFT magnitude (non-negative least squares) and re-projected
  through the target filterbank and compression: no audio, no phase, frame-exact.
- Different framing or sample rate: frames cannot be re-timed in the mel domain, so the mel is
  rendered to audio with Griffin-Lim under its own config, resampled, and analysed again.
Both lose what the source mel never held (bands above its fmax, detail finer than its bands);
the caller asks for this explicitly (`--resample-mel`), never by default.
"""

from __future__ import annotations

import torch
from torch import Tensor

from melwave.audio.config import MelConfig
from melwave.audio.features import MelExtractor, compress, mel_basis
from melwave.audio.phase_retrieval import mel_to_linear

FRAMING_FIELDS = ("sample_rate", "n_fft", "win_length", "hop_length", "padding", "pad_mode")


def same_framing(a: MelConfig, b: MelConfig) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in FRAMING_FIELDS)


@torch.no_grad()
def convert_mel(mel: Tensor, source: MelConfig, target: MelConfig) -> Tensor:
    """(n_mels_s, F) or (B, n_mels_s, F) under `source` -> the same sound's mel under `target`.

    Same framing: (.., target.n_mels, F), frame for frame. Otherwise the frame count follows
    the target's hop and sample rate.
    """
    if source == target:
        return mel
    squeeze = mel.ndim == 2
    batch = mel.unsqueeze(0) if squeeze else mel
    if same_framing(source, target):
        magnitude = mel_to_linear(batch.float(), source)  # (B, n_freqs, F), unnormalised STFT magnitude
        if target.normalized:
            magnitude = magnitude / torch.hann_window(target.win_length, device=mel.device).pow(2).sum().sqrt()
        spectrum = magnitude.pow(2) if target.power == 2.0 else magnitude
        result = compress(mel_basis(target).to(mel.device) @ spectrum, target)
    else:
        from melwave.audio.phase_retrieval import griffin_lim
        from melwave.audio.io import resample

        # What the `griffinlim` vocoder does with its defaults (NNLS inversion, 32 fast iterations
        # from the peak-phase start), called at this level so audio/ does not import models/.
        wave = griffin_lim(mel_to_linear(batch.float(), source), source, init="peaks").clamp(-1, 1)
        if source.sample_rate != target.sample_rate:
            wave = torch.from_numpy(resample(wave.cpu().numpy().T.copy(), source.sample_rate, target.sample_rate).T.copy()).to(mel.device)
            wave = wave.reshape(batch.shape[0], -1)
        result = MelExtractor(target).to(mel.device)(wave)
    return result[0] if squeeze else result
