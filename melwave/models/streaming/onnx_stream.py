"""OnnxStream: the cached streamer with its steady pushes run by ONNX Runtime.

Once a stream is past its start, every push of k frames does the same thing to states of the same
sizes: each conv's tail, each transposed conv's overlap-add tail, each residual add's held rows
(ops.py). That push is exported once as an ONNX graph, states in and new states out
(`SteadyStep`); ONNX Runtime runs it with less overhead per layer than torch's eager calls, which
is most of a small push's cost (measured: 1.3-1.5x faster at 1-4-frame pushes of HiFi-GAN V1, no
faster at 16). Everything else runs the torch layers, with the states handed across: the first
pushes (until every state has its steady size; offline's start padding lives there), pushes of
another size, and flush() (the end padding). The output is the cached streamer's, to float
rounding (ONNX Runtime's kernels sum in other orders).

Exporting takes seconds (HiFi-GAN V1: 8-17 s), so it is not what `vocoder.stream()` gives: ask
for it with `onnx_stream(vocoder, chunk_frames=k)`; the graph is cached per vocoder and k while the
vocoder lives. Families with padding layers (MelGAN's reflect padding) are refused (NotStreamable):
their steady push would need the padding's state too, which is not written.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
import weakref
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.models.streaming.cached import CachedStream
from melwave.models.streaming.ops import Aligned, Conv, ConvTranspose, Op, Pointwise
from melwave.models.streaming.trace import NotStreamable, Plan, trace_plan


@dataclass(frozen=True)
class Slot:
    """One state tensor of the steady push: `attr` of step `step`'s op, channels-first (1, C, rows)."""

    step: int
    attr: str  # "tail" (Conv, ConvTranspose), "a" or "b" (Aligned)


def signature(plan: Plan) -> tuple:
    """The sizes of every layer's state: equal between two points of a stream, they hold the same
    kind of state (past the start, a conv's tail is always its span, and so on)."""
    sizes = []
    for step in plan.steps:
        op = step.op
        if isinstance(op, (Conv, ConvTranspose)):
            sizes.append((None if op.tail is None else op.tail.shape[0], getattr(op, "skipped", None)))
        elif isinstance(op, Aligned):
            sizes.append(tuple(None if held is None else held.shape[0] for held in (op.a, op.b)))
        elif not isinstance(op, Pointwise):
            raise NotStreamable(f"{type(op).__name__} layers have no steady-push graph")
    return tuple(sizes)


def _slots(plan: Plan) -> list[Slot]:
    slots = []
    for i, step in enumerate(plan.steps):
        op = step.op
        if isinstance(op, (Conv, ConvTranspose)) and op.tail.shape[0]:
            slots.append(Slot(i, "tail"))
        elif isinstance(op, Aligned):
            slots.extend(Slot(i, attr) for attr in ("a", "b") if getattr(op, attr).shape[0])
    return slots


def read_state(op: Op, attr: str) -> np.ndarray:
    """A layer's state, time-major in the torch layers, as the graph takes it: (1, C, rows)."""
    value = getattr(op, attr)
    if isinstance(op, ConvTranspose):
        value = value.reshape(-1, op.c_out)  # (Q − 1, s·C) -> ((Q − 1)·s, C)
    return np.ascontiguousarray(value.t()[None].numpy())


def write_state(op: Op, attr: str, value: np.ndarray) -> None:
    rows = torch.from_numpy(value)[0].t().contiguous()
    if isinstance(op, ConvTranspose):
        rows = rows.reshape(-1, op.stride * op.c_out)
    setattr(op, attr, rows)


class SteadyStep(nn.Module):
    """A steady push of `plan` as one module, channels-first (ONNX Runtime's conv layout):
    (mel (1, n_mels, k), [state (1, C, rows) per slot]) -> (wave (k·hop,), [new states])."""

    def __init__(self, plan: Plan, slots: list[Slot]):
        super().__init__()
        self.plan, self.slots = plan, slots
        # The weights, registered so that the export writes them once, as initializers.
        self.layers = nn.ModuleList(step.op.module for step in plan.steps if isinstance(step.op, (Conv, ConvTranspose)))

    def forward(self, mel: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        given = {(slot.step, slot.attr): state for slot, state in zip(self.slots, states)}
        values, new = [mel], {}
        for i, step in enumerate(self.plan.steps):
            op, xs = step.op, [values[j] for j in step.inputs]
            if isinstance(op, Conv):
                x, conv = xs[0], op.module
                if (i, "tail") in given:
                    x = torch.cat([given[i, "tail"], x], -1)
                    new[i, "tail"] = x[..., x.shape[-1] - op.span :]
                y = F.conv1d(x, conv.weight, conv.bias, 1, 0, conv.dilation)
            elif isinstance(op, ConvTranspose):
                x, conv, s = xs[0], op.module, op.stride
                n, tail_len = x.shape[-1], (op.blocks - 1) * s
                full = F.conv_transpose1d(x, conv.weight, None, s)
                full = F.pad(full, (0, n * s + tail_len - full.shape[-1]))  # kernel < Q·s: zero taps
                if (i, "tail") in given:
                    full = full + F.pad(given[i, "tail"], (0, n * s))
                    new[i, "tail"] = full[..., n * s :]
                y = full[..., : n * s] if conv.bias is None else full[..., : n * s] + conv.bias[:, None]
            elif isinstance(op, Aligned):
                a, b = xs
                if (i, "a") in given:
                    a = torch.cat([given[i, "a"], a], -1)
                if (i, "b") in given:
                    b = torch.cat([given[i, "b"], b], -1)
                n = min(a.shape[-1], b.shape[-1])
                for attr, operand in (("a", a), ("b", b)):
                    if (i, attr) in given:
                        new[i, attr] = operand[..., n:]
                y = op.fn(a[..., :n], b[..., :n])
            else:  # Pointwise: elementwise, so the layout does not matter; a reshape is the identity
                y = op.fn(xs[0])
            values.append(y)
        return values[self.plan.output].reshape(-1), [new[slot.step, slot.attr] for slot in self.slots]


@dataclass
class SteadyGraph:
    """A vocoder's steady push of k frames, exported: the ONNX Runtime session, the state sizes it
    holds (`signature`), its state slots, and what one push adds to each op's counters."""

    frames: int
    signature: tuple
    slots: list[Slot]
    session: object
    counters: dict[int, dict[str, int]] = field(default_factory=dict)  # step -> attr -> increment

    @classmethod
    def export(cls, vocoder, frames: int) -> "SteadyGraph":
        from melwave.models.onnx.runtime import session_from

        if vocoder.device.type != "cpu" or any(p.dtype != torch.float32 for p in vocoder.parameters()):
            raise NotStreamable("the ONNX steady push runs float32 models on the CPU")
        stream = CachedStream(vocoder, trace_plan(vocoder))
        signature(stream.plan)  # refuses padding layers before any work
        chunk = torch.zeros(1, vocoder.mel_config.n_mels, frames)
        # Past the start: enough frames for every layer to hold a full state, then until two
        # pushes in a row leave states of the same sizes.
        previous, pushed = None, 0
        while True:
            stream.push(chunk)
            pushed += frames
            current = signature(stream.plan)
            if current == previous and pushed > 2 * (stream.context_frames + stream.lookahead_frames):
                break
            previous = current
        slots = _slots(stream.plan)
        states = [torch.from_numpy(read_state(stream.plan.steps[s.step].op, s.attr)) for s in slots]
        module = SteadyStep(stream.plan, slots).eval()
        proto = _export(module, chunk, states, len(slots))
        before = _counters(stream.plan)
        stream.push(chunk)
        after = _counters(stream.plan)
        counters = {i: {k: after[i][k] - before[i][k] for k in after[i]} for i in after}
        return cls(frames, current, slots, session_from(proto), counters)


_COUNTERS = ("work", "inputs", "emitted")


def _counters(plan: Plan) -> dict[int, dict[str, int]]:
    return {i: {k: getattr(step.op, k) for k in _COUNTERS if hasattr(step.op, k)} for i, step in enumerate(plan.steps)}


def _export(module: nn.Module, chunk: Tensor, states: list[Tensor], count: int) -> bytes:
    from melwave.utils.optional import require

    require("onnxscript", "ONNX export")
    names = ["mel"] + [f"state{i}" for i in range(count)]
    outputs = ["wave"] + [f"next{i}" for i in range(count)]
    # The exporter and its optimiser log and print their progress: nothing a stream's user needs.
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, (chunk, states), dynamo=True, opset_version=18, input_names=names,
                                        output_names=outputs, verbose=False)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    return program.model_proto.SerializeToString()


_graphs: "weakref.WeakKeyDictionary[nn.Module, dict[int, SteadyGraph]]" = weakref.WeakKeyDictionary()


def steady_graph(vocoder, frames: int) -> SteadyGraph:
    """The vocoder's exported steady push of `frames` frames, made once while the vocoder lives."""
    graphs = _graphs.setdefault(vocoder, {})
    if frames not in graphs:
        graphs[frames] = SteadyGraph.export(vocoder, frames)
    return graphs[frames]


class OnnxStream(CachedStream):
    """The cached streamer (FrameStream's API) whose steady pushes of `graph.frames` frames run in
    ONNX Runtime; `graph_pushes` counts them."""

    kind = "onnx"

    def __init__(self, vocoder, plan: Plan, graph: SteadyGraph):
        self.graph = graph
        super().__init__(vocoder, plan)

    def _restart(self) -> None:
        super()._restart()
        self._states: list[np.ndarray] | None = None  # the states, while the graph holds them
        self.graph_pushes = 0

    def _layers(self, mel: Tensor | None, final: bool) -> Tensor:
        graph = self.graph
        if not final and mel.shape[-1] == graph.frames and (
                self._states is not None or signature(self.plan) == graph.signature):
            return self._graph_push(mel)
        self._to_layers()
        return super()._layers(mel, final)

    def _graph_push(self, mel: Tensor) -> Tensor:
        from melwave.models.onnx.runtime import run_graph

        steps = self.plan.steps
        if self._states is None:
            self._states = [read_state(steps[slot.step].op, slot.attr) for slot in self.graph.slots]
        feeds = {"mel": np.ascontiguousarray(mel.numpy())}
        feeds.update({f"state{i}": state for i, state in enumerate(self._states)})
        outputs = ["wave"] + [f"next{i}" for i in range(len(self._states))]
        wave, *self._states = run_graph(self.graph.session, feeds, "the stream's steady push", outputs)
        for i, increments in self.graph.counters.items():
            for name, increment in increments.items():
                setattr(steps[i].op, name, getattr(steps[i].op, name) + increment)
        self.graph_pushes += 1
        return torch.from_numpy(wave)

    def _to_layers(self) -> None:
        """Hand the states back to the torch layers."""
        if self._states is not None:
            for slot, state in zip(self.graph.slots, self._states):
                write_state(self.plan.steps[slot.step].op, slot.attr, state)
            self._states = None


def onnx_stream(vocoder, *, chunk_frames: int = 16) -> OnnxStream:
    """An OnnxStream whose pushes of `chunk_frames` frames run in ONNX Runtime (others run the
    torch layers). NotStreamable where the vocoder does not stream cached or has padding layers."""
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames={chunk_frames}: expected a positive number of frames")
    return OnnxStream(vocoder, trace_plan(vocoder), steady_graph(vocoder, chunk_frames))
