"""RGB: aerial / satellite colour images (PNG, JPEG, GeoTIFF), scene classification.

Reader: a whole image is one sample; `tile=` / `stride=` (px) cut a large raster into tiles, each with
its window's transform in meta. 4-band images keep R, G, B (by colour interpretation, else the first
three) and use an alpha band as the validity mask; palette images are expanded through their colour
table. Training data: folder per class (UC Merced, NWPU-RESISC45, AID layouts); off-size images are
resized like the rest.

Encoder: the paper uses EVA ViT-g; here a small ViT trained from scratch (patch 16 on 128 x 128,
width 192, 4 blocks), or with encoder type "cnn" a convolutional token encoder (encoders.ConvTokenEncoder,
as SAR's; the shipped UC Merced bundle uses it: a few hundred images teach a CNN, not a ViT from
scratch); input = the 3 standardised bands + a validity-mask channel.
"""

from __future__ import annotations

import numpy as np

from .base import register
from .raster import ImageModality, open_raster


@register
class RGB(ImageModality):
    name = "rgb"
    title = "RGB image"
    prompts = [
        "This remote sensing image belongs to which of the following categories: [category list]",
        "Describe this remote sensing image briefly",
        "Find a word that is most relevant to this remote sensing image",
        "Describe the key elements in this remote sensing image",
    ]
    input_defaults = {"bands": 3, "size": 128, "mode": "resize"}
    encoder_defaults = {"type": "vit", "dim": 192, "depth": 4, "heads": 4, "patch": 16, "mlp_ratio": 4.0, "dropout": 0.0}

    def auto_bands(self, path):
        return _rgb_bands(path)

    def prepare(self, sample):
        img = sample.data["image"]
        if img.shape[0] == 1 and sample.meta.get("source"):
            pal = _palette(sample.meta["source"])
            if pal is not None:
                sample = _expand_palette(sample, pal)
        return sample

    def build_image_encoder(self, spec: dict):
        from .encoders import ConvTokenEncoder, ViTEncoder

        enc = self.encoder_spec(spec)
        if enc.get("type") == "cnn":
            return ConvTokenEncoder.from_spec(self.input_spec(spec), enc)
        if enc.get("type", "vit") != "vit":
            raise ValueError(f"unknown RGB encoder type {enc.get('type')!r} (vit or cnn)")
        return ViTEncoder.from_spec(self.input_spec(spec), enc)


def _rgb_bands(path):
    """R, G, B band indexes of a 4+ band file (by colour interpretation, else 1, 2, 3); None otherwise."""
    from rasterio.enums import ColorInterp

    with open_raster(path) as src:
        ci = list(src.colorinterp)
        if src.count <= 3:
            return None
        want = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
        if all(c in ci for c in want):
            return [ci.index(c) + 1 for c in want]
        return [1, 2, 3]


def _palette(path):
    """The colour table of a one-band palette image, else None."""
    import os

    from rasterio.enums import ColorInterp

    if not os.path.isfile(path):
        return None
    with open_raster(path) as src:
        if src.count == 1 and src.colorinterp[0] == ColorInterp.palette:
            try:
                return src.colormap(1)
            except Exception:
                return None
    return None


def _expand_palette(sample, pal):
    idx = sample.data["image"][0]
    lut = np.zeros((256, 3), np.float32)
    for k, rgba in pal.items():
        if 0 <= k < 256:
            lut[k] = rgba[:3]
    ok = np.isfinite(idx)
    img = np.full((3,) + idx.shape, np.nan, np.float32)
    img[:, ok] = lut[idx[ok].astype(int)].T
    sample.data["image"] = img
    sample.meta["band_names"] = ["red", "green", "blue"]
    return sample
