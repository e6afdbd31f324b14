"""A vocoder's forward, traced into a Plan of cached-streaming ops (ops.py), or refused.

torch.fx records forward() once as a graph of calls, with Conv1d and ConvTranspose1d kept whole.
Each node becomes the op that streams it: convs -> Conv / ConvTranspose, F.pad and the family's
declared padding helpers -> Pad, activations and scalars -> Pointwise, two tensors combined ->
Aligned. Anything else (a strided conv, a norm over time, reading a tensor's length, a parameter
used directly, a second input such as noise) raises NotStreamable naming it, and the vocoder
streams with the windowed streamer instead. No family's network is rewritten by hand: what a
family adds is at most `streaming_functions` (see factory.CachedStreaming).

Streams run time-major (ops.py); a node's offline non-time dimensions are tracked (batch 1, the
channels a conv sets) so that a reshaping method is accepted only where it leaves time the last
axis with its length unchanged (it then moves no value), and operands must agree in them.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.fx
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.models.streaming.ops import Aligned, Conv, ConvTranspose, Op, Pad, Pointwise, overlap_covers_crop


class NotStreamable(Exception):
    """The forward holds something the cached streamer cannot run incrementally (the message says what)."""


# Functions applied sample by sample: fn(tensor, *constants).
POINTWISE_FUNCTIONS = {F.leaky_relu, F.relu, F.gelu, F.silu, F.elu, torch.tanh, torch.sigmoid, torch.sin, torch.cos,
                       torch.exp, torch.clamp, torch.clip, F.hardtanh, operator.neg, torch.neg}
POINTWISE_MODULES = (nn.LeakyReLU, nn.ReLU, nn.GELU, nn.SiLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Identity)
POINTWISE_METHODS = {"tanh", "sigmoid", "clamp", "clip", "neg", "contiguous", "float", "double"}
# Element-wise binary operations: Pointwise with a constant, Aligned with two streams.
BINARY = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub, torch.mul, torch.div}
BINARY_METHODS = {"add", "sub", "mul", "div"}
# Their out= forms, for Aligned to write a result in place (x.add(y) is torch.add(x, y)).
INTO = {operator.add: torch.add, operator.sub: torch.sub, operator.mul: torch.mul, operator.truediv: torch.div,
        torch.add: torch.add, torch.sub: torch.sub, torch.mul: torch.mul, torch.div: torch.div,
        "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
# Methods that may reshape the non-time axes (checked to keep time last and whole).
RESHAPING_METHODS = {"squeeze", "unsqueeze"}


@dataclass
class Step:
    op: Op
    inputs: tuple[int, ...]  # indices into the values: 0 is the mel, step i's output is i + 1


@dataclass
class Plan:
    """The ops of one stream, in the order forward() runs them."""

    steps: list[Step]
    output: int
    output_dims: tuple[int, ...]  # the offline output's non-time dims

    def reset(self) -> None:
        for step in self.steps:
            step.op.reset()

    def run(self, mel: Tensor, *, final: bool) -> Tensor:
        """mel (k, n_mels), the new frames time-major (k may be 0 on final) -> the new output
        samples, (T, channels) with channels the product of the output's non-time dims."""
        values = [mel]
        for step in self.steps:
            values.append(step.op.step(*(values[i] for i in step.inputs), final=final))
        return values[self.output]

    def ops(self) -> list[Op]:
        return [step.op for step in self.steps]


class _Tracer(torch.fx.Tracer):
    def __init__(self, functions: tuple[Callable, ...]):
        super().__init__(autowrap_functions=functions)

    def is_leaf_module(self, module: nn.Module, qualname: str) -> bool:
        return isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)) or super().is_leaf_module(module, qualname)


def trace_plan(vocoder: nn.Module) -> Plan:
    """The vocoder's forward as cached-streaming ops; NotStreamable says why it cannot be."""
    functions: dict[Callable, str] = dict(getattr(vocoder, "streaming_functions", {}))
    try:
        graph = _Tracer(tuple(functions)).trace(vocoder)
    except Exception as err:  # whatever forward does with a traced value that fx cannot follow
        raise NotStreamable(f"forward() does not trace: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from err
    return _Builder(vocoder, functions).build(graph)


class _Builder:
    def __init__(self, root: nn.Module, functions: dict[Callable, str]):
        self.root, self.functions = root, functions
        self.steps: list[Step] = []
        self.index: dict[torch.fx.Node, int] = {}  # node -> value index
        self.dims: dict[int, tuple[int, ...]] = {}  # value index -> its non-time dimensions
        self.seen: dict[Any, int] = {}  # pure calls already planned -> their value (forward repeats some)

    def build(self, graph: torch.fx.Graph) -> Plan:
        inputs = 0
        for node in graph.nodes:
            if node.op == "placeholder":
                inputs += 1
                if inputs > 1:
                    raise NotStreamable(f"forward() takes a second input ({node.target}); only the mel streams cached")
                self.index[node] = 0
                self.dims[0] = (1, self.root.mel_config.n_mels)
            elif node.op == "output":
                result = node.args[0]
                if not isinstance(result, torch.fx.Node):
                    raise NotStreamable("forward() returns more than one tensor")
                _own_fresh_values(self.steps, self.index[result])
                return Plan(self.steps, self.index[result], self.dims[self.index[result]])
            else:
                self.index[node] = self._plan(node)
        raise NotStreamable("forward() has no output")  # pragma: no cover - fx always adds one

    # --- one node ---------------------------------------------------------------------------------
    def _plan(self, node: torch.fx.Node) -> int:
        where = f"{node.op} {getattr(node.target, '__name__', node.target)}"
        if node.op == "call_module":
            return self._module(node, self.root.get_submodule(node.target))
        if node.op == "call_function" and node.target in self.functions:
            (x, pad), mode = self._constants(node, 2), self.functions[node.target]
            return self._add(Pad(pad, pad, mode), (x,), self.dims[x])
        if node.op == "call_function" and node.target is F.pad:
            return self._pad(node)
        if node.op in ("call_function", "call_method"):
            binary = node.target in BINARY if node.op == "call_function" else node.target in BINARY_METHODS
            streams = self._streams(node)
            if binary and len(streams) == 2:
                a, b = streams
                dims = self._broadcast(self.dims[a], self.dims[b], where)
                into = INTO.get(node.target) if not node.kwargs and len(node.args) == 2 else None
                return self._pure(node, lambda: Aligned(self._call(node, 2), into), (a, b), dims)
            pointwise = (node.target in POINTWISE_FUNCTIONS if node.op == "call_function"
                         else node.target in POINTWISE_METHODS)
            if (pointwise or binary) and len(streams) == 1:
                if node.target is operator.add and any(type(a) is int and a == 0 for a in node.args):
                    return streams[0]  # `sum()` starts from 0 + x: no op
                return self._pure(node, lambda: Pointwise(self._call(node, 1), _in_place(node)), streams, self.dims[streams[0]])
            if node.op == "call_method" and node.target in RESHAPING_METHODS and len(streams) == 1:
                dims = self._reshaped(node, self.dims[streams[0]], where)
                return self._pure(node, lambda: Pointwise(_same), streams, dims)
        raise NotStreamable(f"{where} is not a streamable layer (from `{node.format_node()}`)")

    def _module(self, node: torch.fx.Node, module: nn.Module) -> int:
        (x,) = self._streams(node)
        if node.args != (node.args[0],) or node.kwargs:
            raise NotStreamable(f"layer {node.target} is called with more than its input")
        name = f"layer {node.target} ({type(module).__name__})"
        if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
            if module.groups != 1 or math.prod(self.dims[x]) != module.in_channels:
                raise NotStreamable(f"{name}: only ungrouped convs of (1, channels, time) stream cached")
        if isinstance(module, nn.Conv1d):
            left, right = _conv_padding(module, name)
            return self._add(Conv(module, left, right), (x,), (1, module.out_channels))
        if isinstance(module, nn.ConvTranspose1d):
            if module.dilation[0] != 1 or module.padding_mode != "zeros":
                raise NotStreamable(f"{name}: only dilation 1 and zero padding stream cached")
            if not overlap_covers_crop(module):
                raise NotStreamable(f"{name}: its padding crops more than its kernel overlaps")
            return self._add(ConvTranspose(module), (x,), (1, module.out_channels))
        if isinstance(module, POINTWISE_MODULES):
            return self._add(Pointwise(module), (x,), self.dims[x])
        raise NotStreamable(f"{name} is not a streamable layer")

    def _pad(self, node: torch.fx.Node) -> int:
        args = list(node.args) + [None] * (4 - len(node.args))
        x, pad, mode, value = args[:4]
        pad, mode = node.kwargs.get("pad", pad), node.kwargs.get("mode", mode) or "constant"
        value = node.kwargs.get("value", value) or 0.0
        if not isinstance(x, torch.fx.Node) or not (isinstance(pad, (tuple, list)) and len(pad) == 2
                                                   and all(isinstance(p, int) and p >= 0 for p in pad)):
            raise NotStreamable(f"F.pad {pad!r}: only padding of time (two non-negative ints) streams cached")
        if mode not in Pad.MODES:
            raise NotStreamable(f"F.pad mode {mode!r} does not stream cached")
        return self._add(Pad(pad[0], pad[1], mode, value), (self.index[x],), self.dims[self.index[x]])

    # --- helpers ------------------------------------------------------------------------------------
    def _add(self, op: Op, inputs: tuple[int, ...], dims: tuple[int, ...]) -> int:
        self.steps.append(Step(op, tuple(inputs)))
        self.dims[len(self.steps)] = dims
        return len(self.steps)

    def _pure(self, node: torch.fx.Node, make: Callable[[], Op], inputs, dims) -> int:
        """A call of stream values alone (no layer of its own), planned once however often
        forward() repeats it on the same values: the repeats would compute the same samples."""
        key = (node.op, node.target, self._key(node.args), self._key(tuple(sorted(node.kwargs.items()))))
        if key not in self.seen:
            self.seen[key] = self._add(make(), inputs, dims)
        return self.seen[key]

    def _key(self, value):
        if isinstance(value, torch.fx.Node):
            return ("value", self.index[value])
        if isinstance(value, (tuple, list)):
            return tuple(self._key(v) for v in value)
        return value

    def _streams(self, node: torch.fx.Node) -> list[int]:
        """The value indices of the node's tensor arguments, which must be direct (no containers)."""
        streams = []
        for arg in list(node.args) + list(node.kwargs.values()):
            if isinstance(arg, torch.fx.Node):
                streams.append(self.index[arg])
            elif _holds_node(arg):
                raise NotStreamable(f"{node.format_node()}: tensors inside a container do not stream cached")
        return streams

    def _constants(self, node: torch.fx.Node, count: int):
        """(stream index, constants...) of f(x, c1, ...) with x a stream and constants plain values."""
        args = node.args
        if len(args) != count or node.kwargs or not isinstance(args[0], torch.fx.Node) or any(_holds_node(a) for a in args[1:]):
            raise NotStreamable(f"{node.format_node()}: expected a call f(x, constants)")
        return (self.index[args[0]], *args[1:])

    def _call(self, node: torch.fx.Node, streams: int) -> Callable:
        """The node's call with its stream arguments as parameters, constants bound."""
        target, args, kwargs = node.target, node.args, dict(node.kwargs)
        slots = [i for i, a in enumerate(args) if isinstance(a, torch.fx.Node)]
        if len(slots) != streams:  # a stream passed as a keyword
            raise NotStreamable(f"{node.format_node()}: a tensor passed by keyword does not stream cached")
        if node.op == "call_method":
            def call(*xs):
                values = list(args)
                for slot, x in zip(slots, xs):
                    values[slot] = x
                return getattr(values[0], target)(*values[1:], **kwargs)
            return call
        if kwargs.get("inplace"):
            raise NotStreamable(f"{node.format_node()}: an in-place call does not stream cached")
        if streams == 1 and slots == [0]:
            constants = args[1:]
            return lambda x: target(x, *constants, **kwargs)
        def call(*xs):
            values = list(args)
            for slot, x in zip(slots, xs):
                values[slot] = x
            return target(*values, **kwargs)
        return call

    @staticmethod
    def _broadcast(a: tuple[int, ...], b: tuple[int, ...], where: str) -> tuple[int, ...]:
        # Equal non-time dims only: in (time, channels) layout other broadcasts would pair the wrong values.
        if a != b:
            raise NotStreamable(f"{where}: operands of non-time shapes {a} and {b} differ")
        return a

    def _reshaped(self, node: torch.fx.Node, dims: tuple[int, ...], where: str) -> tuple[int, ...]:
        """The non-time dims after a reshaping method, which must keep time last and whole:
        tried on empty-valued tensors of two lengths."""
        outs = []
        for length in (2, 3):
            args = [torch.empty(*dims, length) if isinstance(a, torch.fx.Node) else a for a in node.args]
            try:
                outs.append(getattr(args[0], node.target)(*args[1:], **node.kwargs).shape)
            except Exception as err:
                raise NotStreamable(f"{where}: {err}") from err
        if outs[0][:-1] != outs[1][:-1] or (outs[0][-1], outs[1][-1]) != (2, 3):
            raise NotStreamable(f"{where}: it moves or resizes the time axis")
        return tuple(outs[0][:-1])


def _same(x: Tensor) -> Tensor:
    return x


def _in_place(node: torch.fx.Node) -> Callable[[Tensor], Tensor] | None:
    """The in-place form of an activation f(x, constants), where it has one."""
    if node.op == "call_function" and node.target in (F.leaky_relu, F.relu, F.elu, F.hardtanh) and \
            isinstance(node.args[0], torch.fx.Node) and not any(isinstance(a, torch.fx.Node) for a in node.args[1:]):
        target, constants, kwargs = node.target, node.args[1:], {**node.kwargs, "inplace": True}
        return lambda x: target(x, *constants, **kwargs)
    if (node.op, node.target, len(node.args), node.kwargs) in (("call_function", torch.tanh, 1, {}), ("call_method", "tanh", 1, {})):
        return torch.tanh_
    return None


def _own_fresh_values(steps: list[Step], output: int) -> None:
    """Let an activation overwrite its input where nothing else can see it: a value freshly made by
    a conv or an Aligned (which keep no view of what they return) with no other consumer. Saves
    an allocation per activation and push."""
    uses: dict[int, int] = {output: 1}
    for step in steps:
        for i in step.inputs:
            uses[i] = uses.get(i, 0) + 1
    for step in steps:
        op, (source,) = step.op, step.inputs if len(step.inputs) == 1 else (None,)
        if isinstance(op, Pointwise) and op.in_place is not None and source and uses[source] == 1:
            op.owned = isinstance(steps[source - 1].op, (Conv, ConvTranspose, Aligned))


def _holds_node(value) -> bool:
    found = []
    torch.fx.node.map_arg(value, lambda n: found.append(n) or n)
    return bool(found)


def _conv_padding(conv: nn.Conv1d, name: str) -> tuple[int, int]:
    """(left, right) zero padding of a stride-1 Conv1d."""
    if conv.stride[0] != 1:
        raise NotStreamable(f"{name}: stride {conv.stride[0]} does not stream cached")
    if conv.padding_mode != "zeros":
        raise NotStreamable(f"{name}: padding mode {conv.padding_mode!r} does not stream cached")
    span = (conv.kernel_size[0] - 1) * conv.dilation[0]
    if conv.padding == "same":
        return span // 2, span - span // 2
    if conv.padding == "valid":
        return 0, 0
    return conv.padding[0], conv.padding[0]
