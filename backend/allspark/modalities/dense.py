"""Dense tiles: per-pixel classification of any raster modality with one LLM sequence per tile.

Task `pixel_classification`. A sample is a tile of tile x tile pixels with `margin` pixels of context
around it (`cube`, (C, tile + 2 margin, tile + 2 margin)); the encoder (dense_encoder.TileCNN) gives every
pixel of the tile its features (the elements) and a few pooled tokens that go through the LLM once per
tile; the dense head classifies every pixel from its features and the LLM's reading of the tile. Labels
may be sparse: the loss covers labelled pixels only (targets -1 elsewhere).

Tiles are cut from the block's own origin in steps of `tile`, so a client that sends blocks whose sides
are multiples of the tile gets the same answer whatever the block size. A payload may carry `halo`
[left, top, right, bottom]: pixels of context around the block to answer (what a tile's margin reads
beyond the block), read but not answered, so a pixel's answer does not depend on where the client cut
its blocks.

The tiles of one read are views into one padded copy of the block (`TileBlock`); the per-pixel part of
the encoder's input (the modality's own transform, standardisation, principal components) is computed
once per block, not once per overlapping tile.

`DenseTiles` is the mixin a raster modality takes to gain the mode (hyperspectral, RGB, multispectral,
SAR): it reads tiles, labelled tiles from a label raster, checks, normalises, augments them and builds
the encoder. The modality says when its reader options and its bundle's input ask for it (`dense_read`,
`dense_input`).
"""

from __future__ import annotations

import math
import os
from typing import Callable

import numpy as np

from ..errors import InputError
from .base import LabelledSet, Sample, fit_mean_std, need_samples

TASK = "pixel_classification"


class TileBlock:
    """The padded image (C, H', W') that one read's tiles are views into, and its per-pixel transform for
    the encoder, computed once for the normalisation it was asked with."""

    def __init__(self, image: np.ndarray):
        self.image = image
        self._stats = None
        self._inputs = None

    def inputs(self, stats: dict, transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        if self._stats is not stats:
            self._inputs, self._stats = transform(self.image), stats
        return self._inputs


class DenseTiles:
    """The dense mode of a raster modality (a mixin for a Modality subclass; see the module docstring)."""

    default_margin = 4
    # components: principal components of the standardised bands the CNN reads (0: the bands themselves)
    tile_encoder_defaults = {"type": "tile_cnn", "components": 0, "width": 64, "dim": 128, "tokens": 4,
                             "dropout": 0.1}

    # ---- when --------------------------------------------------------------------------------------
    @staticmethod
    def dense_input(inp: dict) -> bool:
        """Whether a bundle's `input` section is a dense one (its tiles and their margin)."""
        return bool(inp.get("tile")) and inp.get("margin") is not None

    def answers_per_pixel(self, manifest: dict) -> bool:
        """Whether a bundle of this modality answers pixel by pixel (its blocks read with a halo), not one
        class per scene tile: its dense bundles do."""
        return manifest.get("task") == TASK

    def margin_of(self, margin) -> int:
        return self.default_margin if margin is None else int(margin)

    def pixel_pre(self, spec: dict | None):
        """A function applied to the raw (C, h, w) pixels before standardisation (SAR's log), or None."""
        return None

    # ---- reading -----------------------------------------------------------------------------------
    @staticmethod
    def context_window(window, context: int, width: int, height: int):
        """(window grown by `context` px, clipped to the raster of width x height; the halo [left, top,
        right, bottom])."""
        x, y, w, h = (int(v) for v in window)
        left, top = min(context, max(0, x)), min(context, max(0, y))
        right, bottom = max(0, min(context, width - x - w)), max(0, min(context, height - y - h))
        return [x - left, y - top, w + left + right, h + top + bottom], [left, top, right, bottom]

    def dense_samples(self, cube: Sample, region, tile: int, margin, halo=None) -> list[Sample]:
        """The tiles of a read block (the cube less its `halo`), limited to the pixels whose centre lies in
        `region` (raster.parse_region; its info in each tile's meta `region`), in the block's own frame."""
        area = answer_area(cube, region, halo)
        if area is None:
            return []
        core, info = area
        return block_samples(self.tiles(cube, int(tile), self.margin_of(margin), where=core, halo=halo), cube,
                             halo, info)

    def tiles(self, cube: Sample, tile: int, margin: int, where: np.ndarray | None = None,
              halo=None) -> list[Sample]:
        """Dense samples: the block (the cube less its `halo`) cut into tiles of `tile` px from its own
        origin (the last ones partial), each with `margin` px of context (`cube` (C, tile + 2 margin,
        tile + 2 margin): a view into one padded copy of the image (meta `block`, a TileBlock, and
        `offset`): the halo where the client sent one, mirrored at the image's edges; a partial tile's own
        copy, NaN beyond the image); its `mask` (tile, tile) marks the pixels to answer (valid, inside the
        block and `where`). Tiles with nothing to answer are left out."""
        img, valid = cube.data["image"], cube.mask
        C, H, W = img.shape
        if img.size == 0:
            raise InputError(f"{self.title}: {cube.meta.get('source', 'input')} is empty")
        if not valid.any():
            raise InputError(f"{self.title}: every pixel of {cube.meta.get('source', 'input')} is nodata "
                             "(all-nodata raster)")
        if tile < 1 or margin < 0:
            raise InputError(f"{self.title}: dense tiles need tile >= 1 and margin >= 0 (got {tile}, {margin})")
        left, top, right, bottom = halo_sides(halo)
        answer = valid & core_mask((H, W), halo)
        if where is not None:
            answer &= where
        # mirror what the client could not send (beyond the raster's edges): one copy of the block; the
        # few partial tiles at its right / bottom edge get their own NaN-filled cube
        pl, pt, pr, pb = (max(0, margin - s) for s in (left, top, right, bottom))
        mode = "reflect" if min(H, W) > margin else "edge"
        block = TileBlock(np.pad(img, ((0, 0), (pt, pb), (pl, pr)), mode=mode) if pl + pt + pr + pb else img)
        padded = block.image
        side = tile + 2 * margin
        x0, y0, w, h = left, top, W - left - right, H - top - bottom
        base = {k: cube.meta.get(k) for k in ("source", "crs", "transform", "band_names")}
        win = cube.meta.get("window") or [0, 0, W, H]
        samples = []
        for ty in range(0, h, tile):
            for tx in range(0, w, tile):
                th, tw = min(tile, h - ty), min(tile, w - tx)
                mask = np.zeros((tile, tile), bool)
                mask[:th, :tw] = answer[y0 + ty:y0 + ty + th, x0 + tx:x0 + tx + tw]
                if not mask.any():
                    continue
                # image pixel (y0 + ty - margin) is padded row (y0 + ty - margin + pt)
                py, px = y0 + ty - margin + pt, x0 + tx - margin + pl
                view = padded[:, py:py + side, px:px + side]
                meta = {**base, "tile": tile, "margin": margin, "row": y0 + ty, "col": x0 + tx,
                        "window": [int(win[0]) + x0 + tx, int(win[1]) + y0 + ty, tw, th],
                        "shape": (H, W), "height": H, "width": W}
                if view.shape[1:] != (side, side):
                    whole = np.full((C, side, side), np.nan, padded.dtype)
                    whole[:, :view.shape[1], :view.shape[2]] = view
                    view = whole
                else:
                    meta.update(block=block, offset=(py, px))
                samples.append(Sample(data={"cube": view}, mask=mask, meta=meta))
        return samples

    def labelled_tiles(self, cube: Sample, labels_path, classes, tile: int, margin, block, info: dict) -> LabelledSet:
        """Dense training data from a label raster on the cube's grid (0 = unlabelled; `classes` name the
        values 1, 2, ...; without names, the values present become classes in order): the tiles holding
        labelled pixels, targets (B, tile * tile) class ids (-1 = unlabelled). Tiles are the split's blocks
        (block = tile), and the split counts labelled pixels (info split_weight = elements), so it holds
        out the same pixels as a per-pixel reader with blocks of the tile's size."""
        margin = self.margin_of(margin)
        if block is not None and int(block) != tile:
            raise InputError(f"{self.title}: dense training tiles are the split's blocks: give block = tile "
                             f"({tile}), not {block}")
        lab = label_raster(labels_path)
        if lab.shape != cube.mask.shape:
            raise InputError(f"label raster {labels_path} is {lab.shape[0]} x {lab.shape[1]} px, "
                             f"the image {cube.mask.shape[0]} x {cube.mask.shape[1]}")
        lut, classes = class_lookup(lab, classes, labels_path)
        H, W = lab.shape
        samples = self.tiles(cube, tile, margin, where=lab > 0)
        nbx = math.ceil(W / tile)
        ids = np.full(int(lab.max()) + 1, -1, np.int64)
        for v, c in lut.items():
            ids[v] = c
        targets = np.full((len(samples), tile * tile), -1, np.int64)
        for i, s in enumerate(samples):
            r, c = s.meta["row"], s.meta["col"]
            t = np.zeros((tile, tile), np.int64)
            part = lab[r:r + tile, c:c + tile]
            t[:part.shape[0], :part.shape[1]] = part
            t = ids[t]  # label value -> class id (0 -> -1)
            t[~s.mask] = -1
            targets[i] = t.reshape(-1)
        groups = np.array([(s.meta["row"] // tile) * nbx + s.meta["col"] // tile for s in samples], np.int64)
        return LabelledSet(samples=samples, targets=targets, classes=list(classes), groups=groups,
                           info={**info, "block_px": tile, "labelled_px": int((lab > 0).sum()),
                                 "split_weight": "elements", "tiles": len(samples)})

    # ---- the contract, dense -------------------------------------------------------------------------
    def tile_spec(self, samples) -> dict:
        """The `input` settings read off dense samples: bands, tile, margin."""
        s0 = samples[0]
        return {"bands": int(s0.data["cube"].shape[0]), "tile": int(s0.meta["tile"]),
                "margin": int(s0.meta["margin"])}

    def check_tile(self, sample: Sample, inp: dict) -> None:
        src = sample.meta.get("source", "input")
        cube = sample.data.get("cube")
        if cube is None:
            raise InputError(f"{self.title}: this bundle answers tile by tile (dense); the sample from {src} is "
                             f"not a tile (read it with tile={inp['tile']} and margin={inp.get('margin')})")
        side = int(inp["tile"]) + 2 * int(inp.get("margin") or 0)
        if cube.ndim != 3 or cube.shape[1:] != (side, side):
            raise InputError(f"{self.title}: the bundle reads tiles of {inp['tile']} px with {inp.get('margin')} px "
                             f"of context ({side} x {side}); the sample from {src} is {'x'.join(map(str, cube.shape))}")
        want = inp.get("bands")
        if want is not None and cube.shape[0] != int(want):
            raise InputError(f"{self.title}: the bundle expects {int(want)} bands, got {cube.shape[0]} from {src}")

    def refuse_tile(self, sample: Sample) -> None:
        """A per-scene / per-pixel bundle given a dense tile: say how to read it."""
        if "cube" in sample.data:
            raise InputError(f"{self.title}: this bundle does not answer tile by tile, but the sample from "
                             f"{sample.meta.get('source', 'input')} is a dense tile (read it without the "
                             "margin / tile options)")

    def tile_stats(self, samples, spec=None) -> dict:
        """Per-band mean / std of the pixels of the tiles (their context included), after the modality's
        own transform; with `components` in the encoder spec also the principal components (`pca`, (P, C))
        of the standardised bands."""
        need_samples(samples, self.name)
        rng = np.random.default_rng(0)
        idx = np.arange(len(samples))
        if len(idx) > 2000:
            idx = rng.choice(idx, 2000, replace=False)
        pre = self.pixel_pre(spec)
        px = []
        for i in idx:
            c = samples[i].data["cube"]
            c = pre(c) if pre is not None else c
            px.append(c.reshape(c.shape[0], -1).T)
        px = np.concatenate(px)
        px = px[np.isfinite(px).all(1)]
        if not len(px):
            raise InputError(f"{self.title}: no valid pixel in the training tiles")
        px = px[rng.choice(len(px), min(len(px), 50_000), replace=False)].astype(np.float64)
        mean, std = fit_mean_std(px, floor=1e-6)
        stats = {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
        n_comp = int(self.encoder_spec(spec).get("components") or 0) if spec else 0
        if n_comp:
            stats["pca"] = principal_components((px - mean) / std, n_comp)
        return stats

    def tile_transform(self, spec, stats) -> Callable[[np.ndarray], np.ndarray]:
        """Raw pixels (C, h, w) -> the encoder's input (P, h, w) float32, pixel by pixel: the modality's
        transform, standardised, NaN -> 0 (the mean), projected onto the principal components. Element-wise
        steps in float32, the projection in float64 rounded once (a float32 product rounds by the array's
        size), so a pixel's value is the same in a whole block and in a tile alone."""
        mean = np.asarray(stats["mean"], np.float32)[:, None, None]
        std = np.asarray(stats["std"], np.float32)[:, None, None]
        pca = np.asarray(stats["pca"], np.float64) if "pca" in stats else None
        pre = self.pixel_pre(spec)

        def rows(x: np.ndarray) -> np.ndarray:
            x = pre(x) if pre is not None else x
            z = np.asarray(x, np.float32) - mean
            z /= std
            z[~np.isfinite(z)] = 0.0  # nodata: the mean
            if pca is None:
                return z
            y = pca @ z.reshape(z.shape[0], -1).astype(np.float64)
            return y.astype(np.float32).reshape((pca.shape[0],) + z.shape[1:])

        def transform(x: np.ndarray) -> np.ndarray:
            C, H, W = x.shape
            if C != mean.shape[0]:
                raise InputError(f"{self.title}: the bundle expects {mean.shape[0]} bands, got {C}")
            # a few rows at a time: a block's temporaries stay small (a few MB, not several copies of it)
            step = max(1, (4 << 20) // max(1, 8 * C * W))
            if step >= H:
                return rows(x)
            out = np.empty((C if pca is None else pca.shape[0], H, W), np.float32)
            for r in range(0, H, step):
                out[:, r:r + step] = rows(x[:, r:r + step])
            return out

        return transform

    def tile_inputs(self, samples, spec, stats) -> dict[str, np.ndarray]:
        """(B, P, S, S) encoder inputs: slices of each block's transform (computed once per block), a
        partial tile's own transform."""
        need_samples(samples, self.name)
        transform = self.tile_transform(spec, stats)
        out = None
        for i, s in enumerate(samples):
            block = s.meta.get("block")
            if block is not None:
                z = block.inputs(stats, transform)
                py, px = s.meta["offset"]
                side = s.data["cube"].shape[-1]
                z = z[:, py:py + side, px:px + side]
            else:
                z = transform(s.data["cube"])
            if out is None:
                out = np.empty((len(samples),) + z.shape, np.float32)
            elif z.shape != out.shape[1:]:
                raise InputError(f"{self.title}: tiles of different sizes in one batch ({z.shape} and {out.shape[1:]})")
            out[i] = z
        return {"cube": out}

    def augment_tiles(self, inputs: dict, targets, generator):
        """Training-time augmentation of normalised tiles (torch): a random gain per tile, a little noise,
        and (where the modality allows turns) a random quarter turn and mirror of the tile and its labels."""
        import torch

        out = dict(inputs)
        x = inputs["cube"]
        b = x.shape[0]
        gain = 1 + 0.1 * torch.randn((b, 1, 1, 1), generator=generator)
        x = x * gain + 0.02 * torch.randn(x.shape, generator=generator)
        if getattr(self, "augment_turns", True):
            k = int(torch.randint(0, 4, (1,), generator=generator))
            flip = bool(torch.randint(0, 2, (1,), generator=generator))
            x = torch.rot90(x, k, dims=(2, 3))
            x = torch.flip(x, dims=(3,)) if flip else x
            side = int(round(targets.shape[1] ** 0.5))
            t = torch.rot90(targets.view(b, side, side), k, dims=(1, 2))
            targets = (torch.flip(t, dims=(2,)) if flip else t).reshape(b, -1)
        out["cube"] = x
        return out, targets

    def build_tile_encoder(self, inp: dict, enc: dict):
        if inp.get("bands") is None:
            raise InputError(f"{self.title}: the dense encoder needs input.bands (the band count)")
        from .dense_encoder import TileCNN

        comps = int(enc.get("components") or 0) or int(inp["bands"])
        return TileCNN(channels=min(comps, int(inp["bands"])), tile=int(inp["tile"]),
                       margin=int(inp.get("margin") or 0), width=int(enc["width"]), dim=int(enc["dim"]),
                       tokens=int(enc["tokens"]), dropout=float(enc["dropout"]))

    def place_result(self, samples, part: dict) -> dict:
        """Dense results: the pixels a tile does not answer (padding, nodata, outside the block or the
        region) get no class (-1)."""
        if "element_labels" not in part or not samples or "cube" not in samples[0].data:
            return {}
        labels = np.array(part["element_labels"], copy=True)
        for i, s in enumerate(samples):
            labels[i, ~np.asarray(s.mask).reshape(-1)] = -1
        return {"element_labels": labels}


# ---- helpers ------------------------------------------------------------------------------------


def halo_sides(halo) -> tuple[int, int, int, int]:
    """A payload's halo [left, top, right, bottom] (px of context around the block), checked."""
    if halo is None:
        return 0, 0, 0, 0
    try:
        sides = tuple(int(v) for v in halo)
    except (TypeError, ValueError):
        raise InputError(f"halo must be [left, top, right, bottom] pixels, not {halo!r}") from None
    if len(sides) != 4 or min(sides) < 0:
        raise InputError(f"halo must be four pixel counts >= 0 [left, top, right, bottom], not {halo!r}")
    return sides


def answer_area(cube: Sample, region, halo):
    """(where a read block is answered: (H, W) inside the block (the cube less its `halo`) and the
    selected polygons of `region`, the region's info or None), or None when an optional region (a block
    of a larger run) misses the block; a region that misses a question's raster is an InputError."""
    from .raster import parse_region, region_mask, region_miss

    core = core_mask(cube.mask.shape, halo)
    region = parse_region(region)
    if region is None:
        return core, None
    inside, info = region_mask(cube, region)
    if not (inside & cube.mask & core).any():
        if region.optional:
            return None
        raise region_miss(region, cube.meta.get("source", "input"), inside, info is not None)
    return core & inside, info


def block_samples(samples, cube: Sample, halo, region_info) -> list:
    """A read block's samples in the block's own frame (in_block_frame, with a halo), each with the
    region's info (areas) when the read was limited to selected polygons."""
    if any(halo_sides(halo)):
        in_block_frame(samples, cube.meta, cube.mask.shape, halo)
    if region_info is not None:
        for s in samples:
            s.meta["region"] = region_info
    return samples


def in_block_frame(samples, meta: dict, shape, halo) -> None:
    """Samples read with a halo, described in the block's own frame (the image less its halo): `row` /
    `col`, `height` / `width` / `shape`, the `window` of pixels (tiles keep their own) and the `transform`,
    so label rasters, summaries and clients place them on the block the payload asked about."""
    left, top, right, bottom = halo_sides(halo)
    H, W = shape
    h, w = H - top - bottom, W - left - right
    win = meta.get("window") or [0, 0, W, H]
    block = [int(win[0]) + left, int(win[1]) + top, w, h]
    t = meta.get("transform")
    moved = None if t is None else [t[0] + left * t[1] + top * t[2], t[1], t[2], t[3] + left * t[4] + top * t[5],
                                    t[4], t[5]]
    for s in samples:
        m = s.meta
        m["row"], m["col"] = int(m["row"]) - top, int(m["col"]) - left
        m.update(height=h, width=w, shape=(h, w), transform=moved)
        if "tile" not in m:
            m["window"] = block


def core_mask(shape, halo) -> np.ndarray:
    """(H, W) True inside the block a payload asks about (the image less its halo)."""
    H, W = shape
    left, top, right, bottom = halo_sides(halo)
    if left + right >= W or top + bottom >= H:
        raise InputError(f"the halo {list(halo)} leaves nothing of the {W} x {H} px image to answer")
    core = np.zeros((H, W), bool)
    core[top:H - bottom, left:W - right] = True
    return core


def principal_components(z: np.ndarray, n: int) -> list:
    """The first `n` principal axes (n, C) of standardised pixels z (N, C)."""
    _, _, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
    return vt[:min(n, vt.shape[0])].astype(np.float32).tolist()


def class_lookup(lab: np.ndarray, classes, path) -> tuple[dict, list]:
    """(label value -> class id, class names) of a label raster: named classes are the values 1, 2, ...;
    without names, the values present, in order."""
    values = np.unique(lab[lab > 0]).astype(int)
    if len(values) == 0:
        raise InputError(f"{path}: no labelled pixels (every label is 0)")
    if classes is not None:
        if values.max() > len(classes):
            raise InputError(f"{path}: label {values.max()} but only {len(classes)} class names")
        return {v: v - 1 for v in range(1, len(classes) + 1)}, list(classes)
    return {int(v): i for i, v in enumerate(values)}, [f"class {v}" for v in values]


def load_npy(path):
    if not os.path.exists(path):
        raise InputError(f"cannot read {path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise InputError(f"cannot read {path}: {e}") from None


def label_raster(path) -> np.ndarray:
    """A label raster (GeoTIFF / any GDAL raster, or .npy) as (H, W) int64; 0 = unlabelled (nodata too)."""
    path = os.fspath(path)
    if path.lower().endswith(".npy"):
        lab = load_npy(path)
        if lab.ndim == 3 and 1 in (lab.shape[0], lab.shape[-1]):
            lab = lab.reshape(lab.shape[0] if lab.shape[-1] == 1 else lab.shape[1],
                              lab.shape[1] if lab.shape[-1] == 1 else lab.shape[2])
    else:
        from .raster import read_raster

        s = read_raster(path, bands=[1])
        lab = np.where(s.mask, s.data["image"][0], 0)
    lab = np.nan_to_num(np.asarray(lab, dtype=np.float64), nan=0.0)
    if lab.ndim != 2:
        raise InputError(f"{path}: a label raster must be 2-D (H, W), got shape {lab.shape}")
    if (lab < 0).any() or (lab != np.round(lab)).any():
        raise InputError(f"{path}: labels must be whole numbers >= 0 (0 = unlabelled)")
    return lab.astype(np.int64)
