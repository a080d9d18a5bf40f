"""SAR: synthetic-aperture radar chips (1 or 2 channels of amplitude), target / scene classification.

Reader: GeoTIFF (complex SLC bands become amplitude), JPEG, PNG (MSTAR chips are 8-bit grayscale
JPEGs; a grayscale image saved as RGB is read as one channel). Training data: folder per class
(MSTAR SOC layout: <class>/<chip>.jpeg).

Inputs: amplitude -> log1p (input.log, default on; turn it off for data already in dB), standardised
per channel, centre-cropped to input.size (default 128; MSTAR chips are 128-193 px — and their size
gives their class away, which the common crop removes), plus a validity-mask channel.

Encoder: the paper's 3-layer CNN (encoders.ConvTokenEncoder): three conv(3x3)-BN-ReLU blocks (32, 64,
128 channels; a stride-2 stem, then max-pools), a 1x1 conv to the token width and an adaptive pool to
tokens x tokens (default 8 x 8 = 64 tokens).
"""

from __future__ import annotations

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
    augment_turns = False  # shifts and gain only: a turned chip casts its shadow the wrong way
    encoder_defaults = {"type": "cnn3", "dim": 128, "channels": [32, 64, 128], "tokens": 8, "dropout": 0.0}

    def auto_bands(self, path):
        return _gray_band(path)

    def pre(self, spec):
        if not self.input_spec(spec).get("log", True):
            return None
        return lambda img: np.log1p(np.maximum(img, 0.0))

    def build_image_encoder(self, spec: dict):
        from .encoders import ConvTokenEncoder

        return ConvTokenEncoder.from_spec(self.input_spec(spec), self.encoder_spec(spec))


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
