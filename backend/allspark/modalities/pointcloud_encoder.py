"""The point-cloud encoder (torch): PointBERT-style groups of points, a mini PointNet per group, a
transformer over the group tokens, and per-point elements for dense tasks.

Imported only by pointcloud.PointCloud.build_encoder: `allspark modalities` and reading stay free of
torch. Attribute names are the state-dict keys shipped bundles load by: keep them.
"""

from __future__ import annotations

import torch
from torch import nn

from .encoders import MLP, TransformerStack


def gather(x, idx):
    """x (B, P, C), idx (B, ...) -> (B, ..., C)."""
    B = x.shape[0]
    flat = idx.reshape(B, -1)
    out = torch.gather(x, 1, flat.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    return out.reshape(*idx.shape, x.shape[-1])


def fps(xyz, n, pool=512):
    """Farthest-point sampling: (B, P, 3) -> (B, n) indexes. The search runs over a fixed pseudo-random
    subset of `pool` points (the same for every call; padding rows repeat real points): n centres
    spread over 512 random points as well as over all 2048, at a quarter of the cost."""
    B, P, _ = xyz.shape
    m = max(n, min(P, pool))
    subset = torch.randperm(P, generator=torch.Generator().manual_seed(P))[:m].sort().values.to(xyz.device)
    cand = xyz[:, subset]
    idx = torch.zeros(B, n, dtype=torch.long, device=xyz.device)
    dist = torch.full((B, m), float("inf"), device=xyz.device)
    far = torch.zeros(B, dtype=torch.long, device=xyz.device)
    ar = torch.arange(B, device=xyz.device)
    for i in range(n):
        idx[:, i] = far
        dist = torch.minimum(dist, ((cand - cand[ar, far].unsqueeze(1)) ** 2).sum(-1))
        far = dist.argmax(-1)
    return subset[idx]


def nearest(dist, k):
    """The k smallest of the last axis, ascending (values, indexes): k rounds of min, for a small k (a
    point's 3 nearest centres) twice as fast as topk on the CPU, the same values and indexes."""
    dist = dist.clone()
    values, indexes = [], []
    for _ in range(k):
        v, i = dist.min(-1)
        values.append(v)
        indexes.append(i)
        dist.scatter_(-1, i.unsqueeze(-1), float("inf"))
    return torch.stack(values, -1), torch.stack(indexes, -1)


def interpolate(values, dist, k=3):
    """Inverse-distance interpolation of per-centre values (B, G, C) at the points, given the points'
    distances to the centres `dist` (B, P, G), from each point's k nearest centres: one sparse (B, P, G)
    weight matrix times the values."""
    d, nn_idx = nearest(dist, min(k, dist.shape[-1]))
    w = 1.0 / (d + 1e-6)
    w = w / w.sum(-1, keepdim=True)
    weights = torch.zeros_like(dist, dtype=values.dtype)
    return torch.bmm(weights.scatter_(-1, nn_idx, w.to(values.dtype)), values)


class PointBatchNorm(nn.BatchNorm1d):
    """BatchNorm over every point of channels-last (..., C) features."""

    def forward(self, x):
        return super().forward(x.reshape(-1, x.shape[-1])).view_as(x)


def point_mlp(c_in, c_out):
    """Linear -> BatchNorm (over all points) -> ReLU, channels-last (for inference the norm folds into
    the Linear: quantize.fold_batch_norms)."""
    return nn.Sequential(nn.Linear(c_in, c_out), PointBatchNorm(c_out), nn.ReLU(inplace=True))


class MiniPointNet(nn.Module):
    """PointBERT's group encoder, (M, N, C) points -> (M, dim): a shared per-point MLP, the group's
    max-pooled feature concatenated back to every point, a second per-point layer, max-pooled again,
    then projected to dim. The projection comes after the pooling (PointBERT has it before) and the
    widths (w0, w1, w2) are small (PointBERT: 128, 256, 512): this runs on every point of every tile,
    and the pipeline must cost little beside the LLM. Linear layers, so int8 applies on CPU."""

    def __init__(self, in_dim, dim, widths=(32, 64, 128)):
        super().__init__()
        w0, w1, w2 = (int(w) for w in widths)
        self.first = nn.Sequential(point_mlp(in_dim, w0), nn.Linear(w0, w1))
        self.second = point_mlp(2 * w1, w2)
        self.project = nn.Linear(w2, dim)

    def forward(self, g):
        f = self.first(g)  # (M, N, w1)
        glob = f.max(1, keepdim=True)[0].expand_as(f)
        f = self.second(torch.cat([glob, f], -1))  # (M, N, w2)
        return self.project(f.max(1)[0])


class PointEncoder(nn.Module):
    """points (B, P, 3+d), mask (B, P) -> tokens (B, 1 + G, dim) [, elements (B, P, element_dim)].

    Per-point elements (dense): the group tokens, projected to element_dim, interpolated from the 3
    nearest group centres (inverse distance), plus a small MLP of the point itself, normalised."""

    def __init__(self, in_dim=6, groups=64, group_size=32, dim=192, depth=4, heads=4, mlp_ratio=4.0,
                 dropout=0.0, dense=False, group_widths=(32, 64, 128), element_dim=64):
        super().__init__()
        self.in_dim, self.G, self.N, self.dense = in_dim, groups, group_size, dense
        self.element_dim = int(element_dim) if dense else None
        self.group_enc = MiniPointNet(in_dim, dim, group_widths)
        self.pos = MLP([3, 128, dim], norm=False)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.cls_pos = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.cls, std=0.02)
        self.blocks = TransformerStack(dim, depth, heads, mlp_ratio, dropout)
        if dense:
            self.element_proj = nn.Linear(dim, self.element_dim)
            self.point_mlp = MLP([in_dim, 32, self.element_dim])
            self.element_norm = nn.LayerNorm(self.element_dim)

    def forward(self, points, mask=None):
        B, P, C = points.shape
        if C != self.in_dim:
            raise ValueError(f"point encoder expects {self.in_dim} values per point; got {C}")
        xyz = points[..., :3]
        G, N = min(self.G, P), min(self.N, P)
        centres = gather(xyz, fps(xyz, G))  # (B, G, 3)
        dist = torch.cdist(centres, xyz)  # (B, G, P)
        knn = dist.topk(N, dim=-1, largest=False)[1]  # (B, G, N)
        neigh = gather(points, knn)  # (B, G, N, C)
        neigh = torch.cat([neigh[..., :3] - centres.unsqueeze(2), neigh[..., 3:]], -1)
        tok = self.group_enc(neigh.reshape(B * G, N, C)).reshape(B, G, -1)
        x = torch.cat([self.cls.expand(B, -1, -1) + self.cls_pos, tok + self.pos(centres)], 1)
        tokens = self.blocks(x)
        if not self.dense:
            return tokens
        groups = self.element_proj(tokens[:, 1:])  # (B, G, element_dim): projected before the per-point work
        interp = interpolate(groups, dist.transpose(1, 2))  # (B, P, element_dim)
        return tokens, self.element_norm(interp + self.point_mlp(points))
