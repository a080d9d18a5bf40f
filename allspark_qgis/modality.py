"""Which AllSpark modality a QGIS layer holds, and whether it fits a bundle.

The rule is a plain function of a few layer properties (`LayerFacts`), so it is unit-tested without
QGIS layers; `facts_from_layer` reads those properties from a real layer.

Rule (first match wins):
- point-cloud layer -> ``pointcloud``
- raster: complex data type, or SAR band names (VV, VH, HH, HV, ...), or 1-2 bands -> ``sar``;
  3 bands, or 4 whose 4th is alpha -> ``rgb``; 4..29 bands -> ``msi``; 30 or more -> ``hsi``
- vector: point or line geometry with a time field and an id field -> ``trajectory``;
  any other attribute table (polygons, no geometry, points without time) -> ``table``
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .i18n import tr

MODALITIES = ("rgb", "msi", "hsi", "sar", "table", "trajectory", "pointcloud")
RASTER_MODALITIES = ("rgb", "msi", "hsi", "sar")
HSI_MIN_BANDS = 30

COMPLEX_TYPES = {"CInt16", "CInt32", "CFloat32", "CFloat64"}
_SAR_BAND = re.compile(r"(^|[^a-z])(vv|vh|hh|hv|sigma0|gamma0|beta0|sar)([^a-z]|$)", re.I)
_TIME_NAMES = re.compile(
    r"^(t|time|times|timestamp|datetime|date_time|date|ts|frame|frame_id|frameid|epoch|unix_time|utc|"
    r"time_s|time_sec|seconds|secs|basedatetime|gps_time|gpstime|when)$",
    re.I,
)
_ID_NAMES = re.compile(
    r"^(id|track|track_id|trackid|track_fid|ped|ped_id|pedid|person_id|agent|agent_id|object|object_id|"
    r"obj_id|traj|traj_id|trajectory|trajectory_id|vessel|vessel_id|mmsi|imo|vehicle|vehicle_id|"
    r"taxi|taxi_id|uid|user|user_id|device|device_id|animal|animal_id|individual|individual-local-identifier|"
    r"tag|tag_id|name)$",
    re.I,
)
TIME_TYPES = {"datetime", "date", "time"}
NUMERIC_TYPES = {"int", "double"}
TEXT_TYPES = {"string"}

# file formats the backend's point-cloud reader opens (laspy / PDAL)
POINTCLOUD_SUFFIXES = (".las", ".laz", ".copc.laz")


@dataclass
class LayerFacts:
    """What the modality rule needs to know about a layer."""

    kind: str  # "raster" | "vector" | "pointcloud" | "other"
    band_count: int = 0
    data_type: str = ""  # GDAL-style name of band 1: Byte, UInt16, Int16, Float32, CFloat32, ...
    band_names: list[str] = field(default_factory=list)
    alpha_last: bool = False  # 4th band is alpha (RGBA)
    geometry: str = "none"  # "point" | "line" | "polygon" | "none"
    fields: list[tuple[str, str]] = field(default_factory=list)  # (name, kind): int|double|string|datetime|date|time|other
    source: str = ""


def find_time_field(fields: list[tuple[str, str]]) -> str | None:
    """The field that holds each fix's time: a date/time typed field first, else a numeric one named like time."""
    for name, kind in fields:
        if kind in TIME_TYPES and kind != "date":
            return name
    for name, kind in fields:
        if kind == "date":
            return name
    for name, kind in fields:
        if kind in NUMERIC_TYPES | TEXT_TYPES and _TIME_NAMES.match(name):
            return name
    return None


def find_id_field(fields: list[tuple[str, str]], exclude: str | None = None) -> str | None:
    """The field that tells tracks apart (track id, pedestrian id, MMSI, ...); never the layer's fid."""
    for name, kind in fields:
        if name == exclude or name.lower() in ("fid", "ogc_fid"):
            continue
        if kind in NUMERIC_TYPES | TEXT_TYPES and _ID_NAMES.match(name):
            return name
    return None


def detect(facts: LayerFacts) -> str | None:
    """The modality of a layer from its facts, or None when AllSpark has none for it."""
    if facts.kind == "pointcloud":
        return "pointcloud"
    if facts.kind == "raster":
        bands = facts.band_count
        if bands <= 0:
            return None
        if facts.data_type in COMPLEX_TYPES:
            return "sar"
        if any(_SAR_BAND.search(n or "") for n in facts.band_names):
            return "sar"
        if bands <= 2:
            return "sar"
        if bands == 3 or (bands == 4 and facts.alpha_last):
            return "rgb"
        if bands < HSI_MIN_BANDS:
            return "msi"
        return "hsi"
    if facts.kind == "vector":
        if facts.geometry in ("point", "line"):
            t = find_time_field(facts.fields)
            if t and find_id_field(facts.fields, exclude=t):
                return "trajectory"
        return "table"
    return None


def layer_kind(layer) -> str:
    """raster | vector | pointcloud | other, for a QgsMapLayer."""
    from qgis.core import Qgis

    t = layer.type()
    if t == Qgis.LayerType.Raster:
        return "raster"
    if t == Qgis.LayerType.Vector:
        return "vector"
    if t == Qgis.LayerType.PointCloud:
        return "pointcloud"
    return "other"


def _field_kind(fld) -> str:
    from qgis.PyQt.QtCore import QVariant

    t = fld.type()
    if t in (QVariant.Int, QVariant.LongLong, QVariant.UInt, QVariant.ULongLong, QVariant.Bool):
        return "int"
    if t == QVariant.Double:
        return "double"
    if t == QVariant.String:
        return "string"
    if t == QVariant.DateTime:
        return "datetime"
    if t == QVariant.Date:
        return "date"
    if t == QVariant.Time:
        return "time"
    return "other"


def field_kinds(layer) -> list[tuple[str, str]]:
    return [(f.name(), _field_kind(f)) for f in layer.fields()]


def gdal_type_name(qgis_data_type) -> str:
    from qgis.core import Qgis

    names = {
        Qgis.DataType.Byte: "Byte",
        Qgis.DataType.Int8: "Int8",
        Qgis.DataType.UInt16: "UInt16",
        Qgis.DataType.Int16: "Int16",
        Qgis.DataType.UInt32: "UInt32",
        Qgis.DataType.Int32: "Int32",
        Qgis.DataType.Float32: "Float32",
        Qgis.DataType.Float64: "Float64",
        Qgis.DataType.CInt16: "CInt16",
        Qgis.DataType.CInt32: "CInt32",
        Qgis.DataType.CFloat32: "CFloat32",
        Qgis.DataType.CFloat64: "CFloat64",
        Qgis.DataType.ARGB32: "ARGB32",
        Qgis.DataType.ARGB32_Premultiplied: "ARGB32",
    }
    return names.get(qgis_data_type, "Unknown")


def facts_from_layer(layer) -> LayerFacts:
    """Read the modality facts from a QgsMapLayer."""
    from qgis.core import Qgis

    kind = layer_kind(layer)
    facts = LayerFacts(kind=kind, source=layer.source())
    if kind == "raster":
        prov = layer.dataProvider()
        facts.band_count = layer.bandCount()
        if facts.band_count:
            facts.data_type = gdal_type_name(prov.sourceDataType(1))
        facts.band_names = [prov.generateBandName(b) for b in range(1, facts.band_count + 1)]
        descr = [prov.bandDescription(b) if hasattr(prov, "bandDescription") else "" for b in range(1, facts.band_count + 1)]
        facts.band_names = [d or n for d, n in zip(descr, facts.band_names)]
        if facts.band_count == 4:
            facts.alpha_last = prov.colorInterpretation(4) == Qgis.RasterColorInterpretation.AlphaBand
    elif kind == "vector":
        gt = layer.geometryType()
        facts.geometry = {
            Qgis.GeometryType.Point: "point",
            Qgis.GeometryType.Line: "line",
            Qgis.GeometryType.Polygon: "polygon",
        }.get(gt, "none")
        if not layer.isSpatial():
            facts.geometry = "none"
        facts.fields = field_kinds(layer)
    return facts


def detect_layer(layer) -> str | None:
    return detect(facts_from_layer(layer))


def pointcloud_source(layer) -> str:
    """The file the backend reads for a point-cloud layer: its LAS / LAZ / COPC source path."""
    from qgis.core import QgsProviderRegistry

    src = layer.source()
    try:
        parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(), src)
        src = parts.get("path") or src
    except Exception:  # noqa: BLE001 - providers without decodeUri
        pass
    return src


def bundles_for(bundles: list[dict], modality: str | None, tasks: tuple[str, ...] | None = None) -> list[dict]:
    """The bundles of a modality (and task), in the backend's order."""
    out = []
    for b in bundles:
        if modality and b.get("modality") != modality:
            continue
        if tasks and b.get("task") not in tasks:
            continue
        out.append(b)
    return out


def _spec_bands(manifest: dict) -> int | None:
    spec = manifest.get("input") or {}
    for key in ("bands", "channels", "in_channels", "n_bands"):
        v = spec.get(key)
        if isinstance(v, int):
            return v
        if isinstance(v, list):
            return len(v)
    return None


def fit_problem(manifest: dict, facts: LayerFacts, modality: str | None = None) -> str | None:
    """Why a layer doesn't fit a bundle (a sentence for the user), or None when it fits.

    `modality` is the user's override; by default the detected one.
    """
    name = manifest.get("name", "?")
    want = manifest.get("modality")
    have = modality or detect(facts)
    if facts.kind == "other":
        return tr("AllSpark does not read this kind of layer; bundle '{name}' needs a {want} layer.").format(name=name, want=want)
    if have != want:
        return tr("Bundle '{name}' expects a {want} layer, but this layer looks like {have}.").format(
            name=name, want=want, have=have or tr("nothing AllSpark reads")
        )
    if want in RASTER_MODALITIES:
        if facts.kind != "raster":
            return tr("Bundle '{name}' needs a raster layer.").format(name=name)
        bands = _spec_bands(manifest)
        if bands is not None and facts.band_count != bands:
            return tr("Bundle '{name}' needs {bands} band(s); this raster has {count}.").format(
                name=name, bands=bands, count=facts.band_count
            )
    elif want == "pointcloud":
        if facts.kind != "pointcloud":
            return tr("Bundle '{name}' needs a point-cloud layer.").format(name=name)
        src = facts.source.lower()
        if not src.endswith(POINTCLOUD_SUFFIXES):
            return tr("Bundle '{name}' reads LAS, LAZ or COPC files; this layer's source ({source}) is not one of them.").format(
                name=name, source=facts.source
            )
    elif want == "trajectory":
        if facts.kind != "vector" or facts.geometry not in ("point", "line"):
            return tr("Bundle '{name}' needs a point or line layer with a time field and an id field.").format(name=name)
    elif want == "table":
        if facts.kind != "vector":
            return tr("Bundle '{name}' needs a vector layer or table.").format(name=name)
        spec = manifest.get("input") or {}
        needed = [str(c) for c in list(spec.get("numeric") or []) + list(spec.get("categorical") or [])]
        have_fields = {n for n, _ in facts.fields}
        missing = [c for c in needed if c and c not in have_fields]
        if missing:
            return tr("Bundle '{name}' needs the field(s) {fields}, which this layer lacks.").format(
                name=name, fields=", ".join(missing)
            )
    return None
