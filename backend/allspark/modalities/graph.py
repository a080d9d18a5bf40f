"""Graph: a network of sensors read at regular times (traffic speeds of loop detectors), forecast.

Task `forecast`: from the last `obs` steps (12 = 1 h at 5 min) of every sensor, the next `pred` steps
(12) of every sensor. One sample = one time window of all K sensors:
data `x` (K, obs) float32 readings (NaN = missing), `tod` (obs,) the slot of the day of each step,
`dow` (obs,) the day of the week (0 = Monday); mask (K, obs) True = observed; meta `sensor_ids` (the
K column names, shared), `start` / `time` (ISO: the window's first and last observed step),
`step_minutes`, `source`, and when known `locations` (K, 2) latitude / longitude and `adjacency`.
Training targets: (B, K, pred) float32, NaN = missing (skipped by the loss and the metrics).

Files (`read`, `read_labelled`):
- the METR-LA folder as published in ../shared/data/graph_metr_la: a speeds CSV whose first row is the
  sensor ids and that has no time column (`los_speed*.csv`: 5-minute steps from `start`, by default
  2012-03-01T00:00, where METR-LA begins), `adj_mx.pkl` (DCRNN: [sensor ids, id -> index, K x K
  float32], read with an unpickler that only builds numpy arrays) or else `*adj*.csv` (K x K), and
  `*location*.csv` (sensor_id, latitude, longitude);
- the generic layout: a wide CSV, one row per time: a first column named time / timestamp / datetime /
  date (ISO date-times or epoch seconds; or `time_column=`) then one column per sensor (the header
  holds the sensor ids; an unnamed first column, as pandas writes its index, is the time too); without
  a time column the rows are `step_minutes` apart from `start`. A
  folder holding such a CSV (+ optionally `*adj*.csv` / `adj_mx.pkl` and `*location*.csv`), or the
  CSV alone with `adjacency=<csv>`: K x K numbers, optionally under a header row of sensor ids. A folder
  with sensor locations but no adjacency gets the road graph from the distances between the sensors
  (`distance_adjacency`: DCRNN's thresholded Gaussian kernel).
Missing readings: empty, NA / NaN, and 0 (`zero_missing`, METR-LA's convention) are masked: the
encoder sees them as missing, the loss and the metrics skip them. A sensor without a single reading
in the file, fewer than obs + pred time steps (training) or obs (asking), irregular time steps and an
adjacency of the wrong shape are InputErrors naming the problem.

`read` gives the last window (`mode: "last"`, the next hour's forecast) or every window (`mode:
"all"`, `stride`). `read_labelled` gives every window of obs + pred steps that lies inside one block
of `block_hours` (24: a day); the block is the split group, and the split is chronological
(info `split: time`): validation is the latest blocks, model selection the blocks before them,
training the earliest, and no window straddles two blocks, so no reading is both a training target
and a validation input. METR-LA's 5 days: training days 1-3, model selection day 4, validation day 5.

Payload (the plugin, `engine.from_payload`): arrays `readings` (T, K) float32 (NaN = missing); meta
`sensor_ids` (K names) and `times` (T ISO date-times or epoch seconds; or meta `start` +
`step_minutes`), optional `mode` / `stride` as for files; or meta `path` for the backend to read.
Times are the data's wall clock (time of day and weekday are read from them as written): ISO times
without a zone as they stand, epoch seconds as UTC, so send local ISO times for local rush hours.

Inputs: readings standardised by the training readings' mean / std (missing -> 0 with mask 0), the
slot of the day and the day of week as integer codes. Encoder: graph_encoder.GraphSTEncoder
(STAEformer-style; the adjacency, when the data has one, biases the attention between sensors).
"""

from __future__ import annotations

import csv
import io
import os
# adj_mx.pkl is read with _ArrayUnpickler below, which builds numpy arrays only
import pickle  # nosec B403

import numpy as np

from ..errors import InputError
from .base import LabelledSet, Modality, Sample, fit_mean_std, need_samples, read_text_file, register
from .options import GraphOptions

TIME_NAMES = {"time", "timestamp", "datetime", "date", "date_time", "t", "", "unnamed: 0"}  # "": pandas' index
NA_TOKENS = {"", "na", "n/a", "nan", "null", "none", "-", "?"}
METR_LA_START = "2012-03-01T00:00:00"
UNITS = {"speed": "mph"}


class _ArrayUnpickler(pickle.Unpickler):
    """Builds only numpy arrays, dtypes and plain containers: a pickle that names anything else is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("builtins", "dict"), ("builtins", "list"),
               ("_codecs", "encode")}  # protocol-2 pickles of numpy arrays spell their bytes with it

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed here")


# ---- reading --------------------------------------------------------------------------------------


class Series:
    """Readings (T, K) float64 (NaN = missing) at times (T,) epoch seconds, `step` seconds apart."""

    def __init__(self, values, times, ids, source, adjacency=None, locations=None):
        self.values, self.times, self.ids, self.source = values, times, list(ids), source
        self.adjacency, self.locations = adjacency, locations
        self.step = float(times[1] - times[0]) if len(times) > 1 else 300.0


def _times(raw, what: str) -> np.ndarray:
    """ISO date-times or epoch seconds -> float64 epoch seconds (naive times are the data's wall clock)."""
    raw = [str(v).strip() for v in raw]
    try:
        return np.array([float(v) for v in raw], np.float64)
    except ValueError:
        pass
    try:
        return np.array([np.datetime64(v.replace("Z", ""), "s") for v in raw]).astype(np.int64).astype(np.float64)
    except ValueError as exc:
        raise InputError(f"{what}: times must be ISO date-times or epoch seconds ({exc})") from None


def _numbers(cells: np.ndarray, what: str, zero_missing: bool) -> np.ndarray:
    """A 2-D object array of strings -> float64, NA tokens (and 0 with `zero_missing`) -> NaN."""
    low = np.char.lower(np.char.strip(cells.astype(str)))
    missing = np.isin(low, list(NA_TOKENS))
    try:
        out = np.where(missing, "nan", low).astype(np.float64)
    except ValueError:
        bad = next((i, j) for i, j in np.argwhere(~missing)
                   if not _is_number(low[i, j]))
        raise InputError(f"{what}: row {bad[0] + 2}, column {bad[1] + 1} holds {cells[bad]!r}, not a number") from None
    out[~np.isfinite(out)] = np.nan
    if zero_missing:
        out[out == 0] = np.nan
    return out


def _is_number(s) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _rows(path, what: str) -> list[list[str]]:
    text = read_text_file(path, "text (CSV)")
    if not text.strip():
        raise InputError(f"{path}: the {what} file is empty")
    delim = "\t" if text[:4096].count("\t") > text[:4096].count(",") else ";" if \
        text[:4096].count(";") > text[:4096].count(",") else ","
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delim) if r and any(c.strip() for c in r)]
    if not rows:
        raise InputError(f"{path}: the {what} file is empty")
    return rows


def read_readings(path, time_column=None, start=None, step_minutes=None, zero_missing=True,
                  max_sensors=None, max_steps=None) -> Series:
    path = os.fspath(path)
    rows = _rows(path, "readings")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    if not body:
        raise InputError(f"{path}: the readings CSV has a header but no rows (no time steps)")
    tcol = None
    if time_column is not None:
        if time_column not in header:
            raise InputError(f"{path}: no time column {time_column!r} (has {', '.join(header[:8])}...)")
        tcol = header.index(time_column)
    elif header[0].lower() in TIME_NAMES:
        tcol = 0
    width = len(header)
    if any(len(r) != width for r in body):
        bad = next(i for i, r in enumerate(body) if len(r) != width)
        raise InputError(f"{path}: row {bad + 2} has {len(body[bad])} cells, the header {width}")
    cells = np.array(body, dtype=object)
    if max_steps:
        cells = cells[:max_steps]
    sensor_cols = [j for j in range(width) if j != tcol]
    if not sensor_cols:
        raise InputError(f"{path}: no sensor columns (only a time column)")
    if max_sensors:
        sensor_cols = sensor_cols[:max_sensors]
    ids = [header[j] for j in sensor_cols]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: duplicate sensor ids in the header")
    values = _numbers(cells[:, sensor_cols], path, zero_missing)
    if tcol is not None:
        times = _times(cells[:, tcol], path)
    else:
        t0 = _times([start or METR_LA_START], f"{path}: option start")[0]
        times = t0 + np.arange(len(values)) * 60.0 * float(step_minutes or 5)
    return Series(values, times, ids, path)


def read_adjacency(path, ids) -> np.ndarray:
    """(K, K) float64 from a CSV (optionally under a header row of sensor ids) or DCRNN's adj_mx.pkl."""
    path = os.fspath(path)
    K = len(ids)
    if path.lower().endswith(".pkl"):
        try:
            with open(path, "rb") as f:
                obj = _ArrayUnpickler(f, encoding="latin1").load()
            pids, _, adj = obj
            pids = [str(p) for p in pids]
            adj = np.asarray(adj, np.float64)
        except (OSError, pickle.UnpicklingError, ValueError, TypeError, EOFError) as exc:
            raise InputError(f"cannot read {path}: not an adjacency pickle [ids, id->index, matrix] ({exc})") from None
        index = {p: i for i, p in enumerate(pids)}
        missing = [i for i in ids if i not in index]
        if adj.shape != (len(pids), len(pids)):
            raise InputError(f"{path}: the adjacency is {adj.shape[0]} x {adj.shape[1]} for {len(pids)} sensor ids")
        if missing:
            raise InputError(f"{path}: the adjacency has no sensor {missing[0]!r} (and {len(missing) - 1} more)")
        sel = [index[i] for i in ids]
        return adj[np.ix_(sel, sel)]
    rows = _rows(path, "adjacency")
    head = [c.strip() for c in rows[0]]
    named = not all(_is_number(c) for c in head if c)
    body = rows[1:] if named else rows
    try:
        adj = np.array([[float(c) if c.strip() else 0.0 for c in r] for r in body], np.float64)
    except ValueError:
        raise InputError(f"{path}: the adjacency holds something that is not a number") from None
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise InputError(f"{path}: the adjacency must be a square K x K matrix, not {len(body)} rows of "
                         f"{len(body[0]) if body else 0}")
    if named:
        hid = head[1:] if len(head) == adj.shape[1] + 1 else head
        index = {p: i for i, p in enumerate(hid)}
        if all(i in index for i in ids):
            sel = [index[i] for i in ids]
            return adj[np.ix_(sel, sel)]
    if adj.shape[0] < K:
        raise InputError(f"{path}: the adjacency is {adj.shape[0]} x {adj.shape[1]} but the readings have {K} sensors")
    if adj.shape[0] > K:  # the readings were cut to their first K sensors (max_sensors): the same rows
        adj = adj[:K, :K]
    return adj


def read_locations(path, ids) -> np.ndarray | None:
    rows = _rows(path, "locations")
    head = [c.strip().lower() for c in rows[0]]
    try:
        si, la, lo = head.index("sensor_id"), head.index("latitude"), head.index("longitude")
    except ValueError:
        raise InputError(f"{path}: a locations CSV needs the columns sensor_id, latitude, longitude") from None
    where = {}
    for r in rows[1:]:
        try:
            where[r[si].strip()] = (float(r[la]), float(r[lo]))
        except (ValueError, IndexError):
            continue
    return np.array([where.get(i, (np.nan, np.nan)) for i in ids], np.float64)


ADJACENCY_THRESHOLD = 0.1  # DCRNN: kernel weights below this are no edge
ADJACENCY_NEIGHBOURS = 10  # sigma from each sensor's distances to this many nearest sensors


def distance_adjacency(locations: np.ndarray, threshold: float = ADJACENCY_THRESHOLD,
                       neighbours: int = ADJACENCY_NEIGHBOURS) -> np.ndarray:
    """The road graph from the sensors' places when no adjacency is given: DCRNN's thresholded Gaussian
    kernel, exp(-(d_ij / sigma)^2), 0 below `threshold`, 1 on the diagonal; (K, K) float32. d is the
    great-circle distance (DCRNN: the road distance, which it has only for nearby pairs), so sigma is the
    standard deviation of each sensor's distances to its `neighbours` nearest sensors: on METR-LA's 207
    sensors this gives 1,446 edges against DCRNN's 1,515, half of them the same pairs."""
    lat, lon = np.radians(locations[:, 0]), np.radians(locations[:, 1])
    a = (np.sin((lat[:, None] - lat[None]) / 2) ** 2
         + np.cos(lat[:, None]) * np.cos(lat[None]) * np.sin((lon[:, None] - lon[None]) / 2) ** 2)
    d = 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))  # km
    near = np.sort(d, axis=1)[:, 1:neighbours + 1]
    sigma = float(near.std()) if near.size else 1.0
    w = np.exp(-np.square(d / max(sigma, 1e-9)))
    w[w < threshold] = 0.0
    return w.astype(np.float32)


def read_source(path, adjacency=None, **options) -> Series:
    """A readings CSV, or a folder holding one (+ an adjacency and a locations file)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"cannot read {path}: no such file or folder")
    adj_path, loc_path = adjacency, None
    if os.path.isdir(path):
        names = sorted(os.listdir(path))
        csvs = [n for n in names if n.lower().endswith((".csv", ".tsv", ".txt")) and "adj" not in n.lower()
                and "location" not in n.lower() and "sensor_ids" not in n.lower()]
        if len(csvs) != 1:
            raise InputError(f"{path}: the folder must hold one readings CSV (found {len(csvs)}: "
                             f"{', '.join(csvs) or 'none'}); give the file itself")
        readings = os.path.join(path, csvs[0])
        if adj_path is None:
            pkl = [n for n in names if n.lower() == "adj_mx.pkl"]
            adj_csv = [n for n in names if "adj" in n.lower() and n.lower().endswith(".csv")]
            adj_path = os.path.join(path, (pkl or adj_csv or [None])[0]) if (pkl or adj_csv) else None
        locs = [n for n in names if "location" in n.lower() and n.lower().endswith(".csv")]
        loc_path = os.path.join(path, locs[0]) if locs else None
    else:
        readings = path
    s = read_readings(readings, **options)
    if adj_path is not None:
        s.adjacency = read_adjacency(adj_path, s.ids)
    if loc_path is not None:
        s.locations = read_locations(loc_path, s.ids)
        if s.adjacency is None and np.isfinite(s.locations).all():
            s.adjacency = distance_adjacency(s.locations)
    return s


def check_series(s: Series, need: int, what: str = "") -> None:
    T, K = s.values.shape
    src = what or s.source
    if T < need:
        raise InputError(f"{src}: {T} time steps; the graph modality needs at least {need} "
                         f"({'observed + predicted steps' if need > 12 else 'observed steps'})")
    if K == 0:
        raise InputError(f"{src}: no sensors")
    if not np.isfinite(s.values).any():
        raise InputError(f"{src}: every reading is missing (empty, NaN or 0)")
    dead = np.flatnonzero(~np.isfinite(s.values).any(0))
    if len(dead):
        names = ", ".join(s.ids[i] for i in dead[:5]) + (f" and {len(dead) - 5} more" if len(dead) > 5 else "")
        raise InputError(f"{src}: sensor(s) {names} have no reading at all (every value missing): drop them")
    if len(s.times) > 1:
        d = np.diff(s.times)
        if (d <= 0).any() or np.abs(d - d[0]).max() > 1e-6:
            i = int(np.flatnonzero((d <= 0) | (np.abs(d - d[0]) > 1e-6))[0])
            raise InputError(f"{src}: the time steps must be regular and increasing; step {i + 1} -> {i + 2} is "
                             f"{d[i]:g} s, the first {d[0]:g} s")
    if s.adjacency is not None and s.adjacency.shape != (K, K):
        raise InputError(f"{src}: the adjacency is {s.adjacency.shape[0]} x {s.adjacency.shape[1]} but there are "
                         f"{K} sensors")


def _iso(t: float) -> str:
    return str(np.datetime64(int(round(t)), "s"))


def time_codes(times: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """(slot of the day, day of the week 0 = Monday) of each time (epoch seconds, wall clock)."""
    slot = np.floor(np.mod(times, 86400.0) / step + 1e-6).astype(np.int64)
    dow = ((np.floor(times / 86400.0).astype(np.int64) + 3) % 7)  # 1970-01-01 was a Thursday
    return slot, dow


def _sparse(adj: np.ndarray | None) -> dict | None:
    if adj is None:
        return None
    r, c = np.nonzero(adj)
    return {"rows": r.tolist(), "cols": c.tolist(), "weights": [round(float(v), 6) for v in adj[r, c]]}


def windows(s: Series, starts, obs: int) -> list[Sample]:
    slot, dow = time_codes(s.times, s.step)
    shared = {"sensor_ids": s.ids, "step_minutes": s.step / 60.0, "source": s.source,
              "adjacency": _sparse(s.adjacency)}
    if s.locations is not None:
        shared["locations"] = s.locations
    out = []
    for a in starts:
        x = s.values[a:a + obs].T.astype(np.float32)  # (K, obs)
        out.append(Sample(data={"x": x, "tod": slot[a:a + obs].astype(np.float32),
                                "dow": dow[a:a + obs].astype(np.float32)},
                          mask=np.isfinite(x),
                          meta={**shared, "start": _iso(s.times[a]), "time": _iso(s.times[a + obs - 1]),
                                "time_s": float(s.times[a + obs - 1])}))
    return out


# ---- the modality ---------------------------------------------------------------------------------


@register
class Graph(Modality):
    name = "graph"
    title = "Sensor network (graph)"
    file_types = [".csv", ".tsv", ".txt"]
    layer_kind = "vector"
    tasks = ["forecast"]
    prompts = [
        "Please forecast the traffic speed of every sensor of this road network for the next hour from "
        "its readings of the last hour",
        "Given the last hour of readings of these traffic sensors, predict each sensor's speed over the "
        "next hour",
    ]
    options_class = GraphOptions
    input_defaults = {"sensors": None, "sensor_ids": None, "obs": 12, "pred": 12, "step_minutes": 5.0,
                      "slots": 288, "day_of_week": True, "adjacency": None}
    encoder_defaults = {"type": "staeformer", "dim": 64, "temporal_depth": 1, "spatial_depth": 2, "heads": 4,
                        "mlp_ratio": 2.0, "dropout": 0.1, "tokens": 8}

    # reading
    def read(self, path, obs=12, mode="last", stride=1, adjacency=None, time_column=None, start=None,
             step_minutes=None, zero_missing=True, max_sensors=None, max_steps=None, **_) -> list[Sample]:
        s = read_source(path, adjacency=adjacency, time_column=time_column, start=start, step_minutes=step_minutes,
                        zero_missing=zero_missing, max_sensors=max_sensors, max_steps=max_steps)
        return self._windows_to_ask(s, obs, mode, stride)

    def _windows_to_ask(self, s: Series, obs: int, mode: str, stride: int) -> list[Sample]:
        check_series(s, obs)
        T = len(s.values)
        starts = [T - obs] if mode == "last" else list(range((T - obs) % stride, T - obs + 1, stride))
        return windows(s, starts, obs)

    def read_labelled(self, path, obs=12, pred=12, stride=1, block_hours=24.0, adjacency=None, time_column=None,
                      start=None, step_minutes=None, zero_missing=True, max_sensors=None, max_steps=None,
                      **_) -> LabelledSet:
        s = read_source(path, adjacency=adjacency, time_column=time_column, start=start, step_minutes=step_minutes,
                        zero_missing=zero_missing, max_sensors=max_sensors, max_steps=max_steps)
        check_series(s, obs + pred)
        T = len(s.values)
        block = max(1, int(round(float(block_hours) * 3600.0 / s.step)))
        if block < obs + pred:
            raise InputError(f"block_hours {block_hours} holds {block} steps, fewer than a window's {obs + pred}")
        starts = [a for a in range(0, T - obs - pred + 1, stride) if a // block == (a + obs + pred - 1) // block]
        if not starts:
            raise InputError(f"{s.source}: no window of {obs + pred} steps fits inside one block of {block} steps")
        samples = windows(s, starts, obs)
        targets = np.stack([s.values[a + obs:a + obs + pred].T for a in starts]).astype(np.float32)  # (B, K, pred)
        groups = np.array([a // block for a in starts], np.int64)
        name = "speed" if "speed" in os.path.basename(s.source).lower() else "value"
        return LabelledSet(
            samples=samples, targets=targets, classes=None,
            target_info=[{"name": name, "unit": UNITS.get(name, "")}], groups=groups,
            info={"source": s.source, "sensors": len(s.ids), "time_steps": T, "step_minutes": s.step / 60.0,
                  "first_time": _iso(s.times[0]), "last_time": _iso(s.times[-1]),
                  "missing_share": float(1 - np.isfinite(s.values).mean()),
                  "adjacency": s.adjacency is not None, "groups": f"blocks of {block_hours:g} h ({block} steps)",
                  "split": "time",
                  "split_note": "chronological: validation = the latest blocks, model selection the blocks "
                                "before them, training the earliest; every window lies inside one block, so "
                                "no window overlaps a split boundary"},
        )

    def from_payload(self, arrays, meta) -> list[Sample]:
        meta = dict(meta or {})
        arrays = arrays or {}
        opts = {k: meta[k] for k in ("obs", "mode", "stride") if meta.get(k) is not None}
        if "readings" not in arrays:
            if meta.get("path"):
                keep = {k: meta[k] for k in ("adjacency", "time_column", "start", "step_minutes", "zero_missing",
                                             "max_sensors", "max_steps") if meta.get(k) is not None}
                return self.read(meta["path"], **opts, **keep)
            raise InputError("graph payload has no 'readings' array (T, K) and no 'path'")
        v = np.asarray(arrays["readings"], np.float64)
        if v.ndim != 2:
            raise InputError(f"graph payload 'readings' must be (time steps, sensors), not shape {v.shape}")
        T, K = v.shape
        ids = [str(i) for i in (meta.get("sensor_ids") or [])]
        if len(ids) != K:
            raise InputError(f"graph payload has {K} sensor columns but {len(ids)} sensor_ids")
        if meta.get("times") is not None:
            times = _times(list(meta["times"]), "graph payload")
            if len(times) != T:
                raise InputError(f"graph payload has {T} time steps but {len(times)} times")
        else:
            t0 = _times([meta.get("start") or METR_LA_START], "graph payload start")[0]
            times = t0 + np.arange(T) * 60.0 * float(meta.get("step_minutes") or 5)
        v = np.where(np.isfinite(v), v, np.nan)
        if meta.get("zero_missing", True):
            v[v == 0] = np.nan
        s = Series(v, times, ids, meta.get("source", meta.get("layer", "payload")))
        return self._windows_to_ask(s, int(opts.get("obs", 12)), opts.get("mode", "last"), int(opts.get("stride", 1)))

    # the contract
    def default_spec(self, samples=None) -> dict:
        inp = dict(self.input_defaults)
        if samples:
            m = samples[0].meta
            inp["sensors"] = len(m["sensor_ids"])
            inp["sensor_ids"] = list(m["sensor_ids"])
            inp["obs"] = int(samples[0].data["x"].shape[1])
            inp["step_minutes"] = float(m.get("step_minutes", 5.0))
            inp["slots"] = max(1, int(round(1440.0 / inp["step_minutes"])))
            # a day-of-week embedding only when training sees every day (else unseen days keep random rows)
            days = np.unique(np.concatenate([s.data["dow"] for s in samples]))
            inp["day_of_week"] = bool(len(days) == 7)
            inp["adjacency"] = m.get("adjacency")
        return {"input": inp, "encoder": dict(self.encoder_defaults)}

    def check(self, sample, spec) -> None:
        src = sample.meta.get("source", "input")
        x = sample.data.get("x") if sample.data else None
        if x is None or "tod" not in sample.data or "dow" not in sample.data:
            raise InputError(f"{self.title}: a sample from {src} has no readings (x, tod, dow)")
        x = np.asarray(x)
        inp = self.input_spec(spec)
        if x.ndim != 2:
            raise InputError(f"{self.title}: readings of {src} must be (sensors, steps), not {x.shape}")
        K, T = x.shape
        if inp.get("sensors") is not None and K != int(inp["sensors"]):
            raise InputError(f"{self.title}: {src} has {K} sensors; the bundle was trained on {inp['sensors']}")
        if T != int(inp["obs"]):
            raise InputError(f"{self.title}: {src} gives {T} observed steps; the bundle reads {inp['obs']}")
        want = inp.get("sensor_ids")
        have = sample.meta.get("sensor_ids")
        if want is not None and have is not None and [str(i) for i in have] != [str(i) for i in want]:
            i = next(j for j, (a, b) in enumerate(zip(have, want)) if str(a) != str(b))
            raise InputError(f"{self.title}: the sensors of {src} differ from the bundle's: column {i + 1} is "
                             f"{have[i]!r}, the bundle's {want[i]!r} (same sensors, same order)")
        if np.isinf(x).any():
            raise InputError(f"{self.title}: infinite readings in {src}")
        if not np.isfinite(x).any():
            raise InputError(f"{self.title}: every reading of the window ending {sample.meta.get('time', '?')} "
                             f"of {src} is missing")

    def normalise_stats(self, samples, spec=None) -> dict:
        need_samples(samples, self.name)
        x = np.concatenate([np.asarray(s.data["x"], np.float64).ravel() for s in samples])
        mean, std = fit_mean_std(x[:, None], floor=1e-6)
        return {"readings": {"mean": float(mean[0]), "std": float(std[0])}}

    def to_inputs(self, samples, spec, stats) -> dict[str, np.ndarray]:
        need_samples(samples, self.name)
        x = np.stack([np.asarray(s.data["x"], np.float64) for s in samples])
        st = stats["readings"]
        present = np.isfinite(x)
        z = np.where(present, (x - st["mean"]) / st["std"], 0.0).astype(np.float32)
        slots = int(self.input_spec(spec).get("slots") or 288)
        tod = np.clip(np.stack([s.data["tod"] for s in samples]), 0, slots - 1).astype(np.float32)
        return {"x": z, "mask": present.astype(np.float32), "tod": tod,
                "dow": np.stack([s.data["dow"] for s in samples]).astype(np.float32)}

    def place_result(self, chunk, part) -> dict:
        """The times (epoch seconds, the data's wall clock) of each sample's forecast steps."""
        pred = part["values"].shape[-1]
        out = []
        for s in chunk:
            step = 60.0 * float(s.meta.get("step_minutes", 5.0))
            out.append(float(s.meta.get("time_s", 0.0)) + step * np.arange(1, pred + 1))
        return {"forecast_times": np.array(out, np.float64)}

    def build_encoder(self, spec: dict):
        inp, enc = self.input_spec(spec), self.encoder_spec(spec)
        if inp.get("sensors") is None:
            raise InputError("graph encoder needs input.sensors (see default_spec)")
        from .graph_encoder import GraphSTEncoder

        return GraphSTEncoder(
            sensors=int(inp["sensors"]), steps=int(inp["obs"]), slots=int(inp.get("slots") or 288),
            dim=int(enc["dim"]), temporal_depth=int(enc["temporal_depth"]), spatial_depth=int(enc["spatial_depth"]),
            heads=int(enc["heads"]), mlp_ratio=float(enc["mlp_ratio"]), dropout=float(enc["dropout"]),
            tokens=int(enc["tokens"]), day_of_week=bool(inp.get("day_of_week", True)), adjacency=inp.get("adjacency"))
