"""HSI: hyperspectral images, per-pixel classification (the paper: one pixel's spectrum, 1 x 1 x C).

Reader: a hyperspectral GeoTIFF / ENVI / any GDAL raster (C bands), or a NumPy `.npy` cube (H, W, C)
(`layout="chw"` for (C, H, W)). Every valid pixel (all bands valid: nodata, NaN and the dataset mask
exclude it) is one sample: data `spectrum` (C,) float32; meta `row`, `col`, and the raster's
`shape` (H, W) (also as `height`, `width`), `transform`, `crs`, `source`, so per-pixel results go back into a label raster
(`to_label_raster`). `window=` [xoff, yoff, w, h] and `step=` (every step-th pixel) limit the pixels.

Training data: Indian Pines as published (a folder with `Indian_pines_corrected.npy` and
`Indian_pines_gt*.npy`; 16 classes), or generic: an image and a label raster (`labels=`; GeoTIFF or
.npy, 0 = unlabelled, class names optional). Split groups are square spatial blocks (`block=` px),
because neighbouring pixels are near-duplicates.

Encoder: the spectrum is cut into groups of `group` adjacent bands (group=1: one token per band value);
each group is lifted by one shared linear map, a learned position per group and a class token are
added, then a small transformer (width 128, 2 blocks). Cheap on purpose: the LLM is the expensive part.

Dense mode (task `pixel_classification`, reader option `tile`): tiles of tile x tile pixels with their
`margin` of context, one LLM sequence each (dense.DenseTiles, shared by every raster modality); the
encoder reads the tile's 30 principal components.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..errors import InputError
from ..tiling import Grid
from .base import LabelledSet, Modality, Sample, fit_mean_std, need_samples, register, required_array
from .dense import DenseTiles, answer_area, block_samples, class_lookup, label_raster, load_npy, principal_components
from .options import HsiOptions
from .raster import RASTER_TYPES, pixels_to_raster, raster_payload, read_raster

INDIAN_PINES_CLASSES = [
    "Alfalfa", "Corn-notill", "Corn-mintill", "Corn", "Grass-pasture", "Grass-trees",
    "Grass-pasture-mowed", "Hay-windrowed", "Oats", "Soybean-notill", "Soybean-mintill",
    "Soybean-clean", "Wheat", "Woods", "Buildings-Grass-Trees-Drives", "Stone-Steel-Towers",
]


@register
class HSI(DenseTiles, Modality):
    name = "hsi"
    title = "Hyperspectral image"
    layer_kind = "raster"
    tasks = ["classification", "pixel_classification"]
    file_types = list(RASTER_TYPES) + [".npy", ".hdr"]
    prompts = [
        "Given the spectral information, can you help determine which class this pixel belongs to?",
        "Based on the reflectance of this pixel across the hyperspectral bands, which land-cover class "
        "does it belong to?",
        "Here is the spectrum of one pixel of a hyperspectral image; analyse its absorption and reflection "
        "features and tell me which class the pixel belongs to.",
    ]
    input_defaults = {"bands": None, "patch": 1, "tile": None, "margin": None}
    options_class = HsiOptions
    encoder_defaults = {"type": "spectral_transformer", "dim": 128, "depth": 2, "heads": 4, "group": 10,
                        "mlp_ratio": 2.0, "dropout": 0.0}
    # a pixel read with its k x k neighbourhood: principal components of the spectrum, then a small CNN
    patch_encoder_defaults = {"type": "patch_cnn", "components": 30, "width": 64, "dim": 128, "dropout": 0.1}
    # dense: a tile with its margin -> per-pixel features (margin valid 3 x 3 convolutions) and pooled tokens
    tile_encoder_defaults = {**DenseTiles.tile_encoder_defaults, "components": 30}

    # ---- reading ------------------------------------------------------------------------------
    def read_cube(self, path, bands=None, window=None, nodata=None, layout="hwc") -> Sample:
        """The whole cube as one raster Sample (image (C,H,W), mask (H,W))."""
        path = os.fspath(path)
        if path.lower().endswith(".npy"):
            return _npy_cube(path, layout, bands, window, nodata)
        if path.lower().endswith(".hdr"):  # ENVI header: GDAL reads the data file next to it
            path = os.path.splitext(path)[0]
        return read_raster(path, bands=bands, window=window, nodata=nodata)

    def read(self, path, bands=None, window=None, nodata=None, layout="hwc", step=1, patch=1, region=None,
             tile=None, margin=None, halo=None, **_) -> list[Sample]:
        """Pixels (or tiles) of a file; a `window` is read with the context its neighbourhoods or tiles read
        around it (as far as the raster goes), so blocks of one raster answer as the whole raster would."""
        context = self.margin_of(margin) if tile else int(patch or 1) // 2
        if window is not None and context and halo is None:
            window, halo = self._with_context(path, window, context, layout)
        return self.region_pixels(self.read_cube(path, bands, window, nodata, layout), region, step=step, patch=patch,
                                  tile=tile, margin=margin, halo=halo)

    def _with_context(self, path, window, context: int, layout: str):
        """(window grown by `context` px, clipped to the raster; the halo [left, top, right, bottom])."""
        path = os.fspath(path)
        if path.lower().endswith(".npy"):
            shape = np.load(path, mmap_mode="r").shape
            H, W = (shape[0], shape[1]) if layout == "hwc" else (shape[1], shape[2])
        else:
            from .raster import raster_info

            info = raster_info(os.path.splitext(path)[0] if path.lower().endswith(".hdr") else path)
            H, W = info["height"], info["width"]
        return self.context_window(window, context, W, H)

    def region_pixels(self, cube: Sample, region=None, step: int = 1, patch: int = 1, tile=None, margin=None,
                      halo=None) -> list[Sample]:
        """`pixels` (or, with `tile`, the dense tiles), limited to the pixels whose centre lies in `region`
        (the selected polygons a question is limited to, raster.parse_region), each sample's meta holding
        the region's `region` info (areas); with a `halo`, limited to the block inside it."""
        if tile:
            return self.dense_samples(cube, region, int(tile), margin, halo)
        area = answer_area(cube, region, halo)
        if area is None:
            return []
        core, info = area
        return block_samples(self.pixels(cube, step=step, where=None if core.all() else core, patch=patch), cube,
                             halo, info)

    def baseline_options(self, options: dict) -> dict:
        """The alternatives read each pixel with its 9 x 9 neighbourhood; a dense bundle's data per pixel,
        with its tiles as the split's blocks (the same held-out pixels)."""
        out = dict(options)
        tile = out.pop("tile", None)
        out.pop("margin", None)
        if tile:
            out["block"] = tile
        if int(out.get("patch") or 1) <= 1:
            out["patch"] = 9
        return out

    def answers_per_pixel(self, manifest: dict) -> bool:
        return True  # a class per pixel, pixel by pixel or tile by tile

    def task_for(self, options: dict | None) -> str:
        """Read as tiles (option `tile`): the dense task."""
        return "pixel_classification" if (options or {}).get("tile") else "classification"

    def pixels(self, cube: Sample, step: int = 1, where: np.ndarray | None = None, patch: int = 1) -> list[Sample]:
        """One sample per valid pixel (or per pixel where `where` (H,W) is True, if also valid).

        `patch` k > 1 (odd): each sample also carries the pixel's k x k neighbourhood (`patch`, (C, k, k),
        a view into one mirror-padded copy of the cube, so memory stays one cube whatever the pixel count)."""
        img, valid = cube.data["image"], cube.mask
        C, H, W = img.shape
        if img.size == 0:
            raise InputError(f"{self.title}: {cube.meta.get('source', 'input')} is empty")
        sel = valid.copy()
        if where is not None:
            sel &= where
        if step and step > 1:  # every step-th pixel: a grid of 1-pixel windows (tiling.Grid)
            xs, ys = Grid.of(W, H, 1, int(step), flush=False).origins()
            grid = np.zeros_like(sel)
            grid[np.ix_(ys, xs)] = True
            sel &= grid
        if not valid.any():
            raise InputError(f"{self.title}: every pixel of {cube.meta.get('source', 'input')} is nodata (all-nodata raster)")
        rows, cols = np.nonzero(sel)
        spectra = np.ascontiguousarray(img[:, rows, cols].T)  # (N, C)
        shape = (H, W)
        base = {
            "source": cube.meta.get("source"),
            "crs": cube.meta.get("crs"),
            "transform": cube.meta.get("transform"),
            "shape": shape,
            "height": H,
            "width": W,
            "window": cube.meta.get("window"),
            "band_names": cube.meta.get("band_names"),
        }
        patches = neighbourhoods(img, int(patch or 1))
        return [
            Sample(data={"spectrum": spectra[i], **({"patch": patches[:, r, c]} if patches is not None else {})},
                   mask=None, meta={**base, "row": int(r), "col": int(c)})
            for i, (r, c) in enumerate(zip(rows, cols))
        ]

    def to_label_raster(self, samples, labels, fill=0) -> np.ndarray:
        """Per-pixel results back into an (H, W) raster (the samples' `shape`); `fill` where no sample."""
        return pixels_to_raster(samples, labels, fill=fill)

    def from_payload(self, arrays, meta) -> list[Sample]:
        meta = dict(meta or {})
        region = meta.pop("region", None)  # only the pixels inside the selected polygons
        dense = {"tile": meta.get("tile"), "margin": meta.get("margin"), "halo": meta.get("halo")}
        if arrays and "image" in arrays:
            return self.region_pixels(raster_payload(arrays, meta, None)[0], region,
                                      step=int(meta.get("step", 1) or 1), patch=int(meta.get("patch", 1) or 1),
                                      **dense)
        if meta.get("path"):
            return self.read(meta["path"], bands=meta.get("bands"), window=meta.get("window"),
                             nodata=meta.get("nodata"), step=int(meta.get("step", 1) or 1),
                             patch=int(meta.get("patch", 1) or 1), region=region, **dense)
        raise InputError("hyperspectral payload has neither an 'image' array nor a 'path' in its meta")

    def read_labelled(self, path, labels=None, classes=None, block=None, bands=None, layout="hwc", patch=1,
                      tile=None, margin=None, **_) -> LabelledSet:
        """Indian Pines folder, or an image + `labels` raster (0 = unlabelled). Only labelled pixels."""
        path = os.fspath(path)
        if os.path.isdir(path):
            img_path = _find(path, ["Indian_pines_corrected.npy", "Indian_pines.npy"])
            lab_path = labels or _find(path, ["Indian_pines_gt_train.npy", "Indian_pines_gt.npy"])
            if img_path is None or lab_path is None:
                raise InputError(f"{path}: expected Indian_pines_corrected.npy and Indian_pines_gt*.npy, "
                                 "or pass an image file and labels=<label raster>")
            classes = classes or list(INDIAN_PINES_CLASSES)
        else:
            img_path, lab_path = path, labels
            if lab_path is None:
                raise InputError(f"{path}: pass labels=<label raster> (same grid, 0 = unlabelled)")
        cube = self.read_cube(img_path, bands=bands, layout=layout)
        if tile:
            return self.labelled_tiles(cube, lab_path, classes, int(tile), margin, block,
                                       {"image": img_path, "labels": lab_path})
        lab = label_raster(lab_path)
        if lab.shape != cube.mask.shape:
            raise InputError(f"label raster {lab_path} is {lab.shape[0]} x {lab.shape[1]} px, "
                             f"the image {cube.mask.shape[0]} x {cube.mask.shape[1]}")
        lut, classes = class_lookup(lab, classes, lab_path)
        H, W = cube.mask.shape
        samples = self.pixels(cube, where=lab > 0, patch=patch)
        b = int(block or max(8, math.ceil(min(H, W) / 5)))
        nbx = math.ceil(W / b)
        targets = np.array([lut[int(lab[s.meta["row"], s.meta["col"]])] for s in samples], np.int64)
        groups = np.array([(s.meta["row"] // b) * nbx + s.meta["col"] // b for s in samples], np.int64)
        return LabelledSet(
            samples=samples, targets=targets, classes=list(classes), groups=groups,
            info={"image": img_path, "labels": lab_path, "block_px": b, "labelled_px": int((lab > 0).sum()),
                  "unlabelled_or_invalid_px": int(H * W - len(samples))},
        )

    # ---- the contract -------------------------------------------------------------------------
    def encoder_defaults_for(self, inp):
        if self.dense_input(inp):
            return self.tile_encoder_defaults
        return self.patch_encoder_defaults if int(inp.get("patch") or 1) > 1 else self.encoder_defaults

    def default_spec(self, samples=None) -> dict:
        inp = dict(self.input_defaults)
        if samples and "cube" in samples[0].data:
            inp.update(self.tile_spec(samples))
        elif samples:
            inp["bands"] = int(len(samples[0].data["spectrum"]))
            if "patch" in samples[0].data:
                inp["patch"] = int(samples[0].data["patch"].shape[-1])
        return {"input": inp, "encoder": self.encoder_spec({"input": inp})}

    def check(self, sample, spec) -> None:
        src = sample.meta.get("source", "input")
        inp = self.input_spec(spec)
        if self.dense_input(inp):
            return self.check_tile(sample, inp)
        self.refuse_tile(sample)
        sp = required_array(sample, "spectrum", self.title)
        if sp.ndim != 1 or sp.size == 0:
            raise InputError(f"{self.title}: empty spectrum (shape {sp.shape}) from {src}")
        inp = self.input_spec(spec)
        want = inp.get("bands")
        if want is not None and sp.size != int(want):
            raise InputError(f"{self.title}: the bundle expects {int(want)} bands, got {sp.size} from {src}")
        if not np.isfinite(sp).all():
            raise InputError(f"{self.title}: NaN / infinite values in the spectrum of pixel "
                             f"(row {sample.meta.get('row')}, col {sample.meta.get('col')}) of {src}")
        k = int(inp.get("patch") or 1)
        if k > 1:
            p = sample.data.get("patch")
            if p is None or tuple(p.shape) != (sp.size, k, k):
                got = "none" if p is None else "x".join(map(str, p.shape))
                raise InputError(f"{self.title}: the bundle reads each pixel with its {k} x {k} neighbourhood; "
                                 f"the sample from {src} has {got} (read it with patch={k})")

    def normalise_stats(self, samples, spec=None) -> dict:
        """Per-band mean / std of the samples' spectra; with neighbourhoods also the principal components
        (`pca`, (P, C), of the standardised spectra of the pixels in the samples' patches)."""
        need_samples(samples, self.name)
        rng = np.random.default_rng(0)
        idx = np.arange(len(samples))
        if len(idx) > 50_000:
            idx = rng.choice(idx, 50_000, replace=False)
        if "cube" in samples[0].data:  # dense: the spectra of the tiles' pixels (their context included)
            return self.tile_stats(samples, spec)
        x = np.stack([samples[i].data["spectrum"] for i in idx]).astype(np.float64)
        mean, std = fit_mean_std(x, floor=1e-6)
        stats = {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
        n_comp = int(self.encoder_spec(spec).get("components") or 0) if spec else 0
        if n_comp and "patch" in samples[0].data:
            px = np.concatenate([samples[i].data["patch"].reshape(x.shape[1], -1).T for i in idx[:4000]])
            px = px[np.isfinite(px).all(1)]
            px = px[rng.choice(len(px), min(len(px), 50_000), replace=False)].astype(np.float64)
            stats["pca"] = principal_components((px - np.asarray(stats["mean"])) / np.asarray(stats["std"]), n_comp)
        return stats

    def to_inputs(self, samples, spec, stats) -> dict[str, np.ndarray]:
        need_samples(samples, self.name)
        mean = np.asarray(stats["mean"], np.float32)
        std = np.asarray(stats["std"], np.float32)
        k = int(self.input_spec(spec).get("patch") or 1)
        if self.dense_input(self.input_spec(spec)):
            return self.tile_inputs(samples, spec, stats)
        if k > 1:
            x = np.stack([s.data["patch"] for s in samples]).astype(np.float32)  # (B, C, k, k)
            if x.shape[1] != len(mean):
                raise InputError(f"{self.title}: the bundle expects {len(mean)} bands, got {x.shape[1]}")
            z = np.nan_to_num((x - mean[:, None, None]) / std[:, None, None], nan=0.0, posinf=0.0, neginf=0.0)
            if "pca" in stats:
                z = np.einsum("pc,bchw->bphw", np.asarray(stats["pca"], np.float32), z, optimize=True)
            return {"patch": np.ascontiguousarray(z, np.float32)}
        x = np.stack([s.data["spectrum"] for s in samples]).astype(np.float32)
        if x.shape[1] != len(mean):
            raise InputError(f"{self.title}: the bundle expects {len(mean)} bands, got {x.shape[1]}")
        return {"spectrum": np.nan_to_num((x - mean) / std, nan=0.0, posinf=0.0, neginf=0.0)}

    def augment(self, inputs: dict, targets, generator):
        """Training-time augmentation of normalised inputs (torch): random flips and quarter turns of the
        neighbourhood, a random gain per sample and a little noise on the spectrum / components. The
        pixel's class does not change (dense tiles: augment_tiles, their labels turn with them)."""
        import torch

        if "cube" in inputs:
            return self.augment_tiles(inputs, targets, generator)
        out = dict(inputs)
        key = "patch" if "patch" in inputs else "spectrum"
        x = inputs[key]
        b = x.shape[0]
        gain = 1 + 0.1 * torch.randn((b,) + (1,) * (x.dim() - 1), generator=generator)
        x = x * gain + 0.02 * torch.randn(x.shape, generator=generator)
        if key == "patch":
            k = int(torch.randint(0, 4, (1,), generator=generator))
            flip = bool(torch.randint(0, 2, (1,), generator=generator))
            x = torch.rot90(x, k, dims=(2, 3))
            x = torch.flip(x, dims=(3,)) if flip else x
        out[key] = x
        return out, targets

    def build_encoder(self, spec: dict):
        inp, enc = self.input_spec(spec), self.encoder_spec(spec)
        if inp.get("bands") is None:
            raise InputError("hyperspectral encoder needs input.bands (the band count)")
        if self.dense_input(inp):
            return self.build_tile_encoder(inp, enc)
        if int(inp.get("patch") or 1) > 1:
            comps = int(enc.get("components") or 0) or int(inp["bands"])
            from .hsi_encoders import PatchCNN

            return PatchCNN(
                channels=min(comps, int(inp["bands"])), patch=int(inp["patch"]), width=int(enc["width"]),
                dim=int(enc["dim"]), dropout=float(enc["dropout"]))
        from .hsi_encoders import SpectralTransformer

        return SpectralTransformer(
            bands=int(inp["bands"]), group=int(enc["group"]), dim=int(enc["dim"]), depth=int(enc["depth"]),
            heads=int(enc["heads"]), mlp_ratio=float(enc["mlp_ratio"]), dropout=float(enc["dropout"]),
        )



# ---- helpers ------------------------------------------------------------------------------------


def neighbourhoods(img: np.ndarray, k: int) -> np.ndarray | None:
    """(C, H, W) -> a (C, H, W, k, k) view: pixel (r, c)'s k x k neighbourhood, mirrored at the edges
    (one padded copy of the cube; no copy per pixel). None for k <= 1."""
    if k <= 1:
        return None
    if k % 2 == 0:
        raise InputError(f"a pixel's neighbourhood must be an odd number of pixels wide, not {k}")
    r = k // 2
    C, H, W = img.shape
    mode = "reflect" if min(H, W) > r else "edge"
    padded = np.pad(img, ((0, 0), (r, r), (r, r)), mode=mode)
    return np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))


def _find(folder, names):
    for n in names:
        p = os.path.join(folder, n)
        if os.path.exists(p):
            return p
    return None


def _npy_cube(path, layout, bands, window, nodata) -> Sample:
    a = load_npy(path)
    if a.ndim == 2:
        a = a[:, :, None] if layout == "hwc" else a[None]
    if a.ndim != 3:
        raise InputError(f"cannot read {path}: expected an (H, W, C) cube, got shape {a.shape}")
    img = np.moveaxis(a, -1, 0) if layout == "hwc" else a
    if bands is not None:
        idx = [int(b) - 1 for b in (bands if isinstance(bands, (list, tuple)) else [bands])]
        if min(idx) < 0 or max(idx) >= img.shape[0]:
            raise InputError(f"{path}: bands {bands} outside 1..{img.shape[0]}")
        img = img[idx]
    if window is not None:
        x, y, w, h = [int(v) for v in window]
        img = img[:, y : y + h, x : x + w]
    img = np.array(img, dtype=np.float32)
    if img.size == 0:
        raise InputError(f"{path}: the cube is empty (shape {a.shape})")
    invalid = ~np.isfinite(img)
    if nodata is not None:
        invalid |= img == np.float32(nodata)
    valid = ~invalid.any(axis=0)
    img[:, ~valid] = np.nan
    C, H, W = img.shape
    meta = {"source": path, "crs": None, "transform": None, "width": W, "height": H,
            "window": list(window) if window is not None else [0, 0, W, H], "nodata": nodata,
            "band_names": [f"B{i + 1}" for i in range(C)], "georeferenced": False}
    return Sample({"image": img}, valid, meta)
