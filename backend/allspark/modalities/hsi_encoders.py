"""The hyperspectral encoders (torch): a spectrum's transformer and a pixel neighbourhood's CNN (the
dense tiles' encoder, shared by every raster modality, is dense_encoder.TileCNN).

Imported only by hsi.HSI.build_encoder: `allspark modalities` and reading stay free of torch.
Attribute names are the state-dict keys shipped bundles load by: keep them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .encoders import TransformerStack


class SpectralTransformer(nn.Module):
    """spectrum (B, C) -> tokens (B, 1 + ceil(C / group), dim)."""

    def __init__(self, bands, group=10, dim=128, depth=2, heads=4, mlp_ratio=2.0, dropout=0.0):
        super().__init__()
        self.bands, self.group = bands, max(1, min(group, bands))
        self.n = math.ceil(bands / self.group)
        self.pad = self.n * self.group - bands
        self.lift = nn.Linear(self.group, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, self.n + 1, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = TransformerStack(dim, depth, heads, mlp_ratio, dropout)

    def forward(self, spectrum):
        if spectrum.shape[-1] != self.bands:
            raise ValueError(f"spectral encoder expects {self.bands} bands; got {spectrum.shape[-1]}")
        x = nn.functional.pad(spectrum, (0, self.pad)).view(len(spectrum), self.n, self.group)
        x = torch.cat([self.cls.expand(len(x), -1, -1), self.lift(x)], dim=1) + self.pos
        return self.blocks(x)


class PatchCNN(nn.Module):
    """A pixel's neighbourhood (B, P, k, k) (principal components) -> tokens (B, k*k + 2, dim): one per
    position of the CNN's feature map (with a learned position), the map's mean, and the centre
    pixel's feature last (the token a temporary head or the LLM's last position reads first)."""

    def __init__(self, channels, patch=9, width=64, dim=128, dropout=0.1):
        super().__init__()
        self.channels, self.patch = channels, patch

        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]

        self.net = nn.Sequential(*block(channels, width), *block(width, width), *block(width, dim),
                                 nn.Dropout2d(dropout))
        self.pos = nn.Parameter(torch.zeros(1, patch * patch, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.norm = nn.LayerNorm(dim)

    def forward(self, patch):
        if patch.shape[1] != self.channels or patch.shape[-1] != self.patch:
            raise ValueError(f"patch encoder expects (B, {self.channels}, {self.patch}, {self.patch}); "
                             f"got {tuple(patch.shape)}")
        f = self.net(patch)  # (B, dim, k, k)
        c = self.patch // 2
        grid = f.flatten(2).transpose(1, 2)  # (B, k*k, dim)
        tokens = torch.cat([grid + self.pos, grid.mean(1, keepdim=True), f[:, :, c, c][:, None]], 1)
        return self.norm(tokens)
