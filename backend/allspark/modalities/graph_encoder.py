"""The graph encoder (torch, STAEformer-style): sensors x time steps -> per-sensor features + pooled tokens.

Imported only by graph.Graph.build_encoder: `allspark modalities` and reading stay free of torch.

What it does (STAEformer, Liu et al. 2023, made small for a CPU; the order is STAEformer's: time, then
space):
1. each (sensor, step) reading is lifted linearly from [value, observed] to `dim` (a missing reading
   enters as value 0 with observed 0, so the model knows it is missing and never reads it as a 0);
2. embeddings are added: time of day (one per `slots` slot of the day), day of week (only when the
   training data covered all seven days: `day_of_week`), the step's position in the window, and a
   learned node (adaptive) embedding per sensor: STAEformer's spatio-temporal adaptive embedding;
3. a transformer over the 12 steps of each sensor (`temporal_depth` layers);
4. the steps folded into one feature per sensor (a linear map of the 12 steps' features);
5. a transformer over the sensors (`spatial_depth` layers) whose attention logits get a bias from the
   road graph: `scale_h * A[i, j]` per head h, with A the data's adjacency (DCRNN's Gaussian-kernel
   weights in [0, 1], the diagonal 1) and scale_h learned (starts at 1). Without an adjacency the bias
   is 0 and only the node embeddings tell the sensors apart (STAEformer itself uses no adjacency);
6. `tokens` learned queries attend to the sensor features (plus their mean) -> the pooled tokens the
   bridge reads, so the LLM sequence stays short whatever the number of sensors;
7. each sensor's element ends with its last observed reading (standardised; carried forward over
   missing steps, 0 = the mean when the window has none): the forecast head adds its prediction to it
   (heads.ForecastHead `residual`), so a new head starts from "the last reading carried forward" and
   learns the change.

forward(x (B, K, T) normalised readings, mask (B, K, T) 1 = observed, tod (B, T) slot of the day,
dow (B, T) day of week 0 = Monday) -> (tokens (B, tokens + 1, dim), elements (B, K, dim + 1)).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .encoders import TransformerStack


class BiasedAttentionBlock(nn.Module):
    """A pre-norm transformer block whose self-attention takes an additive bias (heads, n, n)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0, dropout: float = 0.0):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, bias=None):
        B, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=None if bias is None else bias.to(q.dtype)[None])
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, n, d)))
        return x + self.drop(self.mlp(self.norm2(x)))


class GraphSTEncoder(nn.Module):
    """See the module docstring. Attribute names are the state-dict keys bundles load by: keep them."""

    def __init__(self, sensors: int, steps: int = 12, slots: int = 288, dim: int = 64, temporal_depth: int = 1,
                 spatial_depth: int = 2, heads: int = 4, mlp_ratio: float = 2.0, dropout: float = 0.0,
                 tokens: int = 8, day_of_week: bool = True, adjacency: dict | None = None):
        super().__init__()
        self.sensors, self.steps, self.slots = sensors, steps, slots
        self.element_dim = dim + 1  # the features, then the last observed reading
        self.lift = nn.Linear(2, dim)
        self.tod = nn.Embedding(slots, dim)
        self.dow = nn.Embedding(7, dim) if day_of_week else None
        self.step = nn.Parameter(torch.randn(steps, dim) * 0.02)
        self.node = nn.Parameter(torch.randn(sensors, dim) * 0.02)
        self.temporal = TransformerStack(dim, temporal_depth, heads, mlp_ratio, dropout)
        self.fold = nn.Linear(steps * dim, dim)
        self.spatial = nn.ModuleList(BiasedAttentionBlock(dim, heads, mlp_ratio, dropout) for _ in range(spatial_depth))
        self.spatial_norm = nn.LayerNorm(dim)
        self.adj_scale = nn.Parameter(torch.ones(heads, 1, 1))
        adj = torch.zeros(sensors, sensors)
        if adjacency:
            rows = torch.as_tensor(adjacency["rows"], dtype=torch.long)
            cols = torch.as_tensor(adjacency["cols"], dtype=torch.long)
            adj[rows, cols] = torch.as_tensor(adjacency["weights"], dtype=torch.float32)
            adj.fill_diagonal_(1.0)
        self.has_adjacency = bool(adjacency)
        self.register_buffer("adjacency", adj, persistent=False)  # from the manifest, not the weights
        self.queries = nn.Parameter(torch.randn(tokens, dim) * 0.02)
        self.pool_q = nn.Linear(dim, dim)
        self.pool_k = nn.Linear(dim, dim)
        self.pool_v = nn.Linear(dim, dim)
        self.token_norm = nn.LayerNorm(dim)

    def forward(self, x, mask, tod, dow):
        B, K, T = x.shape
        h = self.lift(torch.stack([x * mask, mask], -1))  # (B, K, T, d)
        slot = tod.long().clamp(0, self.slots - 1)
        t_emb = self.tod(slot)  # (B, T, d)
        if self.dow is not None:
            t_emb = t_emb + self.dow(dow.long().clamp(0, 6))
        h = h + t_emb[:, None].to(h.dtype) + self.step.to(h.dtype) + self.node[None, :, None].to(h.dtype)
        d = h.shape[-1]
        h = self.temporal(h.reshape(B * K, T, d)).reshape(B, K, T * d)
        e = self.fold(h)  # (B, K, d)
        bias = self.adj_scale * self.adjacency if self.has_adjacency else None
        for blk in self.spatial:
            e = blk(e, bias)
        e = self.spatial_norm(e)
        q = self.pool_q(self.queries.to(e.dtype))  # (n, d)
        att = torch.softmax(torch.einsum("nd,bkd->bnk", q, self.pool_k(e)) / d ** 0.5, -1)
        pooled = torch.einsum("bnk,bkd->bnd", att, self.pool_v(e))
        tokens = self.token_norm(torch.cat([pooled, e.mean(1, keepdim=True)], 1))
        last = torch.zeros_like(x[..., 0])
        for t in range(T):  # the last observed reading of each sensor (missing steps carry it forward)
            last = torch.where(mask[..., t] > 0, x[..., t], last)
        return tokens, torch.cat([e, last.unsqueeze(-1).to(e.dtype)], -1)
