"""The dense tiles' encoder (torch): a tile with its margin -> per-pixel elements and a few pooled tokens.

Imported only by dense.DenseTiles.build_tile_encoder: `allspark modalities` and reading stay free of
torch. Attribute names are the state-dict keys shipped bundles load by: keep them.
"""

from __future__ import annotations

import torch
from torch import nn


class TileCNN(nn.Module):
    """A tile with its margin (B, P, T + 2m, T + 2m) (standardised bands, or their principal components)
    -> tokens (B, g*g + 1, dim) and per-pixel elements (B, T*T, width).

    m valid 3 x 3 convolutions turn the tile with its margin into a feature map of the tile itself (each
    pixel's receptive field 2m + 1 px: its neighbourhood, as the per-pixel CNN reads it); the map,
    average-pooled to g x g cells plus its mean, becomes the tokens the bridge reads (one LLM sequence per
    tile); each pixel's feature is an element the dense head classifies."""

    # at inference on the CPU the convolutions run on fixed groups of this many tiles (quantize.py): a
    # tile's features are then the same in any batch, at a third of the cost of one tile at a time
    conv_chunk = 16

    def __init__(self, channels, tile=16, margin=4, width=64, dim=128, tokens=4, dropout=0.1):
        super().__init__()
        self.channels, self.tile, self.margin, self.grid = channels, tile, margin, tokens
        self.element_dim = width
        layers, ch = [], channels
        for _ in range(max(1, margin)):
            layers += [nn.Conv2d(ch, width, 3, padding=0 if margin else 1), nn.BatchNorm2d(width), nn.ReLU()]
            ch = width
        self.net = nn.Sequential(*layers, nn.Dropout2d(dropout))
        self.lift = nn.Linear(width, dim)
        self.pos = nn.Parameter(torch.zeros(1, tokens * tokens + 1, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.norm = nn.LayerNorm(dim)
        self.element_norm = nn.LayerNorm(width)

    def forward(self, cube):
        side = self.tile + 2 * self.margin
        if cube.shape[1] != self.channels or tuple(cube.shape[-2:]) != (side, side):
            raise ValueError(f"tile encoder expects (B, {self.channels}, {side}, {side}); got {tuple(cube.shape)}")
        f = self.net(cube)  # (B, width, T, T)
        cells = nn.functional.adaptive_avg_pool2d(f, self.grid).flatten(2).transpose(1, 2)  # (B, g*g, width)
        tokens = torch.cat([cells, f.mean((2, 3))[:, None]], 1)
        tokens = self.norm(self.lift(tokens) + self.pos)
        elements = self.element_norm(f.flatten(2).transpose(1, 2))  # (B, T*T, width)
        return tokens, elements
