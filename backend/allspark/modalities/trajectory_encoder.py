"""The trajectory encoder (torch): observed steps lifted to tokens, a small transformer.

Imported only by trajectory.Trajectory.build_encoder: `allspark modalities` and reading stay free of
torch. Attribute names are the state-dict keys shipped bundles load by: keep them.
"""

from __future__ import annotations

import torch
from torch import nn

from .encoders import TransformerStack


class TrajectoryEncoder(nn.Module):
    """obs (B, T, 4) [rel x, rel y, vx, vy] -> tokens (B, T, dim)."""

    def __init__(self, obs=8, dim=128, depth=2, heads=4, mlp_ratio=2.0, dropout=0.0):
        super().__init__()
        self.obs = obs
        self.lift = nn.Linear(4, dim)
        self.pos = nn.Parameter(torch.zeros(1, obs, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = TransformerStack(dim, depth, heads, mlp_ratio, dropout)

    def forward(self, obs):
        if obs.shape[1] != self.obs or obs.shape[2] != 4:
            raise ValueError(f"trajectory encoder expects (B, {self.obs}, 4); got {tuple(obs.shape)}")
        return self.blocks(self.lift(obs) + self.pos)
