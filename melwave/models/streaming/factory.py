"""Which streamer a vocoder gets: the cached one where its forward traces into cached layers,
else the windowed one (both exact; see the package docstring)."""

from __future__ import annotations

from typing import Callable, ClassVar, Mapping

from melwave.models.streaming.cached import CachedStream
from melwave.models.streaming.frames import FrameStream
from melwave.models.streaming.stream import VocoderStream
from melwave.models.streaming.trace import NotStreamable, trace_plan


def open_stream(vocoder, *, seed: int = 0) -> FrameStream:
    """A CachedStream when trace_plan accepts the vocoder, else a VocoderStream (`seed`: the
    noise of noise-driven vocoders, which stream windowed)."""
    if vocoder.streaming_refusal() is None:
        try:
            return CachedStream(vocoder, trace_plan(vocoder))
        except NotStreamable:
            pass
    return VocoderStream(vocoder, seed=seed)


def cached_refusal(vocoder) -> str | None:
    """None when the vocoder streams cached, else why it streams windowed (one line)."""
    try:
        trace_plan(vocoder)
    except NotStreamable as err:
        return str(err)
    return None


class CachedStreaming:
    """Mixin for a vocoder family: `stream()` returns the cached streamer where it applies.

    streaming_functions: functions forward() calls whose Python the tracer cannot follow (a test
        of a length), each kept as one call f(x, pad) that pads `pad` samples on both sides, with
        the F.pad mode it streams as ("reflect" replicates where the input is not longer than pad).
    """

    streaming_functions: ClassVar[Mapping[Callable, str]] = {}

    def stream(self, *, seed: int = 0) -> FrameStream:
        return open_stream(self, seed=seed)
