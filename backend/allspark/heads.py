"""Light task heads on the LLM's output.

Every head reads `llm_hidden` (B, S, D): the frozen LLM's final hidden states at the sample's own
positions (the N bridge tokens, then the prompt suffix; the last row is the last prompt token).
Its pooled feature is [last position, mean of the bridge positions].
- classification: LayerNorm + one linear layer -> class logits (softmax); for a text the LLM reads as its
  own tokens, plus the LLM's own preference between the class words (WordClassificationHead).
- regression: LayerNorm + one linear layer -> normalised targets; `decode` undoes the normalisation.
- trajectory: K candidate futures of 12 (x, y) steps + a score each, trained winner-takes-all.
- point/pixel classification (dense): every element (point, pixel) of the encoder attends to the
  LLM's hidden states, then a linear layer -> per-element class logits.
- forecast (graph): the dense head's shape, per element (sensor) the next `horizon` values
  (normalised), trained with the masked mean absolute error (missing targets, NaN, skipped).
- reid (infrared): the pooled feature -> an embedding (L2-normalised when decoded: galleries are ranked by
  its distance) and training-person logits for the loss only (ID cross-entropy + batch-hard triplet).
- depth (oblique photography): the dense head's shape, per reference pixel a correction of the encoder's
  plane-sweep hypothesis logits; the depth is their soft-argmin (DepthHead, depth_from_output).
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
DOCSTRING = "docstring"  # code: the LLM writes the docstring; the head gives code-search vectors
DEPTH = "depth"  # oblique photography: a depth per reference-view pixel
TASKS = (CLASSIFICATION, REGRESSION, TRAJECTORY, *DENSE_TASKS, FORECAST, DEPTH)
REID = "reid"  # infrared: person re-identification, an embedding per image
TASKS = (*TASKS, REID, DOCSTRING)


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


class WordClassificationHead(ClassificationHead):
    """Classification through the LLM's own tokens (text): the LLM's preference between the class words
    (its last hidden state against their embedding rows, unit length, stored in `words`; Gemma ties its
    output layer to them), scaled, plus the linear layer, which starts at zero: before training, the
    answer is the LLM's own."""

    def __init__(self, llm_dim: int, n_classes: int):
        super().__init__(llm_dim, n_classes)
        self.register_buffer("words", torch.zeros(n_classes, llm_dim))
        self.word_scale = nn.Parameter(torch.ones(()))
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, llm_hidden, n_bridge, elements=None):
        own = llm_hidden[:, -1].float() @ self.words.float().T
        return super().forward(llm_hidden, n_bridge) + self.word_scale * own


class RetrievalHead(nn.Module):
    """Code search (the code modality's `docstring` task): the LLM's pooled rows of a function and of a
    sentence, each through its own LayerNorm + linear layer, into one space of unit vectors; trained with the
    symmetric contrastive loss (each pair of a batch against the batch's other functions and sentences,
    a learned temperature). `forward` gives the functions' vectors, `query` the sentences'."""

    def __init__(self, llm_dim: int, dim: int = 256):
        super().__init__()
        self.code = nn.Sequential(nn.LayerNorm(2 * llm_dim), nn.Linear(2 * llm_dim, dim))
        self.sentence = nn.Sequential(nn.LayerNorm(2 * llm_dim), nn.Linear(2 * llm_dim, dim))
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(20.0))))

    def forward(self, llm_hidden, n_bridge, elements=None):
        return nn.functional.normalize(self.code(pooled(llm_hidden, n_bridge).float()), dim=-1)

    def query(self, llm_hidden, n_bridge: int = 1):
        return nn.functional.normalize(self.sentence(pooled(llm_hidden, n_bridge).float()), dim=-1)

    def loss(self, code_vectors, sentence_vectors):
        logits = self.log_scale.exp().clamp(max=100.0) * sentence_vectors @ code_vectors.T
        target = torch.arange(len(logits), device=logits.device)
        return (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target)) / 2


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


class DepthHead(DenseHead):
    """Per-pixel depth (oblique photography, Ada-MVS-style coarse form). Each reference pixel's element is
    [D hypothesis logits of the encoder's plane-sweep cost, features, depth min, depth max]; the features
    (+ the LLM's hidden states) give a correction of the D logits. Output (B, M, D + 2): the logits and the
    depth range; `depth_from_output` takes the softmax over the hypotheses and the soft-argmin (the
    expected depth). `residual`: the logits start from the encoder's (the one head of a bundle that answers
    alone); with `encoder_skip` the LLM head adds a correction and zeros for the range, so the sum of the
    two heads' outputs is again [logits, range]. Trained with the smooth-L1 of the depth error in
    hypothesis intervals on the valid pixels (targets NaN elsewhere)."""

    def __init__(self, llm_dim: int, enc_dim: int, hypotheses: int, dim: int = 64, heads: int = 4,
                 context: bool = True, residual: bool = True):
        super().__init__(llm_dim, enc_dim - 2, hypotheses, dim, heads, context)
        self.hypotheses, self.residual = hypotheses, residual
        nn.init.zeros_(self.out[-1].weight)  # a new head starts from the encoder's logits (a zero correction)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, llm_hidden, n_bridge, elements=None):
        if elements is None:
            raise ValueError("a depth head needs the encoder's per-pixel features")
        corr = super().forward(llm_hidden, n_bridge, elements[..., :-2])
        if not self.residual:
            return torch.cat([corr, torch.zeros_like(corr[..., :2])], -1)
        return torch.cat([elements[..., :self.hypotheses].to(corr.dtype) + corr, elements[..., -2:].to(corr.dtype)], -1)

    @staticmethod
    def loss(out, targets, weight=None):  # targets (B, M) depths, NaN = invalid pixel: skipped
        depth, interval, _ = depth_from_output(out)
        t = targets.float()
        keep = torch.isfinite(t)
        if not keep.any():
            return out.sum() * 0.0
        err = (depth[keep] - t[keep]) / interval[keep].clamp_min(1e-6)
        return nn.functional.smooth_l1_loss(err, torch.zeros_like(err), beta=1.0)


def depth_from_output(out: torch.Tensor):
    """A depth head's output (B, M, D + 2) -> (depth, hypothesis interval, confidence), each (B, M): the
    soft-argmin over the D hypotheses spread evenly over [min, max], the spacing of the hypotheses, and the
    winning hypothesis' probability."""
    out = out.float()
    logits, lo, hi = out[..., :-2], out[..., -2], out[..., -1]
    d = logits.shape[-1]
    p = torch.softmax(logits, -1)
    t = (p * torch.linspace(0, 1, d, device=out.device)).sum(-1)
    return lo + (hi - lo) * t, (hi - lo) / max(1, d - 1), p.max(-1).values


class ReidHead(nn.Module):
    """Re-identification (infrared): the pooled feature -> an embedding (`embedding` wide; L2-normalised when
    decoded, what galleries are ranked by) and logits of the training persons (only for the loss: the
    persons asked about are others). Loss: identity cross-entropy (label smoothing 0.1; a person that is
    not a training person, index -1, is skipped) + the batch-hard triplet loss (margin 0.3) on the
    normalised embeddings, by person id. Targets (B, 4): [training index, person, camera, spectrum].
    The embedding layer is registered last: with `encoder_skip` it starts at zero (see model.py)."""

    def __init__(self, llm_dim: int, identities: int, embedding: int = 128):
        super().__init__()
        self.identities = nn.Linear(embedding, max(1, identities), bias=False)
        self.norm = nn.LayerNorm(2 * llm_dim)
        self.embed = nn.Linear(2 * llm_dim, embedding)

    def forward(self, llm_hidden, n_bridge, elements=None):
        f = self.embed(self.norm(pooled(llm_hidden, n_bridge)))
        return f, self.identities(f)

    @staticmethod
    def loss(output, targets, weight=None, margin: float = 0.3):
        f, logits = output
        t = targets.long()
        label, person = t[:, 0], t[:, 1]
        loss = f.sum() * 0.0
        if (label >= 0).any():
            loss = loss + nn.functional.cross_entropy(logits.float(), label, ignore_index=-1, label_smoothing=0.1)
        e = nn.functional.normalize(f.float(), dim=1)
        d = torch.cdist(e, e)
        same = person[:, None] == person[None, :]
        eye = torch.eye(len(person), dtype=torch.bool, device=d.device)
        pos, neg = same & ~eye, ~same
        ok = pos.any(1) & neg.any(1)
        if ok.any():
            hardest_pos = torch.where(pos, d, torch.zeros_like(d)).max(1).values
            hardest_neg = torch.where(neg, d, torch.full_like(d, 1e4)).min(1).values
            loss = loss + torch.relu(hardest_pos - hardest_neg + margin)[ok].mean()
        return loss


def build_head(task: str, cfg: dict, llm_dim: int, enc_dim: int) -> nn.Module:
    if task == CLASSIFICATION:
        if cfg.get("class_words"):
            return WordClassificationHead(llm_dim, len(cfg["classes"]))
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
    if task == DOCSTRING:
        return RetrievalHead(llm_dim, int(cfg.get("dim", 256)))
    if task == DEPTH:
        return DepthHead(llm_dim, enc_dim, int(cfg["hypotheses"]), cfg.get("dim", 64), residual=not cfg.get("encoder_skip"))
    if task == REID:
        return ReidHead(llm_dim, int(cfg.get("identities") or 1), int(cfg.get("embedding", 128)))
    raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")


def build_encoder_head(task: str, cfg: dict, enc_dim: int, element_dim: int) -> nn.Module:
    """The head that reads the encoder's own output (stage 1; kept with `encoder_skip`): the task's head,
    or with `encoder_head: "elements"` (dense tasks) one that classifies each element on its own."""
    if task in DENSE_TASKS and cfg.get("encoder_head") == "elements":
        return DenseHead(enc_dim, element_dim, len(cfg["classes"]), cfg.get("dim", 64), context=False)
    if task == FORECAST:  # each sensor from its own features (the encoder has mixed the sensors already)
        return ForecastHead(enc_dim, element_dim, int(cfg.get("horizon", 12)), cfg.get("dim", 64), context=False)
    if task == DEPTH:  # each pixel from its own cost and features
        return DepthHead(enc_dim, element_dim, int(cfg["hypotheses"]), cfg.get("dim", 64), context=False)
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
    if task == DOCSTRING:  # the functions' search vectors; the engine adds the written docstrings
        return {"task": task, "vectors": output.detach().float().cpu().numpy().astype(np.float32)}
    if task == FORECAST:
        norm = manifest["normalisation"]["target"]
        values = output.detach().float().cpu().numpy() * float(norm["std"]) + float(norm["mean"])
        inp = manifest.get("input") or {}
        step = float(inp.get("step_minutes") or 5.0)
        return {"task": task, "targets": manifest.get("targets"), "values": values.astype(np.float32),
                "sensor_ids": list(inp.get("sensor_ids") or []),
                "horizon_minutes": [round(step * (i + 1), 6) for i in range(values.shape[-1])]}
    if task == DEPTH:  # (B, M) depths of the reference pixels (row-major), in the data's units
        depth, _, conf = depth_from_output(output.detach())
        return {"task": task, "depth": depth.cpu().numpy().astype(np.float32),
                "depth_confidence": conf.cpu().numpy().astype(np.float32),
                "unit": (manifest.get("input") or {}).get("unit", "m")}
    if task == REID:  # (B, embedding) L2-normalised: rank a gallery by the distance between them
        f = output[0] if isinstance(output, (tuple, list)) else output
        emb = nn.functional.normalize(f.detach().float(), dim=1)
        return {"task": task, "embeddings": emb.cpu().numpy().astype(np.float32)}
    raise ValueError(f"unknown task {task!r}")
