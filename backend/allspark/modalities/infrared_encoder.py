"""The infrared (cross-modality person re-identification) encoder (torch): two unshared ResNet-style CNNs.

Imported only by infrared.Infrared.build_encoder: `allspark modalities` and reading stay free of torch.

What it does (DDAG / AGW's two-stream design, made small for a CPU):
1. each image goes through the CNN of its spectrum: one for visible light, one for infrared, the same
   shape and no shared weights (DDAG and AGW use two ResNet-50s; here a stride-2 3x3 stem and
   `len(channels)` stages of `blocks` BasicBlocks each, every stage after the first halving the size).
   With `shared` > 0 the last `shared` stages are one CNN for both spectra (AGW's partly shared
   variant); the default 0 keeps the two streams wholly apart, as the design asks;
2. the feature map of either stream is cut into `parts` horizontal stripes (PCB-style: head, torso,
   legs, ...) and pooled, plus one global token (generalised-mean pooling, p = 3, as AGW);
3. the tokens of both streams go through one shared linear map to `dim` (the streams' features meet
   in one space: what a visible and an infrared image of the same person must share), get a learned
   stripe-position embedding and a learned spectrum embedding (the LLM is told which light it sees),
   and a LayerNorm.

forward(image (B, 3, H, W) standardised, spectrum (B,) 0 = visible, 1 = infrared)
-> tokens (B, parts + 1, dim): the stripes, then the global token (last: the heads' pooled feature
reads the last token and the mean).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 conv-BN, a 1x1 projection on the shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.short is None else self.short(x)), inplace=True)


def resnet_stages(cin: int, channels, blocks: int, first: int, stem: bool) -> nn.Sequential:
    """Stages `first`.. of a small ResNet over `channels` (the stem first when `stem`)."""
    layers = []
    if stem:
        layers += [nn.Conv2d(cin, channels[0], 3, 2, 1, bias=False), nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True)]
    c = channels[first - 1] if first > 0 else channels[0]
    for i in range(first, len(channels)):
        for b in range(blocks):
            layers.append(BasicBlock(c, channels[i], 2 if (b == 0 and i > 0) else 1))
            c = channels[i]
    return nn.Sequential(*layers)


class TwoStreamReID(nn.Module):
    """See the module docstring. Attribute names are the state-dict keys bundles load by: keep them."""

    def __init__(self, in_ch: int = 3, channels=(32, 64, 128), blocks: int = 1, shared: int = 0, parts: int = 4,
                 dim: int = 128, dropout: float = 0.0):
        super().__init__()
        channels = [int(c) for c in channels]
        if not 0 <= shared < len(channels):
            raise ValueError(f"infrared encoder: shared stages must be 0..{len(channels) - 1}, not {shared}")
        split = len(channels) - shared
        self.visible = nn.Sequential(resnet_stages(in_ch, channels[:split], blocks, 0, True))
        self.infrared = nn.Sequential(resnet_stages(in_ch, channels[:split], blocks, 0, True))
        self.shared = resnet_stages(in_ch, channels, blocks, split, False) if shared else None
        self.parts, self.in_ch = parts, in_ch
        c = channels[-1]
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.proj = nn.Linear(c, dim)
        self.pos = nn.Parameter(torch.zeros(parts + 1, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.spectrum = nn.Embedding(2, dim)
        nn.init.normal_(self.spectrum.weight, std=0.02)
        self.norm = nn.LayerNorm(dim)

    def features(self, image, spectrum):
        """(B, C, h, w) feature maps: each image through its own spectrum's stream."""
        ir = spectrum.reshape(-1) > 0.5
        parts = []
        if (~ir).any():
            parts.append((~ir, self.visible(image[~ir])))
        if ir.any():
            parts.append((ir, self.infrared(image[ir])))
        ref = parts[0][1]
        f = ref.new_zeros((image.shape[0],) + tuple(ref.shape[1:]))
        for sel, out in parts:
            f[sel] = out.to(f.dtype)
        return f if self.shared is None else self.shared(f)

    def forward(self, image, spectrum):
        if image.shape[1] != self.in_ch:
            raise ValueError(f"the infrared encoder expects {self.in_ch} channels; got {image.shape[1]}")
        f = self.features(image, spectrum)
        stripes = F.adaptive_avg_pool2d(f, (self.parts, 1)).flatten(2).transpose(1, 2)  # (B, parts, C)
        gem = f.float().clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3).to(f.dtype)  # generalised mean, p = 3
        tokens = self.proj(self.drop(torch.cat([stripes, gem[:, None]], 1)))
        kind = self.spectrum((spectrum.reshape(-1) > 0.5).long())
        return self.norm(tokens + self.pos.to(tokens.dtype) + kind[:, None].to(tokens.dtype))
