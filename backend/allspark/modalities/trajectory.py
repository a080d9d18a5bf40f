"""Trajectory: moving agents' tracks (pedestrians, vehicles, GPS), future-path prediction.

Reader:
- CSV / TSV / TXT with columns frame (or time), id, x, y — ETH-UCY's TSV is `frame_id ped_id x y`,
  tab-separated, no header (frames at 25 fps: step 10 = 0.4 s; `frame_dt=` changes the frame
  duration). A header may name them (frame|frame_id|time|t|timestamp, id|ped_id|track|agent_id,
  x|pos_x|easting, y|pos_y|northing, or lon|longitude + lat|latitude); times are seconds or ISO dates.
  Options `time_units` (seconds | frames | datetime) and `frame_rate` (frames per second) say what the
  time column holds; a first comment line `#allspark {"layer": ..., "time_field": ..., "time_units": ...,
  "frame_rate": ...}` (JSON; the QGIS plugin writes one when it trains from a layer) does the same for
  the file and names the layer and field the data came from in messages, in place of the file's path.
- GPX: every track segment with times is a track; lon / lat are projected to a local azimuthal
  equidistant frame (metres, centred on the file's points; its WKT is meta `crs`, the source CRS is
  meta `input_crs`), so predictions go back to lon / lat with `to_input_coords`.
Tracks are resampled by time to the step `dt` (0.4 s = 2.5 fps) and cut where a gap exceeds
`max_gap` seconds. `read` gives each track's last `obs` (8) points — the samples to predict from;
shorter tracks are skipped (listed in meta `skipped_tracks`). `read_labelled` gives sliding windows of
obs + pred (8 + 12) points, targets = the 12 future points relative to the last observed one, in
metres; split groups = scene (file name without _train / _val).

Payloads (`from_payload`): `xy` in the layer's CRS (geographic: projected to the local frame; a
projected CRS in feet: scaled to metres), `t` in the meta's `time_units` (seconds, the default;
`frames` at `frame_rate` per second; `datetime`: epoch seconds); meta `layer` and `time_field` name
the data in messages.

Sample: data `xy` (obs, 2) float64 in the working metric frame, `t` (obs,) seconds; meta `track`,
`scene`, `source`, `label` (how messages name the data), `origin` (the last observed point, working
frame), `crs`, `input_crs`, `dt`, `frame` / `units_to_m` (the way back to the input's coordinates).

Results: the head's `paths` are offsets in metres from the last observed point; `place_result` adds
`paths_xy` (B, K, pred, 2) and `origin_xy` (B, 2) in the input's own coordinates (its CRS: lon / lat
for GPX and geographic layers), which clients draw.

Encoder (TUTR-style): each observed step -> [x, y relative to the last observed point, vx, vy] / scale,
a linear lift, learned step positions, a 2-layer transformer -> (B, obs, dim) tokens.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import os
import re
import xml.etree.ElementTree as ET  # nosec B405 - types only; parsing goes through defusedxml

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

import numpy as np

from ..errors import InputError
from .base import (LabelledSet, Modality, Sample, need_samples, read_text_file, register, required_array,
                   rms_scale)
from .options import TrajectoryOptions

TIME_COLS = ["frame", "frame_id", "time", "t", "timestamp", "datetime", "sec", "seconds"]
ID_COLS = ["id", "ped_id", "track", "track_id", "agent_id", "agent", "object_id", "trackid"]
X_COLS = ["x", "pos_x", "easting", "e"]
Y_COLS = ["y", "pos_y", "northing", "n"]
LON_COLS = ["lon", "longitude", "lng"]
LAT_COLS = ["lat", "latitude"]
TRACK_TYPES = [".csv", ".tsv", ".txt", ".gpx"]


class Tracks:
    """Raw tracks from a file: id -> (t (n,), xy (n, 2)), plus the frame they are in.

    `label` names the data in messages (a file's path, or "layer 'name'"); `note` says how its times
    were read (e.g. "time field 'frame' read as seconds"), for messages about too few points."""

    def __init__(self, tracks: dict, source: str, crs=None, input_crs=None, frame=None, scene=None,
                 label=None, note="", units_to_m=1.0):
        self.tracks, self.source, self.crs, self.input_crs, self.frame = tracks, source, crs, input_crs, frame
        self.scene = scene or _scene(source)
        self.label = label or source
        self.note = note
        self.units_to_m = float(units_to_m)


TIME_UNITS = ("seconds", "frames", "datetime")


def time_units_of(options: dict, default=None) -> tuple[str | None, float | None]:
    """(time_units, frame_rate) from reader options / payload meta; InputError when they make no sense."""
    units = options.get("time_units") or default
    if units in (None, "auto"):
        return None, None
    units = str(units).lower().replace("-", "").replace("_", "")
    units = {"s": "seconds", "second": "seconds", "sec": "seconds", "frame": "frames", "date": "datetime",
             "datetimes": "datetime", "time": "datetime"}.get(units, units)
    if units not in TIME_UNITS:
        raise InputError(f"time_units must be one of {', '.join(TIME_UNITS)}; got {options.get('time_units')!r}")
    rate = None
    if units == "frames":
        try:
            rate = float(options.get("frame_rate"))
        except (TypeError, ValueError):
            raise InputError("time_units 'frames' needs frame_rate (frames per second), e.g. 25 for ETH-UCY") from None
        if not np.isfinite(rate) or rate <= 0:
            raise InputError(f"frame_rate must be a positive number of frames per second; got {rate:g}")
    return units, rate


def describe_time(field, units, rate) -> str:
    """How a time field was read, in words: "time field 'frame' read as frames at 25 per second"."""
    how = (f"frames at {rate:g} per second" if units == "frames" else
           "date-times" if units == "datetime" else "seconds")
    return f"time field {field!r} read as {how}" if field else f"times read as {how}"


def data_label(info: dict, default: str) -> str:
    """How messages name the data: "layer 'name'" when the plugin says which layer it came from."""
    layer = info.get("layer")
    return f"layer {layer!r}" if layer else default


def _hint(info: dict, units) -> str:
    """For too-few-points messages: what to try when numeric times were read as seconds."""
    field = info.get("time_field")
    if units in (None, "seconds") and field:
        return (f"; if {field!r} holds frame numbers, say so (time field holds frames, at their rate per "
                f"second: 25 for ETH-UCY)")
    return ""


def _linear_units_to_m(crs) -> float:
    """Metres per unit of a projected CRS (1 for metres, unknown or geographic)."""
    if not crs:
        return 1.0
    try:
        from rasterio.crs import CRS

        c = CRS.from_user_input(crs)
        if c.is_geographic:
            return 1.0
        factor = float(c.linear_units_factor[1])
        return factor if np.isfinite(factor) and factor > 0 else 1.0
    except Exception:
        return 1.0


# ---- local metric frame for lon / lat ----------------------------------------------------------


def _aeqd(lon0, lat0):
    from rasterio.crs import CRS

    return CRS.from_proj4(f"+proj=aeqd +lat_0={lat0:.9f} +lon_0={lon0:.9f} +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs")


def _project(lon, lat):
    """lon / lat (deg) -> x / y (m) in an azimuthal equidistant frame centred on them; + frame info."""
    from rasterio.crs import CRS
    from rasterio.warp import transform

    lon0, lat0 = float(np.mean(lon)), float(np.mean(lat))
    dst = _aeqd(lon0, lat0)
    x, y = transform(CRS.from_epsg(4326), dst, list(map(float, lon)), list(map(float, lat)))
    frame = {"proj": "aeqd", "lon0": lon0, "lat0": lat0}
    return np.asarray(x), np.asarray(y), dst.to_wkt(), CRS.from_epsg(4326).to_wkt(), frame


def unproject(x, y, frame: dict):
    """Inverse of the local frame: x / y (m) -> lon / lat (deg)."""
    from rasterio.crs import CRS
    from rasterio.warp import transform

    lon, lat = transform(_aeqd(frame["lon0"], frame["lat0"]), CRS.from_epsg(4326),
                         list(map(float, np.ravel(x))), list(map(float, np.ravel(y))))
    return np.reshape(lon, np.shape(x)), np.reshape(lat, np.shape(y))


# ---- readers ------------------------------------------------------------------------------------


def _scene(path) -> str:
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    return re.sub(r"[_-](train|val|valid|test)$", "", stem, flags=re.IGNORECASE)


def _time(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        pass
    s = v.strip().replace("Z", "+00:00")
    try:
        d = _dt.datetime.fromisoformat(s)
    except ValueError:
        raise InputError(f"cannot parse the time {v!r} (seconds or ISO 8601 expected)") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return d.timestamp()


def _pick(names, options):
    low = [n.strip().lower() for n in names]
    for o in options:
        if o in low:
            return low.index(o)
    return None


def _file_info(text: str, path) -> dict:
    """The `#allspark {json}` comment line at the top of a track file, if any."""
    import json

    for ln in text.splitlines():
        s = ln.strip()
        if not s:
            continue
        if s.startswith("#allspark"):
            try:
                info = json.loads(s[len("#allspark"):].strip() or "{}")
            except ValueError as e:
                raise InputError(f"{path}: the #allspark line is not valid JSON ({e})") from None
            if not isinstance(info, dict):
                raise InputError(f"{path}: the #allspark line must hold a JSON object")
            return info
        if not s.startswith("#"):
            break
    return {}


def read_track_table(path, frame_dt=0.04, crs=None, delimiter=None, time_units=None, frame_rate=None,
                     **_) -> Tracks:
    path = os.fspath(path)
    text = read_text_file(path)
    info = {"time_units": time_units, "frame_rate": frame_rate, **_file_info(text, path)}
    units, rate = time_units_of(info)
    label = data_label(info, path)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"{label}: the track file is empty")
    if delimiter is None:
        first = lines[0]
        delimiter = "\t" if "\t" in first else ("," if "," in first else (";" if ";" in first else None))
    if delimiter is None:
        rows = [ln.split() for ln in lines]
    else:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    header = None
    try:
        [float(v) for v in rows[0][:1]]
        float(rows[0][-1])
    except ValueError:
        header, rows = [h.strip() for h in rows[0]], rows[1:]
    if not rows:
        raise InputError(f"{path}: the track file has a header but no points")
    use_frames = False
    lonlat = False
    if header is None:
        if len(rows[0]) < 4:
            raise InputError(f"{path}: expected columns frame, id, x, y; got {len(rows[0])} columns")
        it, ii, ix, iy = 0, 1, 2, 3
        use_frames = True
    else:
        it, ii = _pick(header, TIME_COLS), _pick(header, ID_COLS)
        ix, iy = _pick(header, X_COLS), _pick(header, Y_COLS)
        if ix is None or iy is None:
            ix, iy = _pick(header, LON_COLS), _pick(header, LAT_COLS)
            lonlat = ix is not None and iy is not None
        missing = [n for n, i in (("time/frame", it), ("x", ix), ("y", iy)) if i is None]
        if missing:
            raise InputError(f"{path}: missing columns {', '.join(missing)} (has {', '.join(header)})")
        use_frames = header[it].strip().lower() in ("frame", "frame_id")
    try:
        t = np.array([_time(r[it]) for r in rows], np.float64)
        x = np.array([float(r[ix]) if r[ix].strip() else np.nan for r in rows], np.float64)
        y = np.array([float(r[iy]) if r[iy].strip() else np.nan for r in rows], np.float64)
        ids = [r[ii].strip() if ii is not None else "1" for r in rows]
    except IndexError:
        raise InputError(f"{label}: a row has fewer columns than the header") from None
    except ValueError as e:
        raise InputError(f"{label}: non-numeric coordinate ({e})") from None
    except InputError as e:
        raise InputError(f"{label}: {e}") from None
    if units == "frames":
        t = t / rate
    elif units is None and use_frames:
        t = t * float(frame_dt)
        units, rate = "frames", 1.0 / float(frame_dt)
    wkt = in_wkt = frame = None
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(t)
    if lonlat:
        if not ok.any():
            raise InputError(f"{path}: no valid coordinates")
        px, py, wkt, in_wkt, frame = _project(x[ok], y[ok])
        x, y = x.copy(), y.copy()
        x[ok], y[ok] = px, py
    elif crs is not None:
        from rasterio.crs import CRS

        wkt = in_wkt = CRS.from_user_input(crs).to_wkt()
    tracks = _group(ids, t, x, y)
    field = info.get("time_field") or (header[it] if header is not None else None)
    note = describe_time(field, units, rate) + _hint(info, units) if info.get("layer") else ""
    return Tracks(tracks, path, wkt, in_wkt, frame, label=label, note=note)


def _group(ids, t, x, y) -> dict:
    order = {}
    for k, i in enumerate(ids):
        order.setdefault(_norm_id(i), []).append(k)
    out = {}
    for i, idx in order.items():
        idx = np.asarray(idx)
        out[i] = (t[idx], np.stack([x[idx], y[idx]], axis=1))
    return out


def _norm_id(v):
    try:
        f = float(v)
        return int(f) if f.is_integer() else v
    except (TypeError, ValueError):
        return v


def read_gpx(path, **_) -> Tracks:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"cannot read {path}: no such file")
    try:
        root = SafeET.parse(path).getroot()  # defusedxml: no entity expansion from user files
    except (ET.ParseError, DefusedXmlException) as e:
        raise InputError(f"cannot read {path}: not a valid GPX (XML) file ({e})") from None
    ns = ""
    m = re.match(r"\{(.*)\}", root.tag)
    if m:
        ns = "{" + m.group(1) + "}"
    raw = []
    for ti, trk in enumerate(root.iter(f"{ns}trk")):
        name = trk.findtext(f"{ns}name") or f"track {ti + 1}"
        segs = list(trk.iter(f"{ns}trkseg"))
        for si, seg in enumerate(segs):
            pts = []
            for p in seg.iter(f"{ns}trkpt"):
                tt = p.findtext(f"{ns}time")
                if tt is None:
                    raise InputError(f"{path}: track {name!r} has points without <time>; times are needed")
                pts.append((_time(tt), float(p.get("lon")), float(p.get("lat"))))
            if pts:
                raw.append((name if len(segs) == 1 else f"{name}/{si + 1}", pts))
    if not raw:
        raise InputError(f"{path}: no GPX track points (<trk><trkseg><trkpt>)")
    allpts = np.array([p for _, pts in raw for p in pts])
    px, py, wkt, in_wkt, frame = _project(allpts[:, 1], allpts[:, 2])
    tracks, k = {}, 0
    for name, pts in raw:
        n = len(pts)
        tracks[name] = (allpts[k : k + n, 0], np.stack([px[k : k + n], py[k : k + n]], axis=1))
        k += n
    return Tracks(tracks, path, wkt, in_wkt, frame)


def read_tracks(path, **options) -> Tracks:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext == ".gpx":
        return read_gpx(path, **options)
    return read_track_table(path, **options)


def resample(t, xy, dt=0.4, max_gap=1.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Linear interpolation onto a regular time step ending at each piece's last point; pieces split where
    the gap exceeds max_gap."""
    ok = np.isfinite(t) & np.isfinite(xy).all(1)
    t, xy = t[ok], xy[ok]
    if len(t) == 0:
        return []
    o = np.argsort(t, kind="stable")
    t, xy = t[o], xy[o]
    keep = np.concatenate([[True], np.diff(t) > 1e-9])  # duplicate times: keep the first
    t, xy = t[keep], xy[keep]
    cuts = np.flatnonzero(np.diff(t) > max_gap) + 1
    out = []
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(t)]):
        tt, pp = t[a:b], xy[a:b]
        n = int(np.floor((tt[-1] - tt[0]) / dt + 1e-6)) + 1
        grid = tt[-1] - dt * np.arange(n)[::-1]  # anchored at the latest point: it is what predictions start from
        grid[0] = max(grid[0], tt[0])
        out.append((grid, np.stack([np.interp(grid, tt, pp[:, 0]), np.interp(grid, tt, pp[:, 1])], axis=1)))
    return out


# ---- the modality -------------------------------------------------------------------------------


@register
class Trajectory(Modality):
    name = "trajectory"
    title = "Trajectory"
    layer_kind = "vector"
    tasks = ["trajectory"]
    file_types = list(TRACK_TYPES)
    prompts = [
        "Based on their past positions and movements in a crowded environment, predict the future "
        "trajectory of a selected pedestrian.",
        "Given the observed path of this pedestrian over the last few seconds, where will they walk next?",
        "Considering the pedestrian's recent positions and velocity, forecast the next twelve positions "
        "of their trajectory.",
    ]
    input_defaults = {"obs": 8, "pred": 12, "dt": 0.4, "max_gap": 1.0}
    options_class = TrajectoryOptions
    encoder_defaults = {"type": "tutr", "dim": 128, "depth": 2, "heads": 4, "mlp_ratio": 2.0, "dropout": 0.0}

    def _pieces(self, tr: Tracks, dt, max_gap):
        for tid, (t, xy) in tr.tracks.items():
            pieces = resample(t, xy, dt, max_gap)
            for k, (tt, pp) in enumerate(pieces):
                yield (tid if len(pieces) == 1 else f"{tid}#{k + 1}"), tt, pp

    def _sample(self, tr: Tracks, tid, t, xy, dt, extra=None) -> Sample:
        meta = {"track": tid, "scene": tr.scene, "source": tr.source, "label": tr.label,
                "origin": [float(v) for v in xy[-1]], "t_last": float(t[-1]), "crs": tr.crs,
                "input_crs": tr.input_crs, "frame": tr.frame, "dt": dt, "units": "m"}
        if tr.units_to_m != 1.0:
            meta["units_to_m"] = tr.units_to_m
        if extra:
            meta.update(extra)
        return Sample(data={"xy": xy.astype(np.float64), "t": t.astype(np.float64)}, mask=None, meta=meta)

    def samples_from_tracks(self, tr: Tracks, obs=8, dt=0.4, max_gap=1.0, mode="last") -> list[Sample]:
        out, skipped = [], []
        for tid, t, xy in self._pieces(tr, dt, max_gap):
            if len(t) < obs:
                skipped.append({"track": tid, "points": int(len(t))})
                continue
            if mode == "all":
                for a in range(0, len(t) - obs + 1):
                    out.append(self._sample(tr, tid, t[a : a + obs], xy[a : a + obs], dt))
            else:
                out.append(self._sample(tr, tid, t[-obs:], xy[-obs:], dt))
        if not out:
            longest = max((s["points"] for s in skipped), default=0)
            note = f"; {tr.note}" if tr.note else ""
            raise InputError(
                f"{tr.label}: too few trajectory points: no track has {obs} points {dt:g} s apart "
                f"(the longest has {longest} after resampling); the bundle needs {obs} observed steps{note}"
            )
        for s in out:
            s.meta["skipped_tracks"] = skipped
        return out

    def read(self, path, obs=None, dt=None, max_gap=None, mode="last", **options) -> list[Sample]:
        d = self.input_defaults
        tr = read_tracks(path, **options)
        return self.samples_from_tracks(tr, obs or d["obs"], dt or d["dt"], max_gap or d["max_gap"], mode)

    def read_labelled(self, path, obs=None, pred=None, dt=None, max_gap=None, stride=1, **options) -> LabelledSet:
        d = self.input_defaults
        obs, pred, dt, max_gap = obs or d["obs"], pred or d["pred"], dt or d["dt"], max_gap or d["max_gap"]
        path = os.fspath(path)
        if os.path.isdir(path):
            files = sorted(os.path.join(r, f) for r, _, fs in os.walk(path) for f in fs
                           if os.path.splitext(f)[1].lower() in TRACK_TYPES)
            if not files:
                raise InputError(f"{path}: no track files ({', '.join(TRACK_TYPES)})")
        else:
            files = [path]
        samples, targets, groups, labels, notes = [], [], [], [], []
        L = obs + pred
        for f in files:
            tr = read_tracks(f, **options)
            labels.append(tr.label)
            if tr.note:
                notes.append(tr.note)
            for tid, t, xy in self._pieces(tr, dt, max_gap):
                for a in range(0, len(t) - L + 1, stride):
                    s = self._sample(tr, tid, t[a : a + obs], xy[a : a + obs], dt,
                                     {"window_start": float(t[a])})
                    samples.append(s)
                    targets.append(xy[a + obs : a + L] - xy[a + obs - 1])
                    groups.append(tr.scene)
        if not samples:
            label = labels[0] if len(labels) == 1 else path
            note = f"; {notes[0]}" if len(notes) == 1 else ""
            raise InputError(f"{label}: too few trajectory points: no track has {L} points ({obs} + {pred}) "
                             f"{dt:g} s apart{note}")
        return LabelledSet(
            samples=samples, targets=np.asarray(targets, np.float32), classes=None,
            target_info=[{"name": "future positions", "unit": "m", "steps": pred, "dt": dt}],
            groups=np.asarray(groups), info={"files": files, "obs": obs, "pred": pred, "dt": dt},
        )

    def from_payload(self, arrays, meta) -> list[Sample]:
        meta = dict(meta or {})
        arrays = arrays or {}
        d = self.input_defaults
        obs, dt, max_gap = int(meta.get("obs") or d["obs"]), float(meta.get("dt") or d["dt"]), \
            float(meta.get("max_gap") or d["max_gap"])
        if "xy" in arrays:
            xy = np.asarray(arrays["xy"], np.float64)
            if xy.ndim != 2 or xy.shape[1] != 2:
                raise InputError(f"trajectory payload 'xy' must be (P, 2); got shape {xy.shape}")
            if len(xy) == 0:
                raise InputError("trajectory payload is empty (0 points)")
            t = np.asarray(arrays.get("t"), np.float64) if arrays.get("t") is not None else None
            if t is None or t.shape != (len(xy),):
                raise InputError(f"trajectory payload needs 't' (P,) seconds for its {len(xy)} points")
            track = np.asarray(arrays.get("track")) if arrays.get("track") is not None else np.zeros(len(xy), np.int64)
            if track.shape != (len(xy),):
                raise InputError("trajectory payload 'track' must have one id per point")
            units, rate = time_units_of(meta)
            if units == "frames":
                t = t / rate
            label = data_label(meta, "the trajectory payload")
            crs = meta.get("crs")
            wkt, in_wkt, frame, to_m = crs, crs, None, 1.0
            if _geographic(crs):
                ok = np.isfinite(xy).all(1)
                if not ok.any():
                    raise InputError(f"{label}: no valid coordinates")
                px, py, wkt, in_wkt, frame = _project(xy[ok, 0], xy[ok, 1])
                xy = xy.copy()
                xy[ok, 0], xy[ok, 1] = px, py
            else:
                to_m = _linear_units_to_m(crs)
                if to_m != 1.0:  # the model works in metres
                    xy = xy * to_m
            note = describe_time(meta.get("time_field"), units, rate) + _hint(meta, units)
            tr = Tracks(_group(list(track), t, xy[:, 0], xy[:, 1]), meta.get("source") or meta.get("layer") or "payload",
                        wkt, in_wkt, frame, label=label, note=note, units_to_m=to_m)
            return self.samples_from_tracks(tr, obs, dt, max_gap, meta.get("mode", "last"))
        if meta.get("path"):
            extra = {k: meta[k] for k in ("time_units", "frame_rate", "frame_dt") if meta.get(k) is not None}
            return self.read(meta["path"], obs=obs, dt=dt, max_gap=max_gap, mode=meta.get("mode", "last"), **extra)
        raise InputError("trajectory payload has neither 'xy' / 't' arrays nor a 'path'")

    def to_input_coords(self, sample: Sample, rel: np.ndarray) -> np.ndarray:
        """Offsets (..., 2) in metres from the sample's last observed point -> the input's coordinates
        (lon / lat for GPX and geographic payloads; the CRS's own units for a projected one)."""
        rel = np.asarray(rel, np.float64)
        p = rel + np.asarray(sample.meta["origin"], np.float64)
        if sample.meta.get("frame"):
            lon, lat = unproject(p[..., 0], p[..., 1], sample.meta["frame"])
            p = np.stack([lon, lat], axis=-1)
        elif sample.meta.get("units_to_m"):
            p = p / float(sample.meta["units_to_m"])
        return p

    def place_result(self, samples, result: dict) -> dict:
        """The head's paths (offsets in metres from each sample's last observed point) placed in the
        input's coordinates: `paths_xy` (B, K, pred, 2) and `origin_xy` (B, 2), the last observed
        point each path continues from. What clients draw (the CLI's JSON, the QGIS plugin)."""
        paths = result.get("paths")
        if paths is None or not all("origin" in s.meta for s in samples):
            return {}
        paths = np.asarray(paths, np.float64)
        out = np.stack([self.to_input_coords(s, paths[i]) for i, s in enumerate(samples)])
        origin = np.stack([self.to_input_coords(s, np.zeros(2)) for s in samples])
        return {"paths_xy": out, "origin_xy": origin}

    # the contract
    def default_spec(self, samples=None) -> dict:
        return {"input": dict(self.input_defaults), "encoder": dict(self.encoder_defaults)}

    def check(self, sample, spec) -> None:
        inp = self.input_spec(spec)
        obs = int(inp["obs"])
        src = sample.meta.get("label") or sample.meta.get("source", "input")
        xy = required_array(sample, "xy", self.title)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise InputError(f"{self.title}: 'xy' must be (points, 2); got shape {xy.shape}")
        if len(xy) == 0:
            raise InputError(f"{self.title}: track {sample.meta.get('track')} of {src} is empty")
        if len(xy) < obs:
            raise InputError(f"{self.title}: too few trajectory points: track {sample.meta.get('track')} of {src} "
                             f"has {len(xy)}, the bundle needs {obs} observed steps ({inp['dt']:g} s apart)")
        if not np.isfinite(xy).all():
            raise InputError(f"{self.title}: NaN / infinite coordinates in track {sample.meta.get('track')} of {src}")
        dt = sample.meta.get("dt")
        if dt is not None and abs(float(dt) - float(inp["dt"])) > 1e-6:
            raise InputError(f"{self.title}: track sampled every {dt:g} s, the bundle expects {inp['dt']:g} s")

    def _features(self, samples, obs):
        xy = np.stack([np.asarray(s.data["xy"], np.float64)[-obs:] for s in samples])  # (B, obs, 2)
        rel = xy - xy[:, -1:, :]
        vel = np.zeros_like(rel)
        vel[:, 1:] = np.diff(xy, axis=1)
        return rel, vel

    def normalise_stats(self, samples, spec=None, targets=None) -> dict:
        """One length scale (m) for positions (and the targets, which share it) and one for velocities."""
        need_samples(samples, self.name)
        inp = self.input_spec(spec)
        rel, vel = self._features(samples[:: max(1, len(samples) // 20000)], int(inp["obs"]))
        scale, vscale = rms_scale(rel), rms_scale(vel[:, 1:])
        st = {"scale": scale, "vscale": vscale, "obs": int(inp["obs"]), "pred": int(inp["pred"]), "dt": float(inp["dt"])}
        if targets is not None:
            st["target_scale"] = rms_scale(targets)
        return st

    def to_inputs(self, samples, spec, stats) -> dict[str, np.ndarray]:
        need_samples(samples, self.name)
        obs = int(self.input_spec(spec)["obs"])
        short = [s.meta.get("track") for s in samples if len(s.data["xy"]) < obs]
        if short:
            raise InputError(f"{self.title}: too few trajectory points in tracks {short[:5]} (need {obs})")
        rel, vel = self._features(samples, obs)
        x = np.concatenate([rel / stats["scale"], vel / stats["vscale"]], axis=-1)
        return {"obs": np.nan_to_num(x).astype(np.float32)}

    def augment(self, inputs: dict, targets, generator):
        """Training-time augmentation (torch): each track and its future turned by a random angle, mirrored
        at random and sped up or slowed down by up to 25% (ETH-UCY's scenes differ in heading and pace)."""
        import math

        import torch

        x = inputs["obs"]  # (B, obs, 4): [x, y] / scale, [vx, vy] / vscale
        b = x.shape[0]
        angle = torch.rand(b, generator=generator) * 2 * math.pi
        c, s = torch.cos(angle), torch.sin(angle)
        rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (B, 2, 2)
        flip = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
        rot = rot * torch.stack([torch.ones(b), flip], -1)[:, None, :]  # mirror y before turning
        speed = 0.75 + 0.5 * torch.rand(b, generator=generator)
        m = rot * speed[:, None, None]

        def turn(v):  # (B, n, 2)
            return torch.einsum("bij,bnj->bni", m.to(v.dtype), v)

        x = torch.cat([turn(x[..., :2]), turn(x[..., 2:4]), x[..., 4:]], -1)
        return {**inputs, "obs": x}, turn(targets)

    def build_encoder(self, spec: dict):
        inp, enc = self.input_spec(spec), self.encoder_spec(spec)
        from .trajectory_encoder import TrajectoryEncoder

        return TrajectoryEncoder(obs=int(inp["obs"]), dim=int(enc["dim"]), depth=int(enc["depth"]),
                                 heads=int(enc["heads"]), mlp_ratio=float(enc["mlp_ratio"]),
                                 dropout=float(enc["dropout"]))


def _geographic(crs) -> bool:
    if not crs:
        return False
    try:
        from rasterio.crs import CRS

        return CRS.from_user_input(crs).is_geographic
    except Exception:
        return False
