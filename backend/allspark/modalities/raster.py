"""Shared raster reading for the raster modalities (rgb, msi, hsi, sar). Not a modality itself.

rasterio (GDAL) reads GeoTIFF, JP2, PNG, JPEG and anything else GDAL knows. Every reader here returns
`Sample(data={"image": (C, H, W) float32}, mask=(H, W) bool, meta=...)` where

- a pixel is valid (mask True) only when every band is valid: the band's nodata value, the dataset's
  mask / alpha band, NaN and +-inf all make it invalid, and invalid pixels are NaN in every band;
- complex bands (SAR SLC) become their amplitude;
- meta holds `source`, `crs` (WKT or None), `transform` (GDAL order, of the window read), `width`,
  `height`, `window` [xoff, yoff, w, h] in the source grid, `nodata`, `band_names`, `dtype`, `res`.

Sentinel-2 style folders of single-band files of different resolutions are resampled onto the grid of
the finest band (`read_band_files`): by georeference (rasterio.warp.reproject), not by array index —
the 10 m, 20 m and 60 m grids of a real scene do not share their origin.

rasterio is imported lazily, so importing the modality files stays light.
"""

from __future__ import annotations

import contextlib
import os
from abc import abstractmethod
import re
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from ..errors import InputError
from ..tiling import Grid
from .base import LabelledSet, Modality, Sample, fit_mean_std, need_samples, required_array, section
from .dense import TASK as DENSE_TASK, DenseTiles
from .options import ImageOptions

RASTER_TYPES = [".tif", ".tiff", ".jp2", ".png", ".jpg", ".jpeg", ".vrt", ".img", ".bmp", ".gif"]


# ---- opening ----------------------------------------------------------------------------------


def _rasterio():
    try:
        import rasterio  # noqa: F401
        import rasterio.warp  # noqa: F401
        import rasterio.windows  # noqa: F401
    except ImportError as e:  # pragma: no cover - rasterio is a requirement
        raise InputError("reading rasters needs the rasterio package (pip install rasterio)") from e
    return rasterio


@contextlib.contextmanager
def open_raster(path):
    """rasterio.open with errors turned into InputError("cannot read <file>: ...")."""
    rasterio = _rasterio()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"cannot read {path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"cannot read {path}: it is a folder, not a raster file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning for PNG / JPEG
            src = rasterio.open(path)
    except Exception as e:  # RasterioIOError, CPLE_* ...
        raise InputError(f"cannot read {path}: {_short(e)}") from None
    try:
        yield src
    finally:
        src.close()


def _short(e: Exception) -> str:
    msg = str(e).strip() or type(e).__name__
    return msg if len(msg) < 300 else msg[:300] + "..."


def gdal_transform(affine) -> list[float]:
    return [float(v) for v in affine.to_gdal()]


def shift_gt(gt: Sequence[float], col: float, row: float) -> list[float]:
    """A GDAL geotransform moved to start at pixel (col, row) of the grid (a window's transform)."""
    c, a, b, f, d, e = [float(v) for v in gt]
    return [c + col * a + row * b, a, b, f + col * d + row * e, d, e]


def scale_gt(gt: Sequence[float], sx: float, sy: float) -> list[float]:
    """A GDAL geotransform whose pixels are sx x sy times larger (a decimated read)."""
    c, a, b, f, d, e = [float(v) for v in gt]
    return [c, a * sx, b * sy, f, d * sx, e * sy]


def crs_wkt(crs) -> str | None:
    if crs is None:
        return None
    try:
        return crs.to_wkt()
    except Exception:
        return None


def band_names_of(src) -> list[str]:
    names = []
    for i, d in enumerate(src.descriptions, start=1):
        names.append(d if d else f"B{i}")
    return names


# ---- reading ----------------------------------------------------------------------------------


def _indexes(src, bands) -> list[int]:
    """1-based band indexes from ints (1-based) or band names (descriptions / "B3"); alpha bands dropped."""
    if bands is None:
        from rasterio.enums import ColorInterp

        idx = [i for i, ci in enumerate(src.colorinterp, start=1) if ci != ColorInterp.alpha]
        return idx or list(range(1, src.count + 1))
    if isinstance(bands, (int, np.integer, str)):
        bands = [bands]
    names = band_names_of(src)
    out = []
    for b in bands:
        if isinstance(b, (int, np.integer)):
            i = int(b)
        elif isinstance(b, str) and b.isdigit():
            i = int(b)
        elif b in names:
            i = names.index(b) + 1
        else:
            raise InputError(f"{src.name}: no band {b!r}; it has {src.count} bands: {', '.join(names)}")
        if not 1 <= i <= src.count:
            raise InputError(f"{src.name}: band {i} does not exist; it has {src.count} bands (1..{src.count})")
        out.append(i)
    return out


def _window(src, window):
    from rasterio.windows import Window

    if window is None:
        return None
    if isinstance(window, Window):
        w = window
    else:
        try:
            xoff, yoff, ww, hh = [int(round(float(v))) for v in window]
        except Exception:
            raise InputError(f"window must be [xoff, yoff, width, height]; got {window!r}") from None
        w = Window(xoff, yoff, ww, hh)
    if w.width <= 0 or w.height <= 0:
        raise InputError(f"{src.name}: empty window {list(window)}")
    if w.col_off < 0 or w.row_off < 0 or w.col_off + w.width > src.width or w.row_off + w.height > src.height:
        raise InputError(
            f"{src.name}: window {[int(w.col_off), int(w.row_off), int(w.width), int(w.height)]} "
            f"lies outside the raster ({src.width} x {src.height} px)"
        )
    return w


def _finish(data: np.ma.MaskedArray | np.ndarray, nodata=None) -> tuple[np.ndarray, np.ndarray]:
    """(C,H,W) masked / plain array -> float32 image with NaN at invalid pixels, (H,W) valid mask."""
    arr = np.ma.getdata(data)
    invalid = np.ma.getmaskarray(data).copy() if np.ma.isMaskedArray(data) else np.zeros(arr.shape, bool)
    if np.iscomplexobj(arr):
        arr = np.abs(arr)
    img = arr.astype(np.float32, copy=True)
    if nodata is not None and np.isfinite(nodata):
        invalid |= img == np.float32(nodata)
    invalid |= ~np.isfinite(img)
    valid = ~invalid.any(axis=0)
    img[:, ~valid] = np.nan
    return img, valid


def _read_src(src, bands=None, window=None, out_shape=None, nodata=None, resampling="bilinear") -> Sample:
    from rasterio.enums import Resampling

    idx = _indexes(src, bands)
    win = _window(src, window)
    kw = {}
    if out_shape is not None:
        kw["out_shape"] = (len(idx), int(out_shape[0]), int(out_shape[1]))
        kw["resampling"] = getattr(Resampling, resampling)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = src.read(idx, window=win, masked=True, **kw)
    except Exception as e:
        raise InputError(f"cannot read {src.name}: {_short(e)}") from None
    img, valid = _finish(data, nodata)
    if win is None:
        transform = src.transform
        wlist = [0, 0, src.width, src.height]
    else:
        transform = src.window_transform(win)
        wlist = [int(win.col_off), int(win.row_off), int(win.width), int(win.height)]
    gt = gdal_transform(transform)
    if out_shape is not None:  # decimated read: scale the pixel size
        gt = scale_gt(gt, wlist[2] / img.shape[2], wlist[3] / img.shape[1])
    names = band_names_of(src)
    meta = {
        "source": os.fspath(src.name),
        "crs": crs_wkt(src.crs),
        "transform": gt,
        "width": int(img.shape[2]),
        "height": int(img.shape[1]),
        "raster_size": [int(src.width), int(src.height)],
        "window": wlist,
        "nodata": nodata if nodata is not None else src.nodata,
        "band_names": [names[i - 1] for i in idx],
        "bands": idx,
        "dtype": src.dtypes[idx[0] - 1],
        "res": [abs(gt[1]), abs(gt[5])],
        "georeferenced": src.crs is not None,
    }
    return Sample(data={"image": img}, mask=valid, meta=meta)


def read_raster(path, bands=None, window=None, out_shape=None, nodata=None, resampling="bilinear") -> Sample:
    """One raster file (or a window of it) as one Sample; see the module docstring."""
    with open_raster(path) as src:
        return _read_src(src, bands, window, out_shape, nodata, resampling)


def raster_info(path) -> dict:
    with open_raster(path) as src:
        return {
            "width": src.width,
            "height": src.height,
            "count": src.count,
            "crs": crs_wkt(src.crs),
            "transform": gdal_transform(src.transform),
            "band_names": band_names_of(src),
            "dtype": src.dtypes[0],
            "nodata": src.nodata,
        }


# ---- tiles ------------------------------------------------------------------------------------


def read_tiles(path, tile, stride=None, bands=None, nodata=None, skip_empty=True, window=None) -> list[Sample]:
    """Tiles of a raster file (of `window` [xoff, yoff, w, h] only, when given: a block of a large raster,
    read with bounded memory), each its own Sample with the tile's window (source grid) and transform."""
    out = []
    with open_raster(path) as src:
        region = _window(src, window) if window is not None else None
        if region is not None:
            region = [int(region.col_off), int(region.row_off), int(region.width), int(region.height)]
        for i, win in enumerate(Grid.of(src.width, src.height, tile, stride, region=region)):
            s = _read_src(src, bands, win, None, nodata)
            if skip_empty and not s.mask.any():
                continue
            s.meta["tile"] = i
            out.append(s)
    if not out:
        raise InputError(f"{path}: every tile is nodata")
    return out


def split_tiles(sample: Sample, tile, stride=None, skip_empty=True) -> list[Sample]:
    """Cut an in-memory raster Sample into tiles (windows relative to the sample)."""
    img = sample.data["image"]
    _, H, W = img.shape
    gt = sample.meta.get("transform")
    base = sample.meta.get("window") or [0, 0, W, H]
    out = []
    for i, (x, y, w, h) in enumerate(Grid.of(W, H, tile, stride)):
        m = sample.mask[y : y + h, x : x + w]
        if skip_empty and not m.any():
            continue
        meta = dict(sample.meta)
        meta.update(width=w, height=h, window=[base[0] + x, base[1] + y, w, h], tile=i)
        if gt is not None:
            meta["transform"] = shift_gt(gt, x, y)
        out.append(Sample({"image": img[:, y : y + h, x : x + w].copy()}, m.copy(), meta))
    if not out:
        raise InputError(f"{sample.meta.get('source', 'raster')}: every tile is nodata")
    return out


# ---- several single-band files onto one grid (Sentinel-2) --------------------------------------

_S2_BAND = re.compile(r"(?:^|[^A-Za-z0-9])B(\d{1,2}|8A)(?=[^A-Za-z0-9]|_|$)", re.IGNORECASE)


def band_name_from_filename(path) -> str | None:
    """"s2_B01.tif" / "T18SUJ_20180807T154911_B8A_20m.jp2" -> "B01" / "B8A"; None when no band is named."""
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    matches = list(_S2_BAND.finditer(stem))  # the last one: tile ids may look like bands earlier in the name
    m = matches[-1] if matches else None
    if m is None:
        return None
    b = m.group(1).upper()
    return "B8A" if b == "8A" else f"B{int(b):02d}"


def read_band_files(paths: Sequence, names: Sequence[str] | None = None, window=None, nodata=None,
                    resampling: str = "bilinear") -> Sample:
    """Single-band files (any resolutions, same area) resampled onto the finest file's grid, one band each.

    `window` [xoff, yoff, w, h] is in the finest grid. Coarser bands are read over the window's bounds
    (plus a margin) and warped by georeference onto it.
    """
    _rasterio()
    import rasterio.warp
    from rasterio.enums import Resampling
    from rasterio.windows import Window, from_bounds

    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise InputError("no band files given")
    infos = []
    for p in paths:
        with open_raster(p) as src:
            if src.count != 1:
                raise InputError(f"{p}: expected a single-band file, got {src.count} bands")
            infos.append((p, src.transform, src.crs, src.width, src.height, src.nodata))
    ref = min(range(len(infos)), key=lambda i: abs(infos[i][1].a * infos[i][1].e))
    _, rt, rcrs, rw, rh, _ = infos[ref]
    if window is None:
        win = Window(0, 0, rw, rh)
    else:
        xoff, yoff, ww, hh = [int(v) for v in window]
        if xoff < 0 or yoff < 0 or ww <= 0 or hh <= 0 or xoff + ww > rw or yoff + hh > rh:
            raise InputError(f"window {list(window)} lies outside the finest band's grid ({rw} x {rh} px)")
        win = Window(xoff, yoff, ww, hh)
    dst_t = rasterio.windows.transform(win, rt)
    H, W = int(win.height), int(win.width)
    bounds = rasterio.windows.bounds(win, rt)
    img = np.full((len(paths), H, W), np.nan, np.float32)
    for b, (p, t, crs, w, h, nd) in enumerate(infos):
        nd = nodata if nodata is not None else nd
        with open_raster(p) as src:
            same_grid = (t.almost_equals(rt) and (crs == rcrs or crs is None or rcrs is None))
            if same_grid:
                s = _read_src(src, [1], win, None, nd)
                img[b] = s.data["image"][0]
                continue
            if crs is not None and rcrs is not None and crs != rcrs:
                sb = rasterio.warp.transform_bounds(rcrs, crs, *bounds)
            else:
                sb = bounds
            sw = from_bounds(*sb, transform=t)
            col0 = max(int(np.floor(sw.col_off)) - 2, 0)
            row0 = max(int(np.floor(sw.row_off)) - 2, 0)
            col1 = min(int(np.ceil(sw.col_off + sw.width)) + 2, w)
            row1 = min(int(np.ceil(sw.row_off + sw.height)) + 2, h)
            if col1 <= col0 or row1 <= row0:
                continue  # band does not cover the window: stays nodata
            sw = Window(col0, row0, col1 - col0, row1 - row0)
            s = _read_src(src, [1], sw, None, nd)
            dst = np.full((H, W), np.nan, np.float32)
            rasterio.warp.reproject(
                source=s.data["image"][0],
                destination=dst,
                src_transform=src.window_transform(sw),
                src_crs=crs or rcrs,
                dst_transform=dst_t,
                dst_crs=rcrs or crs,
                src_nodata=np.nan,
                dst_nodata=np.nan,
                resampling=getattr(Resampling, resampling),
            )
            img[b] = dst
    valid = np.isfinite(img).all(axis=0)
    img[:, ~valid] = np.nan
    meta = {
        "source": paths[ref] if len(paths) == 1 else os.path.dirname(paths[ref]) or ".",
        "sources": paths,
        "crs": crs_wkt(rcrs),
        "transform": gdal_transform(dst_t),
        "width": W,
        "height": H,
        "raster_size": [rw, rh],
        "window": [int(win.col_off), int(win.row_off), W, H],
        "nodata": nodata,
        "band_names": list(names) if names is not None else [band_name_from_filename(p) or f"B{i + 1}" for i, p in enumerate(paths)],
        "bands": list(range(1, len(paths) + 1)),
        "res": [float(abs(rt.a)), float(abs(rt.e))],
        "georeferenced": rcrs is not None,
        "resampled_to": os.path.basename(paths[ref]),
    }
    return Sample(data={"image": img}, mask=valid, meta=meta)


# ---- payloads ---------------------------------------------------------------------------------


def raster_payload(arrays: dict, meta: dict, read_path) -> list[Sample]:
    """Raster payload (docs/DESIGN.md): arrays `image` (C,H,W) [+ `mask` (H,W) 1 = valid], or meta `path`."""
    meta = dict(meta or {})
    if arrays and "image" in arrays:
        img = np.array(arrays["image"], dtype=np.float32, copy=True)
        if img.ndim == 2:
            img = img[None]
        if img.ndim != 3:
            raise InputError(f"raster payload 'image' must be (C, H, W); got shape {tuple(img.shape)}")
        if img.size == 0:
            raise InputError(f"raster payload 'image' is empty (shape {tuple(img.shape)})")
        nodata = meta.get("nodata")
        invalid = ~np.isfinite(img)
        if nodata is not None and np.isfinite(float(nodata)):
            invalid |= img == np.float32(nodata)
        valid = ~invalid.any(axis=0)
        if "mask" in arrays and arrays["mask"] is not None:
            m = np.asarray(arrays["mask"])
            if m.shape != valid.shape:
                raise InputError(f"raster payload 'mask' has shape {m.shape}, the image {valid.shape}")
            valid &= m.astype(bool)
        img[:, ~valid] = np.nan
        C, H, W = img.shape
        m = {
            "source": meta.get("source", meta.get("layer", "payload")),
            "crs": meta.get("crs"),
            "transform": list(meta["transform"]) if meta.get("transform") is not None else None,
            "width": W,
            "height": H,
            "window": list(meta.get("window") or [0, 0, W, H]),
            "nodata": nodata,
            "band_names": list(meta.get("band_names") or [f"B{i + 1}" for i in range(C)]),
            "georeferenced": meta.get("crs") is not None,
        }
        for k, v in meta.items():
            m.setdefault(k, v)
        return [Sample({"image": img}, valid, m)]
    if meta.get("path"):
        opts = {k: meta[k] for k in ("bands", "window", "tile", "stride", "nodata") if meta.get(k) is not None}
        return read_path(meta["path"], **opts)
    raise InputError("raster payload has neither an 'image' array nor a 'path' in its meta")


# ---- regions: the selected polygons a question is limited to ----------------------------------
#
# A payload (or a read) may carry `region`: {"wkb": [WKB per polygon feature, bytes or hex text],
# "crs": WKT of the polygons' CRS or None, "layer": the polygon layer's name, "optional": bool}. The
# polygons are reprojected onto the raster's CRS (pyproj; a raster or region without a CRS is taken to
# share the other's coordinates) and burnt onto the sample's pixel grid (rasterio.features: a pixel is
# inside when its centre is). Hyperspectral pixels outside are not sampled; image samples get the pixels
# outside masked as nodata. Each sample's meta then holds `region` = region_info(): the area of the
# polygons on the raster (hectares from the same geometry; pyproj.Geod for geographic CRSs), the pixel
# count inside, one pixel's area. `optional` (a tile or block of a larger run): a sample the region does
# not reach is dropped instead of refused.

NO_CRS_TRANSFORM = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]  # how QGIS places a raster that has no georeference


def _shapely():
    try:
        import shapely
        import shapely.wkb  # noqa: F401
    except ImportError as e:  # pragma: no cover - shapely is a requirement
        raise InputError("limiting a question to polygons needs the shapely package (pip install shapely)") from e
    return shapely


@dataclass
class Region:
    """The selected polygons of a layer, read from a payload's `region`."""

    geometry: object  # shapely (Multi)Polygon, the union, in `crs`
    crs: str | None
    layer: str
    features: int
    optional: bool = False
    _moved: dict = field(default_factory=dict, repr=False)  # CRS -> the union reprojected there

    def in_crs(self, crs: str | None):
        """The union in another CRS (unchanged when either CRS is unknown or they are the same)."""
        if crs not in self._moved:
            try:
                self._moved[crs] = reproject_geometry(self.geometry, self.crs, crs)
            except InputError as e:
                raise InputError(f"the polygons of layer '{self.layer}' cannot be placed on the raster: {e}") from None
        return self._moved[crs]


def parse_region(region) -> Region | None:
    """A payload's `region` as a Region; None when there is none. InputError naming the layer when the
    polygons are missing, unreadable, not polygons, or invalid."""
    if region is None:
        return None
    if isinstance(region, Region):
        return region
    shapely = _shapely()
    if isinstance(region, (list, tuple)):
        region = {"wkb": list(region)}
    if not isinstance(region, dict):
        raise InputError(f"'region' must be {{'wkb': [polygon WKB, ...], 'crs': WKT, 'layer': name}}; "
                         f"got {type(region).__name__}")
    layer = str(region.get("layer") or "region")
    wkbs = region.get("wkb")
    if isinstance(wkbs, (bytes, bytearray, memoryview, str)):
        wkbs = [wkbs]
    if not wkbs:
        raise InputError(f"no polygon of layer '{layer}' is selected: select the polygons to limit the question to")
    geoms = []
    for i, w in enumerate(wkbs):
        try:
            g = shapely.from_wkb(bytes.fromhex(w) if isinstance(w, str) else bytes(w))
        except Exception as e:  # noqa: BLE001 - GEOSException, ValueError, TypeError
            raise InputError(f"polygon {i + 1} of layer '{layer}' is not readable WKB: {_short(e)}") from None
        if g is None or g.is_empty:
            raise InputError(f"polygon {i + 1} of layer '{layer}' has an empty geometry")
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError(f"feature {i + 1} of layer '{layer}' is a {g.geom_type}, not a polygon: "
                             f"a question is limited to polygons")
        if not g.is_valid:
            raise InputError(f"polygon {i + 1} of layer '{layer}' is invalid ({shapely.is_valid_reason(g)}); "
                             f"fix it first (e.g. Processing's 'Fix geometries')")
        geoms.append(g)
    union = shapely.union_all(geoms) if len(geoms) > 1 else geoms[0]
    crs = region.get("crs") or None
    return Region(union, crs, layer, len(geoms), bool(region.get("optional")))


def _crs(wkt):
    from pyproj import CRS

    try:
        return CRS.from_user_input(wkt)
    except Exception as e:  # noqa: BLE001 - pyproj.exceptions.CRSError
        raise InputError(f"unknown coordinate reference system ({_short(e)})") from None


def reproject_geometry(geom, src_crs: str | None, dst_crs: str | None):
    """A shapely geometry from one CRS (WKT) to another, densified first so edges stay where they were;
    unchanged when either is None or both are the same."""
    if not src_crs or not dst_crs or src_crs == dst_crs:
        return geom
    src, dst = _crs(src_crs), _crs(dst_crs)
    if src == dst:
        return geom
    shapely = _shapely()
    from pyproj import Transformer

    try:
        t = Transformer.from_crs(src, dst, always_xy=True)
    except Exception:  # noqa: BLE001 - pyproj.exceptions.ProjError: e.g. a local engineering CRS
        raise InputError(f"there is no transformation from {src.name} to {dst.name}") from None
    x0, y0, x1, y1 = geom.bounds
    step = max(x1 - x0, y1 - y0) / 64
    if step > 0:
        geom = shapely.segmentize(geom, step)

    def move(xy):
        x, y = t.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    try:
        out = shapely.transform(geom, move)
    except Exception as e:  # noqa: BLE001 - pyproj.exceptions.ProjError
        raise InputError(f"{src.name} -> {dst.name}: {_short(e)}") from None
    if not np.isfinite(np.asarray(out.bounds, float)).all():
        raise InputError(f"{src.name} -> {dst.name} puts them outside the raster's coordinate reference system")
    return out if out.is_valid else shapely.make_valid(out)


def grid_transform(meta: dict):
    """The affine pixel -> map transform of a raster sample, in the coordinates QGIS shows it in: a raster
    without georeference (rasterio's identity, y down) is placed as QGIS places it (y up from 0)."""
    from affine import Affine

    gt = meta.get("transform")
    win = meta.get("window") or [0, 0]
    if gt is None:
        gt = shift_gt(NO_CRS_TRANSFORM, win[0], win[1])
    gt = [float(v) for v in gt]
    if not meta.get("crs") and gt[1] == 1.0 and gt[5] == 1.0 and gt[2] == 0.0 and gt[4] == 0.0:
        gt = [gt[0], 1.0, 0.0, -gt[3], 0.0, -1.0]  # rasterio's identity for an ungeoreferenced file
    return Affine.from_gdal(*gt)


def footprint(transform, shape: tuple[int, int]):
    """The (H, W) grid's outline as a shapely polygon in map coordinates."""
    shapely = _shapely()
    h, w = shape
    corners = [transform * (0, 0), transform * (w, 0), transform * (w, h), transform * (0, h)]
    return shapely.Polygon(corners)


def geometry_pixels(geom, shape: tuple[int, int], transform, all_touched: bool = False) -> np.ndarray:
    """(H, W) bool: True where a pixel's centre lies in the geometry (rasterio.features.geometry_mask)."""
    from rasterio.features import geometry_mask

    if geom is None or geom.is_empty:
        return np.zeros(shape, bool)
    return geometry_mask([geom], out_shape=shape, transform=transform, invert=True, all_touched=all_touched)


def rasterize_labels(geometries, values, shape: tuple[int, int], transform, crs: str | None = None,
                     raster_crs: str | None = None, fill: int = 0, dtype="uint16") -> np.ndarray:
    """A label raster on a grid from geometries (shapely or WKB) and one value each (later ones on top);
    `fill` (0 = unlabelled) elsewhere. Points burn the pixel they fall in, polygons the pixels whose
    centre they hold (rasterio.features.rasterize)."""
    shapely = _shapely()
    from rasterio.features import rasterize

    shapes = []
    for g, v in zip(geometries, values):
        if isinstance(g, (bytes, bytearray, memoryview, str)):
            g = shapely.from_wkb(bytes.fromhex(g) if isinstance(g, str) else bytes(g))
        if g is None or g.is_empty:
            continue
        shapes.append((reproject_geometry(g, crs, raster_crs), int(v)))
    if not shapes:
        return np.full(shape, fill, dtype)
    return rasterize(shapes, out_shape=shape, transform=transform, fill=fill, dtype=dtype)


def area_ha(geom, crs: str | None) -> float | None:
    """The geometry's area in hectares (geodesic for a geographic CRS); None without a CRS."""
    if not crs or geom is None:
        return None
    c = _crs(crs)
    if c.is_geographic:
        a, _ = c.get_geod().geometry_area_perimeter(geom)
        return abs(float(a)) / 1e4
    try:
        k = float(c.axis_info[0].unit_conversion_factor) if c.axis_info else 1.0
    except Exception:  # noqa: BLE001
        k = 1.0
    return float(geom.area) * k * k / 1e4


def region_info(region: Region, geom, inside: np.ndarray, transform, crs: str | None) -> dict:
    """What a sample's meta holds about its region: areas from the same geometry, and pixel counts."""
    _shapely()
    from shapely import affinity

    pixel = footprint(transform, (1, 1))
    centre = geom.centroid if not geom.is_empty else pixel.centroid
    px_ha = None
    if crs and _crs(crs).is_geographic:  # a pixel's area where the region lies
        dx, dy = centre.x - pixel.centroid.x, centre.y - pixel.centroid.y
        px_ha = area_ha(affinity.translate(pixel, dx, dy), crs)
    elif crs:
        px_ha = area_ha(pixel, crs)
    whole = region.in_crs(crs)
    return {
        "layer": region.layer,
        "features": region.features,
        "pixels": int(inside.sum()),
        "area_ha": area_ha(geom, crs),  # the polygons on this raster (the part outside it left out)
        "polygon_area_ha": area_ha(whole, crs),  # the selected polygons whole
        "pixel_area_ha": px_ha,
        "area_map_units": float(geom.area),  # the same in the raster's map units (squared), also without a CRS
        "pixel_area_map_units": float(abs(transform.a * transform.e - transform.b * transform.d)),
        "bounds": [float(v) for v in geom.bounds] if not geom.is_empty else None,
    }


def region_mask(sample: Sample, region, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, dict | None]:
    """((H, W) bool, True inside the region; the region's info for the sample's meta, None when the
    polygons do not overlap the sample) on a raster sample's grid."""
    region = parse_region(region)
    if shape is None:
        img = sample.data.get("image")
        shape = tuple(img.shape[-2:]) if img is not None else tuple(sample.mask.shape)
    crs = sample.meta.get("crs")
    transform = grid_transform(sample.meta)
    geom = region.in_crs(crs).intersection(footprint(transform, shape))
    if geom.is_empty:
        return np.zeros(shape, bool), None
    inside = geometry_pixels(geom, shape, transform)
    return inside, region_info(region, geom, inside, transform, crs)


def region_miss(region: Region, src, inside: np.ndarray | None = None, overlap: bool = True) -> InputError:
    """The error for a region that leaves nothing to answer about, naming the layer and the raster."""
    if not overlap:
        return InputError(f"the selected polygons of layer '{region.layer}' do not overlap the raster {src}")
    what = "no pixel" if inside is None or not inside.any() else "only nodata pixels"
    return InputError(f"the selected polygons of layer '{region.layer}' cover {what} of {src}")


def limit_to_region(samples: Sequence[Sample], region) -> list[Sample]:
    """Image samples (rgb, msi, sar) with the pixels outside the region masked as nodata (NaN, mask
    False) and `region` info in their meta; samples left without a valid pixel inside are dropped.
    InputError naming the layer when none is left (unless the region is `optional`)."""
    region = parse_region(region)
    if region is None:
        return list(samples)
    out, overlap, reached = [], False, False
    for s in samples:
        inside, info = region_mask(s, region)
        overlap |= info is not None
        reached |= bool(inside.any())
        valid = (s.mask if s.mask is not None else np.isfinite(s.data["image"]).all(0)) & inside
        if not valid.any():
            continue
        img = s.data["image"]
        img[:, ~valid] = np.nan
        meta = dict(s.meta)
        meta["region"] = info
        out.append(Sample({**s.data, "image": img}, valid, meta))
    if not out and not region.optional:
        src = samples[0].meta.get("source", "the raster") if samples else "the raster"
        raise region_miss(region, src, np.array([reached]), overlap)
    return out


# ---- checks -----------------------------------------------------------------------------------


def check_raster(sample: Sample, spec: dict, what: str, bands_key: str = "bands") -> np.ndarray:
    """Common raster checks; returns the image. Raises InputError naming the problem."""
    src = sample.meta.get("source", "input")
    img = required_array(sample, "image", what)
    if img.ndim != 3:
        raise InputError(f"{what}: image from {src} must be (bands, height, width); got shape {img.shape}")
    if img.size == 0 or img.shape[1] == 0 or img.shape[2] == 0:
        raise InputError(f"{what}: image from {src} is empty (shape {img.shape})")
    want = section(spec, "input").get(bands_key)
    if want is not None and img.shape[0] != int(want):
        names = sample.meta.get("band_names")
        extra = f" ({', '.join(map(str, names))})" if names and len(names) == img.shape[0] else ""
        raise InputError(
            f"{what}: the bundle expects {int(want)} bands, got {img.shape[0]}{extra} from {src}"
        )
    mask = sample.mask if sample.mask is not None else np.isfinite(img).all(axis=0)
    if not np.any(mask) or not np.isfinite(img).any():
        raise InputError(f"{what}: every pixel of {src} is nodata (all-nodata raster)")
    return img


# ---- statistics / normalisation ---------------------------------------------------------------


def valid_pixels(samples: Iterable[Sample], max_pixels: int = 200_000, seed: int = 0, transform=None) -> np.ndarray:
    """(N, C) float64 valid pixel values drawn from the samples (subsampled evenly to ~max_pixels)."""
    samples = list(samples)
    rng = np.random.default_rng(seed)
    per = max(1, max_pixels // max(1, len(samples)))
    chunks = []
    for s in samples:
        img = s.data["image"]
        m = s.mask if s.mask is not None else np.isfinite(img).all(0)
        px = img[:, m].T  # (n, C)
        if len(px) > per:
            px = px[rng.choice(len(px), per, replace=False)]
        if transform is not None:
            px = transform(px)
        chunks.append(px.astype(np.float64))
    if not chunks:
        raise InputError("no samples to fit statistics on")
    px = np.concatenate(chunks)
    if len(px) == 0:
        raise InputError("no valid pixels to fit statistics on")
    return px


def band_stats(samples, max_pixels: int = 200_000, transform=None) -> dict:
    px = valid_pixels(samples, max_pixels, transform=transform)
    mean, std = fit_mean_std(px, floor=1e-6)
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}


def standardise(img: np.ndarray, stats: dict) -> np.ndarray:
    """(C,H,W) or (N,C): (x - mean) / std per band; NaN -> 0. float32."""
    mean = np.asarray(stats["mean"], np.float32)
    std = np.asarray(stats["std"], np.float32)
    if len(mean) != img.shape[0] and img.ndim == 3:
        raise InputError(f"normalisation has {len(mean)} bands, the image {img.shape[0]}")
    if img.ndim == 3:
        out = (img - mean[:, None, None]) / std[:, None, None]
    else:
        out = (img - mean) / std
    return np.nan_to_num(out.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def resize(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear resize of a (C,H,W) float32 array without NaN (box-averaged first when shrinking >= 2x)."""
    C, H, W = img.shape
    if (H, W) == (out_h, out_w):
        return img.astype(np.float32, copy=False)
    ky, kx = max(1, H // out_h), max(1, W // out_w)
    if ky > 1 or kx > 1:
        Hc, Wc = (H // ky) * ky, (W // kx) * kx
        img = img[:, :Hc, :Wc].reshape(C, Hc // ky, ky, Wc // kx, kx).mean(axis=(2, 4))
        C, H, W = img.shape

    def coords(n_in, n_out):
        c = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        c = np.clip(c, 0, n_in - 1)
        i0 = np.floor(c).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (c - i0).astype(np.float32)

    y0, y1, wy = coords(H, out_h)
    x0, x1, wx = coords(W, out_w)
    top = img[:, y0][:, :, x0] * (1 - wx) + img[:, y0][:, :, x1] * wx
    bot = img[:, y1][:, :, x0] * (1 - wx) + img[:, y1][:, :, x1] * wx
    return (top * (1 - wy)[:, None] + bot * wy[:, None]).astype(np.float32)


def resize_mask(mask: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    H, W = mask.shape
    ys = np.minimum(((np.arange(out_h) + 0.5) * H / out_h).astype(int), H - 1)
    xs = np.minimum(((np.arange(out_w) + 0.5) * W / out_w).astype(int), W - 1)
    return mask[ys][:, xs]


def centre_crop(img: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Centre crop to size x size; smaller images are zero-padded (mask False there)."""
    C, H, W = img.shape
    out = np.zeros((C, size, size), np.float32)
    om = np.zeros((size, size), bool)
    sy, sx = max(0, (H - size) // 2), max(0, (W - size) // 2)
    dy, dx = max(0, (size - H) // 2), max(0, (size - W) // 2)
    h, w = min(H, size), min(W, size)
    out[:, dy : dy + h, dx : dx + w] = img[:, sy : sy + h, sx : sx + w]
    om[dy : dy + h, dx : dx + w] = mask[sy : sy + h, sx : sx + w]
    return out, om


def image_inputs(samples: Sequence[Sample], stats: dict, size: int, mode: str = "resize",
                 pre=None) -> dict[str, np.ndarray]:
    """Batched ViT / CNN inputs: `image` (B,C,size,size) standardised, 0 at nodata; `mask` (B,1,size,size)
    1 = valid. `pre` (optional) maps the raw (C,H,W) image first (e.g. SAR's log amplitude)."""
    B = len(samples)
    if B == 0:
        raise InputError("no samples")
    C = samples[0].data["image"].shape[0]
    x = np.zeros((B, C, size, size), np.float32)
    mk = np.zeros((B, 1, size, size), np.float32)
    for i, s in enumerate(samples):
        img = s.data["image"]
        if img.shape[0] != C:
            raise InputError(f"samples in one batch have {C} and {img.shape[0]} bands")
        m = s.mask if s.mask is not None else np.isfinite(img).all(0)
        if pre is not None:
            img = pre(img)
        z = standardise(img, stats)  # NaN -> 0
        z[:, ~m] = 0.0
        if mode == "crop":
            z, m = centre_crop(z, m, size)
        else:
            z = resize(z, size, size)
            m = resize_mask(m, size, size)
        x[i] = z
        mk[i, 0] = m
    return {"image": x, "mask": mk}


# ---- folders of labelled images ---------------------------------------------------------------


def class_folders(root, exts: Sequence[str] = RASTER_TYPES) -> tuple[list[str], list[str], np.ndarray]:
    """Folder-per-class layout: (classes sorted, files, labels (N,) int)."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise InputError(f"cannot read {root}: expected a folder with one sub-folder per class")
    classes, files, labels = [], [], []
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if not os.path.isdir(d) or name.startswith("."):
            continue
        fs = sorted(f for f in os.listdir(d) if os.path.splitext(f)[1].lower() in exts and not f.startswith("."))
        if not fs:
            continue
        ci = len(classes)
        classes.append(name)
        files += [os.path.join(d, f) for f in fs]
        labels += [ci] * len(fs)
    if not classes:
        raise InputError(f"{root}: no class folders holding {'/'.join(exts)} files")
    return classes, files, np.asarray(labels, np.int64)


def subsample_per_class(labels: np.ndarray, per_class: int | None, seed: int = 0) -> np.ndarray:
    """Indexes keeping at most `per_class` items of every class (all when None), in the original order."""
    if per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) > per_class:
            idx = np.sort(rng.choice(idx, per_class, replace=False))
        keep.append(idx)
    return np.sort(np.concatenate(keep))


# ---- per-pixel results back into a raster -----------------------------------------------------


def pixels_to_raster(samples: Sequence[Sample], values: Sequence, fill=0, dtype=None) -> np.ndarray:
    """Per-pixel samples (meta row / col / shape, as hsi's) and one value each -> (H, W) array."""
    if not samples:
        raise InputError("no samples")
    H, W = samples[0].meta["shape"]
    values = np.asarray(values)
    out = np.full((H, W), fill, dtype=dtype or values.dtype)
    rows = np.fromiter((s.meta["row"] for s in samples), int, len(samples))
    cols = np.fromiter((s.meta["col"] for s in samples), int, len(samples))
    out[rows, cols] = values
    return out


# ---- the shared plumbing of image-classification modalities (rgb, msi, sar) --------------------


class ImageModality(DenseTiles, Modality):
    """A modality whose sample is one image (C, H, W) and whose task is one label per image, or, in the
    dense mode (reader options `tile` and `margin`; dense.DenseTiles), one label per pixel.

    Subclasses set name / title / prompts, `input_defaults` / `encoder_defaults`, implement
    `build_image_encoder`, and may override `prepare` (after reading), `pre` (before standardising) and
    `read_file` (how one path becomes samples).
    """

    layer_kind = "raster"
    tasks = ["classification", DENSE_TASK]
    file_types = list(RASTER_TYPES)
    input_defaults: dict = {"bands": 3, "size": 128, "mode": "resize"}
    encoder_defaults: dict = {}
    options_class = ImageOptions

    # hooks
    def prepare(self, sample: Sample) -> Sample:
        return sample

    def pre(self, spec: dict):
        """A function applied to the raw (C,H,W) image before standardisation, or None."""
        return None

    def pixel_pre(self, spec):
        return self.pre(spec or {})

    def auto_bands(self, path):
        """The bands to read from `path` when the user names none (None = every non-alpha band)."""
        return None

    def read_file(self, path, bands=None, window=None, tile=None, stride=None, nodata=None, **_) -> list[Sample]:
        if bands is None:
            bands = self.auto_bands(path)
        if tile:
            return read_tiles(path, tile, stride, bands=bands, nodata=nodata, window=window)
        return [read_raster(path, bands=bands, window=window, nodata=nodata)]

    @staticmethod
    def dense_read(options: dict) -> bool:
        """Reader options that ask for dense tiles: a `margin` (with the `tile`)."""
        return options.get("margin") is not None

    def task_for(self, options: dict | None) -> str:
        """Read as dense tiles (option `margin`) or from a label raster (`labels`): the dense task."""
        options = options or {}
        return DENSE_TASK if self.dense_read(options) or options.get("labels") else "classification"

    def _dense_tile(self, tile, margin) -> tuple[int, int]:
        if margin is None or not tile or not np.isscalar(tile):
            raise InputError(f"{self.title}: dense tiles need the options tile (px, one number) and margin "
                             f"(px of context), e.g. {{\"tile\": 16, \"margin\": 4}}; got tile={tile!r}, "
                             f"margin={margin!r}")
        return int(tile), int(margin)

    def read_dense(self, path, region=None, tile=None, margin=None, window=None, halo=None, stride=None,
                   labels=None, classes=None, block=None, **options) -> list[Sample]:
        """Dense tiles of a file (or a window of it, read with its tiles' context around it, as far as the
        raster goes, so blocks of one raster answer as the whole raster would)."""
        tile, margin = self._dense_tile(tile, margin)
        if window is not None and margin and halo is None and isinstance(path, (str, os.PathLike)) \
                and os.path.isfile(path):
            info = raster_info(path)
            window, halo = self.context_window(window, margin, info["width"], info["height"])
        (cube,) = self.read_file(path, window=window, **options)
        return self.dense_samples(self.prepare(cube), region, tile, margin, halo)

    # the contract
    def read(self, path, region=None, **options) -> list[Sample]:
        """`region` (see limit_to_region): pixels outside the selected polygons become nodata (dense tiles:
        are not answered)."""
        if self.dense_read(options):
            return self.read_dense(path, region, **options)
        for key in ("labels", "classes", "block", "halo"):
            options.pop(key, None)
        return limit_to_region([self.prepare(s) for s in self.read_file(path, **options)], region)

    def encoder_defaults_for(self, inp):
        return self.tile_encoder_defaults if self.dense_input(inp) else self.encoder_defaults

    def default_spec(self, samples=None) -> dict:
        inp = dict(self.input_defaults)
        if samples:
            s0 = samples[0]
            if "cube" in s0.data:
                inp.update(self.tile_spec(samples))
            else:
                inp["bands"] = int(s0.data["image"].shape[0])
                inp["source_size"] = source_size(samples)
            if s0.meta.get("band_names"):
                inp["band_names"] = list(s0.meta["band_names"])
        return {"input": inp, "encoder": dict(self.encoder_defaults_for(inp))}

    def check(self, sample: Sample, spec: dict) -> None:
        inp = self.input_spec(spec)
        if self.dense_input(inp):
            return self.check_tile(sample, inp)
        self.refuse_tile(sample)
        check_raster(sample, {"input": inp}, self.title)

    def normalise_stats(self, samples, spec=None) -> dict:
        need_samples(samples, self.name)
        if "cube" in samples[0].data:
            return self.tile_stats(samples, spec)
        st = band_stats(samples, transform=self._pixel_pre(spec))
        st["band_names"] = list(samples[0].meta.get("band_names") or [])
        return st

    def _pixel_pre(self, spec):
        f = self.pre(spec)
        if f is None:
            return None
        return lambda px: f(px.T[:, :, None])[:, :, 0].T  # (n, C) through the (C,H,W) function

    def to_inputs(self, samples, spec, stats) -> dict[str, np.ndarray]:
        need_samples(samples, self.name)
        inp = self.input_spec(spec)
        if self.dense_input(inp):
            return self.tile_inputs(samples, spec, stats)
        return image_inputs(samples, stats, int(inp["size"]), inp.get("mode", "resize"), pre=self.pre(spec))

    def build_encoder(self, spec: dict):
        inp = self.input_spec(spec)
        if self.dense_input(inp):
            return self.build_tile_encoder(inp, self.encoder_spec(spec))
        return self.build_image_encoder(spec)

    @abstractmethod
    def build_image_encoder(self, spec: dict):
        """The scene encoder: forward(image, mask) -> tokens (B, n, dim)."""

    def from_payload(self, arrays, meta) -> list[Sample]:
        meta = dict(meta or {})
        region = meta.pop("region", None)
        if self.dense_read(meta):
            tile, margin = self._dense_tile(meta.get("tile"), meta.get("margin"))
            if arrays and "image" in arrays:
                cube = self.prepare(raster_payload(arrays, meta, None)[0])
                return self.dense_samples(cube, region, tile, margin, meta.get("halo"))
            if meta.get("path"):
                opts = {k: meta[k] for k in ("bands", "window", "nodata", "halo") if meta.get(k) is not None}
                return self.read_dense(meta["path"], region, tile=tile, margin=margin, **opts)
        return limit_to_region([self.prepare(s) for s in raster_payload(arrays, meta, self.read_file)], region)

    # training-time augmentation: quarter turns and mirrors suit views from above (a scene has no
    # "up"); SAR turns them off (its shadows fall away from the radar, always the same way in a chip)
    augment_turns = True

    def augment(self, inputs: dict, targets, generator):
        """Training-time augmentation of normalised images (torch), drawn per sample: a quarter turn and a
        mirror (where `augment_turns`), a shift of up to 1/16 of the size (the uncovered border becomes
        nodata in the mask) and a gain on the standardised values. A scene's or a target's class does not
        change with them."""
        import torch

        if "cube" in inputs:
            return self.augment_tiles(inputs, targets, generator)
        x, m = inputs["image"], inputs["mask"]
        b, size = x.shape[0], x.shape[-1]
        turns = torch.randint(0, 4, (b,), generator=generator)
        mirror = torch.randint(0, 2, (b,), generator=generator).bool()
        reach = max(1, size // 16)
        dy = torch.randint(-reach, reach + 1, (b,), generator=generator)
        dx = torch.randint(-reach, reach + 1, (b,), generator=generator)
        gain = 1 + 0.1 * torch.randn((b, 1, 1, 1), generator=generator)
        xs, ms = [], []
        for i in range(b):
            xi, mi = x[i], m[i]
            if self.augment_turns and x.shape[-2] == size:  # square: any turn keeps the shape
                xi, mi = torch.rot90(xi, int(turns[i]), (1, 2)), torch.rot90(mi, int(turns[i]), (1, 2))
            if self.augment_turns and mirror[i]:
                xi, mi = torch.flip(xi, (2,)), torch.flip(mi, (2,))
            xi, mi = _shifted(xi, int(dy[i]), int(dx[i])), _shifted(mi, int(dy[i]), int(dx[i]))
            xs.append(xi)
            ms.append(mi)
        out = dict(inputs)
        out["image"] = torch.stack(xs) * gain
        out["mask"] = torch.stack(ms)
        return out, targets

    def read_labelled(self, path, per_class: int | None = None, seed: int = 0, **options) -> LabelledSet:
        """Folder-per-class layout (UC Merced, EuroSAT, MSTAR): root/<class>/<image>; or, dense (option
        `labels`, with `tile` and `margin`), one image and a label raster on its grid (0 = unlabelled;
        `classes` name the values 1, 2, ...).

        per_class: keep at most this many images per class (random, seeded) e.g. for quick tests.
        """
        if options.get("labels") is not None:
            tile, margin = self._dense_tile(options.get("tile"), options.get("margin"))
            read = {k: options[k] for k in ("bands", "nodata", "order") if options.get(k) is not None}
            (cube,) = self.read_file(path, **read)
            return self.labelled_tiles(self.prepare(cube), options["labels"], options.get("classes"), tile, margin,
                                       options.get("block"), {"image": os.fspath(path), "labels": options["labels"]})
        for key in ("margin", "halo", "classes", "block"):
            options.pop(key, None)
        classes, files, labels = class_folders(path, self.file_types)
        keep = subsample_per_class(labels, per_class, seed)
        samples, targets = [], []
        for i in keep:
            for s in self.read(files[i], **options):
                s.meta["label"] = classes[labels[i]]
                samples.append(s)
                targets.append(labels[i])
        return LabelledSet(
            samples=samples,
            targets=np.asarray(targets, np.int64),
            classes=classes,
            groups=None,
            info={"source": os.fspath(path), "layout": "folder per class", "files": len(keep)},
        )


def _shifted(t, dy: int, dx: int):
    """(C,H,W) tensor moved by (dy, dx) pixels; what moves in from outside is 0 (nodata in a mask)."""
    import torch

    out = torch.zeros_like(t)
    h, w = t.shape[-2:]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, yd, xd] = t[:, ys, xs]
    return out


def source_size(samples) -> int:
    """The median longer side (px) of the images a bundle trains on: the scene size it has learned,
    which is the tile it should read a large raster in (before its own crop or resize to input.size)."""
    return int(np.median([max(s.data["image"].shape[-2:]) for s in samples]))
