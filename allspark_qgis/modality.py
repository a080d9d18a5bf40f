"""Which AllSpark modality a QGIS layer holds, and whether it fits a bundle.

The rule is a plain function of a few layer properties (`LayerFacts`), so it is unit-tested without
QGIS layers; `facts_from_layer` reads those properties from a real layer (band descriptions and GDAL
metadata through the provider and osgeo.gdal, a small sample of the values for 1-2 band rasters).

Rule (first match wins):
- point-cloud layer -> ``pointcloud``
- raster:
  - a rendered image (ARGB32: WMS, XYZ tiles) -> ``rgb``
  - SAR evidence -> ``sar``: a complex data type (SLC), SAR band names (VV, VH, HH, HV, Sigma0, ...),
    SAR metadata (polarisation, Sentinel-1 / other SAR missions, GRD / SLC products)
  - 30 or more bands -> ``hsi``; 3 bands, or 4 whose 4th is alpha -> ``rgb``; 4..29 bands -> ``msi``
  - 1 or 2 bands (the count alone says nothing): optical band names or metadata (B01..B12, B8A,
    red / nir / swir, a wavelength, Sentinel-2 / Landsat) or an optical band in the file name
    (``s2_B04.tif``, ``..._SR_B4.TIF``) -> ``msi``; SAR words in the file or folder name (S1A, GRD,
    sigma0, sar, mstar), or floating-point values that look like backscatter in dB (mostly negative,
    down below -3) -> ``sar``; anything else -> None (AllSpark cannot tell: the user chooses the
    modality by hand)
- vector: a string field of video clip paths -> ``video`` (named like one: video, clip, movie, footage,
  video_path, ...; or named file / path / filename / url / media with values that end in a video file type);
  point or line geometry with a time field and an id field -> ``trajectory``; a table without
  geometry whose numeric fields are mostly named like sensor ids (8 or more: 773869, s12) -> ``graph``;
  a string field named like a text (text, comment, report, review, ...) beside at most two numeric
  fields -> ``text``; any other attribute table (polygons, no geometry, points without time) -> ``table``

Titles, nouns and counting units of the modalities are data here (`TITLES`, `NOUNS`, `RUN_UNITS`), so
the GUI and Processing show them without branching on modality names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .i18n import N_, tr

MODALITIES = ("rgb", "msi", "hsi", "sar", "table", "trajectory", "pointcloud", "graph", "text", "video")
RASTER_MODALITIES = ("rgb", "msi", "hsi", "sar")
HSI_MIN_BANDS = 30

# what the user reads: the modality's title (pickers), the noun for it in a sentence, and what a run
# over it counts (progress: "48 of 1,024 pixels")
TITLES = {
    "rgb": N_("RGB"),
    "msi": N_("Multispectral"),
    "hsi": N_("Hyperspectral"),
    "sar": N_("SAR"),
    "table": N_("Table"),
    "trajectory": N_("Trajectory"),
    "pointcloud": N_("Point cloud"),
    "graph": N_("Sensor network"),
    "text": N_("Text"),
    "video": N_("Video"),
    "code": N_("Code"),  # scripts and expression files: files, not layers (Processing: Describe and search scripts)
    "oblique": N_("Oblique photography"),  # folders of views + cameras, not layers (Processing: Depth from oblique images)
    "infrared": N_("Infrared"),  # person images, files not layers (Processing: Find a person in visible images)
}
NOUNS = {
    "rgb": N_("an RGB image"),
    "msi": N_("a multispectral raster"),
    "hsi": N_("a hyperspectral raster"),
    "sar": N_("a SAR image"),
    "table": N_("a table"),
    "trajectory": N_("a trajectory layer (points with a time and a track id)"),
    "pointcloud": N_("a point cloud"),
    "graph": N_("a table of sensor readings over time (a column per sensor)"),
    "text": N_("a layer or table with a text field (reports, comments, reviews)"),
    "video": N_("a layer or table with a field of video clip paths"),
}
RUN_UNITS = {"rgb": "tiles", "msi": "tiles", "sar": "tiles", "hsi": "pixels", "table": "rows",
             "trajectory": "tracks", "pointcloud": "tiles", "graph": "rows",
             "text": "rows", "video": "rows"}
TASK_UNITS = {"pixel_classification": "pixels"}  # a task that counts otherwise than its modality

COMPLEX_TYPES = {"CInt16", "CInt32", "CFloat32", "CFloat64"}
FLOAT_TYPES = {"Float32", "Float64"}
_SAR_BAND = re.compile(r"(^|[^a-z])(vv|vh|hh|hv|sigma0|gamma0|beta0|sar|backscatter)([^a-z]|$)", re.I)
# in a file or folder name: SAR missions / products as well (S1A_IW_GRDH_..., mstar chips)
_SAR_NAME = re.compile(
    r"(^|[^a-z0-9])(vv|vh|hh|hv|sigma0|gamma0|beta0|sar|mstar|backscatter|s1[abcd]?|sentinel-?1[abcd]?|grd[hm]?|slc|"
    r"palsar|terrasar|radarsat-?2?|iceye|capella|cosmo-?skymed)([^a-z0-9]|$)", re.I)
_SAR_META = re.compile(r"polari[sz]ation|sentinel-?1|palsar|radarsat|terrasar|cosmo|iceye|capella|"
                       r"(^|[^a-z])(sar|grd|slc)([^a-z]|$)|backscatter|sigma0|gamma0|beta0", re.I)
# optical bands: Sentinel-2 / Landsat band ids, colour and infrared names
_OPTICAL_BAND = re.compile(
    r"(^|[^a-z0-9])(b0?[1-9]|b1[0-2]|b8a|sr_b[1-9]|red|green|blue|nir|swir[12]?|coastal|aerosol|red.?edge|"
    r"pan|panchromatic|cirrus|water.?vapou?r|rededge[1-4]?)([^a-z0-9]|$)", re.I)
_OPTICAL_META = re.compile(r"wavelength|sentinel-?2|landsat|pleiades|worldview|planetscope|reflectance|"
                           r"cloud.?cover|spacecraft|satelliteid|msi|(^|[^a-z])spot[-_ ]?[1-7]?([^a-z]|$)", re.I)
DB_MIN = -3.0  # backscatter in dB reaches below this; reflectance, indices (NDVI >= -1) do not
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
    metadata: dict[str, str] = field(default_factory=dict)  # GDAL metadata of the dataset and its bands
    values: tuple[float, float, float] | None = None  # (min, median, max) of a sample of the first band
    field_values: dict[str, list[str]] = field(default_factory=dict)  # a few values of path-named string fields


def title(m: str | None) -> str:
    """The modality's title for pickers ("Multispectral"), translated; "?" for None."""
    return tr(TITLES.get(m, m)) if m else "?"


def noun(m: str | None) -> str:
    """The modality in a sentence ("a multispectral raster"), translated."""
    return tr(NOUNS.get(m, m)) if m else tr("a layer AllSpark cannot tell the modality of")


def run_unit(manifest: dict) -> str:
    """What a run of this bundle counts: "pixels", "tiles", "rows" or "tracks"."""
    return TASK_UNITS.get(manifest.get("task")) or RUN_UNITS.get(manifest.get("modality"), "tiles")


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


def sar_evidence(facts: LayerFacts) -> bool:
    """Complex samples (SLC), SAR band names, or SAR metadata."""
    if facts.data_type in COMPLEX_TYPES:
        return True
    if any(_SAR_BAND.search(n or "") for n in facts.band_names):
        return True
    return any(_SAR_META.search(f"{k}={v}") for k, v in facts.metadata.items())


def sar_named(facts: LayerFacts) -> bool:
    """SAR words in the file or folder name (weaker evidence: used for 1-2 band rasters only)."""
    return any(_SAR_NAME.search(part) for part in _name_parts(facts.source))


def optical_evidence(facts: LayerFacts) -> bool:
    """Optical band names (B04, B8A, nir, ...), optical metadata (a wavelength, Sentinel-2, Landsat),
    or an optical band id in the file name."""
    if any(_OPTICAL_BAND.search(n or "") for n in facts.band_names):
        return True
    if any(_OPTICAL_META.search(f"{k}={v}") for k, v in facts.metadata.items()):
        return True
    stem = _name_parts(facts.source)[:1]
    return any(_OPTICAL_BAND.search(part) for part in stem)


def looks_like_db(facts: LayerFacts) -> bool:
    """Floating-point values like SAR backscatter in dB: mostly negative, reaching below DB_MIN."""
    if facts.data_type not in FLOAT_TYPES or facts.values is None:
        return False
    lo, median, _hi = facts.values
    return median < 0 and lo < DB_MIN


def _name_parts(source: str, folders: int = 3) -> list[str]:
    """The file's stem, then the names of the folders above it ("HB03333", "2S1", "train_17deg",
    "sar_mstar10") of a raster source; [] for a source that is not a file path."""
    import os

    path = (source or "").split("|")[0]
    if not path or "://" in path:
        return []
    stem = os.path.basename(path)
    for ext in (".tif", ".tiff", ".jp2", ".vrt", ".img", ".png", ".jpg", ".jpeg", ".nc", ".h5", ".dim", ".safe"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    parts, folder = [stem], os.path.dirname(path)
    for _ in range(folders):
        name = os.path.basename(folder)
        if not name:
            break
        parts.append(name)
        folder = os.path.dirname(folder)
    return [p for p in parts if p]


def detect(facts: LayerFacts) -> str | None:
    """The modality of a layer from its facts, or None when AllSpark has none for it (or cannot tell)."""
    if facts.kind == "pointcloud":
        return "pointcloud"
    if facts.kind == "raster":
        bands = facts.band_count
        if bands <= 0:
            return None
        if facts.data_type == "ARGB32":
            return "rgb"
        if sar_evidence(facts):
            return "sar"
        if bands >= HSI_MIN_BANDS:
            return "hsi"
        if bands == 3 or (bands == 4 and facts.alpha_last):
            return "rgb"
        if bands >= 4:
            return "msi"
        if optical_evidence(facts):
            return "msi"
        if sar_named(facts) or looks_like_db(facts):
            return "sar"
        return None
    if facts.kind == "vector":
        if video_columns(facts):
            return "video"
        if facts.geometry in ("point", "line"):
            t = find_time_field(facts.fields)
            if t and find_id_field(facts.fields, exclude=t):
                return "trajectory"
        if facts.geometry == "none" and sensor_columns(facts.fields):
            return "graph"
        if text_columns(facts.fields):
            return "text"
        return "table"
    return None


_SENSOR_NAME = re.compile(r"^[a-z_]{0,8}\d+$", re.I)
SENSOR_MIN_COLUMNS = 8


def sensor_columns(fields: list[tuple[str, str]]) -> list[str]:
    """The numeric fields named like sensor ids (773869, s12, sensor_3) when they make a table of sensor
    readings: at least SENSOR_MIN_COLUMNS of them and 80% of its numeric fields; else []."""
    numeric = [n for n, k in fields if k in NUMERIC_TYPES]
    sensors = [n for n in numeric if _SENSOR_NAME.match(n)]
    return sensors if len(sensors) >= SENSOR_MIN_COLUMNS and len(sensors) >= 0.8 * len(numeric) else []


_TEXT_NAME = re.compile(r"^(text|texts|review|body|comment|comments|description|content|message|sentence|"
                        r"note|notes|report|remarks?|observations?|summary|abstract)$", re.I)
TEXT_MAX_NUMERIC = 2


def text_named(fields: list[tuple[str, str]]) -> list[str]:
    """The string fields named like a text (text, comment, report, review, ...)."""
    return [n for n, k in fields if k in TEXT_TYPES and _TEXT_NAME.match(n)]


def text_columns(fields: list[tuple[str, str]]) -> list[str]:
    """The text fields (text_named) of a layer that is about its texts: at most TEXT_MAX_NUMERIC numeric
    fields beside them (else it is a table with a note)."""
    named = text_named(fields)
    numeric = [n for n, k in fields if k in NUMERIC_TYPES and n.lower() not in ("id", "fid", "ogc_fid")]
    return named if named and len(numeric) <= TEXT_MAX_NUMERIC else []


VIDEO_TYPES = (".avi", ".mp4", ".mkv", ".mov", ".webm")  # what the backend's video reader opens
_VIDEO_NAME = re.compile(r"^(videos?|clips?|movies?|footage|(video|clip|movie)_?(path|file|filename|name|url|uri))$",
                         re.I)
_PATH_NAME = re.compile(r"^(file|files|path|filepath|file_path|filename|file_name|url|uri|media)$", re.I)


def video_named(fields: list[tuple[str, str]]) -> list[str]:
    """The string fields named like a field of video clips (video, clip, movie, footage, video_path, ...)."""
    return [n for n, k in fields if k in TEXT_TYPES and _VIDEO_NAME.match(n)]


def path_named(fields: list[tuple[str, str]]) -> list[str]:
    """The string fields named like a file path (file, path, filename, url, media)."""
    return [n for n, k in fields if k in TEXT_TYPES and _PATH_NAME.match(n)]


def is_video_path(value) -> bool:
    return isinstance(value, str) and value.strip().lower().endswith(VIDEO_TYPES)


def video_columns(facts: LayerFacts) -> list[str]:
    """The fields of video clip paths: the video-named ones, then the path-named ones whose sampled values
    (facts.field_values) are all video files; [] when there is none."""
    named = video_named(facts.fields)
    for n in path_named(facts.fields):
        values = [v for v in facts.field_values.get(n, []) if v and v.strip()]
        if values and all(is_video_path(v) for v in values):
            named.append(n)
    return named


def path_field_values(layer, fields: list[tuple[str, str]], count: int = 20) -> dict[str, list[str]]:
    """{field: its first `count` non-empty values} of the path-named string fields (for video_columns)."""
    names = path_named(fields)
    if not names:
        return {}
    from qgis.core import QgsFeatureRequest

    idx = [layer.fields().indexOf(n) for n in names]
    out: dict[str, list[str]] = {n: [] for n in names}
    req = QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry).setSubsetOfAttributes(idx).setLimit(count)
    for f in layer.getFeatures(req):
        a = f.attributes()
        for n, i in zip(names, idx):
            v = a[i]
            if isinstance(v, str) and v.strip():
                out[n].append(v)
    return out


def no_bundle_text(m: str | None, facts: LayerFacts | None) -> str:
    """What the prompt panel says when no bundle fits the layer, with the ways forward."""
    if m is None:
        return undetected_reason(facts) if facts is not None else tr("Choose a layer.")
    text = tr("No {modality} bundle is installed, so AllSpark cannot answer about this layer yet.").format(
        modality=title(m))
    if m in RASTER_MODALITIES:
        return text + " " + tr("Train one on this layer: draw points or polygons on it in a new layer with a "
                               "class field, then train a bundle from them. If '{modality}' is wrong, choose "
                               "the modality by hand.").format(modality=title(m))
    return text + " " + tr("Train one on this layer, or, if '{modality}' is wrong, choose the modality by "
                           "hand.").format(modality=title(m))


def undetected_reason(facts: LayerFacts) -> str:
    """Why detect() gave None, for the user (with what to do)."""
    if facts.kind == "raster" and facts.band_count:
        return tr("AllSpark cannot tell what this raster holds from its {count} band(s) ({dtype}): choose "
                  "the modality by hand.").format(count=facts.band_count, dtype=facts.data_type or "?")
    return tr("AllSpark does not read this kind of layer.")


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
        if layer.providerType() == "gdal":
            facts.metadata = gdal_metadata(facts.source)
        if 0 < facts.band_count <= 2 and facts.data_type in FLOAT_TYPES:
            facts.values = sample_values(layer)
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
        facts.field_values = path_field_values(layer, facts.fields)
    return facts


def gdal_metadata(source: str, max_bands: int = 2) -> dict[str, str]:
    """The default-domain metadata of a GDAL raster and of its first bands ({key: value}; band keys
    prefixed "band<N>:"); {} when GDAL cannot open it."""
    try:
        from osgeo import gdal
    except ImportError:  # pragma: no cover - QGIS ships GDAL's Python bindings
        return {}
    out: dict[str, str] = {}
    try:
        ds = gdal.OpenEx(source.split("|")[0], gdal.OF_RASTER | gdal.OF_READONLY)
    except RuntimeError:
        return {}
    if ds is None:
        return {}
    for k, v in (ds.GetMetadata() or {}).items():
        out[str(k)] = str(v)[:200]
    for b in range(1, min(ds.RasterCount, max_bands) + 1):
        band = ds.GetRasterBand(b)
        for k, v in (band.GetMetadata() or {}).items():
            out[f"band{b}:{k}"] = str(v)[:200]
        unit = band.GetUnitType()
        if unit:
            out[f"band{b}:unit"] = unit
    return out


def sample_values(layer, side: int = 64) -> tuple[float, float, float] | None:
    """(min, median, max) of the first band's valid values, read at a coarse resolution (side x side)."""
    import numpy as np

    prov = layer.dataProvider()
    try:
        block = prov.block(1, layer.extent(), side, side)
    except Exception:  # noqa: BLE001 - an unreadable source gives no values
        return None
    if block is None or not block.isValid():
        return None
    raw = bytes(block.data())
    dtype = {"Float32": np.float32, "Float64": np.float64}.get(gdal_type_name(block.dataType()))
    if dtype is None or len(raw) != side * side * np.dtype(dtype).itemsize:
        return None
    a = np.frombuffer(raw, dtype).astype(np.float64)
    valid = np.isfinite(a)
    if block.hasNoDataValue():
        valid &= a != block.noDataValue()
    a = a[valid]
    if a.size == 0:
        return None
    return float(a.min()), float(np.median(a)), float(a.max())


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


def _detail(facts: LayerFacts) -> str:
    """The band count of a raster, " (13 bands)", which the user can check in its properties."""
    if facts.kind == "raster" and facts.band_count:
        return tr(" ({count} bands)").format(count=facts.band_count) if facts.band_count != 1 else tr(" (1 band)")
    return ""


def fit_problem(manifest: dict, facts: LayerFacts, modality: str | None = None) -> str | None:
    """Why a layer doesn't fit a bundle (a sentence for the user), or None when it fits.

    `modality` is the user's override; by default the detected one.
    """
    name = manifest.get("name", "?")
    want = manifest.get("modality")
    have = modality or detect(facts)
    if facts.kind == "other":
        return tr("AllSpark does not read this kind of layer; bundle '{name}' needs {want}.").format(
            name=name, want=noun(want))
    if have is None:
        return tr("Bundle '{name}' needs {want}. {reason}").format(name=name, want=noun(want),
                                                                      reason=undetected_reason(facts))
    if have != want:
        return tr("Bundle '{name}' needs {want}, but this layer looks like {have}{detail}.").format(
            name=name, want=noun(want), have=noun(have), detail=_detail(facts))
    from . import families

    family = families.of(want)
    return family.fit_problem(manifest, facts) if family is not None else None
