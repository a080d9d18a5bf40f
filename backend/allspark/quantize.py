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


def _int8(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice for quantize_dynamic
        return torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)


def for_inference(model, device: str, precision: str = "auto"):
    """Put an AllSparkModel in eval mode at the chosen precision on `device`; returns (model, precision)."""
    precision = resolve_precision(precision, device)
    model = model.eval().to(device)
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
