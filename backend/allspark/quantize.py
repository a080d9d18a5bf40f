"""Inference precision for encoder + bridge: int8 dynamic quantization on CPU, half precision on CUDA.

The head stays in float32 (it is tiny and decides the answer). `precision`: "auto" (int8 on CPU,
fp16 on CUDA), "fp32", "int8" (CPU only) or "fp16" (CUDA only).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from .errors import AllSparkError

PRECISIONS = ("auto", "fp32", "int8", "fp16")


def resolve_precision(precision: str, device: str) -> str:
    if precision not in PRECISIONS:
        raise AllSparkError(f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}")
    if precision == "auto":
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


def _int8(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice for quantize_dynamic
        return torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)


def for_inference(model, device: str, precision: str = "auto"):
    """Put an AllSparkModel in eval mode at the chosen precision on `device`; returns (model, precision)."""
    precision = resolve_precision(precision, device)
    model = model.eval().to(device)
    fold_batch_norms(model.encoder)
    if precision == "int8":
        # nn.TransformerEncoder's fused fast path reads `linear.weight` as a tensor, which a dynamically
        # quantized Linear does not have: use the regular path (same maths).
        torch.backends.mha.set_fastpath_enabled(False)
        model.encoder = _int8(model.encoder)
        model.bridge = _int8(model.bridge)
    elif precision == "fp16":
        model.encoder = model.encoder.half()
        model.bridge = model.bridge.half()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, precision
