"""Small torch building blocks shared by the modality encoders.

Imported only from the modalities' `build_encoder` (torch is heavy; `allspark modalities` stays light).
Sized for CPU training from scratch: widths 64-256, a few layers.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TransformerStack(nn.Module):
    """Pre-norm transformer encoder blocks (self-attention + GELU MLP) with a final LayerNorm.

    forward(x (B, n, d), pad=None (B, n) bool True = ignore) -> (B, n, d)
    """

    def __init__(self, dim: int, depth: int = 2, heads: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"encoder dim {dim} is not divisible by heads {heads}")
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model=dim,
                nhead=heads,
                dim_feedforward=int(dim * mlp_ratio),
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        if pad is not None:
            pad = pad.bool()
            # a row whose tokens are all padding would give NaN attention: let it see itself
            allpad = pad.all(dim=1)
            if allpad.any():
                pad = pad.clone()
                pad[allpad] = False
        for blk in self.blocks:
            x = blk(x, src_key_padding_mask=pad)
        return self.norm(x)


class PatchEmbed(nn.Module):
    """ViT patch embedding for C channels (+ an optional validity-mask channel): Conv2d with stride = patch.

    forward(image (B, C, H, W), mask (B, 1, H, W) or None) -> (B, n_patches, dim)
    """

    def __init__(self, in_ch: int, dim: int, patch: int = 16, with_mask: bool = True):
        super().__init__()
        self.patch = patch
        self.with_mask = with_mask
        self.proj = nn.Conv2d(in_ch + (1 if with_mask else 0), dim, kernel_size=patch, stride=patch)

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.with_mask:
            if mask is None:
                mask = torch.ones_like(image[:, :1])
            image = torch.cat([image * mask, mask], dim=1)
        return self.proj(image).flatten(2).transpose(1, 2)


class ViTEncoder(nn.Module):
    """A small ViT: patch embedding of C channels, a class token, learned positions, transformer blocks.

    forward(image (B,C,S,S), mask (B,1,S,S) optional) -> tokens (B, 1 + (S/patch)^2, dim)
    """

    def __init__(self, in_ch: int, size: int, patch: int = 16, dim: int = 192, depth: int = 4, heads: int = 4,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, with_mask: bool = True):
        super().__init__()
        if size % patch:
            raise ValueError(f"image size {size} is not a multiple of the patch size {patch}")
        self.in_ch, self.size, self.patch = in_ch, size, patch
        self.embed = PatchEmbed(in_ch, dim, patch, with_mask)
        n = (size // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, n + 1, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.cls, std=0.02)
        self.blocks = TransformerStack(dim, depth, heads, mlp_ratio, dropout)

    @classmethod
    def from_spec(cls, inp: dict, enc: dict) -> "ViTEncoder":
        """From a bundle's `input` (bands, size) and `encoder` (dim, depth, heads, patch, ...) sections."""
        return cls(
            in_ch=int(inp["bands"]),
            size=int(inp["size"]),
            patch=int(enc.get("patch", 16)),
            dim=int(enc.get("dim", 192)),
            depth=int(enc.get("depth", 4)),
            heads=int(enc.get("heads", 4)),
            mlp_ratio=float(enc.get("mlp_ratio", 4.0)),
            dropout=float(enc.get("dropout", 0.0)),
        )

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if image.shape[1] != self.in_ch or image.shape[-1] != self.size or image.shape[-2] != self.size:
            raise ValueError(f"ViT expects (B, {self.in_ch}, {self.size}, {self.size}); got {tuple(image.shape)}")
        x = self.embed(image, mask)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1) + self.pos
        return self.blocks(x)


class ConvTokenEncoder(nn.Module):
    """Image -> a grid of tokens: a stride-2 stem convolution, then conv(3x3)-BN-ReLU-maxpool blocks (each
    halving the size), a 1x1 convolution to the token width and an adaptive pool to tokens x tokens.

    forward(image (B,C,S,S), mask (B,1,S,S) optional) -> tokens (B, tokens^2, dim). The validity mask is
    an input channel (nodata pixels are zeroed). SAR's 3-layer CNN (the paper's) and RGB's CNN encoder;
    a CNN learns from a few hundred images where a ViT from scratch does not.
    """

    def __init__(self, in_ch: int = 1, dim: int = 128, channels=(32, 64, 128), tokens: int = 8, dropout: float = 0.0):
        super().__init__()
        layers, c = [], in_ch + 1
        for i, co in enumerate(channels):
            stem = i == 0  # stride 2 instead of conv + max-pool at full size: a quarter of the cost, same size
            layers += [nn.Conv2d(c, co, 3, stride=2 if stem else 1, padding=1, bias=False), nn.BatchNorm2d(co),
                       nn.ReLU(inplace=True)]
            if not stem:
                layers.append(nn.MaxPool2d(2))
            c = co
        self.features = nn.Sequential(*layers)
        self.drop = nn.Dropout2d(dropout) if dropout else nn.Identity()
        self.proj = nn.Conv2d(c, dim, 1)
        self.pool = nn.AdaptiveAvgPool2d(tokens)
        self.pos = nn.Parameter(torch.zeros(1, tokens * tokens, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.norm = nn.LayerNorm(dim)
        self.in_ch = in_ch

    @classmethod
    def from_spec(cls, inp: dict, enc: dict) -> "ConvTokenEncoder":
        """From a bundle's `input` (bands) and `encoder` (dim, channels, tokens, dropout) sections."""
        return cls(in_ch=int(inp["bands"]), dim=int(enc.get("dim", 128)),
                   channels=[int(c) for c in enc.get("channels", (32, 64, 128))], tokens=int(enc.get("tokens", 8)),
                   dropout=float(enc.get("dropout", 0.0)))

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if image.shape[1] != self.in_ch:
            raise ValueError(f"the image CNN expects {self.in_ch} channels; got {image.shape[1]}")
        if mask is None:
            mask = torch.ones_like(image[:, :1])
        x = torch.cat([image * mask, mask], dim=1)
        x = self.pool(self.proj(self.drop(self.features(x))))
        return self.norm(x.flatten(2).transpose(1, 2) + self.pos)


class MLP(nn.Module):
    def __init__(self, dims: list[int], act=nn.GELU, norm: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                if norm:
                    layers.append(nn.LayerNorm(dims[i + 1]))
                layers.append(act())
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def sinusoidal(n: int, dim: int) -> torch.Tensor:
    """(n, dim) fixed sinusoidal position table."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, dtype=torch.float32)
    div = torch.exp(-math.log(10000.0) * i / dim)
    pe = torch.zeros(n, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : dim // 2]
    return pe


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def as_tensor(x, dtype=torch.float32, device=None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(dtype=dtype, device=device) if (x.dtype != dtype or device is not None) else x
    return torch.as_tensor(x, dtype=dtype, device=device)
