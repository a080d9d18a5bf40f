"""Which device to run on: CUDA when present (and asked for or auto), CPU otherwise."""

from __future__ import annotations

from .errors import AllSparkError


def pick_device(requested: str = "auto") -> str:
    requested = (requested or "auto").lower()
    if requested not in ("auto", "cpu", "cuda"):
        raise AllSparkError(f"unknown device {requested!r}: use auto, cpu or cuda")
    if requested == "cpu":
        return "cpu"
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a backend requirement
        has_cuda = False
    if requested == "cuda" and not has_cuda:
        raise AllSparkError("device 'cuda' was asked for, but no CUDA device is available")
    return "cuda" if has_cuda else "cpu"
