"""AllSpark results -> styled QGIS layers. Plain functions, no GUI.

- classified rasters: GeoTIFF written with GDAL (colour table + category names inside the file) and
  a paletted renderer whose legend shows the class names (also saved as the file's .qml default style);
- table predictions: new fields on a copy of a vector layer;
- trajectories: a line layer in the input's CRS, one feature per candidate future (track id, rank,
  score), from the track's last observed fix;
- point classification: a point layer (x, y, z, class) where the point-cloud format can't carry it,
  or a classified copy of an uncompressed LAS file.
"""

from __future__ import annotations

import colorsys
import os
import struct

import numpy as np

from .i18n import tr

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


def write_class_raster(path: str, labels: np.ndarray, transform, crs_wkt: str | None, classes,
                       colors=None) -> str:
    """(H, W) class indices (-1 = none) -> GeoTIFF with a colour table and the class names."""
    from osgeo import gdal

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"class raster must be 2-D, got shape {labels.shape}")
    classes = [str(c) for c in classes]
    colors = colors or class_colors(classes)
    small = len(classes) < NODATA_BYTE
    nodata = NODATA_BYTE if small else NODATA_UINT16
    data = np.where((labels >= 0) & (labels < len(classes)), labels, nodata).astype(np.uint8 if small else np.uint16)
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(path, data.shape[1], data.shape[0], 1, gdal.GDT_Byte if small else gdal.GDT_UInt16,
                    options=["COMPRESS=DEFLATE", "TILED=YES"] if min(data.shape) >= 256 else ["COMPRESS=DEFLATE"])
    if ds is None:
        raise OSError(tr("Cannot write {path}.").format(path=path))
    ds.SetGeoTransform([float(v) for v in transform])
    if crs_wkt:
        ds.SetProjection(crs_wkt)
    band = ds.GetRasterBand(1)
    band.SetNoDataValue(nodata)
    band.WriteArray(data)
    if small:
        ct = gdal.ColorTable()
        for i, c in enumerate(colors):
            rgb = tuple(int(c[k : k + 2], 16) for k in (1, 3, 5))
            ct.SetColorEntry(i, (*rgb, 255))
        band.SetRasterColorTable(ct)
        band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
    band.SetCategoryNames(classes)
    band.SetDescription("class")
    ds.FlushCache()
    ds = None
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


def las_header(path: str) -> dict:
    """The few LAS header fields the plugin needs (any version, compressed or not)."""
    with open(path, "rb") as fh:
        head = fh.read(375)
    if head[:4] != b"LASF":
        raise ValueError(tr("{path} is not a LAS file.").format(path=path))
    major, minor = head[24], head[25]
    offset = struct.unpack_from("<I", head, 96)[0]
    fmt = head[104]
    reclen = struct.unpack_from("<H", head, 105)[0]
    count = struct.unpack_from("<I", head, 107)[0]
    if (major, minor) >= (1, 4) and len(head) >= 255:
        count = struct.unpack_from("<Q", head, 247)[0] or count
    scale = struct.unpack_from("<3d", head, 131)
    off = struct.unpack_from("<3d", head, 155)
    return {
        "version": (major, minor),
        "offset": offset,
        "format": fmt & 0x3F,
        "compressed": bool(fmt & 0x80) or path.lower().endswith(".laz"),
        "record_length": reclen,
        "count": int(count),
        "scale": scale,
        "xyz_offset": off,
    }


def las_xyz(path: str) -> np.ndarray:
    """(N, 3) coordinates of an uncompressed LAS file (numpy only)."""
    h = las_header(path)
    if h["compressed"]:
        raise ValueError(tr("{path} is compressed (LAZ); the plugin reads only uncompressed LAS.").format(path=path))
    raw = np.memmap(path, np.uint8, "r", offset=h["offset"], shape=(h["count"] * h["record_length"],))
    rec = raw.reshape(h["count"], h["record_length"])
    ints = rec[:, :12].copy().view("<i4").reshape(-1, 3)
    return ints * np.asarray(h["scale"]) + np.asarray(h["xyz_offset"])


LAS_CODES = {"never classified": 0, "unclassified": 1, "other": 1, "non-ground": 1, "ground": 2,
             "low vegetation": 3, "medium vegetation": 4, "high vegetation": 5, "vegetation": 4,
             "building": 6, "noise": 7, "low point": 7, "water": 9, "rail": 10, "road": 11, "road surface": 11,
             "bridge": 17, "high noise": 18}


def las_codes(classes) -> list[int]:
    """ASPRS class codes for class names (ground -> 2, building -> 6, ...); other names keep their index
    shifted past the standard codes (64 + index)."""
    return [LAS_CODES.get(str(c).strip().lower(), 64 + i) for i, c in enumerate(classes)]


def point_results(res: dict, path: str | None = None, layer=None):
    """(file point indexes (N,), class indices (N,), xyz (N, 3) or None) of a point-classification result.

    Elements are the points each tile kept (`samples[i]["index"]` gives their file indexes); padding
    (-1) is dropped. Coordinates come from the result (`element_xyz`), else from the file when the plugin
    can read them in file order (`file_order_xyz`)."""
    el = np.asarray(res.get("element_labels"))
    if el.ndim == 1:
        el = el[None]
    samples = res.get("samples") or []
    xyz_all = res.get("element_xyz")
    xyz_all = None if xyz_all is None else np.asarray(xyz_all, np.float64)
    idx_parts, lab_parts, xyz_parts = [], [], []
    for b in range(el.shape[0]):
        lab = el[b]
        index = samples[b].get("index") if b < len(samples) else None
        n = len(index) if index is not None else int((lab >= 0).sum())
        keep = lab[:n]
        idx_parts.append(np.asarray(index if index is not None else np.arange(n), np.int64))
        lab_parts.append(keep.astype(np.int64))
        if xyz_all is not None:
            xyz_parts.append(xyz_all[b].reshape(-1, 3)[:n])
    index = np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int64)
    labels = np.concatenate(lab_parts) if lab_parts else np.zeros(0, np.int64)
    ok = labels >= 0
    xyz = np.concatenate(xyz_parts) if xyz_parts else None
    if xyz is None and path and os.path.isfile(path):
        everything = file_order_xyz(path, layer)
        if everything is not None and (len(index) == 0 or index.max() < len(everything)):
            xyz = everything[index]
    if xyz is not None:
        xyz = xyz[ok]
    return index[ok], labels[ok], xyz


def copc_nodes(path: str) -> list[tuple]:
    """The COPC hierarchy's nodes [(level, x, y, z, offset, byte size, point count)], read from the
    file's uncompressed parts (header, info VLR, hierarchy EVLR pages); [] when not a COPC file."""
    with open(path, "rb") as fh:
        head = fh.read(375 + 54 + 160)
        if len(head) < 589 or head[:4] != b"LASF" or head[377:393].rstrip(b"\0") != b"copc":
            return []
        root_off, root_size = struct.unpack_from("<QQ", head, 429 + 40)
        nodes, pages = [], [(root_off, root_size)]
        while pages:
            off, size = pages.pop()
            fh.seek(off)
            page = fh.read(size)
            for k in range(len(page) // 32):
                lvl, x, y, z, o, b, n = struct.unpack_from("<iiiiQii", page, 32 * k)
                if n == -1:
                    pages.append((o, b))
                else:
                    nodes.append((lvl, x, y, z, o, b, n))
    return nodes


def file_order_xyz(path: str, layer=None) -> np.ndarray | None:
    """(N, 3) coordinates of every point in file order, when the plugin can know them without a LAZ
    decoder: an uncompressed LAS file (numpy), or a COPC file whose points are all in one octree node
    (QGIS's COPC provider returns that node's points in file order). None otherwise."""
    try:
        h = las_header(path)
    except (ValueError, OSError):
        return None
    if not h["compressed"]:
        return las_xyz(path)
    nodes = [n for n in copc_nodes(path) if n[6] > 0]
    if len(nodes) != 1 or layer is None:
        return None
    from qgis.core import QgsDoubleRange, QgsGeometry

    prov = layer.dataProvider()
    pts = prov.identify(0, QgsGeometry.fromRect(layer.extent().buffered(1.0)), QgsDoubleRange(), nodes[0][6] + 1)
    if len(pts) != nodes[0][6]:
        return None
    return np.asarray([[p["X"], p["Y"], p["Z"]] for p in pts], np.float64)


def write_classified_las(src: str, dst: str, index: np.ndarray, codes: np.ndarray) -> str:
    """Copy an uncompressed LAS file, setting the classification of the points at `index` to `codes`
    (ASPRS codes); the other points keep theirs."""
    h = las_header(src)
    if h["compressed"]:
        raise ValueError(tr("{path} is compressed (LAZ); the plugin writes only uncompressed LAS.").format(path=src))
    index = np.asarray(index, np.int64).reshape(-1)
    codes = np.asarray(codes).reshape(-1)
    with open(src, "rb") as fh:
        data = bytearray(fh.read())
    rec = np.frombuffer(data, np.uint8, count=h["count"] * h["record_length"], offset=h["offset"])
    rec = rec.reshape(h["count"], h["record_length"])
    if h["format"] >= 6:
        rec[index, 16] = np.clip(codes, 0, 255).astype(np.uint8)
    else:
        rec[index, 15] = (rec[index, 15] & 0xE0) | (np.clip(codes, 0, 31).astype(np.uint8) & 0x1F)
    with open(dst, "wb") as fh:
        fh.write(bytes(data))
    return dst


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
