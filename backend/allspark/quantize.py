"""Inference precision for encoder + bridge: int8 dynamic quantization on CPU, half precision on CUDA.

int8 quantizes each activation row (a token of one sample) on its own (RowwiseInt8Linear), so a
sample's result never depends on the other samples of its batch.

The head stays in float32 (it is tiny and decides the answer). `precision`: "auto" (int8 on CPU,
fp16 on CUDA), "fp32", "int8" (CPU only) or "fp16" (CUDA only).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from .errors import AllSparkError

PRECISIONS = ("auto", "fp32", "int8", "fp16")


def resolve_precision(precision: str, device: str, preferred: str | None = None) -> str:
    """`auto` is the bundle's own choice for the device (`preferred`, from its manifest's `inference`:
    a bundle whose encoder loses accuracy in int8 was trained with `--cpu-precision fp32`), else int8
    on the CPU and fp16 on CUDA."""
    if precision not in PRECISIONS:
        raise AllSparkError(f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}")
    if precision == "auto":
        if preferred in ("fp32", "int8" if device == "cpu" else "fp16"):
            return preferred
        return "fp16" if device == "cuda" else "int8"
    if precision == "int8" and device != "cpu":
        raise AllSparkError("int8 encoders run on the CPU; use fp16 on CUDA")
    if precision == "fp16" and device != "cuda":
        raise AllSparkError("fp16 encoders run on CUDA; use int8 or fp32 on the CPU")
    return precision


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm that directly follows a Conv or Linear in an nn.Sequential into that layer
    (eval mode: the norm is a fixed affine map, so this is exact up to rounding); the norm becomes
    Identity. Saves a pass over the activations and lets int8 cover the fused layer."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            layer, norm = seq[i], seq[i + 1]
            if not isinstance(norm, nn.modules.batchnorm._BatchNorm) or not norm.track_running_stats:
                continue
            if isinstance(layer, nn.Linear) and isinstance(norm, nn.BatchNorm1d):
                seq[i] = fuse_linear_bn_eval(layer.eval(), norm.eval())
            elif isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                seq[i] = fuse_conv_bn_eval(layer.eval(), norm.eval())
            else:
                continue
            seq[i + 1] = nn.Identity()
    return module


class RowwiseInt8Linear(nn.Module):
    """An int8 Linear whose activations are quantized row by row (one row = one token of one sample).

    torch's dynamic quantization (`quantize_dynamic`) picks one activation scale for the whole input
    tensor, i.e. the whole batch: a sample's answer then depended on the other samples of its batch
    (the same PRSA row: 143.3 among 6 rows, 145.5 among 24). Here every row x is mapped onto [0, 1],
    u = (x - min x) / (max x - min x), before fbgemm's int8 kernel: each row holds an exact 0 and an
    exact 1, so the kernel's per-tensor range is [0, 1] whatever the batch, and
    W x = (max - min) * W u + min * W 1 restores the row. A row's result depends on that row alone, and
    its quantization step is its own range / 127 (never a wider batch's). Weights: int8 per output channel.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float().cpu()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        scales = (w.abs().amax(1) / 127.0).clamp_min(1e-12).double()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's deprecation notice for quantized tensors (fbgemm stays)
            qw = torch.quantize_per_channel(w, scales, torch.zeros(len(scales), dtype=torch.long), 0, torch.qint8)
            self._packed = torch.ops.quantized.linear_prepack(qw, None)
        self.register_buffer("row_sum", qw.dequantize().sum(1))  # W 1 of the int8 weights
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().cpu().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x = x.reshape(-1, self.in_features).float()
        lo = x.amin(1, keepdim=True)  # (amin and amax apart: much faster than torch.aminmax over rows)
        span = (x.amax(1, keepdim=True) - lo).clamp_min_(1e-30)  # a constant row: u = 0, W x = min * W 1
        u = (x - lo).div_(span)
        # reduce_range: 7-bit activations, as torch's dynamic Linear on x86 (no int16 overflow without VNNI)
        y = torch.ops.quantized.linear_dynamic(u, self._packed, True)
        y.mul_(span).addr_(lo.view(-1), self.row_sum)  # in place: no (rows x out) temporaries
        if self.bias is not None:
            y.add_(self.bias)
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 rows"


class SampleWiseConv(nn.Module):
    """A convolution run on fixed groups of `chunk` samples (default one at a time). oneDNN picks its
    convolution algorithm (and so its rounding) by batch size: batched, a pixel's features moved by ~1e-6
    with its batch, which int8 rounding and the quantized LLM then magnify into visibly different
    answers. On groups of one fixed size (the last one padded with zeros), every sample goes through the
    same algorithm in any batch, so its features are the same bit for bit; an encoder that runs many
    small samples (dense tiles) sets a `conv_chunk` > 1 to spend less per sample."""

    def __init__(self, conv: nn.Module, chunk: int = 1):
        super().__init__()
        self.conv, self.chunk = conv, max(1, int(chunk))
        # groups of 2-D maps: channels-last (oneDNN's fast layout here, a third less time), for every group
        self.channels_last = self.chunk > 1 and conv.weight.dim() == 4
        if self.channels_last:
            self.conv = conv.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == self.conv.weight.dim() - 1:  # unbatched
            return self.conv(x)
        k, n = self.chunk, x.shape[0]
        if k == 1:
            return self.conv(x) if n == 1 else torch.cat([self.conv(x[i:i + 1]) for i in range(n)])
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if n % k:
            x = torch.cat([x, x.new_zeros((k - n % k,) + tuple(x.shape[1:]))])
        return torch.cat([self.conv(x[i:i + k]) for i in range(0, x.shape[0], k)])[:n]


def sample_wise_convs(module: nn.Module, chunk: int = 1) -> nn.Module:
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            setattr(module, name, SampleWiseConv(child, chunk))
        else:
            sample_wise_convs(child, chunk)
    return module


INT8_MIN_INPUTS = 16  # narrower layers stay float32: quantizing a row of 6 values costs 10x the product


def _int8(module: nn.Module) -> nn.Module:
    """Every nn.Linear (exactly that type: nn.MultiheadAttention's out_proj stays float, as with torch's
    dynamic quantization) of at least INT8_MIN_INPUTS inputs becomes a RowwiseInt8Linear."""
    for name, child in list(module.named_children()):
        if type(child) is nn.Linear and child.in_features >= INT8_MIN_INPUTS:
            setattr(module, name, RowwiseInt8Linear(child))
        else:
            _int8(child)
    return module


def for_inference(model, device: str, precision: str = "auto", preferred: str | None = None):
    """Put an AllSparkModel in eval mode at the chosen precision on `device`; returns (model, precision)."""
    precision = resolve_precision(precision, device, preferred)
    model = model.eval().to(device)
    fold_batch_norms(model.encoder)
    if device == "cpu":
        sample_wise_convs(model.encoder, getattr(model.encoder, "conv_chunk", 1))
    if precision == "int8":
        # nn.TransformerEncoder's fused fast path reads `linear.weight` as a tensor, which an int8
        # Linear does not have: use the regular path (same maths).
        torch.backends.mha.set_fastpath_enabled(False)
        model.encoder = _int8(model.encoder)
        model.bridge = _int8(model.bridge)
    elif precision == "fp16":
        model.encoder = model.encoder.half()
        model.bridge = model.bridge.half()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, precision
