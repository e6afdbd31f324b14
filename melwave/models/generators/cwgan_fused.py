"""The CWGAN generator's inference form: the same function with its linear pieces folded together.

In eval mode every step between the noise and the first nonlinearity, and between a transposed
convolution and its LeakyReLU, is linear, so it can be folded once into fewer, smaller operations:

- BatchNorm (running statistics) is a per-channel scale and shift: folded into the weights and
  bias of the layer before it.
- The Linear reads [z, label embeddings]: its columns for an embedding times that embedding's
  table is one (values, outputs) table per condition, so the Linear shrinks to z's columns and
  the labels become row lookups added to it.
- The label maps concatenated to the first transposed convolution's input contribute
  convT(map of the label), which depends on nothing but the label: one table of output maps
  per condition, looked up and added, and the convolution shrinks to the noise channels.

At batch 1 on a CPU these pieces (the Linear's weights read from memory, the concatenations,
BatchNorm passes, embedding maps) cost as much as the convolutions (per-layer profile of
`benchmarks/strips.py`), so folding them is what lets the single-pass strips model run faster
than the deep one. The result equals the module's own forward within float rounding (tested,
tests/models/generators/test_models.py); training never uses it.

    fused = FusedCWGAN.from_model(model)     # model in eval mode
    fused(z, labels)                         # (B, z_dim), (B, K) -> (B, G, n_mels, strip_frames)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# oneDNN's transposed convolution on a CPU reorders its weights on every call and handles
# narrow outputs badly: PyTorch's own (gemm + col2im) kernel is 4× faster for the one-channel
# output layers, and for grouped layers below 32 outputs per group; oneDNN is faster elsewhere
# (measured on the small and strips presets' layers at batch 1 and 64, one thread, AMD EPYC).
ONEDNN_MIN_OUT_CHANNELS = 4
ONEDNN_MIN_OUT_CHANNELS_GROUPED = 32
# Toggling the oneDNN flag makes torch warn about Intel-GPU TF32 each time.
warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")


def conv_transpose(x: Tensor, weight: Tensor, bias: Tensor | None, stride, padding, groups: int) -> Tensor:
    """F.conv_transpose2d with the faster CPU kernel for the layer's shape (same result within rounding).

    x: (B, groups·cin, H, W); weight: (groups·cin, cout, kh, kw), as nn.ConvTranspose2d(groups=groups).
    """
    if x.device.type == "cpu" and groups > 1 and x.shape[0] == 1 and not torch.is_grad_enabled():
        return _grouped_single(x, weight, bias, stride, padding, groups)
    narrow = weight.shape[1] < (ONEDNN_MIN_OUT_CHANNELS_GROUPED if groups > 1 else ONEDNN_MIN_OUT_CHANNELS)
    if x.device.type == "cpu" and narrow:
        with torch.backends.mkldnn.flags(enabled=False):
            return F.conv_transpose2d(x, weight, bias, stride=stride, padding=padding, groups=groups)
    return F.conv_transpose2d(x, weight, bias, stride=stride, padding=padding, groups=groups)


def _grouped_single(x: Tensor, weight: Tensor, bias: Tensor | None, stride, padding, groups: int) -> Tensor:
    """A grouped transposed convolution of ONE sample as one batched matrix product over the groups
    and one overlap-add (col2im). PyTorch's kernels run a grouped layer group by group (per group a
    product, a zeroed buffer, a col2im, then a concatenation), which at batch 1 costs more than the
    arithmetic; here that is 3 calls for all groups (~20 % faster per strips layer at batch 1, and
    slower from batch 2 on, measured on the strips layers, so only batch 1 takes this path)."""
    _, channels, height, width = x.shape
    cin, cout, kh, kw = channels // groups, weight.shape[1], weight.shape[2], weight.shape[3]
    # (G, cout·kh·kw, cin) @ (G, cin, H·W): every group's columns at once.
    columns = torch.bmm(weight.view(groups, cin, cout * kh * kw).transpose(1, 2), x.reshape(groups, cin, height * width))
    out_h = (height - 1) * stride[0] - 2 * padding[0] + kh
    out_w = (width - 1) * stride[1] - 2 * padding[1] + kw
    out = F.fold(columns, (out_h, out_w), (kh, kw), stride=stride, padding=padding).view(1, groups * cout, out_h, out_w)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def _norm_affine(norm: nn.Module, channels: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """(scale, shift) per channel of an eval-mode BatchNorm2d; (1, 0) for nn.Identity."""
    if isinstance(norm, nn.BatchNorm2d):
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        return scale, norm.bias - norm.running_mean * scale
    return like.new_ones(channels), like.new_zeros(channels)


@dataclass(frozen=True)
class FusedLayer:
    """One transposed convolution with its BatchNorm folded in (weight (G·cin, cout, kh, kw), bias (G·cout,))."""

    weight: Tensor
    bias: Tensor
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class FusedCWGAN:
    """A CWGANGenerator's eval-mode function in folded form (see the module docstring).

    project:      (G·c0·h0·w0, z_dim) weight of the Linear on z alone (norm folded in).
    project_bias: (G·c0·h0·w0,) its bias, norm folded in.
    label_rows:   per condition with a z-side embedding, (values, G·c0·h0·w0) rows to add.
    label_maps:   per condition, (values, G·c1, h1, w1): its label maps through the first
                  transposed convolution (norm scale folded in), added to that layer's output.
    layers:       the transposed convolutions, the first one on the noise channels only.
    """

    groups: int
    first_map: tuple[int, int, int]  # (G·c0, h0, w0)
    slope: float
    project: Tensor
    project_bias: Tensor
    label_rows: tuple[Tensor, ...]
    label_maps: tuple[Tensor, ...]
    layers: tuple[FusedLayer, ...]

    @classmethod
    @torch.no_grad()
    def from_model(cls, model) -> "FusedCWGAN":
        """Fold an eval-mode CWGANGenerator (its current weights and running statistics)."""
        if model.training:
            raise RuntimeError("FusedCWGAN.from_model: the model is in training mode (BatchNorm uses batch statistics)")
        cfg = model.config
        groups, c0, h0, w0 = cfg.strips, cfg.channels[0], model.h0, model.w0
        weight = model.project.weight  # (G, c0·h0·w0, z_dim + K·cond_embed)
        bias = model.project.bias if model.project.bias is not None else weight.new_zeros(weight.shape[:2])
        # The Linear's outputs of group g are channels g·c0 .. g·c0 + c0 - 1 of h0·w0 positions each.
        scale, shift = (t.view(groups, c0, 1).expand(groups, c0, h0 * w0).reshape(groups, -1)
                        for t in _norm_affine(model.project_norm, groups * c0, weight))
        weight = weight * scale[:, :, None]
        bias = bias * scale + shift
        z_dim = cfg.z_dim
        label_rows = []
        for k, table in enumerate(model.label_embeddings):
            columns = weight[:, :, z_dim + k * cfg.cond_embed: z_dim + (k + 1) * cfg.cond_embed]  # (G, out, embed)
            label_rows.append(torch.einsum("goe,ve->vgo", columns, table.weight).reshape(table.num_embeddings, -1))

        layers, label_maps = [], []
        for i, up in enumerate(model.ups):
            w = up.weight
            cin, cout = w.shape[0] // groups, w.shape[1]
            b = up.bias if up.bias is not None else w.new_zeros(groups * cout)
            norm = model.norms[i] if i < len(model.norms) else nn.Identity()
            s, t = _norm_affine(norm, groups * cout, w)
            w = w.view(groups, cin, cout, *w.shape[2:]) * s.view(groups, 1, cout, 1, 1)
            stride, padding = tuple(up.stride), tuple(up.padding)
            if i == 0:
                maps = cfg.cond_maps
                for k, table in enumerate(model.embeddings):
                    w_k = w[:, c0 + k * maps: c0 + (k + 1) * maps].reshape(groups * maps, cout, *w.shape[3:])
                    values = table.weight.view(table.num_embeddings, groups * maps, h0, w0)
                    label_maps.append(F.conv_transpose2d(values, w_k, None, stride=stride, padding=padding, groups=groups))
                w = w[:, :c0]
            layers.append(FusedLayer(w.reshape(-1, cout, *w.shape[3:]).contiguous(), s * b + t, stride, padding))
        return cls(groups, (groups * c0, h0, w0), cfg.slope, weight[:, :, :z_dim].reshape(-1, z_dim).contiguous(),
                   bias.reshape(-1), tuple(label_rows), tuple(label_maps), tuple(layers))

    def __call__(self, z: Tensor, labels: Tensor) -> Tensor:
        """(B, z_dim), (B, K) long -> (B, G, n_mels, strip_frames), normalised."""
        x = F.linear(z, self.project, self.project_bias)
        for k, rows in enumerate(self.label_rows):
            x = x + rows[labels[:, k]]
        x = F.leaky_relu(x, self.slope).view(z.shape[0], *self.first_map)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = conv_transpose(x, layer.weight, layer.bias, layer.stride, layer.padding, self.groups)
            if i == 0:
                for k, maps in enumerate(self.label_maps):
                    x = x + maps[labels[:, k]]
            if i < last:
                x = F.leaky_relu(x, self.slope)
        return x
