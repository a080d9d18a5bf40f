"""Reader options as dataclasses with validation: what `--options` (CLI), a bundle's `read_options`, a
service job's `options` and a training config's `read_options` may hold for a modality.

Every modality's `Options` subclass is declared here, below (its `Modality.options_class`): a field per
key its readers (`read`, `read_labelled`) and its input settings accept, each with its kind
(`opt(default, kind, ...)`); keys several modalities share are declared once, in a base class.
`Options.from_dict(d)` checks every key and value: an unknown key is an InputError naming it and listing
the allowed ones; a value of the wrong kind is an InputError naming the key and the value (never a crash
inside a reader, reported as `internal`). `kwargs()` gives back the keys that were set, as checked values,
so each reader's own defaults stay in charge of the rest. None means "not set".
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "str": "text",
    "names": "a list of names",
    "numbers": "a list of numbers",
    "window": "a window [xoff, yoff, width, height] of pixels",
    "size": "a positive number of pixels or a pair [x, y]",
    "bands": "a band number or name, or a list of them",
    "nodata": "a number",
    "any": "a value",
}


def opt(default=None, kind: str = "any", *, low: float | None = None, choices=None, odd: bool = False,
        doc: str = ""):
    """A field of an Options dataclass: its default (None = the reader's own), kind (see _WORDS), lower
    bound `low` (inclusive), allowed `choices`, `odd` (whole numbers only odd)."""
    meta = {"kind": kind, "low": low, "choices": tuple(choices) if choices else None, "odd": odd, "doc": doc}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


def _number(value, whole: bool):
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        value = value.strip()
    out = float(value)
    if not math.isfinite(out):
        raise ValueError
    if whole:
        if not out.is_integer():
            raise ValueError
        return int(out)
    return int(value) if isinstance(value, int) else out


def _names(value) -> list:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, numbers.Integral))
                                                       and not isinstance(v, bool) for v in value):
        raise ValueError
    return list(value)


def check_value(key: str, value, meta: dict, what: str = "option"):
    """`value` checked (and converted) as the field's kind, or an InputError naming the key."""
    kind = meta.get("kind", "any")
    try:
        if kind == "int":
            out = _number(value, whole=True)
        elif kind == "float":
            out = _number(value, whole=False)
        elif kind == "nodata":  # a number; NaN allowed
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
        elif kind == "bool":
            if isinstance(value, bool):
                out = value
            elif isinstance(value, str) and value.lower() in ("true", "false"):
                out = value.lower() == "true"
            else:
                raise ValueError
        elif kind == "str":
            if not isinstance(value, str) or not value:
                raise ValueError
            out = value
        elif kind == "names":
            out = _names(value)
        elif kind == "numbers":
            if not isinstance(value, (list, tuple)):
                raise ValueError
            out = [_number(v, whole=False) for v in value]
        elif kind == "window":
            if not isinstance(value, (list, tuple)) or len(value) != 4:
                raise ValueError
            out = [_number(v, whole=False) for v in value]
        elif kind == "size":
            if isinstance(value, (list, tuple)):
                if len(value) != 2:
                    raise ValueError
                out = [_number(v, whole=True) for v in value]
                if min(out) <= 0:
                    raise ValueError
            else:
                out = _number(value, whole=False)
                if out <= 0:
                    raise ValueError
        elif kind == "bands":
            if isinstance(value, (list, tuple)):
                out = _names(value)
            elif isinstance(value, (numbers.Integral, str)) and not isinstance(value, bool):
                out = value
            else:
                raise ValueError
        else:
            out = value
    except (TypeError, ValueError):
        raise InputError(f"{what} {key!r} must be {_WORDS.get(kind, kind)}, not {value!r}") from None
    low, choices = meta.get("low"), meta.get("choices")
    if low is not None and isinstance(out, (int, float)) and not isinstance(out, bool) and out < low:
        raise InputError(f"{what} {key!r} must be at least {low:g}, not {value!r}")
    if meta.get("odd") and isinstance(out, int) and out > 1 and out % 2 == 0:
        raise InputError(f"{what} {key!r} must be an odd number, not {value!r}")
    if choices and out not in choices:
        raise InputError(f"{what} {key!r} must be one of {', '.join(map(str, choices))}, not {value!r}")
    return out


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


@dataclass
class Options:
    """Base of a modality's reader options (see the module docstring)."""

    modality = "?"  # for messages: "msi option 'tile' ..."

    def __post_init__(self):
        """Direct construction (HsiOptions(patch=9)) is checked as from_dict is; the options set are those
        that differ from the defaults."""
        given = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or value == _default(f):
                continue
            setattr(self, f.name, check_value(f.name, value, f.metadata, f"{self.modality} reader option"))
            given.append(f.name)
        self._given = tuple(given)

    @classmethod
    def allowed(cls) -> list[str]:
        return sorted(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, options: dict | None, what: str | None = None) -> "Options":
        """Checked options from a dict, or an InputError naming the bad key / value."""
        what = what or f"{cls.modality} reader option"
        if options is None:
            options = {}
        if isinstance(options, Options):
            return options
        if not isinstance(options, dict):
            raise InputError(f"{what}s must be an object of name: value, not {type(options).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in options if k not in known)
        if unknown:
            raise InputError(f"unknown {what}(s) {', '.join(map(repr, unknown))}; "
                             f"allowed: {', '.join(sorted(known))}")
        values = {k: check_value(k, v, known[k].metadata, what) for k, v in options.items() if v is not None}
        out = cls(**values)
        out._given = tuple(values)  # set explicitly, even to a default: the reader sees what it was given
        return out

    def kwargs(self) -> dict[str, Any]:
        """The options that were set, as checked values (reader keyword arguments)."""
        return {k: getattr(self, k) for k in self._given}


# ---- every modality's options -------------------------------------------------------------------
# One class per modality (its `options_class`); the keys several share are declared once, in the bases.


@dataclass
class RasterReadOptions(Options):
    """What every raster reader (images, hyperspectral cubes) takes."""

    bands: Any = opt(None, "bands", doc="bands to read: 1-based numbers or names (default: every non-alpha band)")
    window: Any = opt(None, "window", doc="[xoff, yoff, width, height] px: read only this part")
    nodata: Any = opt(None, "nodata", doc="the no-data value (default: the file's)")
    region: Any = opt(None, "any", doc="the selected polygons a question is limited to (raster.parse_region)")


@dataclass
class DrawOptions(Options):
    """Training data drawn at random: at most `per_class` samples of each class, seeded."""

    per_class: Any = opt(None, "int", low=1, doc="training data: at most this many samples per class")
    seed: int = opt(0, "int", doc="the seed of the draws")


@dataclass
class ImageOptions(RasterReadOptions, DrawOptions):
    """Reader options of the image modalities (rgb, sar; msi adds `order`), and the input settings a
    bundle's `read_options` may carry (they become the bundle's `input` when it is trained)."""

    tile: Any = opt(None, "size", doc="cut the raster into tiles of this many px")
    stride: Any = opt(None, "size", doc="px between tiles (default: the tile)")
    size: Any = opt(None, "int", low=1, doc="input: the side (px) images are resized / cropped to")
    mode: Any = opt(None, "str", choices=("resize", "crop"), doc="input: how an image becomes size x size")
    log: Any = opt(None, "bool", doc="input (SAR): log1p of the amplitude first")
    band_names: Any = opt(None, "names", doc="input: the bands' names, in the bundle's order")
    source_size: Any = opt(None, "int", low=1, doc="input: the scene size (px) the bundle learned")
    margin: Any = opt(None, "int", low=0, doc="dense (pixel_classification): px of context read around each "
                                             "tile of `tile` px, one LLM sequence per tile (with tile)")
    labels: Any = opt(None, "str", doc="dense training data: the label raster on the image's grid (0 = unlabelled)")
    classes: Any = opt(None, "names", doc="dense training data: the class names of label values 1, 2, ...")
    block: Any = opt(None, "int", low=1, doc="dense training data: the side (px) of the split blocks (= tile)")
    halo: Any = opt(None, "numbers", doc="dense: a payload's context px [left, top, right, bottom] around the "
                                         "block to answer")


@dataclass
class MsiOptions(ImageOptions):
    """The image options, and `order`: the band order of a folder of band files (default EuroSAT's)."""

    order: Any = opt(None, "names", doc="band names in the order a folder's band files are stacked")


@dataclass
class HsiOptions(RasterReadOptions):
    """Reader options of hyperspectral images (read, read_labelled)."""

    layout: str = opt("hwc", "str", choices=("hwc", "chw"), doc="axis order of a .npy cube")
    step: int = opt(1, "int", low=1, doc="every step-th pixel (in rows and columns)")
    patch: int = opt(1, "int", low=1, odd=True, doc="each pixel with its patch x patch neighbourhood (odd)")
    labels: Any = opt(None, "str", doc="training data: the label raster (0 = unlabelled)")
    classes: Any = opt(None, "names", doc="training data: the class names of label values 1, 2, ...")
    block: Any = opt(None, "int", low=1, doc="training data: the side (px) of the spatial split blocks")
    tile: Any = opt(None, "int", low=4, doc="dense (pixel_classification): tiles of tile x tile px, one LLM "
                                             "sequence each")
    margin: Any = opt(None, "int", low=0, doc="dense: px of context read around each tile")
    halo: Any = opt(None, "numbers", doc="a payload's context px [left, top, right, bottom] around the block "
                                         "to answer (read for neighbourhoods, not answered)")


@dataclass
class PointCloudOptions(DrawOptions):
    """Reader options of point clouds (read, read_labelled), and the input settings a bundle's
    `read_options` may carry."""

    tile: Any = opt(None, "float", low=1e-9, doc="the side of a square ground tile, in metres")
    points: Any = opt(None, "int", low=1, doc="points per sample (tile or object)")
    engine: str = opt("auto", "str", choices=("auto", "laspy", "pdal"), doc="what reads LAS / LAZ / COPC")
    task: Any = opt(None, "str", choices=("point_classification", "classification"),
                    doc="training data: ground per point (tiles), or one class per object (a folder)")
    features: Any = opt(None, "names", doc="input: the per-point features after x, y, z")
    xyz_scale: Any = opt(None, "float", doc="input: metres per unit of the encoder's coordinates")
    heights: Any = opt(None, "numbers", doc="input: radii (m) of the heights-above-local-minimum features")


@dataclass
class TableOptions(Options):
    """Reader options of tables (read, read_labelled), and the input settings a bundle's `read_options`
    may carry."""

    layer: Any = opt(None, "str", doc="the layer of a GeoPackage / vector file")
    features: Any = opt(None, "names", doc="the columns used as features")
    categorical: Any = opt(None, "names", doc="numeric columns read as categories (codes)")
    max_rows: Any = opt(None, "int", low=1, doc="read at most this many rows")
    target: Any = opt(None, "str", doc="training data: the target column")
    group_by: Any = opt(None, "str", doc="training data: the column whose values group the split")
    task: Any = opt(None, "str", choices=("regression", "classification"), doc="training data: the task")
    numeric: Any = opt(None, "names", doc="input: the continuous columns")
    max_vocab: Any = opt(None, "int", low=1, doc="input: values kept per categorical column")


@dataclass
class TrajectoryOptions(Options):
    """Reader options of tracks (read, read_labelled, read_tracks), and the input settings a bundle's
    `read_options` may carry."""

    obs: Any = opt(None, "int", low=1, doc="observed steps per sample")
    pred: Any = opt(None, "int", low=1, doc="training data: future steps per sample")
    dt: Any = opt(None, "float", low=1e-9, doc="seconds between steps (tracks are resampled to it)")
    max_gap: Any = opt(None, "float", low=0, doc="seconds without a point that split a track")
    mode: str = opt("last", "str", choices=("last", "all"), doc="the last window of each track, or all")
    stride: int = opt(1, "int", low=1, doc="training data: steps between windows")
    time_units: Any = opt(None, "str", doc="seconds, frames or datetime (default: from the file)")
    frame_rate: Any = opt(None, "float", doc="frames per second when time_units is frames")
    frame_dt: Any = opt(None, "float", doc="seconds per frame of an ETH-UCY style table")
    crs: Any = opt(None, "str", doc="the coordinates' CRS (WKT, EPSG:code) when the file names none")
    delimiter: Any = opt(None, "str", doc="the table's delimiter (default: sniffed)")


@dataclass
class GraphOptions(Options):
    """Reader options of sensor networks (graph.read, read_labelled, from_payload), and the input settings a
    bundle's `read_options` may carry."""

    obs: Any = opt(None, "int", low=1, doc="observed steps per sample (12)")
    pred: Any = opt(None, "int", low=1, doc="training data: steps to forecast (12)")
    mode: str = opt("last", "str", choices=("last", "all"), doc="ask: the last window only, or every window")
    stride: int = opt(1, "int", low=1, doc="steps between windows")
    block_hours: Any = opt(None, "float", low=1e-9, doc="training data: hours per split block (24)")
    adjacency: Any = opt(None, "str", doc="a K x K adjacency CSV (or adj_mx.pkl) beside a readings CSV")
    time_column: Any = opt(None, "str", doc="the readings' time column (default: a first column named time, ...)")
    start: Any = opt(None, "str", doc="the first row's time when the readings have no time column")
    step_minutes: Any = opt(None, "float", low=1e-9, doc="minutes between rows without a time column (5)")
    zero_missing: Any = opt(None, "bool", doc="a reading of 0 is missing (METR-LA's convention; default true)")
    max_sensors: Any = opt(None, "int", low=1, doc="read only the first N sensors")
    max_steps: Any = opt(None, "int", low=1, doc="read only the first N time steps")


@dataclass
class ObliqueOptions(Options):
    """Reader options of oblique multi-view photography (oblique.read, read_labelled, from_payload), and the
    input settings a bundle's `read_options` may carry."""

    views: Any = opt(None, "int", low=2, doc="views per sample: the reference + its best n-1 source views (5)")
    size: Any = opt(None, "size", doc="resize every view to [width, height] px (intrinsics scaled to match)")
    scale: Any = opt(None, "float", low=1e-6, doc="resize every view by this factor (instead of size)")
    depth_range: Any = opt(None, "numbers", doc="[min, max] depth of every reference view (default: its camera file's)")
    camera_convention: Any = opt(None, "str", choices=("auto", "mvsnet", "omvs"),
                                 doc="camera files: MVSNet's [Rcw|tcw] x-right y-down, or WHU-OMVS's [Rwc|twc] "
                                     "x-right y-up (auto: by the folder layout and the file's header)")
    stride: Any = opt(None, "int", low=1, doc="every n-th reference view of each scene / area (1)")
    max_samples: Any = opt(None, "int", low=1, doc="at most this many samples (the first of each scene in turn)")


@dataclass
class TextOptions(Options):
    """Reader options of texts (text.read, read_labelled), and the input settings a bundle's `read_options`
    may carry."""

    text_field: Any = opt(None, "str", doc="the field / column holding the text")
    label_field: Any = opt(None, "str", doc="training data: the field / column holding the label")
    lines: Any = opt(None, "bool", doc="a .txt file: one text per non-empty line")
    max_rows: Any = opt(None, "int", low=1, doc="read at most this many texts")
    split: Any = opt(None, "str", doc="an aclImdb folder: the sub-folder to read (train or test)")
    max_tokens: Any = opt(None, "int", low=1, doc="input: the LLM tokens kept per text")
    tail_tokens: Any = opt(None, "int", low=0, doc="input: of those, the tokens kept from the text's end")


@dataclass
class VideoOptions(DrawOptions):
    """Reader options of video clips (read, read_labelled, from_payload), and the input settings a bundle's
    `read_options` may carry."""

    frames: Any = opt(None, "int", low=1, doc="frames sampled uniformly over each clip (16)")
    size: Any = opt(None, "int", low=8, doc="the side (px) each frame is resized to (64)")
    split: Any = opt(None, "int", low=1, choices=(1, 2, 3), doc="training data: UCF101's official split (1)")
    lists: Any = opt(None, "str", doc="training data: UCF101's ucfTrainTestlist folder (default <data>/ucfTrainTestlist)")
    path_field: Any = opt(None, "str", doc="training data from a CSV: the column holding each clip's path (relative: to the CSV's folder)")
    label_field: Any = opt(None, "str", doc="training data from a CSV: the column holding each clip's label")


@dataclass
class InfraredOptions(Options):
    """Reader options of person images in visible and infrared light (infrared.read, read_labelled,
    from_payload), and the input settings a bundle's `read_options` may carry."""

    spectrum: Any = opt(None, "str", choices=("auto", "visible", "infrared"),
                        doc="single images / folders of chips: the light they were taken in (auto: grey = infrared)")
    size: Any = opt(None, "size", doc="input: [height, width] px images are resized to (one number: the height, "
                                      "the width half of it); default [128, 64]")
    ir_cameras: Any = opt(None, "numbers", doc="SYSU-MM01 layout: the infrared cameras (3, 6)")
    visible_cameras: Any = opt(None, "numbers", doc="SYSU-MM01 layout: the visible-light cameras (1, 2, 4, 5)")
    mode: Any = opt(None, "str", choices=("all", "indoor"),
                    doc="protocol: all-search (gallery cameras 1, 2, 4, 5) or indoor-search (1, 2)")
    trials: Any = opt(None, "int", low=1, doc="protocol: seeded single-shot gallery draws averaged (10)")
    max_per_camera: Any = opt(None, "int", low=1, doc="training data: at most this many images per person and camera")
    seed: Any = opt(None, "int", doc="the seed of the draws")



@dataclass
class CodeOptions(Options):
    """Reader options of code (code.read, read_labelled), and the input settings a bundle's `read_options`
    may carry."""

    max_rows: Any = opt(None, "int", low=1, doc="read at most this many functions")
    max_tokens: Any = opt(None, "int", low=1, doc="input: the LLM tokens kept per function")
    tail_tokens: Any = opt(None, "int", low=0, doc="input: of those, the tokens kept from the function's end")
    query_tokens: Any = opt(None, "int", low=1, doc="input: the LLM tokens kept per search sentence")
    docstring_tokens: Any = opt(None, "int", low=1, doc="input: the most tokens a written docstring has")

__all__ = ["Options", "check_value", "opt", "ImageOptions", "MsiOptions", "HsiOptions", "PointCloudOptions",
           "TableOptions", "TrajectoryOptions", "GraphOptions", "TextOptions", "CodeOptions", "VideoOptions"]
