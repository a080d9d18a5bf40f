"""The table encoder (torch, TabFormer-style): a token per column, one transformer layer.

Imported only by table.Table.build_encoder: `allspark modalities` and reading stay free of torch.
Attribute names are the state-dict keys shipped bundles load by: keep them.
"""

from __future__ import annotations

import torch
from torch import nn

from .encoders import TransformerStack


class TabEncoder(nn.Module):
    """num (B,Fn), num_mask (B,Fn), cat (B,Fc) codes -> tokens (B, 1 + Fn + Fc, dim)."""

    def __init__(self, n_num, n_cat, vocab=258, dim=128, depth=1, heads=4, mlp_ratio=2.0, dropout=0.0):
        super().__init__()
        self.n_num, self.n_cat, self.vocab = n_num, n_cat, vocab
        self.w = nn.Parameter(torch.randn(n_num, dim) * 0.02)       # a linear map per continuous column
        self.b = nn.Parameter(torch.zeros(n_num, dim))
        self.missing = nn.Parameter(torch.randn(n_num, dim) * 0.02)  # mask token per continuous column
        self.emb = nn.Embedding(max(1, n_cat) * vocab, dim)         # per column: 0 missing, 1 unseen, 2.. values
        self.col = nn.Parameter(torch.randn(n_num + n_cat, dim) * 0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = TransformerStack(dim, depth, heads, mlp_ratio, dropout)
        self.register_buffer("offsets", torch.arange(max(1, n_cat)) * vocab, persistent=False)

    def forward(self, num, num_mask, cat):
        B = num.shape[0] if self.n_num else cat.shape[0]
        toks = []
        if self.n_num:
            m = num_mask.unsqueeze(-1)
            toks.append(m * (num.unsqueeze(-1) * self.w + self.b) + (1 - m) * self.missing)
        if self.n_cat:
            codes = cat.long().clamp(0, self.vocab - 1) + self.offsets[: self.n_cat]
            toks.append(self.emb(codes))
        x = torch.cat(toks, dim=1) + self.col
        x = torch.cat([self.cls.expand(B, -1, -1), x], dim=1)
        return self.blocks(x)
