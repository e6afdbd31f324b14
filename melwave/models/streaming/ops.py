"""Incremental layers for the cached streamer: each op turns the new samples of its inputs into
the new samples of its output, keeping only the tail of its input that its next outputs need.

Layout: every stream is a (time, channels) tensor, time-major. Appending a chunk, keeping a tail
and slicing are then row operations on contiguous memory, and a convolution is one matrix product
of the window's rows (im2col) with the weight: on a CPU, for the few dozen to few thousand samples
of a push, MKL's GEMM runs such a product 1.3-3x faster than the channels-first conv kernels
(and 1-1.3x at offline's lengths), which is most of why a stream can keep up on one thread.

`step(*chunks, final=)` gets, per input, the samples appended since its last call (possibly none)
and returns the output samples now computable; with final=True the inputs have ended and it
returns all the rest, end padding included. Sample i of a stream is sample i of the offline tensor
at that edge: the ops start from offline's start padding (zeros in a conv's state, a reflection
once enough samples arrived) and add its end padding on final, so the joined chunks of every edge
are the offline tensor, each sample computed once. `work` counts what an op computed (a conv's
output samples, a transposed conv's input samples): a test compares it with the offline pass.
Weights are read when the op is made (a stream is made from the vocoder as it is then).

Conv:          Conv1d, stride 1, zero padding: keeps the last (kernel − 1)·dilation input rows.
ConvTranspose: ConvTranspose1d: keeps the overlap-add tail, kernel − stride rows of the full output.
Pad:           holds samples back only until its start padding is known.
Pointwise:     stateless.
Aligned:       a binary op (a residual add) of two streams that lag differently: holds the
               leading stream's excess until the other catches up.
"""

from __future__ import annotations

import math
import weakref
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# im2col copies kernel × channels values per output sample; past this many (1 MB of float32) the
# copy leaves the cache and one product per kernel tap, on rows of x in place, is faster (measured
# on HiFi-GAN V1's layers: im2col wins below ~300k values, per-tap products above).
IM2COL_LIMIT = 1 << 18


_laid_out: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, Tensor]]" = weakref.WeakKeyDictionary()


def laid_out(conv: nn.Module, layout: Callable[[Tensor], Tensor]) -> Tensor:
    """layout(conv.weight), shared by every stream of the model while the weight is unchanged
    (same tensor, storage, type and in-place version): a copy per stream would hold the model
    twice over."""
    weight = conv.weight
    if not isinstance(weight, nn.Parameter):  # a weight norm's freshly computed tensor
        return layout(weight.detach())
    key = (id(weight), weight.data_ptr(), weight.dtype, weight.device, weight._version)
    cached = _laid_out.get(conv)
    if cached is None or cached[0] != key:
        cached = _laid_out[conv] = (key, layout(weight.detach()))
    return cached[1]


def _cat(a: Tensor, b: Tensor) -> Tensor:
    """a then b along time, without a copy when either is empty (most pending buffers are)."""
    if a.shape[0] == 0:
        return b
    if b.shape[0] == 0:
        return a
    return torch.cat([a, b])


class Op:
    """One layer of a stream (see the module docstring)."""

    work = 0

    def reset(self) -> None:
        """Back to the start of an utterance."""
        self.work = 0

    def step(self, *chunks: Tensor, final: bool) -> Tensor:
        raise NotImplementedError


class Pointwise(Op):
    """fn applied sample by sample (activations, scalings); identity for a reshaping of the
    non-time axes, which in (time, channels) layout moves no value. With `owned` set (by the
    planner, where no other op sees the input) it runs `in_place` on its input instead."""

    def __init__(self, fn: Callable[[Tensor], Tensor], in_place: Callable[[Tensor], Tensor] | None = None):
        self.fn, self.in_place = fn, in_place
        self.owned = False

    def step(self, x: Tensor, *, final: bool) -> Tensor:
        return self.in_place(x) if self.owned else self.fn(x)


class Aligned(Op):
    """fn(a, b) of two streams of one rate: sample i of each meet whenever both have arrived.

    `into(a, b, out=)`, where given (torch.add, torch.mul, ...), writes the result of a leading
    operand's held rows and its new rows in place, without first joining them."""

    def __init__(self, fn: Callable[[Tensor, Tensor], Tensor], into: Callable[..., Tensor] | None = None):
        self.fn, self.into = fn, into
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.a = self.b = None

    def step(self, a: Tensor, b: Tensor, *, final: bool) -> Tensor:
        held_a = 0 if self.a is None else self.a.shape[0]
        held_b = 0 if self.b is None else self.b.shape[0]
        n = min(held_a + a.shape[0], held_b + b.shape[0])
        if final and held_a + a.shape[0] != held_b + b.shape[0]:
            raise RuntimeError(f"stream: the operands of {self.fn} ended at different lengths "
                               f"({held_a + a.shape[0]}, {held_b + b.shape[0]})")
        if held_a == held_b == 0:
            self.a, self.b = a[n:], b[n:]
            return self.fn(a[:n], b[:n])
        if self.into is not None and (held_a == 0 or held_b == 0) and n >= max(held_a, held_b):
            return self._split(a, b, held_a, n)
        a, b = _cat(self.a, a), _cat(self.b, b)
        self.a, self.b = a[n:], b[n:]
        return self.fn(a[:n], b[:n])

    def _split(self, a: Tensor, b: Tensor, held_a: int, n: int) -> Tensor:
        """One operand leads by its held rows h (all of which are used): out[:h] from them,
        out[h:] from its new rows."""
        held = self.a if held_a else self.b
        h = held.shape[0]
        out = a.new_empty(n, *a.shape[1:])
        if held_a:
            self.into(held, b[:h], out=out[:h])
            self.into(a[: n - h], b[h:n], out=out[h:])
        else:
            self.into(a[:h], held, out=out[:h])
            self.into(a[h:n], b[: n - h], out=out[h:])
        self.a = a[n - h :] if held_a else a[n:]
        self.b = b[n:] if held_a else b[n - h :]
        return out


class Conv(Op):
    """nn.Conv1d (stride 1, groups 1, zero padding): offline's left padding is the initial state,
    its right padding is appended on final. Output row t = Σ_j x[t + j·d] · W_j (+ bias).

    The window (tail + new rows) is assembled in one of two buffers kept across pushes, taken in
    turn: the tail kept from the last push is a view of the other one. Like the im2col buffer,
    this spares the allocator (and the kernel's page faults) a fresh block per layer and push,
    which at 16-frame pushes cost HiFi-GAN V1 about a fifth of its time."""

    def __init__(self, conv: nn.Conv1d, left: int, right: int):
        self.module = conv
        weight = conv.weight.detach()  # (C_out, C_in, k)
        self.kernel, self.dilation = weight.shape[-1], conv.dilation[0]
        self.c_in, self.c_out = weight.shape[1], weight.shape[0]
        self.taps = laid_out(conv, lambda w: w.permute(2, 1, 0).contiguous())  # (k, C_in, C_out)
        self.flat = self.taps.reshape(self.kernel * self.c_in, self.c_out)  # im2col's (k·C_in, C_out)
        self.bias = None if conv.bias is None else conv.bias.detach()
        self.left, self.right = left, right
        self.span = (self.kernel - 1) * self.dilation  # input rows an output reaches past its own
        self.windows, self.im2col = [Buffer(), Buffer()], Buffer()
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.tail = None  # (<= span, C_in): the padded input rows later outputs still need
        self.turn = 0

    def step(self, x: Tensor, *, final: bool) -> Tensor:
        if self.tail is None:
            self.tail = x.new_zeros(self.left, self.c_in)
        if self.span or self.left or self.right:
            x = self._window(x, self.right if final else 0)
        n = x.shape[0] - self.span
        if n <= 0:
            self.tail = x
            return x.new_empty(0, self.c_out)
        self.tail = x[n:]
        self.work += n
        return self._product(x, n)

    def _window(self, x: Tensor, zeros: int) -> Tensor:
        """tail + x + `zeros` zero rows, contiguous, in this push's buffer."""
        kept, new = self.tail.shape[0], x.shape[0]
        window = self.windows[self.turn].take(x, kept + new + zeros, self.c_in)
        self.turn ^= 1
        window[:kept] = self.tail
        window[kept : kept + new] = x
        window[kept + new :] = 0
        return window

    def _product(self, x: Tensor, n: int) -> Tensor:
        k, d, c = self.kernel, self.dilation, self.c_in
        x = x.contiguous()
        if k == 1 or n * k * c <= IM2COL_LIMIT:
            if k == 1:
                rows = x
            else:
                rows = self.im2col.take(x, n, k * c)
                rows.view(n, k, c).copy_(x.as_strided((n, k, c), (c, d * c, 1)))
            return torch.addmm(self.bias, rows, self.flat) if self.bias is not None else rows @ self.flat
        out = torch.addmm(self.bias, x[:n], self.taps[0]) if self.bias is not None else x[:n] @ self.taps[0]
        for j in range(1, k):
            out.addmm_(x[j * d : j * d + n], self.taps[j])
        return out


class Buffer:
    """Storage reused across pushes: take() returns a (rows, width) view of it, grown when needed.
    Whatever the last take() returned is overwritten by the next."""

    def __init__(self):
        self.storage: Tensor | None = None

    def take(self, like: Tensor, rows: int, width: int) -> Tensor:
        size = rows * width
        if self.storage is None or self.storage.numel() < size or self.storage.dtype != like.dtype \
                or self.storage.device != like.device:
            self.storage = like.new_empty(size)
        return self.storage[:size].view(rows, width)


class ConvTranspose(Op):
    """nn.ConvTranspose1d (groups 1, dilation 1) by overlap-add.

    Offline: full[m] = Σ_j x[j]·w[m − j·s] for m in [0, (L−1)·s + K), output = full[P : P + (L−1)·s
    + K − 2P + output_padding] + bias (zeros past the full length). With the kernel zero-padded to
    Q·s taps, one product gives each input row's Q blocks of s output rows; block q of input j
    lands on rows (j + q)·s.. of full. full[m] depends on x[j] for j <= m // s only, so after n
    inputs full[: n·s] is final and the rest, (Q − 1)·s rows, is the tail the next inputs add to.
    Needs K − s − P + output_padding >= 0 (`overlap_covers_crop`): else some of full[: n·s] may
    still fall in the final crop, and would have been returned too early."""

    def __init__(self, conv: nn.ConvTranspose1d):
        self.module = conv
        weight = conv.weight.detach()  # (C_in, C_out, K)
        self.stride, self.kernel = conv.stride[0], weight.shape[-1]
        self.c_out = weight.shape[1]
        self.blocks = math.ceil(self.kernel / self.stride)  # Q
        taps = self.blocks * self.stride
        # (C_in, Q·s·C_out), column (q·s + r)·C_out + c = w[:, c, q·s + r]
        self.matrix = laid_out(conv, lambda w: F.pad(w, (0, taps - w.shape[-1])).permute(0, 2, 1).reshape(w.shape[0], -1).contiguous())
        self.bias = None if conv.bias is None else conv.bias.detach()
        self.crop, self.extra = conv.padding[0], conv.output_padding[0]
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.tail = None  # (Q − 1, s·C_out): full rows past the last input's first block, no bias
        self.inputs = 0  # samples received
        self.skipped = 0  # of the `crop` leading full samples, dropped so far
        self.emitted = 0  # output samples returned

    def step(self, x: Tensor, *, final: bool) -> Tensor:
        s, q_count, width = self.stride, self.blocks, self.stride * self.c_out
        n = x.shape[0]
        if n:
            blocks = (x @ self.matrix).view(n, q_count, width)
            full = x.new_empty(n + q_count - 1, width)
            full[:n] = blocks[:, 0]
            full[n:] = 0
            for q in range(1, q_count):
                full[q : q + n] += blocks[:, q]
            if self.tail is not None:
                full[: q_count - 1] += self.tail
            ready, self.tail = full[:n].view(n * s, self.c_out), full[n:]
            self.inputs += n
            self.work += n
        else:
            ready = x.new_empty(0, self.c_out)
        if final and self.tail is not None:
            ready = _cat(ready, self.tail.reshape(-1, self.c_out))
        skip = min(self.crop - self.skipped, ready.shape[0])
        self.skipped += skip
        ready = ready[skip:]
        if final:
            # Drop the `crop` trailing samples; output_padding past the full output is zeros.
            total = max(0, (self.inputs - 1) * s + self.kernel - 2 * self.crop + self.extra) if self.inputs else 0
            want = total - self.emitted
            ready = ready[:want]
            if ready.shape[0] < want:
                ready = _cat(ready, ready.new_zeros(want - ready.shape[0], self.c_out))
        self.emitted += ready.shape[0]
        return ready + self.bias if self.bias is not None else ready


def overlap_covers_crop(conv: nn.ConvTranspose1d) -> bool:
    """Whether ConvTranspose can return full[: n·s] before the end (see its docstring)."""
    return conv.kernel_size[0] - conv.stride[0] - conv.padding[0] + conv.output_padding[0] >= 0


class Pad(Op):
    """F.pad of time by (left, right) samples. "reflect" replicates instead where the whole
    stream is not longer than the padding (what `reflect_pad`-style helpers do on short inputs),
    so it waits for max(left, right) + 1 samples (or the end) before it knows its start."""

    MODES = ("constant", "reflect", "replicate")

    def __init__(self, left: int, right: int, mode: str, value: float = 0.0):
        if mode not in self.MODES:
            raise ValueError(f"padding mode {mode!r}")
        self.left, self.right, self.mode, self.value = left, right, mode, value
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.head = None  # rows held until the start padding is known
        self.last = None  # the last right + 1 input rows, for the end padding
        self.started = False
        self.active = self.mode  # "reflect" falls back to "replicate" on a short stream

    def step(self, x: Tensor, *, final: bool) -> Tensor:
        front = None
        if not self.started:
            x = x if self.head is None else _cat(self.head, x)
            need = max(self.left, self.right) + 1 if self.mode == "reflect" else 1
            if x.shape[0] < need and not final:
                self.head = x
                return x[:0]
            if self.mode == "reflect" and x.shape[0] < need:
                self.active = "replicate"
            self.started, self.head = True, None
            if x.shape[0] == 0:  # final with nothing at all: nothing to pad
                return x
            front = self._edge(x, self.left, front=True)
        keep = self.right + 1
        self.last = x[-keep:] if x.shape[0] >= keep or self.last is None else _cat(self.last, x)[-keep:]
        if front is not None:
            x = _cat(front, x)
        if final and self.right:
            x = _cat(x, self._edge(self.last, self.right, front=False))
        return x

    def _edge(self, x: Tensor, width: int, *, front: bool) -> Tensor:
        """The `width` padding rows before x's first (front) or after its last row."""
        if width == 0:
            return x[:0]
        if self.active == "constant":
            return x.new_full((width, *x.shape[1:]), self.value)
        if self.active == "replicate":
            return (x[:1] if front else x[-1:]).expand(width, *x.shape[1:])
        return x[1 : width + 1].flip(0) if front else x[-width - 1 : -1].flip(0)
