"""Real-time phase-gradient heap integration (RTPGHI; Průša & Søndergaard, DAFx 2016): a phase for
an STFT magnitude frame by frame, with one frame of lookahead and no iterations, so that a mel can
be turned into audio as its frames arrive (Griffin-Lim needs the whole mel and iterates).

For a Gaussian window g(t) = exp(−π t²/λ) the STFT's log-magnitude s and phase φ are harmonic
conjugates, so φ's gradient follows from s's. In torch.stft's convention (phase measured from each
frame's first sample, window centred in the n_fft frame) that gives, per frame step and per bin step,
    Δ_t φ(k, t) = hop·n_fft/λ · ∂s/∂k + 2π·k·hop/n_fft
    Δ_k φ(k, t) = −λ/(n_fft·hop) · ∂s/∂t − π
with λ = 0.25645·win_length² for a Hann window (its Gaussian equivalent, from the same paper).
∂s/∂k is a centred difference over bins of one frame; ∂s/∂t a centred difference over frames
t − 1 and t + 1 — the one frame of lookahead. The heap integration then spreads phase from the
loudest known bin outwards, by the trapezoidal rule: from a bin of frame t − 1 to the same bin of
frame t, and along frame t to its neighbouring bins. Bins below `tolerance` × the loudest bin of
the two frames are noise-like: they get a random phase (seeded, one draw per frame).

Synthesis is Griffin-Lim's (`melwave.audio.phase_retrieval`): the same window, overlap-add, division by
the summed squared windows and crop to the frames' F·hop samples. A sample is final once every
frame overlapping it has its phase: `lookahead_frames` after its own frame.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import torch
from torch import Tensor

from melwave.audio.config import MelConfig
from melwave.errors import MelFileError, MelwaveError
from melwave.audio.phase_retrieval import _window, mel_to_linear

HANN_LAMBDA = 0.25645  # λ / win_length² of the Gaussian a Hann window is treated as
ENVELOPE_FLOOR = 1e-3  # griffinlim.floor_envelope's, relative to the summed squared windows' steady maximum


def phase_gradients(log_magnitude: np.ndarray, log_before: np.ndarray, log_after: np.ndarray, cfg: MelConfig,
                    frame_step: float) -> tuple[np.ndarray, np.ndarray]:
    """(time gradient, frequency gradient) of the phase of one frame, each (n_freqs,), in radians
    per frame and per bin, from its log-magnitude and those of the frames `frame_step` frames apart
    on either side (frame_step 2 for a centred difference, 1 for a one-sided one at an edge)."""
    n_fft, hop = cfg.n_fft, cfg.hop_length
    lam = HANN_LAMBDA * cfg.win_length**2
    bins = np.arange(len(log_magnitude))
    d_bin = np.gradient(log_magnitude) if len(log_magnitude) > 1 else np.zeros_like(log_magnitude)
    d_frame = (log_after - log_before) / frame_step
    time_gradient = hop * n_fft / lam * d_bin + 2 * math.pi * bins * hop / n_fft
    frequency_gradient = -lam / (n_fft * hop) * d_frame - math.pi
    return time_gradient, frequency_gradient


def integrate_frame(magnitude: np.ndarray, time_gradient: np.ndarray, frequency_gradient: np.ndarray,
                    previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None, random_phase: np.ndarray,
                    tolerance: float) -> np.ndarray:
    """Phase (n_freqs,) of one frame by heap integration.

    previous: (magnitude, phase, time gradient) of the frame before, or None for the first frame.
    """
    loudest = max(magnitude.max(), previous[0].max() if previous is not None else 0.0)
    threshold = tolerance * loudest if loudest > 0 else np.inf  # silence: every phase random
    phase = random_phase.copy()
    todo = magnitude > threshold
    heap: list[tuple[float, int, int]] = []  # (−magnitude, 0 = previous frame / 1 = this frame, bin)
    if previous is not None:
        prev_magnitude, prev_phase, prev_gradient = previous
        heap = [(-m, 0, k) for k, m in enumerate(prev_magnitude) if m > threshold]
        heapq.heapify(heap)
    while todo.any():
        if not heap:
            # Nothing known reaches the loudest remaining bin: it starts a new island with its own phase.
            k = int(np.argmax(np.where(todo, magnitude, -1.0)))
            todo[k] = False
            heapq.heappush(heap, (-magnitude[k], 1, k))
        while heap:
            _, here, k = heapq.heappop(heap)
            if here == 0:
                if todo[k]:
                    phase[k] = prev_phase[k] + 0.5 * (prev_gradient[k] + time_gradient[k])
                    todo[k] = False
                    heapq.heappush(heap, (-magnitude[k], 1, k))
                continue
            for j in (k - 1, k + 1):
                if 0 <= j < len(magnitude) and todo[j]:
                    phase[j] = phase[k] + (j - k) * 0.5 * (frequency_gradient[k] + frequency_gradient[j])
                    todo[j] = False
                    heapq.heappush(heap, (-magnitude[j], 1, j))
    return phase


class RTPGHIStream:
    """push(mel (n_mels, k) or (1, n_mels, k)) -> (samples,) now final; flush() -> the rest.
    `push_magnitude` takes linear STFT magnitude frames (n_freqs, k) instead.

    Frame t's phase is integrated when frame t + 1 arrives; its samples are final once the frames
    overlapping them are too: `lookahead_frames` = 1 + the overlap-add's reach. `exact` is False:
    the output approximates offline Griffin-Lim (it is what `GriffinLim.stream()` returns).
    """

    exact = False

    def __init__(self, cfg: MelConfig, *, nnls_iterations: int = 30, tolerance: float = 1e-5, seed: int = 0):
        self.cfg, self.nnls_iterations, self.tolerance, self.seed = cfg, nnls_iterations, tolerance, seed
        self.window = _window(cfg, torch.device("cpu")).double().numpy()
        hop, n_fft = cfg.hop_length, cfg.n_fft
        # Summed squared windows where every overlapping frame is present: the floor's reference.
        squares = np.pad(self.window**2, (0, -n_fft % hop))
        self.floor = ENVELOPE_FLOOR * squares.reshape(-1, hop).sum(axis=0).max()
        # Output sample n is overlap-add sample n + pad_left, complete once frame (n + pad_left) // hop
        # is synthesised, and a frame is synthesised one frame after it arrives.
        self.lookahead_frames = 1 + (hop - 1 + cfg.pad_left) // hop
        self.reset()

    def reset(self) -> None:
        """Forget the utterance (and restart the random phases from `seed`)."""
        self.rng = np.random.default_rng(self.seed)
        self.pending: list[np.ndarray] = []  # magnitudes of frames received, not yet integrated (at most 2)
        self.before: np.ndarray | None = None  # log-magnitude of the last integrated frame
        self.previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        n = self.cfg.n_fft
        self.ola, self.envelope = np.zeros(n), np.zeros(n)  # overlap-add samples [origin, origin + n)
        self.origin = 0  # overlap-add index of ola[0]
        self.frames = self.emitted = 0  # frames synthesised; output samples returned
        self.finished = False

    def push(self, mel: Tensor) -> Tensor:
        """mel (n_mels, k) or (1, n_mels, k) in `cfg`'s units -> (samples,) now final. The
        magnitude is Griffin-Lim's (`mel_to_linear`), which solves each frame on its own."""
        mel = mel[None] if mel.ndim == 2 else mel
        if mel.ndim != 3 or mel.shape[0] != 1 or mel.shape[1] != self.cfg.n_mels or mel.shape[-1] < 1:
            raise MelFileError(f"stream: expected mel frames (n_mels={self.cfg.n_mels}, k >= 1) or (1, n_mels, k), "
                               f"got shape {tuple(mel.shape)}")
        if not torch.isfinite(mel).all():
            raise MelFileError("stream: pushed mel contains NaN or infinite values")
        return self.push_magnitude(mel_to_linear(mel.float(), self.cfg, iterations=self.nnls_iterations)[0])

    def push_magnitude(self, magnitude: Tensor) -> Tensor:
        """magnitude (n_freqs, k) linear STFT magnitude frames -> (samples,) now final."""
        if self.finished:
            raise MelwaveError("stream: this utterance was flushed; call reset() to start a new one")
        for frame in magnitude.double().cpu().numpy().T:
            self.pending.append(frame)
            if len(self.pending) == 2:  # the frame after pending[0] is here: integrate pending[0]
                self._synthesise(self.pending.pop(0), after=self.pending[0])
        return self._emit(self.frames * self.cfg.hop_length - self.cfg.pad_left)

    def flush(self) -> Tensor:
        """Integrate the last frame (one-sided difference) and return every remaining sample."""
        if self.pending:
            self._synthesise(self.pending.pop(0), after=None)
        self.finished = True
        total = self.frames * self.cfg.hop_length
        return self._emit(total)

    def _synthesise(self, magnitude: np.ndarray, after: np.ndarray | None) -> None:
        log_mag = np.log(np.maximum(magnitude, 1e-12))
        log_before = self.before if self.before is not None else log_mag
        log_after = np.log(np.maximum(after, 1e-12)) if after is not None else log_mag
        step = (self.before is not None) + (after is not None)
        time_gradient, frequency_gradient = phase_gradients(log_mag, log_before, log_after, self.cfg, max(step, 1))
        random_phase = self.rng.uniform(0, 2 * math.pi, len(magnitude))
        phase = integrate_frame(magnitude, time_gradient, frequency_gradient, self.previous, random_phase, self.tolerance)
        self.previous, self.before = (magnitude, phase, time_gradient), log_mag
        # Overlap-add this frame at overlap-add sample frames·hop.
        hop, n = self.cfg.hop_length, self.cfg.n_fft
        start = self.frames * hop - self.origin
        need = start + n - len(self.ola)
        if need > 0:
            self.ola, self.envelope = np.pad(self.ola, (0, need)), np.pad(self.envelope, (0, need))
        self.ola[start : start + n] += np.fft.irfft(magnitude * np.exp(1j * phase), n=n) * self.window
        self.envelope[start : start + n] += self.window**2
        self.frames += 1

    def _emit(self, until: int) -> Tensor:
        """Output samples [emitted, until) (overlap-add samples + pad_left), dropping what is done."""
        if until <= self.emitted:
            return torch.empty(0)
        lo, hi = self.emitted + self.cfg.pad_left - self.origin, until + self.cfg.pad_left - self.origin
        wave, envelope = np.zeros(hi - lo), np.zeros(hi - lo)
        have = max(0, min(hi, len(self.ola)) - lo)  # "end"/"none" padding: the tail has no window
        wave[:have], envelope[:have] = self.ola[lo : lo + have], self.envelope[lo : lo + have]
        wave = np.where(envelope > self.floor, wave / np.where(envelope > self.floor, envelope, 1.0), wave)
        self.emitted = until
        drop = max(0, min(hi, len(self.ola)))
        self.ola, self.envelope, self.origin = self.ola[drop:], self.envelope[drop:], self.origin + drop
        return torch.from_numpy(wave).float()


def rtpghi(mel: Tensor, cfg: MelConfig, **options) -> Tensor:
    """(n_mels, F) mel -> (F·hop,) waveform: the whole mel through an RTPGHIStream."""
    stream = RTPGHIStream(cfg, **options)
    return torch.cat([stream.push(mel), stream.flush()])
