"""SAR: synthetic-aperture radar chips (1 or 2 channels of amplitude), target / scene classification.

Reader: GeoTIFF (complex SLC bands become amplitude), JPEG, PNG (MSTAR chips are 8-bit grayscale
JPEGs; a grayscale image saved as RGB is read as one channel). Training data: folder per class
(MSTAR SOC layout: <class>/<chip>.jpeg).

Inputs: amplitude -> log1p (input.log, default on; turn it off for data already in dB), standardised
per channel, centre-cropped to input.size (default 128; MSTAR chips are 128-193 px — and their size
gives their class away, which the common crop removes), plus a validity-mask channel.

Encoder: the paper's 3-layer CNN: three conv(3x3)-BN-ReLU-maxpool blocks (32, 64, 128 channels),
then a 1x1 conv to the token width and an adaptive pool to tokens x tokens (default 8 x 8 = 64 tokens).
"""

from __future__ import annotations

import functools

import numpy as np

from .base import register
from .raster import ImageModality, open_raster


@register
class SAR(ImageModality):
    name = "sar"
    title = "SAR image"
    prompts = [
        "Based on the SAR imagery feature description, please classify this object",
        "Given the following SAR imagery characteristics, please output the most fitting scene label",
    ]
    input_defaults = {"bands": 1, "size": 128, "mode": "crop", "log": True}
    encoder_defaults = {"type": "cnn3", "dim": 128, "channels": [32, 64, 128], "tokens": 8, "dropout": 0.0}

    def auto_bands(self, path):
        return _gray_band(path)

    def pre(self, spec):
        if not self.input_spec(spec).get("log", True):
            return None
        return lambda img: np.log1p(np.maximum(img, 0.0))

    def build_encoder(self, spec: dict):
        inp, enc = self.input_spec(spec), self.encoder_spec(spec)
        return _cnn_class()(
            in_ch=int(inp["bands"]),
            dim=int(enc["dim"]),
            channels=[int(c) for c in enc["channels"]],
            tokens=int(enc["tokens"]),
            dropout=float(enc.get("dropout", 0.0)),
        )


def _gray_band(path):
    """[1] when a 3-band file holds the same grayscale in each band (an MSTAR chip saved as RGB)."""
    with open_raster(path) as src:
        if src.count != 3:
            return None
        try:
            a = src.read(out_shape=(3, min(src.height, 64), min(src.width, 64)))
        except Exception:
            return None
        return [1] if (np.array_equal(a[0], a[1]) and np.array_equal(a[1], a[2])) else None


@functools.lru_cache(maxsize=None)
def _cnn_class():
    import torch
    from torch import nn

    class SarCNN(nn.Module):
        """3 conv blocks, each halving the size -> (B, tokens*tokens, dim); input image (B,C,S,S) + mask
        (B,1,S,S). The first block is a stride-2 convolution (a stem), not convolution + max-pool at full
        resolution: a quarter of the cost where the image is largest, the same output size."""

        def __init__(self, in_ch=1, dim=128, channels=(32, 64, 128), tokens=8, dropout=0.0):
            super().__init__()
            layers, c = [], in_ch + 1
            for i, co in enumerate(channels):
                stem = i == 0
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

        def forward(self, image, mask=None):
            if image.shape[1] != self.in_ch:
                raise ValueError(f"SAR CNN expects {self.in_ch} channels; got {image.shape[1]}")
            if mask is None:
                mask = torch.ones_like(image[:, :1])
            x = torch.cat([image * mask, mask], dim=1)
            x = self.pool(self.proj(self.drop(self.features(x))))
            return self.norm(x.flatten(2).transpose(1, 2) + self.pos)

    return SarCNN
