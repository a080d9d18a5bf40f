"""The video encoder (torch, TubeViT-style): a clip T x 3 x S x S -> tokens for the bridge.

Imported only by video.Video.build_encoder: `allspark modalities` and reading stay free of torch.

What it does (TubeViT, Piergiovanni et al., "Rethinking Video ViTs: Sparse Video Tubes", CVPR 2023,
made small for a CPU):
1. sparse tubes: a few 3D convolutions, each with its own kernel shape, stride and offset over the
   clip (a tall thin tube that sees the whole clip at a few places, a cube, a flat image-like patch at
   a few times, ...); each gives a sparse set of tokens, far fewer than a dense patching;
2. every token gets a fixed (not learned) sinusoidal 3D position: the centre (t, y, x) of its tube
   in the clip, a third of the width for each axis, so tokens of different tubes at the same place
   get the same position;
3. the tokens of all tubes are concatenated (with one learned class token in front) and read by a
   transformer (the paper: 6 layers; here `depth`, 3 by default, width `dim` 128).
A tube whose kernel does not fit the clip (a bundle with fewer frames or a smaller size than the
defaults are made for) is shrunk to the clip, its offset dropped where it does not fit.

forward(video (B, T, 3, S, S) standardised RGB) -> tokens (B, 1 + n_tubes_tokens, dim).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .encoders import TransformerStack


def _fit_tube(kernel, stride, offset, shape) -> tuple[list[int], list[int], list[int]]:
    """The tube's kernel / stride / offset made to fit a clip of `shape` (T, S, S)."""
    k, s, o = [], [], []
    for kk, ss, oo, n in zip(kernel, stride, offset, shape):
        kk, ss, oo = max(1, min(int(kk), n)), max(1, int(ss)), max(0, int(oo))
        if oo + kk > n:
            oo = 0
        k.append(kk)
        s.append(ss)
        o.append(oo)
    return k, s, o


def sincos_3d(centres: torch.Tensor, dim: int, scale: float = 10000.0) -> torch.Tensor:
    """(n, 3) float positions (t, y, x) -> (n, dim) fixed sinusoidal embeddings: a third of the width
    per axis (sin and cos at geometric frequencies), the remainder zero."""
    per = (dim // 6) * 2  # even width per axis
    half = per // 2
    freq = torch.exp(-math.log(scale) * torch.arange(half, dtype=torch.float32) / max(1, half))
    parts = []
    for a in range(3):
        ang = centres[:, a:a + 1].float() * freq[None]
        parts += [torch.sin(ang), torch.cos(ang)]
    pe = torch.cat(parts, 1)
    return torch.nn.functional.pad(pe, (0, dim - pe.shape[1]))


class TubeViTEncoder(nn.Module):
    """See the module docstring. Attribute names are the state-dict keys bundles load by: keep them."""

    def __init__(self, frames: int = 16, size: int = 64, tubes=None, dim: int = 128, depth: int = 3, heads: int = 4,
                 mlp_ratio: float = 2.0, dropout: float = 0.0):
        super().__init__()
        if not tubes:
            raise ValueError("the TubeViT encoder needs at least one tube")
        self.frames, self.size = int(frames), int(size)
        shape = (self.frames, self.size, self.size)
        self.tubes = nn.ModuleList()
        self.offsets: list[list[int]] = []
        centres = []
        for t in tubes:
            k, s, o = _fit_tube(t["kernel"], t.get("stride", t["kernel"]), t.get("offset", [0, 0, 0]), shape)
            self.tubes.append(nn.Conv3d(3, dim, kernel_size=k, stride=s))
            self.offsets.append(o)
            n = [(shape[a] - o[a] - k[a]) // s[a] + 1 for a in range(3)]
            axes = [o[a] + s[a] * torch.arange(n[a], dtype=torch.float32) + (k[a] - 1) / 2 for a in range(3)]
            grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
            centres.append(grid)
        centres = torch.cat(centres, 0)
        self.n_tokens = int(len(centres))
        self.register_buffer("pos", sincos_3d(centres, dim), persistent=False)  # fixed: from the geometry
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.cls, std=0.02)
        self.blocks = TransformerStack(dim, depth, heads, mlp_ratio, dropout)

    @classmethod
    def from_spec(cls, inp: dict, enc: dict) -> "TubeViTEncoder":
        """From a bundle's `input` (frames, size) and `encoder` (dim, depth, heads, tubes, ...) sections."""
        return cls(frames=int(inp["frames"]), size=int(inp["size"]), tubes=enc["tubes"], dim=int(enc.get("dim", 128)),
                   depth=int(enc.get("depth", 3)), heads=int(enc.get("heads", 4)),
                   mlp_ratio=float(enc.get("mlp_ratio", 2.0)), dropout=float(enc.get("dropout", 0.0)))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if video.shape[1:] != (self.frames, 3, self.size, self.size):
            raise ValueError(f"TubeViT expects (B, {self.frames}, 3, {self.size}, {self.size}); got {tuple(video.shape)}")
        x = video.transpose(1, 2)  # (B, 3, T, S, S)
        toks = [conv(x[:, :, o[0]:, o[1]:, o[2]:]).flatten(2).transpose(1, 2) for conv, o in zip(self.tubes, self.offsets)]
        h = torch.cat(toks, 1) + self.pos.to(x.dtype)
        h = torch.cat([self.cls.expand(len(h), -1, -1).to(h.dtype), h], 1)
        return self.blocks(h)
