"""QGIS layers -> AllSpark payloads (docs/DESIGN.md, "Payloads"). Plain functions, no GUI.

- raster: `image` (C, H, W) float32 with NaN at nodata (and outside the raster), meta `crs` (WKT),
  `transform` (GDAL 6), `nodata`, `band_names`, `window`; read through the layer's data provider, so
  any raster QGIS opens works (pass a `provider.clone()` when reading from a worker thread); a question
  limited to the selected polygons of another layer adds meta `region` {`wkb`: [bytes per polygon],
  `crs`: their CRS's WKT, `layer`} (`selected_region`; QgsGeometry.asWkb, the backend burns them in);
- table: `col:<name>` float64 per numeric (and date/time, as seconds) field, meta `categorical`
  {name: [str, ...]} for text fields and `fids`;
- trajectory: `xy` (P, 2) float64 in the layer's CRS, `t` (P,) float64, `track` (P,) int64 (0..N-1 in
  order of first appearance), meta `crs`, `track_ids` (the original ids, index = track code), `layer`,
  `time_field`, and `time_units` / `frame_rate`: what the time field holds (seconds; frames at a rate,
  which the backend turns into seconds; date-times, sent as epoch seconds), detected when not given;
- point cloud: meta `path`, the layer's LAS / LAZ / COPC file, which the backend reads itself (QGIS
  builds without PDAL open only COPC / EPT / VPC; the backend reads LAS / LAZ / COPC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .i18n import tr

MAX_PIXELS = 4096 * 4096  # one request's raster size limit (per band); larger extents are decimated


class LayerError(ValueError):
    """The layer can't be turned into a payload; the message says why (shown to the user)."""


# ---- rasters ------------------------------------------------------------------------------------


@dataclass
class Grid:
    """A layer's native pixel grid."""

    xmin: float
    ymax: float
    xres: float
    yres: float
    width: int
    height: int

    def window_extent(self, window):
        """QgsRectangle of [xoff, yoff, w, h] in this grid (may reach beyond the raster)."""
        from qgis.core import QgsRectangle

        xoff, yoff, w, h = window
        return QgsRectangle(
            self.xmin + xoff * self.xres,
            self.ymax - (yoff + h) * self.yres,
            self.xmin + (xoff + w) * self.xres,
            self.ymax - yoff * self.yres,
        )

    def transform(self, window, scale: float = 1.0) -> list[float]:
        """GDAL geotransform of a window (pixels `scale` times the native size)."""
        xoff, yoff = window[0], window[1]
        return [
            self.xmin + xoff * self.xres,
            self.xres * scale,
            0.0,
            self.ymax - yoff * self.yres,
            0.0,
            -self.yres * scale,
        ]


def raster_grid(layer) -> Grid:
    ext = layer.extent()
    w, h = int(layer.width()), int(layer.height())
    if w <= 0 or h <= 0:
        raise LayerError(tr("The raster layer '{name}' has no pixels.").format(name=layer.name()))
    return Grid(ext.xMinimum(), ext.yMaximum(), ext.width() / w, ext.height() / h, w, h)


def window_for_extent(grid: Grid, extent) -> list[int] | None:
    """[xoff, yoff, w, h] of the native pixels an extent (in the layer's CRS) covers, clipped to the
    raster; None when it misses the raster."""
    if extent is None or (extent.width() <= 0 and extent.height() <= 0):
        return [0, 0, grid.width, grid.height]
    x0 = math.floor((extent.xMinimum() - grid.xmin) / grid.xres + 1e-9)
    x1 = math.ceil((extent.xMaximum() - grid.xmin) / grid.xres - 1e-9)
    y0 = math.floor((grid.ymax - extent.yMaximum()) / grid.yres + 1e-9)
    y1 = math.ceil((grid.ymax - extent.yMinimum()) / grid.yres - 1e-9)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, grid.width), min(y1, grid.height)
    if x1 <= x0 or y1 <= y0:
        return None
    return [x0, y0, x1 - x0, y1 - y0]


def data_bands(layer) -> list[int]:
    """1-based bands that carry data (alpha bands left out)."""
    from qgis.core import Qgis

    prov = layer.dataProvider()
    n = layer.bandCount()
    bands = [b for b in range(1, n + 1) if prov.colorInterpretation(b) != Qgis.RasterColorInterpretation.AlphaBand]
    return bands or list(range(1, n + 1))


def alpha_band(layer) -> int | None:
    from qgis.core import Qgis

    prov = layer.dataProvider()
    for b in range(1, layer.bandCount() + 1):
        if prov.colorInterpretation(b) == Qgis.RasterColorInterpretation.AlphaBand:
            return b
    return None


def band_names(layer, bands) -> list[str]:
    prov = layer.dataProvider()
    out = []
    for b in bands:
        d = prov.bandDescription(b) if hasattr(prov, "bandDescription") else ""
        out.append(d or f"B{b}")
    return out


def read_block(provider, extent, width: int, height: int, bands, alpha: int | None = None) -> np.ndarray:
    """(C, height, width) float32 of `extent` resampled to width x height; NaN where a band is nodata,
    outside the raster, or where the alpha band is 0. A pixel invalid in one band is NaN in all."""
    from qgis.core import Qgis

    img = np.empty((len(bands), height, width), np.float32)
    invalid = np.zeros((height, width), bool)
    for i, b in enumerate(bands):
        blk = provider.block(b, extent, width, height)
        if blk is None or not blk.isValid():
            raise LayerError(tr("Cannot read band {band} of the raster.").format(band=b))
        if provider.dataType(b) == Qgis.DataType.Byte:
            # QGIS 3.40's as_numpy gives an 8-bit band as int8 (200 reads as -56) and, with masking,
            # masks every 0 as nodata: read the bytes unsigned; nodata comes from the source's nodata
            # value (below) and from what lies outside the raster
            img[i] = np.asarray(blk.as_numpy(use_masking=False)).view(np.uint8)
            invalid |= _outside(provider.extent(), extent, width, height)
        else:
            arr = blk.as_numpy(use_masking=True)
            data = np.ma.getdata(arr)
            if np.iscomplexobj(data):
                data = np.abs(data)
            img[i] = data.astype(np.float32, copy=False)
            invalid |= np.ma.getmaskarray(arr)
        if provider.sourceHasNoDataValue(b) and provider.useSourceNoDataValue(b):
            nd = provider.sourceNoDataValue(b)
            if math.isfinite(nd):
                invalid |= img[i] == np.float32(nd)
    if alpha is not None:
        a = provider.block(alpha, extent, width, height).as_numpy(use_masking=False)
        invalid |= np.asarray(a) == 0
    invalid |= ~np.isfinite(img).all(axis=0)
    img[:, invalid] = np.nan
    return img


def _outside(raster_extent, extent, width: int, height: int) -> np.ndarray:
    """(height, width) True where a pixel centre of `extent` read as width x height lies outside the raster."""
    x = extent.xMinimum() + (np.arange(width) + 0.5) * extent.width() / width
    y = extent.yMaximum() - (np.arange(height) + 0.5) * extent.height() / height
    out_x = (x < raster_extent.xMinimum()) | (x > raster_extent.xMaximum())
    out_y = (y < raster_extent.yMinimum()) | (y > raster_extent.yMaximum())
    return out_y[:, None] | out_x[None, :]


def with_halo(grid: Grid, window, context: int) -> tuple[list[int], list[int]]:
    """(the window grown by `context` px on each side, clipped to the raster; the halo [left, top, right,
    bottom] that adds): the context a neighbourhood or a dense tile reads around the pixels it answers."""
    x, y, w, h = (int(v) for v in window)
    c = max(0, int(context))
    left, top = min(c, x), min(c, y)
    right, bottom = max(0, min(c, grid.width - x - w)), max(0, min(c, grid.height - y - h))
    return [x - left, y - top, w + left + right, h + top + bottom], [left, top, right, bottom]


def raster_payload(layer, extent=None, bands=None, provider=None, max_pixels: int = MAX_PIXELS,
                   window=None, region=None, context: int = 0) -> tuple[dict, dict]:
    """One raster payload for an extent (layer CRS; None = the whole layer) or a native window.

    Extents larger than `max_pixels` are read decimated (the transform says so). With a `region`
    (selected_region) the window shrinks to its polygons and the meta carries them as `region`. With
    `context` px (read at full resolution only) the window is read with that much of the raster around
    it, and the meta's `halo` says how much, so a neighbourhood reads real neighbours, not mirrors."""
    grid = raster_grid(layer)
    if window is None:
        window = window_for_extent(grid, extent)
    if window is None:
        raise LayerError(tr("The extent does not overlap the raster layer '{name}'.").format(name=layer.name()))
    if region is not None:
        window = region_window(layer, region, window)
    bands = list(bands or data_bands(layer))
    prov = provider or layer.dataProvider()
    w, h = window[2], window[3]
    scale = 1.0
    halo = None
    if w * h > max_pixels:
        scale = math.sqrt(w * h / max_pixels)
        w, h = max(1, int(w / scale)), max(1, int(h / scale))
        scale = window[2] / w
    elif context > 0:
        window, halo = with_halo(grid, window, context)
        w, h = window[2], window[3]
    img = read_block(prov, grid.window_extent(window), w, h, bands, alpha_band(layer))
    if not np.isfinite(img).any():
        raise LayerError(tr("Every pixel of '{name}' in this extent is nodata.").format(name=layer.name()))
    nodata = prov.sourceNoDataValue(bands[0]) if prov.sourceHasNoDataValue(bands[0]) else None
    meta = {
        "crs": crs_wkt(layer.crs()),
        "transform": grid.transform(window, scale),
        "nodata": None if nodata is None or not math.isfinite(nodata) else float(nodata),
        "band_names": band_names(layer, bands),
        "bands": bands,
        "window": list(window),
        "layer": layer.name(),
        "source": layer.source(),
    }
    if region is not None:
        meta["region"] = region.meta()
    if halo is not None:
        meta["halo"] = halo
    return {"image": img}, meta


def fitted_tile(window, tile: int) -> int:
    """A square tile near `tile` that splits the window into whole tiles (as many per side as `tile`
    fits, rounded): a window up to 1.5 tiles wide is one tile, and the grid never leaves a sliver of a
    few pixels for a tile of its own."""
    w, h = int(window[2]), int(window[3])
    nx, ny = max(1, round(w / tile)), max(1, round(h / tile))
    return max(math.ceil(w / nx), math.ceil(h / ny))


def tile_grid(window, tile: int) -> tuple[int, int]:
    """(columns, rows) of tile x tile cells covering a window (edge cells reach past it)."""
    return math.ceil(window[2] / tile), math.ceil(window[3] / tile)


def iter_tiles(window, tile: int):
    """(col, row, [xoff, yoff, tile, tile]) for every cell of the tile grid over a native window."""
    cols, rows = tile_grid(window, tile)
    for r in range(rows):
        for c in range(cols):
            yield c, r, [window[0] + c * tile, window[1] + r * tile, tile, tile]


def _wkt_variant():
    from qgis.core import QgsCoordinateReferenceSystem

    return QgsCoordinateReferenceSystem.WKT_PREFERRED


def crs_wkt(crs) -> str | None:
    """WKT of a QgsCoordinateReferenceSystem (or of a layer's CRS); None when unknown."""
    if hasattr(crs, "crs") and callable(crs.crs):
        crs = crs.crs()
    return crs.toWkt(_wkt_variant()) if crs is not None and crs.isValid() else None


# ---- regions: a question limited to the selected polygons of a layer ------------------------------

QUESTION_MAX_PIXELS = 512 * 512  # the image sent for a written answer about a raster extent
REGION_MAX_PIXELS = 32 * 32  # hyperspectral: the pixels of a region sent for a written answer (one sample each)


@dataclass
class Region:
    """The selected polygons of a layer a question is limited to.

    `payload` travels in a raster payload's meta as `region` (docs: the backend burns the polygons onto
    the raster's grid: WKB per feature, the polygons' CRS as WKT, the layer's name); `geometry` is their
    union in the raster's CRS, for the window to read and the tiles / blocks worth sending."""

    payload: dict
    geometry: object  # QgsGeometry
    layer_name: str
    fids: list

    def meta(self, optional: bool = False) -> dict:
        """The payload's `region`; `optional` for a tile or block of a larger run (skipped by the backend
        when the polygons miss it, instead of refused)."""
        return dict(self.payload, optional=True) if optional else dict(self.payload)

    def reaches(self, grid: "Grid", window) -> bool:
        """Whether a pixel centre of the native `window` lies inside the polygons (as the backend burns
        them in): the tiles and blocks worth sending."""
        from qgis.core import QgsGeometry, QgsPoint

        part = self.geometry.intersection(QgsGeometry.fromRect(grid.window_extent(window)))
        if part.isEmpty():
            return False
        engine = QgsGeometry.createGeometryEngine(part.constGet())
        engine.prepareGeometry()

        def inside(col, row):
            return engine.contains(QgsPoint(grid.xmin + (col + 0.5) * grid.xres, grid.ymax - (row + 0.5) * grid.yres))

        p = part.pointOnSurface().asPoint()
        if inside(math.floor((p.x() - grid.xmin) / grid.xres), math.floor((grid.ymax - p.y()) / grid.yres)):
            return True
        bb = part.boundingBox()
        c0 = max(window[0], math.ceil((bb.xMinimum() - grid.xmin) / grid.xres - 0.5))
        c1 = min(window[0] + window[2] - 1, math.floor((bb.xMaximum() - grid.xmin) / grid.xres - 0.5))
        r0 = max(window[1], math.ceil((grid.ymax - bb.yMaximum()) / grid.yres - 0.5))
        r1 = min(window[1] + window[3] - 1, math.floor((grid.ymax - bb.yMinimum()) / grid.yres - 0.5))
        return any(inside(c, r) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1))


def selected_region(polygon_layer, raster_layer, transform_context=None, feature_ids=None) -> Region:
    """The selected polygons (or `feature_ids`) of `polygon_layer` as a Region for questions about
    `raster_layer`. LayerError naming the layer for a layer without polygons, an empty selection, an
    empty or invalid geometry, or polygons that cannot be placed in the raster's CRS."""
    from qgis.core import Qgis, QgsCoordinateTransform, QgsCsException, QgsGeometry, QgsProject

    if polygon_layer is None:
        raise LayerError(tr("The layer to limit the question to is missing or invalid."))
    name = source_name(polygon_layer)
    if source_geometry(polygon_layer) != "polygon":
        raise LayerError(tr("The layer '{name}' holds no polygons: a question is limited to the selected polygons "
                            "of a polygon layer.").format(name=name))
    ids = list(feature_ids) if feature_ids is not None else list(polygon_layer.selectedFeatureIds())
    if not ids:
        raise LayerError(tr("No polygon of the layer '{name}' is selected: select the polygons to limit the "
                            "question to.").format(name=name))
    src_crs, dst_crs = source_crs(polygon_layer), raster_layer.crs()
    reproject = src_crs.isValid() and dst_crs.isValid() and src_crs != dst_crs
    ct = None
    if reproject:
        ctx = transform_context if transform_context is not None else QgsProject.instance().transformContext()
        ct = QgsCoordinateTransform(src_crs, dst_crs, ctx)
        if not ct.isValid():  # e.g. a raster in a local engineering CRS
            raise LayerError(tr("The polygons of the layer '{name}' cannot be placed in the raster's coordinate "
                                "reference system: {error}").format(
                name=name, error=f"{src_crs.userFriendlyIdentifier()} -> {dst_crs.userFriendlyIdentifier()}"))
    wkbs, parts = [], []
    for f in _features(polygon_layer, ids):
        g = f.geometry()
        if g is None or g.isEmpty():
            raise LayerError(tr("Feature {fid} of the layer '{name}' has no geometry.").format(fid=f.id(), name=name))
        errors = g.validateGeometry(Qgis.GeometryValidationEngine.Geos)
        if errors:
            raise LayerError(tr("Polygon {fid} of the layer '{name}' is invalid ({error}); fix it first, e.g. with "
                                "Processing's 'Fix geometries'.").format(fid=f.id(), name=name, error=errors[0].what()))
        wkbs.append(bytes(g.asWkb()))
        t = QgsGeometry(g)
        if ct is not None:
            t = t.densifyByCount(8)
            try:
                t.transform(ct)
            except QgsCsException as exc:
                raise LayerError(tr("The polygons of the layer '{name}' cannot be placed in the raster's coordinate "
                                    "reference system: {error}").format(name=name, error=exc)) from None
        parts.append(t)
    if not wkbs:
        raise LayerError(tr("No polygon of the layer '{name}' is selected: select the polygons to limit the "
                            "question to.").format(name=name))
    union = QgsGeometry.unaryUnion(parts) if len(parts) > 1 else parts[0]
    return Region({"wkb": wkbs, "crs": crs_wkt(src_crs), "layer": name}, union, name, ids)


def region_window(layer, region: Region, window=None) -> list[int]:
    """The native window of `layer` holding the region's polygons (within `window` when given).
    LayerError naming both layers when the polygons do not overlap the raster (or the window)."""
    from qgis.core import QgsGeometry

    grid = raster_grid(layer)
    w = window_for_extent(grid, region.geometry.boundingBox())
    if w is not None and window is not None:
        x0, y0 = max(w[0], window[0]), max(w[1], window[1])
        x1, y1 = min(w[0] + w[2], window[0] + window[2]), min(w[1] + w[3], window[1] + window[3])
        w = [x0, y0, x1 - x0, y1 - y0] if x1 > x0 and y1 > y0 else None
    if w is None or not region.geometry.intersects(QgsGeometry.fromRect(grid.window_extent(w))):
        raise LayerError(tr("The selected polygons of the layer '{region}' do not overlap the raster layer "
                            "'{name}'{extent}.").format(region=region.layer_name, name=layer.name(),
                                                        extent=tr(" in this extent") if window is not None else ""))
    return w


def raster_question_payload(layer, modality: str, window=None, region: Region | None = None, provider=None,
                            max_pixels: int = QUESTION_MAX_PIXELS, context: int = 0,
                            tile: int = 1) -> tuple[dict, dict]:
    """The payload for a written answer about a raster (the prompt dock and the "ask" algorithm): the
    window (default: the whole raster) as one image of at most `max_pixels`; hyperspectral (one sample per
    pixel, or per `tile` x `tile` tile for a dense bundle): the window's centre pixel (tile), or with a
    region the pixels inside it (at most REGION_MAX_PIXELS, read decimated beyond), read with `context`
    px around. With a region, the window is the polygons' and the payload carries them."""
    grid = raster_grid(layer)
    if window is None:
        window = [0, 0, grid.width, grid.height]
    if region is not None:
        window = region_window(layer, region, window)
    if modality == "hsi":
        if region is None:  # one spectrum (one tile): the centre pixel's
            t = max(1, min(int(tile), window[2], window[3]))
            window = [window[0] + (window[2] - t) // 2, window[1] + (window[3] - t) // 2, t, t]
        max_pixels = min(max_pixels, max(REGION_MAX_PIXELS, int(tile) ** 2))
    return raster_payload(layer, window=window, provider=provider, max_pixels=max_pixels, region=region,
                          context=context)


# ---- values -------------------------------------------------------------------------------------


def is_null(v) -> bool:
    if v is None:
        return True
    try:
        from qgis.PyQt.QtCore import QVariant

        if isinstance(v, QVariant):
            return v.isNull()
    except ImportError:  # pragma: no cover
        pass
    return False


def to_seconds(v) -> float:
    """A time value (QDateTime, QDate, QTime, datetime, number, ISO text) -> float seconds (epoch for
    dates); NaN when empty or unreadable."""
    from qgis.PyQt.QtCore import QDate, QDateTime, QTime, Qt

    if is_null(v):
        return math.nan
    if isinstance(v, QDateTime):
        return v.toMSecsSinceEpoch() / 1000.0 if v.isValid() else math.nan
    if isinstance(v, QDate):
        return QDateTime(v, QTime(0, 0), Qt.UTC).toMSecsSinceEpoch() / 1000.0 if v.isValid() else math.nan
    if isinstance(v, QTime):
        return v.msecsSinceStartOfDay() / 1000.0 if v.isValid() else math.nan
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    if hasattr(v, "timestamp"):  # datetime.datetime
        return float(v.timestamp())
    s = str(v).strip()
    if not s:
        return math.nan
    try:
        return float(s)
    except ValueError:
        pass
    dt = QDateTime.fromString(s, Qt.ISODateWithMs)
    if not dt.isValid():
        dt = QDateTime.fromString(s, Qt.ISODate)
    if not dt.isValid():
        dt = QDateTime.fromString(s.replace("/", "-"), "yyyy-MM-dd HH:mm:ss")
    if dt.isValid():
        if dt.timeSpec() == Qt.LocalTime and "Z" not in s and "+" not in s[10:]:
            dt.setTimeSpec(Qt.UTC)
        return dt.toMSecsSinceEpoch() / 1000.0
    return math.nan


def to_float(v) -> float:
    if is_null(v):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return to_seconds(v)


# ---- tables -------------------------------------------------------------------------------------


def source_name(src) -> str:
    """A vector layer's or a Processing feature source's name."""
    if hasattr(src, "name") and callable(src.name):
        return src.name()
    return src.sourceName() if hasattr(src, "sourceName") else "layer"


def source_crs(src):
    return src.crs() if hasattr(src, "crs") and callable(src.crs) else src.sourceCrs()


def source_path(src) -> str:
    return src.source() if hasattr(src, "source") and callable(src.source) else ""


def source_geometry(src) -> str:
    """point | line | polygon | none for a vector layer or feature source."""
    from qgis.core import Qgis, QgsWkbTypes

    gt = QgsWkbTypes.geometryType(src.wkbType())
    return {Qgis.GeometryType.Point: "point", Qgis.GeometryType.Line: "line",
            Qgis.GeometryType.Polygon: "polygon"}.get(gt, "none")


def _features(src, feature_ids=None, request=None):
    """Features of a vector layer or QgsFeatureSource (Processing's thread-safe sources)."""
    from qgis.core import QgsFeatureRequest

    req = QgsFeatureRequest(request) if request is not None else QgsFeatureRequest()
    if feature_ids is not None:
        req.setFilterFids(list(feature_ids))
    return src.getFeatures(req)


def first_feature_ids(src, feature_ids=None) -> list[int] | None:
    """[the id of the first (selected) feature], what a written question about a table is about;
    `feature_ids` unchanged when there is no feature (the payload then says the layer is empty)."""
    first = next(iter(_features(src, feature_ids)), None)
    return [int(first.id())] if first is not None else feature_ids


def table_columns(layer, wanted=None) -> tuple[list[str], list[str]]:
    """(numeric, categorical) field names: `wanted` or all fields but fid-like ones, split by type."""
    from .modality import NUMERIC_TYPES, TIME_TYPES, field_kinds

    kinds = dict(field_kinds(layer))
    names = [n for n in kinds if n.lower() not in ("fid", "ogc_fid")] if not wanted else list(wanted)
    missing = [n for n in names if n not in kinds]
    if missing:
        raise LayerError(
            tr("The layer '{name}' lacks the field(s) {fields}.").format(name=source_name(layer), fields=", ".join(missing))
        )
    numeric = [n for n in names if kinds[n] in NUMERIC_TYPES | TIME_TYPES]
    categorical = [n for n in names if n not in numeric and kinds[n] in ("string", "other")]
    return numeric, categorical


def category_text(v) -> str | None:
    """A categorical value as the backend spells it (whole numbers without ".0"); None when empty."""
    if is_null(v):
        return None
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        if v.is_integer():
            return str(int(v))
    s = str(v).strip()
    return s or None


def table_payload(layer, feature_ids=None, numeric=None, categorical=None, request=None,
                  exclude=()) -> tuple[dict, dict]:
    """Attribute table payload: `col:<name>` float64 arrays, meta `categorical`, `fids`.

    `numeric` / `categorical`: the columns a bundle reads (its manifest's input section); a numeric
    field the bundle treats as categorical travels as text. Default: every field, split by type."""
    if numeric is None and categorical is None:
        numeric, categorical = table_columns(layer)
        features = None
    else:
        numeric, categorical = list(numeric or []), list(categorical or [])
        table_columns(layer, numeric + categorical)  # raises when a field is missing
        features = numeric + categorical
    numeric = [n for n in numeric if n not in exclude]
    categorical = [n for n in categorical if n not in exclude]
    idx = layer.fields()
    ni = [(n, idx.indexOf(n)) for n in numeric]
    ci = [(n, idx.indexOf(n)) for n in categorical]
    cols = {n: [] for n in numeric}
    cats = {n: [] for n in categorical}
    fids = []
    for f in _features(layer, feature_ids, request):
        attrs = f.attributes()
        fids.append(int(f.id()))
        for n, i in ni:
            cols[n].append(to_float(attrs[i]))
        for n, i in ci:
            cats[n].append(category_text(attrs[i]))
    if not fids:
        raise LayerError(tr("The layer '{name}' has no features to send.").format(name=source_name(layer)))
    arrays = {f"col:{n}": np.asarray(v, np.float64) for n, v in cols.items()}
    meta = {"categorical": cats, "fids": fids, "layer": source_name(layer), "source": source_path(layer)}
    if features is not None:
        meta["features"] = features
    return arrays, meta


def bundle_table_columns(manifest: dict) -> tuple[list[str] | None, list[str] | None]:
    """(numeric, categorical) columns a table bundle reads, from its manifest; (None, None) if unknown."""
    spec = manifest.get("input") or {}
    num, cat = spec.get("numeric"), spec.get("categorical")
    if num is None and cat is None:
        return None, None
    return list(num or []), list(cat or [])


# ---- trajectories -------------------------------------------------------------------------------

# what a trajectory layer's time field holds: "auto" detects date-times (date / time typed fields, text
# that reads as ISO date-times) and frame numbers (whole numbers in a field named frame / frame_id,
# at DEFAULT_FRAME_RATE unless a rate is given); other numbers are seconds
TIME_UNITS = ("auto", "seconds", "frames", "datetime")
DEFAULT_FRAME_RATE = 25.0  # ETH-UCY's frame numbers (a step of 10 frames = 0.4 s), as the backend's reader
_FRAME_NAMES = ("frame", "frame_id", "frameid", "frame_no", "frame_number", "frame_nr", "frames")


def _is_datetime_value(v) -> bool:
    """A QDateTime / QDate / QTime / datetime, or text that reads as a date-time (not as a number)."""
    from qgis.PyQt.QtCore import QDate, QDateTime, QTime

    if isinstance(v, (QDateTime, QDate, QTime)) or hasattr(v, "timestamp"):
        return True
    if isinstance(v, (bool, int, float, np.integer, np.floating)):
        return False
    s = str(v).strip()
    try:
        float(s)
        return False
    except ValueError:
        return math.isfinite(to_seconds(s))


def time_values(layer, time_field: str, limit: int = 50) -> list:
    """Up to `limit` non-empty values of a field (to tell what it holds)."""
    from qgis.core import QgsFeatureRequest

    idx = layer.fields().indexOf(time_field)
    if idx < 0:
        return []
    req = QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry).setSubsetOfAttributes([idx])
    out = []
    for f in layer.getFeatures(req):
        v = f.attributes()[idx]
        if not is_null(v):
            out.append(v)
            if len(out) >= limit:
                break
    return out


def resolve_time_units(layer, time_field: str, time_units: str | None = "auto",
                       frame_rate: float | None = None) -> tuple[str, float | None]:
    """(seconds | frames | datetime, frames per second or None) for a layer's time field; "auto" looks at
    the field's type, name and values. Raises LayerError naming the layer and field when the field holds
    something else than the units say."""
    units = (time_units or "auto").lower()
    if units not in TIME_UNITS:
        raise LayerError(tr("Unknown time unit '{units}' (one of: {known}).").format(units=units, known=", ".join(TIME_UNITS)))
    values = time_values(layer, time_field)
    dates = sum(_is_datetime_value(v) for v in values)
    name = source_name(layer)
    if units == "auto":
        if values and dates == len(values):
            units = "datetime"
        elif time_field.lower() in _FRAME_NAMES and values and all(
                not isinstance(v, bool) and math.isfinite(to_float(v)) and float(to_float(v)).is_integer() for v in values):
            units = "frames"
        else:
            units = "seconds"
    if units == "datetime" and values and dates < len(values):
        raise LayerError(tr("The time field '{field}' of layer '{name}' holds numbers, not date-times: say whether "
                            "they are seconds or frame numbers.").format(field=time_field, name=name))
    if units in ("seconds", "frames") and values and dates == len(values):
        raise LayerError(tr("The time field '{field}' of layer '{name}' holds date-times, not {units}.").format(
            field=time_field, name=name, units=tr("seconds") if units == "seconds" else tr("frame numbers")))
    if units == "frames":
        rate = float(frame_rate) if frame_rate else DEFAULT_FRAME_RATE
        if not math.isfinite(rate) or rate <= 0:
            raise LayerError(tr("The frame rate must be a positive number of frames per second."))
        return units, rate
    return units, None


def describe_time_units(units: str, rate: float | None) -> str:
    """In words, for the log: "seconds", "frames at 25 per second", "date-times"."""
    if units == "frames":
        return tr("frames at {rate} per second").format(rate=f"{rate:g}")
    return tr("date-times") if units == "datetime" else tr("seconds")


def _vertices(geom):
    """[(x, y, m or nan)] of a point / line geometry's vertices."""
    out = []
    for v in geom.vertices():
        m = v.m() if v.isMeasure() else math.nan
        out.append((v.x(), v.y(), m))
    return out


def trajectory_rows(layer, time_field: str, id_field: str, feature_ids=None, request=None):
    """(x, y, t, track id) rows, one per fix.

    Points: one fix each. Lines: one fix per vertex; vertex times from M values when the line has
    them, else from the feature's time (first vertex) up to the next feature's time of the same track
    (by distance along the line; a track's last line gives its first vertex only)."""
    fields = layer.fields()
    ti, ii = fields.indexOf(time_field), fields.indexOf(id_field)
    if ti < 0:
        raise LayerError(tr("The layer '{name}' has no field '{field}'.").format(name=source_name(layer), field=time_field))
    if ii < 0:
        raise LayerError(tr("The layer '{name}' has no field '{field}'.").format(name=source_name(layer), field=id_field))
    is_line = source_geometry(layer) == "line"
    rows = []
    lines = []  # (track, t0, vertices)
    for f in _features(layer, feature_ids, request):
        g = f.geometry()
        if g is None or g.isEmpty():
            continue
        tid = f.attributes()[ii]
        if is_null(tid):
            continue
        tid = str(tid) if not isinstance(tid, (int, np.integer)) else int(tid)
        t = to_seconds(f.attributes()[ti])
        verts = _vertices(g)
        if not is_line:
            for x, y, _ in verts:
                if math.isfinite(t):
                    rows.append((x, y, t, tid))
            continue
        if verts and all(math.isfinite(m) for _, _, m in verts):
            rows.extend((x, y, m, tid) for x, y, m in verts)
        elif math.isfinite(t):
            lines.append((tid, t, verts))
    if lines:
        by_track: dict = {}
        for tid, t0, verts in lines:
            by_track.setdefault(tid, []).append((t0, verts))
        for tid, items in by_track.items():
            items.sort(key=lambda it: it[0])
            for k, (t0, verts) in enumerate(items):
                if k + 1 < len(items):
                    t1 = items[k + 1][0]
                    seg = [0.0]
                    for (xa, ya, _), (xb, yb, _) in zip(verts, verts[1:]):
                        seg.append(seg[-1] + math.hypot(xb - xa, yb - ya))
                    total = seg[-1] or 1.0
                    for (x, y, _), d in zip(verts[:-1], seg[:-1]):
                        rows.append((x, y, t0 + (t1 - t0) * d / total, tid))
                else:
                    rows.append((verts[0][0], verts[0][1], t0, tid))
    return rows


def trajectory_payload(layer, time_field: str, id_field: str, feature_ids=None, request=None,
                       time_units: str | None = "auto", frame_rate: float | None = None) -> tuple[dict, dict]:
    """The tracks of a point / line layer; times as the time field holds them, with `time_units` (detected
    when "auto") and `frame_rate` in the meta for the backend to turn them into seconds."""
    units, rate = resolve_time_units(layer, time_field, time_units, frame_rate)
    rows = trajectory_rows(layer, time_field, id_field, feature_ids, request)
    if not rows:
        raise LayerError(
            tr("The layer '{name}' has no fixes with a time and a track id.").format(name=source_name(layer))
        )
    codes: dict = {}
    for r in rows:
        codes.setdefault(r[3], len(codes))
    rows.sort(key=lambda r: (codes[r[3]], r[2]))
    xy = np.asarray([(r[0], r[1]) for r in rows], np.float64)
    t = np.asarray([r[2] for r in rows], np.float64)
    track = np.asarray([codes[r[3]] for r in rows], np.int64)
    meta = {
        "crs": crs_wkt(source_crs(layer)),
        "track_ids": list(codes.keys()),
        "time_field": time_field,
        "time_units": units,
        "id_field": id_field,
        "layer": source_name(layer),
        "source": source_path(layer),
    }
    if rate is not None:
        meta["frame_rate"] = rate
    return {"xy": xy, "t": t, "track": track}, meta


# ---- point clouds -------------------------------------------------------------------------------


COPC_SUFFIX = ".copc.laz"


def qgis_opens_las() -> bool:
    """Whether this QGIS opens plain LAS / LAZ files (its PDAL provider); Debian's QGIS 3.40 has none
    ("Invalid data provider pdal") and opens only COPC / EPT / VPC point clouds."""
    from qgis.core import QgsProviderRegistry

    return QgsProviderRegistry.instance().providerMetadata("pdal") is not None


def is_las_file(path) -> bool:
    """A LAS / LAZ file (not already COPC by its name) that exists."""
    import os

    p = str(path or "").lower()
    return p.endswith((".las", ".laz")) and not p.endswith(COPC_SUFFIX) and os.path.isfile(str(path))


def copc_name(path: str) -> str:
    """`path` named as a COPC file (*.copc.laz), the name QGIS's COPC provider opens by."""
    p = str(path)
    low = p.lower()
    if low.endswith(COPC_SUFFIX):
        return p
    for ext in (".las", ".laz"):
        if low.endswith(ext):
            return p[: -len(ext)] + COPC_SUFFIX
    return p + COPC_SUFFIX


def copc_layer(path: str, name: str | None = None):
    """A COPC file as a point-cloud layer (QGIS's COPC provider; no PDAL needed)."""
    import os

    from qgis.core import QgsPointCloudLayer

    stem = os.path.basename(path)
    stem = stem[: -len(COPC_SUFFIX)] if stem.lower().endswith(COPC_SUFFIX) else stem
    return QgsPointCloudLayer(path, name or stem, "copc")


def pointcloud_payload(layer) -> tuple[dict, dict]:
    """Point clouds travel by path: the backend reads the LAS / LAZ / COPC file itself."""
    import os

    from .modality import POINTCLOUD_SUFFIXES, pointcloud_source

    path = pointcloud_source(layer)
    if not path.lower().endswith(POINTCLOUD_SUFFIXES):
        raise LayerError(
            tr("The point cloud '{name}' is not a LAS, LAZ or COPC file ({path}); AllSpark reads only those.").format(
                name=layer.name(), path=path
            )
        )
    if not os.path.isfile(path):
        raise LayerError(tr("The point cloud file {path} does not exist.").format(path=path))
    return {}, {"path": path, "crs": crs_wkt(layer.crs()), "layer": layer.name(), "return_xyz": True}
