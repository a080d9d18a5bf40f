"""AllSpark results -> styled QGIS layers. Plain functions, no GUI.

- classified rasters: GeoTIFF written with GDAL (colour table + category names inside the file) and
  a paletted renderer whose legend shows the class names (also saved as the file's .qml default style);
- table predictions: new fields on a copy of a vector layer;
- trajectories: a line layer in the input's CRS, one feature per candidate future (track id, rank,
  score), from the track's last observed fix;
- point classification: a point layer (x, y, z, class) of the points the backend classified (the
  classified LAS / LAZ copy of a point cloud is written by the backend, allspark.pointcloud_output).
"""

from __future__ import annotations

import colorsys
import os

import numpy as np

from .i18n import tr
from .protocol.atomic import PartFileWriter

# a qualitative palette (ColorBrewer Set1/Dark2/Paired mix), extended by golden-ratio hues
_BASE = [
    "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#ffff33", "#a65628", "#f781bf",
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6cee3", "#b2df8a",
    "#fb9a99", "#fdbf6f", "#cab2d6", "#6a3d9a", "#b15928",
]
# common land-cover / lidar names get their usual colours
_NAMED = {
    "water": "#3a7bd5", "ground": "#a67c52", "unclassified": "#b0b0b0", "building": "#d7301f",
    "vegetation": "#31a354", "low vegetation": "#a1d99b", "medium vegetation": "#74c476",
    "high vegetation": "#238b45", "forest": "#1b7837", "grass": "#9acd32", "road": "#636363",
    "noise": "#ff00ff", "never classified": "#d9d9d9", "urban": "#d7301f", "cropland": "#fee08b",
}
NODATA_BYTE = 255
NODATA_UINT16 = 65535


def class_colors(classes) -> list[str]:
    """A hex colour per class, stable for a given class list."""
    out = []
    for i, name in enumerate(classes):
        key = str(name).strip().lower()
        if key in _NAMED:
            out.append(_NAMED[key])
        elif i < len(_BASE):
            out.append(_BASE[i])
        else:
            h = (i * 0.618033988749895) % 1.0
            r, g, b = colorsys.hsv_to_rgb(h, 0.65, 0.9)
            out.append("#%02x%02x%02x" % (int(r * 255), int(g * 255), int(b * 255)))
    return out


# ---- class rasters ------------------------------------------------------------------------------


def label_indices(result: dict, n: int | None = None) -> np.ndarray:
    """Class index per sample (or per element, flattened) from any classification-like result;
    -1 where there is none."""
    classes = list(result.get("classes") or [])
    if result.get("element_labels") is not None:
        return np.asarray(result["element_labels"]).reshape(-1).astype(np.int64)
    if result.get("probabilities") is not None:
        p = np.asarray(result["probabilities"])
        return np.argmax(p.reshape(-1, p.shape[-1]), axis=1).astype(np.int64)
    labels = result.get("labels")
    if labels is not None:
        lookup = {c: i for i, c in enumerate(classes)}
        return np.asarray([lookup.get(str(v), -1) for v in labels], np.int64)
    return np.full(n or 0, -1, np.int64)


class ClassRasterWriter(PartFileWriter):
    """A class raster written block by block: memory is one block, whatever the raster's size.

    Blocks of class indices (-1 = none) go into a tiled, DEFLATE-compressed GeoTIFF beside the target
    (`<path>.part.tif`); `close()` turns it into a Cloud Optimized GeoTIFF at `path` (with overviews,
    nearest-neighbour) carrying the colour table, nodata and the class names (the legend), and removes
    the part file. `abort()` (a cancel, an error) removes the part file and leaves `path` untouched."""

    BLOCK = 256

    def __init__(self, path: str, width: int, height: int, transform, crs_wkt: str | None, classes, colors=None):
        from osgeo import gdal

        self.path = os.path.abspath(path)
        self.part = self.path + ".part.tif"
        self.width, self.height = int(width), int(height)
        self.classes = [str(c) for c in classes]
        colors = colors or class_colors(self.classes)
        small = len(self.classes) < NODATA_BYTE
        self.nodata = NODATA_BYTE if small else NODATA_UINT16
        self.dtype = np.uint8 if small else np.uint16
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        options = ["COMPRESS=DEFLATE", "TILED=YES", f"BLOCKXSIZE={self.BLOCK}", f"BLOCKYSIZE={self.BLOCK}", "BIGTIFF=IF_SAFER"]
        self.ds = gdal.GetDriverByName("GTiff").Create(self.part, self.width, self.height, 1,
                                                       gdal.GDT_Byte if small else gdal.GDT_UInt16, options=options)
        if self.ds is None:
            raise OSError(tr("Cannot write {path}.").format(path=self.part))
        self.ds.SetGeoTransform([float(v) for v in transform])
        if crs_wkt:
            self.ds.SetProjection(crs_wkt)
        band = self.ds.GetRasterBand(1)
        band.SetNoDataValue(self.nodata)
        band.Fill(self.nodata)
        if small:
            ct = gdal.ColorTable()
            for i, c in enumerate(colors):
                ct.SetColorEntry(i, (*(int(c[k:k + 2], 16) for k in (1, 3, 5)), 255))
            band.SetRasterColorTable(ct)
            band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
        band.SetCategoryNames(self.classes)
        band.SetDescription("class")

    def write(self, labels: np.ndarray, xoff: int, yoff: int) -> None:
        """Class indices (h, w) of the block whose top-left pixel is (xoff, yoff); -1 = none."""
        labels = np.asarray(labels)
        if labels.ndim != 2:
            raise ValueError(f"class raster must be 2-D, got shape {labels.shape}")
        if xoff < 0 or yoff < 0 or xoff + labels.shape[1] > self.width or yoff + labels.shape[0] > self.height:
            raise ValueError(f"block {labels.shape[1]} x {labels.shape[0]} at ({xoff}, {yoff}) lies outside the "
                             f"{self.width} x {self.height} raster")
        ok = (labels >= 0) & (labels < len(self.classes))
        self.ds.GetRasterBand(1).WriteArray(np.where(ok, labels, self.nodata).astype(self.dtype), int(xoff), int(yoff))

    def close(self) -> str:
        from osgeo import gdal

        self.ds.FlushCache()
        self.ds = None
        tmp = self.path + ".cog.tmp.tif"
        try:
            out = gdal.Translate(tmp, self.part, format="COG", creationOptions=[
                "COMPRESS=DEFLATE", "RESAMPLING=NEAREST", "OVERVIEWS=AUTO", "BIGTIFF=IF_SAFER"])
            if out is None:
                raise OSError(tr("Cannot write {path}.").format(path=self.path))
            out.GetRasterBand(1).SetCategoryNames(self.classes)
            out.GetRasterBand(1).SetDescription("class")
            out = None
            for suffix in ("", ".aux.xml"):
                if os.path.exists(tmp + suffix):
                    os.replace(tmp + suffix, self.path + suffix)
        finally:
            for p in (self.part, self.part + ".aux.xml", tmp, tmp + ".aux.xml"):
                if os.path.exists(p):
                    os.remove(p)
        return self.path

    def abort(self) -> None:
        self.ds = None
        for p in (self.part, self.part + ".aux.xml"):
            if os.path.exists(p):
                os.remove(p)


def write_class_raster(path: str, labels: np.ndarray, transform, crs_wkt: str | None, classes,
                       colors=None) -> str:
    """(H, W) class indices (-1 = none) -> a Cloud Optimized GeoTIFF with a colour table and the class names."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"class raster must be 2-D, got shape {labels.shape}")
    with ClassRasterWriter(path, labels.shape[1], labels.shape[0], transform, crs_wkt, classes, colors) as w:
        for y in range(0, labels.shape[0], ClassRasterWriter.BLOCK):
            w.write(labels[y:y + ClassRasterWriter.BLOCK], 0, y)
    return path


def paletted_renderer(provider, classes, colors=None, band: int = 1):
    from qgis.core import QgsPalettedRasterRenderer
    from qgis.PyQt.QtGui import QColor

    colors = colors or class_colors(classes)
    items = [QgsPalettedRasterRenderer.Class(i, QColor(c), str(name)) for i, (name, c) in enumerate(zip(classes, colors))]
    return QgsPalettedRasterRenderer(provider, band, items)


def style_class_raster(layer, classes, colors=None, save_default: bool = True) -> None:
    """Paletted renderer with the class names as legend labels; saved as the file's .qml default style."""
    from qgis.core import QgsMapLayer

    layer.setRenderer(paletted_renderer(layer.dataProvider(), classes, colors))
    layer.triggerRepaint()
    if save_default and os.path.isfile(layer.source()):
        layer.saveDefaultStyle(QgsMapLayer.StyleCategory.Symbology)


def class_raster_layer(path: str, classes, name: str | None = None, colors=None):
    """Open a class GeoTIFF as a styled QgsRasterLayer."""
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(path, name or os.path.splitext(os.path.basename(path))[0], "gdal")
    if not layer.isValid():
        raise OSError(tr("Cannot open {path}.").format(path=path))
    style_class_raster(layer, classes, colors)
    return layer


def legend_labels(layer) -> list[str]:
    """The labels a raster or vector layer's legend shows (used by tests and the dock)."""
    r = layer.renderer()
    if r is None:
        return []
    if hasattr(r, "classes") and r.type() == "paletted":
        return [c.label for c in r.classes()]
    if hasattr(r, "categories"):
        return [c.label() for c in r.categories()]
    if hasattr(r, "ranges"):
        return [x.label() for x in r.ranges()]
    return []


# ---- vector helpers -----------------------------------------------------------------------------


def _qfield(name: str, kind: str):
    """A QgsField (QMetaType types on QGIS >= 3.38, QVariant types before)."""
    from qgis.core import Qgis, QgsField

    if Qgis.versionInt() >= 33800:
        from qgis.PyQt.QtCore import QMetaType

        t = {"double": QMetaType.Type.Double, "int": QMetaType.Type.Int, "string": QMetaType.Type.QString}[kind]
    else:  # pragma: no cover - QGIS 3.34 / 3.36
        from qgis.PyQt.QtCore import QVariant

        t = {"double": QVariant.Double, "int": QVariant.Int, "string": QVariant.String}[kind]
    return QgsField(name, t)


def unique_name(name: str, taken) -> str:
    taken = {t.lower() for t in taken}
    if name.lower() not in taken:
        return name
    k = 2
    while f"{name}_{k}".lower() in taken:
        k += 1
    return f"{name}_{k}"


def _safe(name: str) -> str:
    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in str(name)).strip("_")
    return out or "value"


def prediction_fields(result: dict, existing=()) -> list:
    """New QgsFields for a table result: `<target>_pred` per regression target, or `pred_class` +
    `pred_prob` for a classification."""
    taken = list(existing)
    out = []
    if result.get("values") is not None:
        targets = result.get("targets") or [{"name": f"target{i + 1}"} for i in range(np.asarray(result["values"]).shape[-1])]
        for t in targets:
            n = unique_name(_safe(t.get("name", "value")) + "_pred", taken)
            taken.append(n)
            out.append(_qfield(n, "double"))
    else:
        for base, kind in (("pred_class", "string"), ("pred_prob", "double")):
            n = unique_name(base, taken)
            taken.append(n)
            out.append(_qfield(n, kind))
    return out


def prediction_values(result: dict, i: int) -> list:
    """The new fields' values for sample i."""
    if result.get("values") is not None:
        v = np.asarray(result["values"], np.float64)
        row = v[i] if v.ndim > 1 else v[i : i + 1]
        return [None if not np.isfinite(x) else float(x) for x in row]
    labels = result.get("labels")
    label = str(labels[i]) if labels is not None else None
    prob = None
    if result.get("probabilities") is not None:
        p = np.asarray(result["probabilities"])[i]
        prob = float(np.max(p))
        if label is None and result.get("classes"):
            label = str(result["classes"][int(np.argmax(p))])
    return [label, prob]


def copy_with_predictions(layer, result: dict, fids, name: str | None = None):
    """A memory copy of `layer` (all features, geometry kept) with the prediction fields filled for
    the features in `fids` (the order of the result's samples)."""
    from qgis.core import QgsFeature, QgsFields, QgsMemoryProviderUtils

    new = prediction_fields(result, [f.name() for f in layer.fields()])
    fields = QgsFields(layer.fields())
    for f in new:
        fields.append(f)
    out = QgsMemoryProviderUtils.createMemoryLayer(
        name or tr("{name} (AllSpark)").format(name=layer.name()), fields, layer.wkbType(), layer.crs()
    )
    row_of = {int(fid): i for i, fid in enumerate(fids)}
    feats = []
    for f in layer.getFeatures():
        nf = QgsFeature(fields)
        nf.setGeometry(f.geometry())
        i = row_of.get(int(f.id()))
        extra = prediction_values(result, i) if i is not None else [None] * len(new)
        nf.setAttributes(list(f.attributes()) + extra)
        feats.append(nf)
    out.dataProvider().addFeatures(feats)
    out.updateExtents()
    style_predictions(out, result, [f.name() for f in new])
    return out


def forecast_table(result: dict, name: str):
    """A sensor network's forecast as a table (no geometry): a row per sensor, `sensor_id` and a field per
    step ahead (`in_5min`, `in_10min`, ...) for the latest window, in the data's units."""
    from qgis.core import QgsFeature, QgsFields, QgsMemoryProviderUtils, QgsWkbTypes

    values = np.asarray(result["values"], np.float64)[-1]  # (K sensors, H steps): the latest window
    minutes = list(result.get("horizon_minutes") or range(1, values.shape[1] + 1))
    ids = [str(i) for i in (result.get("sensor_ids") or range(values.shape[0]))]
    fields = QgsFields()
    fields.append(_qfield("sensor_id", "string"))
    for m in minutes:
        fields.append(_qfield(f"in_{float(m):g}min".replace(".", "_"), "double"))
    out = QgsMemoryProviderUtils.createMemoryLayer(name, fields, QgsWkbTypes.NoGeometry)
    feats = []
    for k, sid in enumerate(ids):
        f = QgsFeature(fields)
        f.setAttributes([sid] + [None if not np.isfinite(v) else float(v) for v in values[k]])
        feats.append(f)
    out.dataProvider().addFeatures(feats)
    return out


def _forecast_fields(minutes) -> list[str]:
    return [f"in_{float(m):g}min".replace(".", "_") for m in minutes]


def forecast_points(result: dict, points, id_field: str, name: str):
    """The forecast on the map: a copy of the sensors' point layer with a field per step ahead (`in_5min`,
    ...), graduated by the last one; sensors the forecast has no row for keep empty fields."""
    from qgis.core import QgsFeature, QgsFields, QgsMemoryProviderUtils

    values = np.asarray(result["values"], np.float64)[-1]
    minutes = list(result.get("horizon_minutes") or range(1, values.shape[1] + 1))
    row_of = {str(s): k for k, s in enumerate(result.get("sensor_ids") or [])}
    names = _forecast_fields(minutes)
    taken = [f.name() for f in points.fields()]
    new = []
    for n in names:
        new.append(unique_name(n, taken))
        taken.append(new[-1])
    fields = QgsFields(points.fields())
    for n in new:
        fields.append(_qfield(n, "double"))
    out = QgsMemoryProviderUtils.createMemoryLayer(name, fields, points.wkbType(), points.crs())
    i = points.fields().indexOf(id_field)
    feats = []
    for f in points.getFeatures():
        k = row_of.get(_id_text(f.attributes()[i]))
        nf = QgsFeature(fields)
        nf.setGeometry(f.geometry())
        extra = [None] * len(new) if k is None else [None if not np.isfinite(v) else float(v) for v in values[k]]
        nf.setAttributes(list(f.attributes()) + extra)
        feats.append(nf)
    out.dataProvider().addFeatures(feats)
    out.updateExtents()
    style_predictions(out, {"values": values}, [new[-1]])
    return out


def forecast_timeline(result: dict, points, id_field: str, last_time: str, name: str):
    """The forecast as a temporal point layer: a point per sensor and step ahead with its `time` (the last
    observed reading's time plus the step) and `value`; its temporal properties are set, so QGIS's
    temporal controller plays the next hour."""
    from qgis.core import (QgsFeature, QgsFields, QgsMemoryProviderUtils, QgsVectorLayerTemporalProperties)
    from qgis.PyQt.QtCore import QDateTime, Qt

    values = np.asarray(result["values"], np.float64)[-1]
    minutes = list(result.get("horizon_minutes") or range(1, values.shape[1] + 1))
    start = QDateTime.fromString(str(last_time)[:19], Qt.ISODate)
    if not start.isValid():
        raise ValueError(f"not an ISO time: {last_time!r}")
    fields = QgsFields()
    fields.append(_qfield("sensor_id", "string"))
    fields.append(_datetime_field("time"))
    fields.append(_qfield("value", "double"))
    out = QgsMemoryProviderUtils.createMemoryLayer(name, fields, points.wkbType(), points.crs())
    row_of = {str(s): k for k, s in enumerate(result.get("sensor_ids") or [])}
    i = points.fields().indexOf(id_field)
    feats = []
    for f in points.getFeatures():
        sid = _id_text(f.attributes()[i])
        k = row_of.get(sid)
        if k is None:
            continue
        for m, v in zip(minutes, values[k]):
            nf = QgsFeature(fields)
            nf.setGeometry(f.geometry())
            nf.setAttributes([sid, start.addSecs(int(round(float(m) * 60))), None if not np.isfinite(v) else float(v)])
            feats.append(nf)
    out.dataProvider().addFeatures(feats)
    out.updateExtents()
    props = out.temporalProperties()
    props.setMode(QgsVectorLayerTemporalProperties.ModeFeatureDateTimeInstantFromField)
    props.setStartField("time")
    props.setIsActive(True)
    style_predictions(out, {"values": values}, ["value"])
    return out


def _id_text(v) -> str:
    """A sensor id as the forecast names it: 773869 whether the field holds 773869, 773869.0 or '773869'."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _datetime_field(name: str):
    from qgis.core import Qgis, QgsField

    if Qgis.versionInt() >= 33800:
        from qgis.PyQt.QtCore import QMetaType

        return QgsField(name, QMetaType.Type.QDateTime)
    from qgis.PyQt.QtCore import QVariant  # pragma: no cover - QGIS 3.34 / 3.36

    return QgsField(name, QVariant.DateTime)


def sensor_points_layer(sensor_ids, layers) -> tuple | None:
    """(a point layer, its id field) among `layers` whose field values name most of the forecast's sensors
    (80% or more; the best such layer), or None."""
    from qgis.core import QgsVectorLayer, QgsWkbTypes

    wanted = {str(s) for s in sensor_ids}
    best = None
    for layer in layers:
        if not isinstance(layer, QgsVectorLayer) or layer.geometryType() != QgsWkbTypes.PointGeometry:
            continue
        names = [f.name() for f in layer.fields()]
        seen: dict[str, set] = {n: set() for n in names}
        for k, f in enumerate(layer.getFeatures()):
            if k >= 20000:
                break
            for n, v in zip(names, f.attributes()):
                t = _id_text(v)
                if t in wanted:
                    seen[n].add(t)
        for n, hit in seen.items():
            share = len(hit) / max(1, len(wanted))
            if share >= 0.8 and (best is None or share > best[2]):
                best = (layer, n, share)
    return None if best is None else best[:2]


def style_predictions(layer, result: dict, new_fields) -> None:
    """Categorised by predicted class, or graduated by the first predicted value."""
    from qgis.core import (
        QgsCategorizedSymbolRenderer,
        QgsClassificationQuantile,
        QgsGradientColorRamp,
        QgsGraduatedSymbolRenderer,
        QgsRendererCategory,
        QgsSymbol,
    )
    from qgis.PyQt.QtGui import QColor

    if not layer.isSpatial() or not new_fields:
        return
    field = new_fields[0]
    if result.get("values") is None:
        classes = list(result.get("classes") or sorted({str(v) for v in (result.get("labels") or [])}))
        cats = []
        for name, c in zip(classes, class_colors(classes)):
            sym = QgsSymbol.defaultSymbol(layer.geometryType())
            sym.setColor(QColor(c))
            cats.append(QgsRendererCategory(name, sym, name))
        layer.setRenderer(QgsCategorizedSymbolRenderer(field, cats))
    else:
        sym = QgsSymbol.defaultSymbol(layer.geometryType())
        r = QgsGraduatedSymbolRenderer(field)
        r.setSourceSymbol(sym)
        r.setSourceColorRamp(QgsGradientColorRamp(QColor("#ffffcc"), QColor("#bd0026")))
        r.setClassificationMethod(QgsClassificationQuantile())
        r.updateClasses(layer, 5)
        layer.setRenderer(r)


# ---- trajectories -------------------------------------------------------------------------------

TRAJECTORY_FIELDS = (("track_id", "string"), ("rank", "int"), ("score", "double"))


def trajectory_fields():
    from qgis.core import QgsFields

    fields = QgsFields()
    for n, k in TRAJECTORY_FIELDS:
        fields.append(_qfield(n, k))
    return fields


def trajectory_features(result: dict, track_ids, last_xy=None):
    """One QgsFeature per candidate future: a LineString in the input layer's CRS from the track's last
    observed fix through the 12 predicted points; attributes track id, rank (1 = most likely), score.

    The backend's `paths_xy` (B, K, T, 2) are in the layer's CRS and start after `origin_xy` (B, 2).
    Without them (an older backend), `paths` are offsets in metres from the last observed fix and are
    placed from `last_xy`; offsets are never drawn as coordinates."""
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY

    scores = np.asarray(result["scores"], np.float64)  # (B, K)
    if result.get("paths_xy") is not None:
        paths = np.asarray(result["paths_xy"], np.float64)  # (B, K, T, 2), the layer's CRS
        origin = result.get("origin_xy")
        origin = np.asarray(origin, np.float64) if origin is not None else (
            np.asarray(last_xy, np.float64) if last_xy is not None else None)
    else:
        if last_xy is None or any(p is None for p in last_xy):
            raise ValueError(tr("The backend sent paths relative to each track's last fix without the fixes; "
                                "update the backend."))
        origin = np.asarray(last_xy, np.float64)  # (B, 2)
        paths = np.asarray(result["paths"], np.float64) + origin[:, None, None, :]
    fields = trajectory_fields()
    feats = []
    for b in range(paths.shape[0]):
        tid = track_ids[b] if track_ids is not None and b < len(track_ids) else b
        order = np.argsort(-scores[b], kind="stable")
        for rank, k in enumerate(order, start=1):
            pts = [QgsPointXY(float(x), float(y)) for x, y in paths[b, k]]
            if origin is not None and b < len(origin) and np.isfinite(origin[b]).all():
                pts.insert(0, QgsPointXY(float(origin[b][0]), float(origin[b][1])))
            f = QgsFeature(fields)
            f.setGeometry(QgsGeometry.fromPolylineXY(pts))
            f.setAttributes([str(tid), int(rank), float(scores[b, k])])
            feats.append(f)
    return feats


def last_positions(arrays: dict, n_tracks: int):
    """The last observed (x, y) of each track code in a trajectory payload."""
    xy, t, track = arrays["xy"], arrays["t"], arrays["track"]
    out = []
    for k in range(n_tracks):
        sel = np.flatnonzero(track == k)
        if len(sel) == 0:
            out.append((np.nan, np.nan))
            continue
        j = sel[np.argmax(t[sel])]
        out.append((float(xy[j, 0]), float(xy[j, 1])))
    return out


def style_trajectories(layer) -> None:
    """Rank 1 drawn bold; other candidates thin and fading with their score."""
    from qgis.core import QgsProperty, QgsSymbol, QgsSymbolLayer, QgsSingleSymbolRenderer
    from qgis.PyQt.QtGui import QColor

    sym = QgsSymbol.defaultSymbol(layer.geometryType())
    sym.setColor(QColor("#d7301f"))
    sl = sym.symbolLayer(0)
    sl.setDataDefinedProperty(QgsSymbolLayer.Property.StrokeWidth, QgsProperty.fromExpression('if("rank" = 1, 0.9, 0.3)'))
    sl.setDataDefinedProperty(
        QgsSymbolLayer.Property.StrokeColor,
        QgsProperty.fromExpression("set_color_part('#d7301f', 'alpha', if(\"rank\" = 1, 255, 60 + 195 * \"score\"))"),
    )
    layer.setRenderer(QgsSingleSymbolRenderer(sym))


def trajectory_layer(result: dict, track_ids, crs, name: str | None = None, last_xy=None):
    from qgis.core import Qgis, QgsMemoryProviderUtils

    layer = QgsMemoryProviderUtils.createMemoryLayer(
        name or tr("Predicted trajectories"), trajectory_fields(), Qgis.WkbType.LineString, crs
    )
    layer.dataProvider().addFeatures(trajectory_features(result, track_ids, last_xy))
    layer.updateExtents()
    style_trajectories(layer)
    return layer


# ---- point clouds -------------------------------------------------------------------------------

POINT_FIELDS = (("class", "int"), ("class_name", "string"), ("z", "double"))


def point_fields():
    from qgis.core import QgsFields

    fields = QgsFields()
    for n, k in POINT_FIELDS:
        fields.append(_qfield(n, k))
    return fields


def element_xyz(result: dict) -> np.ndarray | None:
    """(M, 3) coordinates of the classified points, when the backend sent them."""
    for key in ("element_xyz", "xyz", "points"):
        v = result.get(key)
        if v is not None:
            v = np.asarray(v, np.float64)
            return v.reshape(-1, v.shape[-1])[:, :3]
    return None


def point_features(xyz: np.ndarray, labels: np.ndarray, classes):
    from qgis.core import QgsFeature, QgsGeometry, QgsPoint

    fields = point_fields()
    feats = []
    for (x, y, z), c in zip(xyz, labels):
        f = QgsFeature(fields)
        f.setGeometry(QgsGeometry(QgsPoint(float(x), float(y), float(z))))
        c = int(c)
        f.setAttributes([c, str(classes[c]) if 0 <= c < len(classes) else None, float(z)])
        feats.append(f)
    return feats


def style_points(layer, classes) -> None:
    from qgis.core import QgsCategorizedSymbolRenderer, QgsRendererCategory, QgsSymbol
    from qgis.PyQt.QtGui import QColor

    cats = []
    for i, (name, c) in enumerate(zip(classes, class_colors(classes))):
        sym = QgsSymbol.defaultSymbol(layer.geometryType())
        sym.setColor(QColor(c))
        sym.setSize(1.0)
        if sym.symbolLayerCount():
            sym.symbolLayer(0).setStrokeStyle(0)  # Qt.NoPen
        cats.append(QgsRendererCategory(i, sym, str(name)))
    layer.setRenderer(QgsCategorizedSymbolRenderer("class", cats))


def points_layer(xyz, labels, classes, crs, name: str | None = None):
    from qgis.core import Qgis, QgsMemoryProviderUtils

    layer = QgsMemoryProviderUtils.createMemoryLayer(
        name or tr("Classified points"), point_fields(), Qgis.WkbType.PointZ, crs
    )
    layer.dataProvider().addFeatures(point_features(xyz, labels, classes))
    layer.updateExtents()
    style_points(layer, classes)
    return layer


def point_results(res: dict):
    """(file point indexes (N,), class indices (N,), xyz (N, 3)) of a point-classification result.

    Elements are the points each tile kept (`samples[i]["index"]` gives their file indexes); padding
    (-1) is dropped. Coordinates come from the result (`element_xyz`: the plugin asks for them with
    `return_xyz`); a result without them raises ValueError (a backend too old for this plugin)."""
    el = np.asarray(res.get("element_labels"))
    if el.ndim == 1:
        el = el[None]
    samples = res.get("samples") or []
    if res.get("element_xyz") is None:
        raise ValueError(tr("The backend sent no point coordinates with the classes (element_xyz); update the "
                            "backend."))
    xyz_all = np.asarray(res["element_xyz"], np.float64)
    if xyz_all.ndim == 2:
        xyz_all = xyz_all[None]
    idx_parts, lab_parts, xyz_parts = [], [], []
    for b in range(el.shape[0]):
        lab = el[b]
        index = samples[b].get("index") if b < len(samples) else None
        n = len(index) if index is not None else int((lab >= 0).sum())
        idx_parts.append(np.asarray(index if index is not None else np.arange(n), np.int64))
        lab_parts.append(lab[:n].astype(np.int64))
        xyz_parts.append(xyz_all[b].reshape(-1, 3)[:n])
    index = np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int64)
    labels = np.concatenate(lab_parts) if lab_parts else np.zeros(0, np.int64)
    xyz = np.concatenate(xyz_parts) if xyz_parts else np.zeros((0, 3))
    ok = labels >= 0
    return index[ok], labels[ok], xyz[ok]


# ---- saving -------------------------------------------------------------------------------------


def save_gpkg(layer, path: str, layer_name: str | None = None, style: bool = True) -> str:
    """Write a (memory) layer to a GeoPackage, with its style stored as the default in the file."""
    from qgis.core import QgsCoordinateTransformContext, QgsVectorFileWriter, QgsVectorLayer

    opts = QgsVectorFileWriter.SaveVectorOptions()
    opts.driverName = "GPKG"
    opts.layerName = layer_name or _safe(layer.name())
    err = QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, QgsCoordinateTransformContext(), opts)
    if err[0] != QgsVectorFileWriter.NoError:
        raise OSError(tr("Cannot write {path}: {error}").format(path=path, error=err[1]))
    if style:
        out = QgsVectorLayer(f"{path}|layername={opts.layerName}", opts.layerName, "ogr")
        out.setRenderer(layer.renderer().clone())
        out.saveStyleToDatabase(opts.layerName, "AllSpark", True, "")
    return path


def save_style_to_output(dest: str, apply) -> None:
    """Open a Processing output (a file) and store its style as the default, so any program that
    opens it later (QGIS, qgis_process's caller) sees the styled layer."""
    from qgis.core import QgsMapLayer, QgsVectorLayer

    if not dest or dest.startswith("memory:") or not os.path.exists(dest.split("|")[0]):
        return
    layer = QgsVectorLayer(dest, "out", "ogr")
    if not layer.isValid():
        return
    apply(layer)
    if dest.split("|")[0].lower().endswith(".gpkg"):
        layer.saveStyleToDatabase(layer.name(), "AllSpark", True, "")
    else:
        layer.saveDefaultStyle(QgsMapLayer.StyleCategory.Symbology)
