"""MSI: multispectral images (Sentinel-2 and the like), scene classification.

Reader:
- a multi-band GeoTIFF / JP2 (EuroSAT's 13-band 64 x 64 chips, or any stack);
- a folder of single-band files, or a list of them (Sentinel-2 `*_B01.jp2` ... `*_B8A.tif`): bands are
  recognised from the file names, ordered like the bundle (default: EuroSAT's B01..B12, B8A) and
  resampled by georeference onto the finest band's grid (10 m for Sentinel-2); `bands=` picks names;
- `tile=` / `stride=` (px of that grid) cut a scene into tiles (EuroSAT chips are 64 px = 640 m).
Sentinel-2 band files without a declared nodata use 0 (the L1C / L2A no-data value).
Training data: folder per class of multi-band GeoTIFFs (EuroSAT_MS layout: <class>/<name>.tif).

Encoder: a ViT whose patch embedding takes all C bands (+ the validity-mask channel): 64 x 64 px,
patch 8, width 192, 4 blocks.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError
from ..tiling import Grid
from .base import register
from .options import MsiOptions
from .raster import (ImageModality, RASTER_TYPES, band_name_from_filename, check_raster, raster_info,
                     read_band_files, split_tiles)

# EuroSAT's band order (B8A last), the default for a new bundle
S2_BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A"]
# Sentinel-2's spectral order (B8A after B08), as in SAFE products
S2_SPECTRAL = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]


@register
class MSI(ImageModality):
    name = "msi"
    title = "Multispectral image"
    prompts = [
        "Based on the multi-spectral imagery feature description, please classify this object",
        "Given the following multi-spectral imagery characteristics, please output the most fitting scene label",
    ]
    input_defaults = {"bands": 13, "band_names": list(S2_BANDS), "size": 64, "mode": "resize"}
    encoder_defaults = {"type": "vit", "dim": 192, "depth": 4, "heads": 4, "patch": 8, "mlp_ratio": 4.0, "dropout": 0.0}
    file_types = list(RASTER_TYPES)
    options_class = MsiOptions

    # reading
    def read_file(self, path, bands=None, window=None, tile=None, stride=None, nodata=None, order=None, **_):
        if isinstance(path, (list, tuple)):
            return self._read_band_set(list(path), bands, window, tile, stride, nodata, order)
        path = os.fspath(path)
        if os.path.isdir(path):
            files = sorted(
                os.path.join(path, f) for f in os.listdir(path)
                if os.path.splitext(f)[1].lower() in RASTER_TYPES and not f.startswith(".")
            )
            if not files:
                raise InputError(f"cannot read {path}: no raster files in the folder")
            return self._read_band_set(files, bands, window, tile, stride, nodata, order)
        return super().read_file(path, bands, window, tile, stride, nodata)

    def _read_band_set(self, files, bands, window, tile, stride, nodata, order):
        named = {}
        for f in files:
            b = band_name_from_filename(f)
            if b is not None and b not in named:
                named[b] = f
        if named:  # Sentinel-2 style band files (others in the folder, e.g. TCI, are ignored)
            order = list(order or S2_BANDS)
            if bands is not None:
                missing = [b for b in bands if b not in named]
                if missing:
                    raise InputError(f"band files for {', '.join(missing)} not found (have {', '.join(sorted(named))})")
                names = list(bands)
            else:
                names = [b for b in order if b in named] + sorted(b for b in named if b not in order)
            paths = [named[b] for b in names]
            # Sentinel-2's no-data is 0 in every band; a single band's 0 (B10 cirrus) is real
            zero_nodata = nodata is None and not any(raster_info(p)["nodata"] is not None for p in paths)
        else:
            if len(files) == 1:
                return self.read_file(files[0], bands, window, tile, stride, nodata)
            names, paths = [os.path.splitext(os.path.basename(f))[0] for f in files], files
            zero_nodata = False
        fix = _zero_nodata if zero_nodata else (lambda s: s)
        if not tile:
            return [fix(read_band_files(paths, names, window=window, nodata=nodata))]
        ref = min((raster_info(p) for p in paths), key=lambda i: abs(i["transform"][1] * i["transform"][5]))
        W, H = ref["width"], ref["height"]
        if W * H * len(paths) <= 200_000_000:  # fits in memory: read once, cut
            return split_tiles(fix(read_band_files(paths, names, nodata=nodata)), tile, stride)
        out = []
        for i, w in enumerate(Grid.of(W, H, tile, stride)):
            s = fix(read_band_files(paths, names, window=w, nodata=nodata))
            if s.mask.any():
                s.meta["tile"] = i
                out.append(s)
        if not out:
            raise InputError("every tile is nodata")
        return out

    # bands in the bundle's order
    def align(self, sample, spec):
        """Reorder a sample's bands to the bundle's band_names when both are named and the sets agree."""
        want = self.input_spec(spec).get("band_names")
        have = sample.meta.get("band_names")
        if not want or not have or list(want) == list(have):
            return sample
        if sorted(want) == sorted(have):
            idx = [list(have).index(b) for b in want]
            sample.data["image"] = sample.data["image"][idx]
            sample.meta["band_names"] = list(want)
        return sample

    def check(self, sample, spec):
        inp = self.input_spec(spec)
        if self.dense_input(inp) or "cube" in sample.data:  # dense tiles: bands in the order read
            return super().check(sample, spec)
        self.align(sample, spec)
        check_raster(sample, {"input": inp}, self.title)
        want, have = inp.get("band_names"), sample.meta.get("band_names")
        if want and have and len(want) == len(have) and all(_is_s2(b) for b in have) and sorted(want) != sorted(have):
            raise InputError(f"{self.title}: the bundle expects bands {', '.join(want)}, got {', '.join(have)}")

    def to_inputs(self, samples, spec, stats):
        for s in samples:
            if "image" in s.data:
                self.align(s, spec)
        return super().to_inputs(samples, spec, stats)

    def default_spec(self, samples=None):
        spec = super().default_spec(samples)
        if samples and not all(_is_s2(b) for b in spec["input"].get("band_names", [])):
            spec["input"]["band_names"] = list(samples[0].meta.get("band_names") or [])
        return spec

    def build_image_encoder(self, spec: dict):
        from .encoders import ViTEncoder

        return ViTEncoder.from_spec(self.input_spec(spec), self.encoder_spec(spec))


def _zero_nodata(sample):
    """Sentinel-2 no-data: pixels that are 0 in at least half the bands (outside the swath, every band
    is 0; resampled coarse bands are near 0 there)."""
    img = sample.data["image"]
    nd = (img == 0).sum(axis=0) * 2 >= img.shape[0]
    if nd.any():
        img[:, nd] = np.nan
        sample.mask &= ~nd
    sample.meta["nodata"] = "0 in most bands"
    return sample


def _is_s2(name) -> bool:
    return isinstance(name, str) and name.upper() in S2_BANDS
