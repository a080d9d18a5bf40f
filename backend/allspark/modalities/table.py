"""Table: rows of attributes (CSV, GeoPackage / any OGR vector layer), regression or classification.

Reader: CSV (delimiter sniffed; `NA`, empty, `NaN`, `null`, `None` are missing) or a vector layer's
attribute table (GeoPackage via osgeo.ogr when importable — then also Shapefile, GeoJSON, ... — else
GeoPackage through sqlite3; `layer=` picks the layer). Columns whose every present value is a number
are continuous, the others categorical; `categorical=[...]` makes numeric codes (month, hour, station
ids) categorical. One row = one sample: data `num` (Fn,) float64 (NaN = missing) and `cat` (Fc,) str
(None = missing); meta `fid`, `columns` {"numeric": [...], "categorical": [...]} (shared by all rows),
`source`.

Training data: `read_labelled(path, target="PM2.5", features=[...])` on a CSV or a folder of CSVs
(PRSA Beijing: one per station). Rows with a missing target are dropped. Split groups are year-month
(year * 100 + month) when the table has year and month columns, or `group_by=<column>`.

Inputs: continuous columns standardised (NaN -> 0 with `num_mask` 0), categorical values coded by
the training vocabulary (0 = missing, 1 = unseen, 2.. = known values). Encoder (TabFormer-style): a
linear map per continuous column, an embedding per categorical column value, a learned mask token
per column for missing values, a column embedding, one transformer layer over the column tokens.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
from collections import Counter

import numpy as np

from ..errors import InputError
from .base import (LabelledSet, Modality, Sample, fit_mean_std, need_samples, read_text_file, register,
                   target_stats)
from .options import TableOptions

NA_TOKENS = {"", "na", "n/a", "nan", "null", "none", "-", "?"}
# PRSA Beijing: the paper's features (time, station, SO2, NO2, CO, O3 and the six weather variables)
PRSA_FEATURES = ["year", "month", "day", "hour", "station", "SO2", "NO2", "CO", "O3",
                 "TEMP", "PRES", "DEWP", "RAIN", "wd", "WSPM"]
PRSA_CATEGORICAL = ["month", "hour", "station", "wd"]
UNITS = {"PM2.5": "ug/m3", "PM10": "ug/m3", "SO2": "ug/m3", "NO2": "ug/m3", "CO": "ug/m3", "O3": "ug/m3",
         "TEMP": "degC", "PRES": "hPa", "DEWP": "degC", "RAIN": "mm", "WSPM": "m/s"}
ID_COLUMNS = {"no", "id", "fid", "ogc_fid", "index", "unnamed: 0"}


class Columns:
    """A table read into memory: column names -> float64 arrays (numeric) or object arrays (categorical)."""

    def __init__(self, names, values: dict, fids=None, source="table"):
        self.names = list(names)
        self.values = values
        self.n = len(next(iter(values.values()))) if values else 0
        self.fids = np.asarray(fids) if fids is not None else np.arange(self.n)
        self.source = source

    def numeric(self, name) -> bool:
        return self.values[name].dtype.kind == "f"


# ---- parsing ------------------------------------------------------------------------------------


def _typed(raw: list, force_categorical: bool) -> np.ndarray:
    """A column of strings (None = missing) -> float64 (NaN = missing) when every present value is a
    number, else object (str, None = missing)."""
    missing = np.fromiter(((v is None) or (v.strip().lower() in NA_TOKENS) for v in raw), bool, len(raw))
    if not force_categorical:
        try:
            return np.where(missing, "nan", np.array(raw, dtype=object)).astype(np.float64)
        except (ValueError, TypeError):
            pass
    return np.array([None if m else v.strip() for v, m in zip(raw, missing)], dtype=object)


def _cat_str(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def read_csv(path, categorical=(), delimiter=None, max_rows=None) -> Columns:
    path = os.fspath(path)
    text = read_text_file(path, "text (CSV)")
    if not text.strip():
        raise InputError(f"{path}: the CSV file is empty")
    if delimiter is None:
        head = text[:8192]
        try:
            delimiter = csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = "\t" if head.count("\t") > head.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{path}: the CSV file is empty") from None
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        dup = [h for h, c in Counter(header).items() if c > 1]
        raise InputError(f"{path}: duplicate column names {dup}")
    cols = [[] for _ in header]
    n = 0
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        for j in range(len(header)):
            cols[j].append(row[j])
        n += 1
        if max_rows and n >= max_rows:
            break
    if n == 0:
        raise InputError(f"{path}: the CSV file has a header but no rows (empty table)")
    cat = set(categorical or ())
    values = {h: _typed(c, h in cat) for h, c in zip(header, cols)}
    return Columns(header, values, source=path)


def _gpkg_sqlite(path, layer=None, max_rows=None) -> tuple[list, dict, np.ndarray]:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        tables = [r[0] for r in con.execute("SELECT table_name FROM gpkg_contents WHERE data_type IN ('features','attributes')")]
    except sqlite3.Error as e:
        raise InputError(f"cannot read {path}: not a GeoPackage ({e})") from None
    try:
        if not tables:
            raise InputError(f"{path}: the GeoPackage has no layers")
        if layer is None:
            layer = tables[0]
        elif layer not in tables:
            raise InputError(f"{path}: no layer {layer!r}; layers: {', '.join(tables)}")
        geom = {r[0] for r in con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name=?", (layer,))} \
            if _has_table(con, "gpkg_geometry_columns") else set()
        quoted = '"' + layer.replace('"', '""') + '"'  # an identifier that exists (checked above), quoted
        info = list(con.execute(f"PRAGMA table_info({quoted})"))
        pk = [r[1] for r in info if r[5]]
        names = [r[1] for r in info if r[1] not in geom]
        columns = ", ".join('"' + c.replace('"', '""') + '"' for c in names)
        sql = f"SELECT {columns} FROM {quoted}"  # nosec B608 - quoted identifiers read from the file's schema
        if max_rows:
            sql += f" LIMIT {int(max_rows)}"
        rows = list(con.execute(sql))
    except sqlite3.Error as e:
        raise InputError(f"cannot read {path}: {e}") from None
    finally:
        con.close()
    fid_col = pk[0] if pk else None
    fids = np.array([r[names.index(fid_col)] for r in rows]) if fid_col else np.arange(len(rows))
    attrs = [c for c in names if c != fid_col]
    raw = {c: [r[names.index(c)] for r in rows] for c in attrs}
    return attrs, raw, fids


def _has_table(con, name):
    return con.execute("SELECT 1 FROM sqlite_master WHERE name=?", (name,)).fetchone() is not None


def _ogr_layer(path, layer=None, max_rows=None):
    from osgeo import ogr

    ogr.UseExceptions()
    try:
        ds = ogr.Open(path)
    except Exception as e:
        raise InputError(f"cannot read {path}: {e}") from None
    if ds is None:
        raise InputError(f"cannot read {path}: not a vector file OGR can open")
    if ds.GetLayerCount() == 0:
        raise InputError(f"{path}: no layers")
    names = [ds.GetLayerByIndex(i).GetName() for i in range(ds.GetLayerCount())]
    if layer is None:
        lyr = ds.GetLayerByIndex(0)
    else:
        if layer not in names:
            raise InputError(f"{path}: no layer {layer!r}; layers: {', '.join(names)}")
        lyr = ds.GetLayerByName(layer)
    defn = lyr.GetLayerDefn()
    attrs = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    raw = {c: [] for c in attrs}
    fids = []
    for k, feat in enumerate(lyr):
        if max_rows and k >= max_rows:
            break
        fids.append(feat.GetFID())
        for i, c in enumerate(attrs):
            raw[c].append(feat.GetField(i) if feat.IsFieldSetAndNotNull(i) else None)
    return attrs, raw, np.asarray(fids)


def read_vector(path, layer=None, categorical=(), max_rows=None) -> Columns:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"cannot read {path}: no such file")
    try:
        import osgeo.ogr  # noqa: F401

        attrs, raw, fids = _ogr_layer(path, layer, max_rows)
    except ImportError:
        if not path.lower().endswith(".gpkg"):
            raise InputError(f"cannot read {path}: reading this vector format needs GDAL's Python bindings (osgeo)") from None
        attrs, raw, fids = _gpkg_sqlite(path, layer, max_rows)
    if len(fids) == 0:
        raise InputError(f"{path}: the layer has no features (empty table)")
    cat = set(categorical or ())
    values = {c: _typed([v if isinstance(v, str) or v is None else (repr(v) if isinstance(v, float) else str(v))
                         for v in raw[c]], c in cat) for c in attrs}
    return Columns(attrs, values, fids=fids, source=path)


def read_table(path, layer=None, categorical=(), max_rows=None, delimiter=None) -> Columns:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext in (".csv", ".tsv", ".txt"):
        return read_csv(path, categorical, delimiter, max_rows)
    return read_vector(path, layer, categorical, max_rows)


def columns_to_samples(cols: Columns, features=None, exclude=()) -> list[Sample]:
    """One sample per row; `features` names the columns to keep (all but id columns when None)."""
    if features is None:
        features = [c for c in cols.names if c.lower() not in ID_COLUMNS and c not in exclude]
    missing = [f for f in features if f not in cols.values]
    if missing:
        raise InputError(f"{cols.source}: missing columns {', '.join(missing)} (has {', '.join(cols.names)})")
    num = [f for f in features if cols.numeric(f)]
    cat = [f for f in features if not cols.numeric(f)]
    N = cols.n
    numa = np.stack([cols.values[f] for f in num], axis=1) if num else np.zeros((N, 0))
    cata = np.stack([cols.values[f] for f in cat], axis=1) if cat else np.zeros((N, 0), dtype=object)
    shared = {"numeric": num, "categorical": cat}
    return [
        Sample(data={"num": numa[i], "cat": cata[i]}, mask=None,
               meta={"fid": _py(cols.fids[i]), "columns": shared, "source": cols.source})
        for i in range(N)
    ]


def _py(v):
    return v.item() if hasattr(v, "item") else v


# ---- the modality ---------------------------------------------------------------------------------


@register
class Table(Modality):
    name = "table"
    title = "Table"
    # what it reads (a vector layer's attribute table, or a text table), then what it answers
    file_types = [".csv", ".tsv", ".txt", ".gpkg", ".shp", ".geojson", ".sqlite", ".dbf"]
    layer_kind = "vector"
    tasks = ["regression", "classification"]
    prompts = [
        "Please utilize the provided air quality indicators to accurately predict the concentrations of "
        "PM2.5 in the atmosphere",
        "Given the air quality indicators, please provide a prediction for the PM2.5 levels at this "
        "particular moment",
    ]
    options_class = TableOptions
    input_defaults = {"numeric": None, "categorical": None, "max_vocab": 256}
    encoder_defaults = {"type": "tabformer", "dim": 128, "depth": 1, "heads": 4, "mlp_ratio": 2.0, "dropout": 0.0}

    # reading
    def read(self, path, layer=None, features=None, categorical=(), max_rows=None, **_) -> list[Sample]:
        cols = read_table(path, layer=layer, categorical=categorical, max_rows=max_rows)
        return columns_to_samples(cols, features)

    def read_labelled(self, path, target="PM2.5", features=None, categorical=None, group_by=None,
                      max_rows=None, layer=None, task=None, **_) -> LabelledSet:
        path = os.fspath(path)
        files = sorted(os.path.join(path, f) for f in os.listdir(path)
                       if f.lower().endswith((".csv", ".tsv"))) if os.path.isdir(path) else [path]
        if not files:
            raise InputError(f"{path}: no CSV files in the folder")
        tabs = []
        for f in files:
            c = read_table(f, layer=layer, max_rows=max_rows)
            tabs.append(c)
        cols = _concat(tabs, path)
        if target not in cols.values:
            raise InputError(f"{path}: missing target column {target!r} (has {', '.join(cols.names)})")
        prsa = all(f in cols.values for f in PRSA_FEATURES)
        if features is None:
            features = list(PRSA_FEATURES) if prsa else [c for c in cols.names if c != target and c.lower() not in ID_COLUMNS]
        features = [f for f in features if f != target]
        if categorical is None:
            categorical = PRSA_CATEGORICAL if prsa else []
        for c in categorical:  # numeric codes made categorical
            if c in cols.values and cols.numeric(c):
                v = cols.values[c]
                cols.values[c] = np.array([None if np.isnan(x) else _cat_str(float(x)) for x in v], dtype=object)
        y = cols.values[target]
        is_class = task == "classification" or (task is None and not cols.numeric(target))
        keep = np.array([v is not None for v in y]) if not cols.numeric(target) else np.isfinite(y)
        if is_class and cols.numeric(target):
            y = np.array([None if np.isnan(v) else _cat_str(float(v)) for v in y], dtype=object)
        sub = Columns(cols.names, {k: v[keep] for k, v in cols.values.items()}, cols.fids[keep], cols.source)
        if sub.n == 0:
            raise InputError(f"{path}: every row's target {target!r} is missing")
        samples = columns_to_samples(sub, features)
        yk = y[keep]
        if is_class:
            classes = sorted({str(v) for v in yk})
            index = {c: i for i, c in enumerate(classes)}
            targets = np.array([index[str(v)] for v in yk], np.int64)
            target_info = None
        else:
            classes = None
            targets = yk.astype(np.float32)[:, None]
            target_info = [{"name": target, "unit": UNITS.get(target, "")}]
        groups = None
        if group_by is not None:
            if group_by not in sub.values:
                raise InputError(f"{path}: no column {group_by!r} to group by")
            groups = np.asarray(sub.values[group_by])
        elif "year" in sub.values and "month" in sub.values:
            yr = _as_number(sub.values["year"])
            mo = _as_number(sub.values["month"])
            groups = (yr * 100 + mo).astype(np.int64)
        return LabelledSet(
            samples=samples, targets=targets, classes=classes, target_info=target_info, groups=groups,
            info={"files": files, "rows_read": int(cols.n), "rows_missing_target": int(cols.n - sub.n),
                  "target": target, "numeric": samples[0].meta["columns"]["numeric"],
                  "categorical": samples[0].meta["columns"]["categorical"],
                  "groups": "year*100+month" if groups is not None and group_by is None else group_by,
                  **({"split": "time"} if groups is not None and group_by is None else {})},
        )

    def from_payload(self, arrays, meta) -> list[Sample]:
        meta = dict(meta or {})
        arrays = arrays or {}
        numcols = {k[4:]: np.asarray(v, np.float64) for k, v in arrays.items() if k.startswith("col:")}
        catcols = {k: np.array([None if (v is None or str(v).strip().lower() in NA_TOKENS) else str(v) for v in vals],
                               dtype=object) for k, vals in (meta.get("categorical") or {}).items()}
        if not numcols and not catcols:
            if meta.get("path"):
                return self.read(meta["path"], layer=meta.get("layer"), features=meta.get("features"),
                                 categorical=meta.get("categorical_columns") or ())
            raise InputError("table payload has no columns (arrays 'col:<name>' / meta 'categorical') and no 'path'")
        lengths = {len(v) for v in list(numcols.values()) + list(catcols.values())}
        if len(lengths) != 1:
            raise InputError(f"table payload columns have different lengths: {sorted(lengths)}")
        n = lengths.pop()
        if n == 0:
            raise InputError("table payload is empty (0 rows)")
        fids = meta.get("fids")
        if fids is not None and len(fids) != n:
            raise InputError(f"table payload has {n} rows but {len(fids)} fids")
        names = list(numcols) + [c for c in catcols if c not in numcols]
        cols = Columns(names, {**numcols, **catcols}, fids=fids, source=meta.get("source", meta.get("layer", "payload")))
        return columns_to_samples(cols, meta.get("features"))

    # the contract
    def default_spec(self, samples=None) -> dict:
        inp = dict(self.input_defaults)
        if samples:
            c = samples[0].meta["columns"]
            inp["numeric"], inp["categorical"] = list(c["numeric"]), list(c["categorical"])
        return {"input": inp, "encoder": dict(self.encoder_defaults)}

    def _columns(self, spec, samples):
        inp = self.input_spec(spec)
        num, cat = inp.get("numeric"), inp.get("categorical")
        if num is None or cat is None:
            c = samples[0].meta["columns"]
            num = list(c["numeric"]) if num is None else list(num)
            cat = list(c["categorical"]) if cat is None else list(cat)
        return list(num), list(cat)

    def check(self, sample, spec) -> None:
        src = sample.meta.get("source", "table")
        cols = sample.meta.get("columns")
        if cols is None or "num" not in sample.data or "cat" not in sample.data:
            raise InputError(f"{self.title}: row from {src} has no columns")
        num, cat = self._columns(spec, [sample])
        if not num and not cat:
            raise InputError(f"{self.title}: the bundle names no feature columns")
        have = set(cols["numeric"]) | set(cols["categorical"])
        missing = [c for c in num + cat if c not in have]
        if missing:
            raise InputError(f"{self.title}: {src} is missing columns {', '.join(missing)}")
        wrong = [c for c in num if c in cols["categorical"]]
        if wrong:
            raise InputError(f"{self.title}: columns {', '.join(wrong)} of {src} hold text; the bundle expects numbers")
        x = self._num_row(sample, num)
        if np.isinf(x).any():
            raise InputError(f"{self.title}: infinite values in row {sample.meta.get('fid')} of {src}")
        c = self._cat_row(sample, cat)
        if np.isnan(x).all() and all(v is None for v in c):
            raise InputError(f"{self.title}: every feature of row {sample.meta.get('fid')} of {src} is missing (NaN)")

    @staticmethod
    def _num_row(sample, names):
        cols = sample.meta["columns"]
        idx = {c: i for i, c in enumerate(cols["numeric"])}
        cidx = {c: i for i, c in enumerate(cols["categorical"])}
        out = np.full(len(names), np.nan)
        for j, n in enumerate(names):
            if n in idx:
                out[j] = sample.data["num"][idx[n]]
            elif n in cidx:  # a categorical-looking column the bundle reads as a number
                v = sample.data["cat"][cidx[n]]
                try:
                    out[j] = float(v) if v is not None else np.nan
                except ValueError:
                    raise InputError(f"column {n!r} holds {v!r}, not a number") from None
        return out

    @staticmethod
    def _cat_row(sample, names):
        cols = sample.meta["columns"]
        cidx = {c: i for i, c in enumerate(cols["categorical"])}
        idx = {c: i for i, c in enumerate(cols["numeric"])}
        out = []
        for n in names:
            if n in cidx:
                out.append(sample.data["cat"][cidx[n]])
            elif n in idx:  # numeric codes read as categories (e.g. month)
                v = sample.data["num"][idx[n]]
                out.append(None if np.isnan(v) else _cat_str(float(v)))
            else:
                out.append(None)
        return out

    def _matrices(self, samples, num, cat):
        """(B, Fn) float64 and (B, Fc) object, fast when rows share their column layout."""
        groups: dict[int, list[int]] = {}
        for i, s in enumerate(samples):
            groups.setdefault(id(s.meta["columns"]), []).append(i)
        X = np.full((len(samples), len(num)), np.nan)
        Cm = np.empty((len(samples), len(cat)), dtype=object)
        for rows in groups.values():
            s0 = samples[rows[0]]
            cols = s0.meta["columns"]
            if all(n in cols["numeric"] for n in num) and all(c in cols["categorical"] for c in cat):
                ni = [cols["numeric"].index(n) for n in num]
                ci = [cols["categorical"].index(c) for c in cat]
                if ni:
                    X[rows] = np.stack([samples[r].data["num"] for r in rows])[:, ni]
                if ci:
                    Cm[rows] = np.stack([samples[r].data["cat"] for r in rows])[:, ci]
            else:
                for r in rows:
                    X[r] = self._num_row(samples[r], num)
                    Cm[r] = self._cat_row(samples[r], cat)
        return X, Cm

    def normalise_stats(self, samples, spec=None, targets=None) -> dict:
        """Mean / std per continuous column, vocabulary per categorical column (most frequent first,
        at most input.max_vocab); with `targets`, the target's mean / std (regression) too."""
        need_samples(samples, self.name)
        num, cat = self._columns(spec, samples)
        X, Cm = self._matrices(samples, num, cat)
        st = {"numeric": {}, "categorical": {}}
        for j, n in enumerate(num):
            m, s = fit_mean_std(X[:, j], floor=1e-8)
            st["numeric"][n] = {"mean": float(m), "std": float(s)}
        maxv = int(self.input_spec(spec).get("max_vocab") or 256)
        for j, c in enumerate(cat):
            cnt = Counter(v for v in Cm[:, j] if v is not None)
            st["categorical"][c] = [v for v, _ in sorted(cnt.items(), key=lambda kv: (-kv[1], kv[0]))[:maxv]]
        if targets is not None and np.asarray(targets).dtype.kind == "f":
            st["target"] = target_stats(targets)
        return st

    def to_inputs(self, samples, spec, stats) -> dict[str, np.ndarray]:
        need_samples(samples, self.name)
        num, cat = self._columns(spec, samples)
        X, Cm = self._matrices(samples, num, cat)
        mean = np.array([stats["numeric"][n]["mean"] for n in num], np.float64)
        std = np.array([stats["numeric"][n]["std"] for n in num], np.float64)
        present = np.isfinite(X)
        Z = np.where(present, (X - mean) / std, 0.0).astype(np.float32)
        codes = np.zeros(Cm.shape, np.float32)
        for j, c in enumerate(cat):
            voc = {v: i + 2 for i, v in enumerate(stats["categorical"].get(c, []))}
            codes[:, j] = [0 if v is None else voc.get(v, 1) for v in Cm[:, j]]
        return {"num": Z, "num_mask": present.astype(np.float32), "cat": codes}

    def build_encoder(self, spec: dict):
        inp, enc = self.input_spec(spec), self.encoder_spec(spec)
        if inp.get("numeric") is None or inp.get("categorical") is None:
            raise InputError("table encoder needs input.numeric and input.categorical (see default_spec)")
        from .table_encoder import TabEncoder

        return TabEncoder(
            n_num=len(inp["numeric"]), n_cat=len(inp["categorical"]), vocab=int(inp.get("max_vocab") or 256) + 2,
            dim=int(enc["dim"]), depth=int(enc["depth"]), heads=int(enc["heads"]),
            mlp_ratio=float(enc["mlp_ratio"]), dropout=float(enc["dropout"]),
        )


def _as_number(v):
    if v.dtype.kind == "f":
        return np.nan_to_num(v).astype(np.int64)
    return np.array([int(float(x)) if x is not None else 0 for x in v], np.int64)


def _concat(tabs: list[Columns], source) -> Columns:
    if len(tabs) == 1:
        return tabs[0]
    names = tabs[0].names
    for t in tabs[1:]:
        if t.names != names:
            raise InputError(f"{t.source}: columns differ from {tabs[0].source}")
    values = {}
    for n in names:
        parts = [t.values[n] for t in tabs]
        if all(p.dtype.kind == "f" for p in parts):
            values[n] = np.concatenate(parts)
        else:  # one file's column parsed as text: text for all
            values[n] = np.concatenate([p if p.dtype == object else
                                        np.array([None if np.isnan(x) else _cat_str(float(x)) for x in p], dtype=object)
                                        for p in parts])
    fids = np.concatenate([t.fids for t in tabs])
    return Columns(names, values, fids=fids, source=os.fspath(source))
