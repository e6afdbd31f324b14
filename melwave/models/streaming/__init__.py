"""Streaming inference for feed-forward vocoders: push mel frames as they arrive, get back the
samples that are final, and the concatenation equals offline `vocoder(mel)`.

    stream = vocoder.stream()
    for frames in source:            # (n_mels, k) or (1, n_mels, k), any k >= 1
        play(stream.push(frames))    # (samples,) — possibly empty
    play(stream.flush())             # end of utterance: the last lookahead_frames frames
    stream.reset()                   # next utterance

How far an output sample's dependence on the mel reaches, in frames, to the left
(`context_frames`) and to the right (`lookahead_frames`), is measured (`reach.measure_reach`). A
frame's samples are final once `lookahead_frames` later frames have arrived (frames.FrameStream).
Two streamers compute them, both exactly:

- cached (cached.CachedStream): the forward is traced into layers that keep state
  (trace.py, ops.py): each conv keeps the last (kernel − 1)·dilation samples of its input, each
  transposed conv its overlap-add tail, residual adds hold the faster branch until the slower
  catches up. A push computes only the new samples, each exactly once; the start state is
  offline's start padding and flush() adds its end padding. HiFi-GAN and MelGAN (paper style).
- windowed (stream.VocoderStream): each push re-runs the vocoder on a window of context_frames
  before the first frame not yet returned (or from frame 0, with offline's own padding) to the
  last frame received (on flush the true end, with offline's end padding): about
  (k + context + lookahead)/k times offline's cost per frame. Every other feed-forward family,
  and the reference the cached one is tested against.

`vocoder.stream()` gives the cached one where the family opts in (factory.CachedStreaming) and its
forward traces, else the windowed one. `onnx_stream(vocoder, chunk_frames=k)` (onnx_stream.py) is
the cached one with its steady k-frame pushes run by ONNX Runtime: faster for small pushes, but
its graph takes seconds to export, so it is asked for, not given by stream(); it is imported from
`melwave.models.streaming.onnx_stream` itself (it needs ONNX Runtime, which the package must not
import for the others, and which imports the vocoder base that imports this package).
"""

from melwave.models.streaming.cached import CachedStream
from melwave.models.streaming.factory import CachedStreaming, cached_refusal, open_stream
from melwave.models.streaming.frames import FrameStream
from melwave.models.streaming.reach import Reach, measure_reach
from melwave.models.streaming.stream import FrameNoise, VocoderStream
from melwave.models.streaming.trace import NotStreamable, trace_plan

__all__ = ["CachedStream", "CachedStreaming", "FrameNoise", "FrameStream", "NotStreamable", "Reach",
           "VocoderStream", "cached_refusal", "measure_reach", "open_stream", "trace_plan"]
