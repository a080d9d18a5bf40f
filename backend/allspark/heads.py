"""Light task heads on the LLM's output.

Every head reads `llm_hidden` (B, S, D): the frozen LLM's final hidden states at the sample's own
positions (the N bridge tokens, then the prompt suffix; the last row is the last prompt token).
Its pooled feature is [last position, mean of the bridge positions].
- classification: LayerNorm + one linear layer -> class logits (softmax).
- regression: LayerNorm + one linear layer -> normalised targets; `decode` undoes the normalisation.
- trajectory: K candidate futures of 12 (x, y) steps + a score each, trained winner-takes-all.
- point/pixel classification (dense): every element (point, pixel) of the encoder attends to the
  LLM's hidden states, then a linear layer -> per-element class logits.
- forecast (graph): the dense head's shape, per element (sensor) the next `horizon` values
  (normalised), trained with the masked mean absolute error (missing targets, NaN, skipped).
Text answers come from the LLM's own decoder (engine), not from a head.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .bridge import CrossAttention

CLASSIFICATION = "classification"
REGRESSION = "regression"
TRAJECTORY = "trajectory"
DENSE_TASKS = ("point_classification", "pixel_classification")
FORECAST = "forecast"
TASKS = (CLASSIFICATION, REGRESSION, TRAJECTORY, *DENSE_TASKS, FORECAST)


def pooled(llm_hidden: torch.Tensor, n_bridge: int) -> torch.Tensor:
    return torch.cat([llm_hidden[:, -1], llm_hidden[:, :n_bridge].mean(1)], dim=-1)


class ClassificationHead(nn.Module):
    def __init__(self, llm_dim: int, n_classes: int):
        super().__init__()
        self.norm = nn.LayerNorm(2 * llm_dim)
        self.out = nn.Linear(2 * llm_dim, n_classes)

    def forward(self, llm_hidden, n_bridge, elements=None):
        return self.out(self.norm(pooled(llm_hidden, n_bridge)))

    @staticmethod
    def loss(logits, targets, weight=None):
        return nn.functional.cross_entropy(logits, targets.long(), weight=weight)


class RegressionHead(ClassificationHead):
    """Same shape as classification: one linear layer, here onto the normalised targets. Trained with
    the squared error: the figure users read is the RMSE."""

    @staticmethod
    def loss(pred, targets, weight=None):
        return nn.functional.mse_loss(pred, targets.float())


class TrajectoryHead(nn.Module):
    def __init__(self, llm_dim: int, k: int = 20, horizon: int = 12, hidden: int = 256):
        super().__init__()
        self.k, self.horizon = k, horizon
        self.net = nn.Sequential(nn.LayerNorm(2 * llm_dim), nn.Linear(2 * llm_dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, k * (horizon * 2 + 1)))

    def forward(self, llm_hidden, n_bridge, elements=None):
        out = self.net(pooled(llm_hidden, n_bridge)).view(-1, self.k, self.horizon * 2 + 1)
        paths = out[..., :-1].reshape(-1, self.k, self.horizon, 2).cumsum(2)  # steps -> positions
        return paths, out[..., -1]

    @staticmethod
    def loss(output, targets, weight=None):
        paths, scores = output
        ade = (paths - targets[:, None].float()).norm(dim=-1).mean(-1)  # (B, K)
        best = ade.argmin(1)
        return ade.gather(1, best[:, None]).mean() + 0.1 * nn.functional.cross_entropy(scores, best)


class DenseHead(nn.Module):
    """Per-element classification: elements (B, M, d_enc) attend to the LLM's hidden states.
    `context=False`: each element on its own (an encoder head that reads no tokens: head
    `encoder_head: "elements"`)."""

    def __init__(self, llm_dim: int, enc_dim: int, n_classes: int, dim: int = 64, heads: int = 4,
                 context: bool = True):
        super().__init__()
        self.elem = nn.Sequential(nn.LayerNorm(enc_dim), nn.Linear(enc_dim, dim))
        if context:
            self.ctx = nn.Sequential(nn.LayerNorm(llm_dim), nn.Linear(llm_dim, dim))
            self.attn = CrossAttention(dim, heads, dim // heads)  # the bridge's: no layout copies for many elements
        self.context = context
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, n_classes))

    def forward(self, llm_hidden, n_bridge, elements=None):
        if elements is None:
            raise ValueError("a dense head needs the encoder's per-element features")
        e = self.elem(elements)
        if self.context:
            c = self.ctx(llm_hidden.to(e.dtype))
            e = e + self.attn(e, c)
        return self.out(e)

    @staticmethod
    def loss(logits, targets, weight=None):  # targets (B, M), -1 = ignore (padding / unlabelled)
        return nn.functional.cross_entropy(logits.flatten(0, 1), targets.long().flatten(), weight=weight,
                                           ignore_index=-1)


class ForecastHead(DenseHead):
    """Per-element regression of a horizon (graph forecasts): each sensor's features (+ the LLM's hidden
    states) -> its next `horizon` values, normalised; `decode` puts them back in the data's units.
    `residual`: the element's last feature is the sensor's last observed (standardised) reading and the
    head predicts the change from it (the one head of a bundle that answers alone; with `encoder_skip` the
    encoder's head adds it and the LLM head adds its correction)."""

    def __init__(self, llm_dim: int, enc_dim: int, horizon: int, dim: int = 64, heads: int = 4,
                 context: bool = True, residual: bool = True):
        super().__init__(llm_dim, enc_dim, horizon, dim, heads, context)
        self.residual = residual

    def forward(self, llm_hidden, n_bridge, elements=None):
        out = super().forward(llm_hidden, n_bridge, elements)
        return out + elements[..., -1:].to(out.dtype) if self.residual else out

    @staticmethod
    def loss(pred, targets, weight=None):  # targets (B, K, horizon), NaN = missing: skipped
        t = targets.float()
        keep = torch.isfinite(t)
        if not keep.any():
            return pred.sum() * 0.0
        return (pred[keep] - t[keep]).abs().mean()


def build_head(task: str, cfg: dict, llm_dim: int, enc_dim: int) -> nn.Module:
    if task == CLASSIFICATION:
        return ClassificationHead(llm_dim, len(cfg["classes"]))
    if task == REGRESSION:
        return RegressionHead(llm_dim, len(cfg["targets"]))
    if task == TRAJECTORY:
        return TrajectoryHead(llm_dim, cfg.get("k", 20), cfg.get("horizon", 12))
    if task in DENSE_TASKS:
        return DenseHead(llm_dim, enc_dim, len(cfg["classes"]), cfg.get("dim", 64))
    if task == FORECAST:
        return ForecastHead(llm_dim, enc_dim, int(cfg.get("horizon", 12)), cfg.get("dim", 64),
                            residual=not cfg.get("encoder_skip"))
    raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")


def build_encoder_head(task: str, cfg: dict, enc_dim: int, element_dim: int) -> nn.Module:
    """The head that reads the encoder's own output (stage 1; kept with `encoder_skip`): the task's head,
    or with `encoder_head: "elements"` (dense tasks) one that classifies each element on its own."""
    if task in DENSE_TASKS and cfg.get("encoder_head") == "elements":
        return DenseHead(enc_dim, element_dim, len(cfg["classes"]), cfg.get("dim", 64), context=False)
    if task == FORECAST:  # each sensor from its own features (the encoder has mixed the sensors already)
        return ForecastHead(enc_dim, element_dim, int(cfg.get("horizon", 12)), cfg.get("dim", 64), context=False)
    return build_head(task, cfg, enc_dim, element_dim)


def decode(task: str, output, manifest: dict) -> dict:
    """Head output (torch) -> the result dict of docs/DESIGN.md, in the user's units."""
    if task == CLASSIFICATION:
        probs = torch.softmax(output.detach().float(), -1).cpu().numpy().astype(np.float32)
        classes = manifest["classes"]
        return {"task": task, "classes": classes, "probabilities": probs,
                "labels": [classes[i] for i in probs.argmax(1)]}
    if task == REGRESSION:
        norm = manifest["normalisation"]["target"]
        values = output.detach().float().cpu().numpy() * np.asarray(norm["std"]) + np.asarray(norm["mean"])
        return {"task": task, "targets": manifest["targets"], "values": values.astype(np.float32)}
    if task == TRAJECTORY:
        paths, scores = output
        scale = float(manifest["normalisation"]["target"]["scale"])
        return {"task": task, "paths": (paths.detach().float().cpu().numpy() * scale).astype(np.float32),
                "scores": torch.softmax(scores.detach().float(), -1).cpu().numpy().astype(np.float32)}
    if task in DENSE_TASKS:
        probs = torch.softmax(output.detach().float(), -1)
        return {"task": task, "classes": manifest["classes"],
                "element_labels": probs.argmax(-1).cpu().numpy().astype(np.int32),
                "element_probabilities": probs.max(-1).values.cpu().numpy().astype(np.float32)}
    if task == FORECAST:
        norm = manifest["normalisation"]["target"]
        values = output.detach().float().cpu().numpy() * float(norm["std"]) + float(norm["mean"])
        inp = manifest.get("input") or {}
        step = float(inp.get("step_minutes") or 5.0)
        return {"task": task, "targets": manifest.get("targets"), "values": values.astype(np.float32),
                "sensor_ids": list(inp.get("sensor_ids") or []),
                "horizon_minutes": [round(step * (i + 1), 6) for i in range(values.shape[-1])]}
    raise ValueError(f"unknown task {task!r}")
