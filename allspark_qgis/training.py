"""The user's own layers -> training data in the formats the backend's readers take, and the train
job's config (allspark.train.TrainConfig fields).

- RGB / multispectral / SAR (one class per image): a raster with a labelled point or polygon layer
  -> a folder per class of image patches (GeoTIFF) centred on the points (on a grid inside polygons);
- hyperspectral (one class per pixel): the raster file and a label raster burnt from the points /
  polygons on its grid (GDAL: a polygon labels every pixel whose centre it holds, a point the pixel it
  falls in; 0 = unlabelled, class k of the sorted field values -> k + 1; the bundle's classes are the
  field's values);
- table: the attributes as CSV, with the target field;
- trajectory: a CSV of t, id, x, y rows (times as the layer holds them, their units and the layer's
  name on a first `#allspark {json}` line);
- point cloud: the LAS / LAZ / COPC file itself (classification attribute: ground = 2).
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from . import layers
from .i18n import tr

MAX_PATCHES_PER_POLYGON = 25


def _safe_dir(name: str) -> str:
    s = "".join(ch if ch.isalnum() or ch in " -_.+" else "_" for ch in str(name)).strip().strip(".")
    return s or "class"


def class_name(value) -> str | None:
    """A label feature's class as text; None (unlabelled) for NULL, empty text and the number 0."""
    if layers.is_null(value):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return None
    return layers.category_text(value)


def sorted_classes(names) -> list[str]:
    """Class names in order: numerically when they all read as numbers ("2" before "10"), else as text."""
    names = set(names)
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def label_points(label_source, field: str, dest_crs, transform_context, spacing: float | None = None):
    """[(x, y, class name)] in the raster's CRS: points as they are, polygons as their point on surface
    plus points on a `spacing` grid inside them."""
    from qgis.core import Qgis, QgsCoordinateTransform, QgsGeometry, QgsPointXY, QgsWkbTypes

    idx = label_source.fields().indexOf(field)
    if idx < 0:
        raise layers.LayerError(tr("The labels have no field '{field}'.").format(field=field))
    ct = QgsCoordinateTransform(layers.source_crs(label_source), dest_crs, transform_context)
    out = []
    for f in label_source.getFeatures():
        name = class_name(f.attributes()[idx])
        if name is None or f.geometry().isEmpty():
            continue
        g = QgsGeometry(f.geometry())
        g.transform(ct)
        gt = QgsWkbTypes.geometryType(g.wkbType())
        if gt == Qgis.GeometryType.Point:
            for p in g.vertices():
                out.append((p.x(), p.y(), name))
        elif gt == Qgis.GeometryType.Polygon:
            c = g.pointOnSurface().asPoint()
            pts = [(c.x(), c.y())]
            if spacing:
                bb = g.boundingBox()
                nx = int(bb.width() // spacing)
                ny = int(bb.height() // spacing)
                for i in range(nx + 1):
                    for j in range(ny + 1):
                        x = bb.xMinimum() + (i + 0.5) * spacing
                        y = bb.yMinimum() + (j + 0.5) * spacing
                        if g.contains(QgsPointXY(x, y)):
                            pts.append((x, y))
                if len(pts) > MAX_PATCHES_PER_POLYGON:
                    step = len(pts) / MAX_PATCHES_PER_POLYGON
                    pts = [pts[int(k * step)] for k in range(MAX_PATCHES_PER_POLYGON)]
            out.extend((x, y, name) for x, y in pts)
        else:
            c = g.centroid().asPoint()
            out.append((c.x(), c.y(), name))
    if not out:
        raise layers.LayerError(tr("The label layer has no labelled features."))
    return out


def write_patches(layer, points, patch: int, folder: str, provider=None, feedback=None) -> dict:
    """Image patches of `patch` px centred on the points, in folder/<class>/<n>.tif. Returns counts per class."""
    from osgeo import gdal

    provider = provider or layer.dataProvider().clone()
    grid = layers.raster_grid(layer)
    bands = layers.data_bands(layer)
    alpha = layers.alpha_band(layer)
    wkt = layers.crs_wkt(layer.crs())
    counts: dict = {}
    drv = gdal.GetDriverByName("GTiff")
    for k, (x, y, name) in enumerate(points):
        if feedback is not None:
            feedback.check()
            feedback.progress(k / len(points), tr("patch {k} of {n}").format(k=k + 1, n=len(points)))
        col = math.floor((x - grid.xmin) / grid.xres)
        row = math.floor((grid.ymax - y) / grid.yres)
        if not (0 <= col < grid.width and 0 <= row < grid.height):
            continue
        win = [col - patch // 2, row - patch // 2, patch, patch]
        img = layers.read_block(provider, grid.window_extent(win), patch, patch, bands, alpha)
        if not np.isfinite(img).any():
            continue
        d = os.path.join(folder, _safe_dir(name))
        os.makedirs(d, exist_ok=True)
        n = counts.get(name, 0)
        ds = drv.Create(os.path.join(d, f"{n:05d}.tif"), patch, patch, len(bands), gdal.GDT_Float32)
        ds.SetGeoTransform(grid.transform(win))
        if wkt:
            ds.SetProjection(wkt)
        for b in range(len(bands)):
            band = ds.GetRasterBand(b + 1)
            band.SetNoDataValue(float("nan"))
            band.WriteArray(img[b])
        ds = None
        counts[name] = n + 1
    if not counts:
        raise layers.LayerError(tr("No labelled point falls on the raster."))
    return counts


def rasterize_labels(layer, label_source, field: str, path: str, transform_context=None) -> list[str]:
    """A label raster (GeoTIFF, UInt16) on the raster layer's grid from a labelled point / polygon layer:
    a polygon labels every pixel whose centre it holds, a point (or a line) the pixels it touches, a later
    feature on top where they overlap; 0 = unlabelled, class k of the sorted field values -> k + 1.
    Features are reprojected onto the raster's CRS. Returns the classes (the field's values). LayerError
    naming the label layer for a missing field, an invalid polygon, or no label on the raster."""
    from osgeo import gdal, ogr
    from qgis.core import Qgis, QgsCoordinateTransform, QgsCsException, QgsGeometry, QgsProject

    name = layers.source_name(label_source)
    idx = label_source.fields().indexOf(field)
    if idx < 0:
        raise layers.LayerError(tr("The layer '{name}' has no field '{field}'.").format(name=name, field=field))
    src_crs, dst_crs = layers.source_crs(label_source), layer.crs()
    ct = None
    if src_crs.isValid() and dst_crs.isValid() and src_crs != dst_crs:
        ct = QgsCoordinateTransform(src_crs, dst_crs, transform_context if transform_context is not None
                                    else QgsProject.instance().transformContext())
        if not ct.isValid():  # e.g. a raster in a local engineering CRS
            raise layers.LayerError(tr("The features of the layer '{name}' cannot be placed in the raster's "
                                       "coordinate reference system: {error}").format(
                name=name, error=f"{src_crs.userFriendlyIdentifier()} -> {dst_crs.userFriendlyIdentifier()}"))
    shapes = []  # (WKB in the raster's CRS, class name)
    for f in label_source.getFeatures():
        cls = class_name(f.attributes()[idx])
        g = f.geometry()
        if cls is None or g is None or g.isEmpty():
            continue
        if QgsGeometry(g).type() == Qgis.GeometryType.Polygon:
            errors = g.validateGeometry(Qgis.GeometryValidationEngine.Geos)
            if errors:
                raise layers.LayerError(tr("Polygon {fid} of the layer '{name}' is invalid ({error}); fix it first, "
                                           "e.g. with Processing's 'Fix geometries'.").format(
                    fid=f.id(), name=name, error=errors[0].what()))
        g = QgsGeometry(g)
        if ct is not None:
            g = g.densifyByCount(8) if g.type() != Qgis.GeometryType.Point else g
            try:
                g.transform(ct)
            except QgsCsException as exc:
                raise layers.LayerError(tr("The features of the layer '{name}' cannot be placed in the raster's "
                                           "coordinate reference system: {error}").format(name=name, error=exc)) from None
        shapes.append((bytes(g.asWkb()), cls))
    if not shapes:
        raise layers.LayerError(tr("The layer '{name}' has no labelled features (field '{field}').").format(
            name=name, field=field))
    classes = sorted_classes(c for _, c in shapes)
    code = {c: i + 1 for i, c in enumerate(classes)}
    grid = layers.raster_grid(layer)
    mem = ogr.GetDriverByName("Memory").CreateDataSource("labels")
    lyr = mem.CreateLayer("labels", None, ogr.wkbUnknown)
    lyr.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
    for wkb, cls in shapes:
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetField("value", code[cls])
        feat.SetGeometry(ogr.CreateGeometryFromWkb(wkb))
        lyr.CreateFeature(feat)
    ds = gdal.GetDriverByName("GTiff").Create(path, grid.width, grid.height, 1, gdal.GDT_UInt16)
    ds.SetGeoTransform(grid.transform([0, 0, grid.width, grid.height]))
    wkt = layers.crs_wkt(layer.crs())
    if wkt:
        ds.SetProjection(wkt)
    band = ds.GetRasterBand(1)
    band.Fill(0)
    gdal.RasterizeLayer(ds, [1], lyr, options=["ATTRIBUTE=value"])
    lab = band.ReadAsArray()
    ds = None
    present = set(np.unique(lab[lab > 0]).tolist())
    if not present:
        os.remove(path)
        raise layers.LayerError(tr("No labelled feature of the layer '{name}' falls on the raster layer "
                                   "'{raster}'.").format(name=name, raster=layer.name()))
    missing = [c for c in classes if code[c] not in present]
    if missing:  # a class none of whose features reaches a pixel: the bundle keeps its name, with no pixel
        from .log import log

        log(tr("Classes without a labelled pixel on the raster: {names}").format(names=", ".join(missing)), "warning")
    return classes


def write_raster_file(layer, path: str, provider=None) -> str:
    """The whole raster as a float32 GeoTIFF (NaN nodata), for rasters that are not plain files."""
    from osgeo import gdal

    arrays, meta = layers.raster_payload(layer, provider=provider, max_pixels=10**12)
    img = arrays["image"]
    ds = gdal.GetDriverByName("GTiff").Create(path, img.shape[2], img.shape[1], img.shape[0], gdal.GDT_Float32)
    ds.SetGeoTransform(meta["transform"])
    if meta.get("crs"):
        ds.SetProjection(meta["crs"])
    for b in range(img.shape[0]):
        band = ds.GetRasterBand(b + 1)
        band.SetNoDataValue(float("nan"))
        band.WriteArray(img[b])
        band.SetDescription(meta["band_names"][b])
    ds = None
    return path


def write_table_csv(source, path: str, target: str) -> str:
    """The attribute table as CSV (header row; empty cells for NULL)."""
    names = [f.name() for f in source.fields() if f.name().lower() not in ("fid", "ogc_fid")]
    if target not in names:
        raise layers.LayerError(tr("The layer has no target field '{field}'.").format(field=target))
    idx = [source.fields().indexOf(n) for n in names]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for f in source.getFeatures():
            a = f.attributes()
            w.writerow(["" if layers.is_null(a[i]) else _cell(a[i]) for i in idx])
    return path


def _cell(v):
    if hasattr(v, "toString") and not isinstance(v, str):
        return v.toString("yyyy-MM-ddTHH:mm:ss") if hasattr(v, "toMSecsSinceEpoch") else v.toString()
    return v


def write_tracks_csv(source, time_field: str, id_field: str, path: str, time_units: str | None = "auto",
                     frame_rate: float | None = None) -> str:
    """t, id, x, y rows with times as the field holds them; a first line `#allspark {json}` tells the
    backend's reader the layer, the time field and its units (it turns frames into seconds, and names the
    layer and field, not this file, in its messages)."""
    import json

    units, rate = layers.resolve_time_units(source, time_field, time_units, frame_rate)
    rows = layers.trajectory_rows(source, time_field, id_field)
    if not rows:
        raise layers.LayerError(tr("The layer '{name}' has no fixes with a time and a track id.").format(
            name=layers.source_name(source)))
    codes: dict = {}
    for r in rows:
        codes.setdefault(r[3], len(codes))
    rows.sort(key=lambda r: (codes[r[3]], r[2]))
    info = {"layer": layers.source_name(source), "time_field": time_field, "time_units": units}
    if rate is not None:
        info["frame_rate"] = rate
    with open(path, "w", newline="", encoding="utf-8") as fh:
        fh.write("#allspark " + json.dumps(info, ensure_ascii=False) + "\n")
        w = csv.writer(fh)
        w.writerow(["t", "id", "x", "y"])
        for x, y, t, tid in rows:
            w.writerow([f"{t:.3f}", tid, f"{x:.6f}", f"{y:.6f}"])
    return path


def is_numeric_field(source, name: str) -> bool:
    from .modality import NUMERIC_TYPES, field_kinds

    return dict(field_kinds(source)).get(name) in NUMERIC_TYPES


def default_bundles_folder(settings=None) -> str:
    from .settings import Settings

    s = settings or Settings.load()
    if s.bundles_dir:
        return s.bundles_dir
    base = os.environ.get("ALLSPARK_BUNDLES", "").split(os.pathsep)[0] or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share"), "allspark", "bundles")
    return base


def config(modality: str, data: str, out: str, name: str, epochs: int, task: str | None = None,
           labels: str | None = None, read_options: dict | None = None, **extra) -> dict:
    cfg = {"modality": modality, "data": data, "out": out, "name": name, "epochs": int(epochs),
           "read_options": dict(read_options or {})}
    if task:
        cfg["task"] = task
    if labels:
        cfg["labels"] = labels
    cfg.update({k: v for k, v in extra.items() if v is not None})
    return cfg
