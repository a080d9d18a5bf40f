"""Results in words and on disk: a label GeoTIFF for per-pixel / per-tile raster results, else JSON.
Files are written to a temporary name beside the target and moved into place when complete."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from allspark_protocol.atomic import PartFileWriter

from .atomic import atomic_path, default_mode
from .engine import summarise


def _where(sample) -> str:
    m = sample.meta
    if "row" in m and "col" in m:
        return f"row {m['row']}, col {m['col']}"
    if "window" in m:
        return "window " + ",".join(str(int(v)) for v in m["window"])
    if "track" in m:
        return f"track {m['track']}"
    if "fid" in m:
        return f"feature {m['fid']}"
    return ""


def describe_samples(result: dict, samples, limit: int = 8) -> list[str]:
    """A few samples one by one (the whole run's counts and shares are the summary's, summary_text)."""
    n = len(samples)
    lines = []
    for i in range(min(n, limit)):
        where = _where(samples[i])
        lines.append(f"sample {i}{f' ({where})' if where else ''}: {summarise(result, i)}")
    if n > limit:
        lines.append(f"... and {n - limit} more samples")
    return lines


# ---- the whole run in numbers --------------------------------------------------------------------
# An answer about a layer speaks of the whole result of the run (every pixel, row, track, tile), never
# of one sample: summary_stats counts it, summary_text says it in one line, and ground_answer keeps
# only what the numbers support of the LLM's written answer.

UNIT_WORDS = {"pixel": ("pixel", "pixels", "px"), "tile": ("tile", "tiles", "tiles"), "row": ("row", "rows", "rows"),
              "track": ("track", "tracks", "tracks"), "sample": ("sample", "samples", "samples")}


def sample_unit(samples) -> str:
    m = samples[0].meta if samples else {}
    if "tile" in m and "window" in m and "row" in m:  # a dense bundle's tiles of pixels
        return "tile"
    if "row" in m and "col" in m:
        return "pixel"
    if "window" in m or "raster_size" in m:
        return "tile"
    if "track" in m:
        return "track"
    if "fid" in m and "columns" in m:
        return "row"
    return "sample"


def _sample_pixels(samples, unit: str) -> np.ndarray | None:
    """Valid pixels per sample: 1 for a pixel; a tile's valid (mask) or window pixels; None off rasters."""
    if unit == "pixel":
        return np.ones(len(samples))
    if unit != "tile":
        return None
    out = []
    for s in samples:
        if s.mask is not None and np.ndim(s.mask) >= 2:
            out.append(float(np.count_nonzero(s.mask)))
        elif s.meta.get("window") is not None:
            out.append(float(s.meta["window"][2]) * float(s.meta["window"][3]))
        else:
            return None
    return np.asarray(out)


def sample_areas(samples, unit: str | None = None) -> tuple[np.ndarray | None, dict]:
    """Area in hectares of each sample's valid pixels, and how it was found: a projected (or local,
    metric) CRS: |det| of the geotransform times the axis units; a geographic CRS: geodesic areas of
    the pixel rows (pyproj.Geod, north-up grids); otherwise None and a note that says why."""
    unit = unit or sample_unit(samples)
    pixels = _sample_pixels(samples, unit)
    if pixels is None:
        return None, {"note": "not a raster: no areas"}
    m = samples[0].meta
    t, crs_text = m.get("transform"), m.get("crs")
    if t is None or not crs_text:
        return None, {"note": "the raster has no " + ("geotransform" if t is None else "CRS") + ": areas unknown"}
    try:
        import pyproj

        crs = pyproj.CRS.from_user_input(crs_text)
    except Exception as exc:  # noqa: BLE001 - any CRS pyproj cannot read
        return None, {"note": f"the raster's CRS is not readable ({str(exc)[:80]}): areas unknown"}
    t = [float(v) for v in t]
    if crs.is_geographic:
        if t[2] or t[4]:
            return None, {"note": "rotated geographic grid: areas left out"}
        geod = crs.get_geod()

        def row_area(r: float) -> float:  # m2 of one pixel of row r (the sample's own grid)
            lat0, lat1 = t[3] + r * t[5], t[3] + (r + 1) * t[5]
            lons = [t[0], t[0] + t[1], t[0] + t[1], t[0]]
            return abs(geod.polygon_area_perimeter(lons, [lat0, lat0, lat1, lat1])[0])

        areas = []
        cache: dict = {}
        for s, n in zip(samples, pixels):
            sm = s.meta
            if unit == "pixel":
                r = int(sm["row"])
                areas.append(cache.setdefault(r, row_area(r)))
            else:  # a tile: its own transform; valid pixels row by row
                tt = [float(v) for v in sm.get("transform") or t]
                per_row = (np.count_nonzero(s.mask, axis=1) if s.mask is not None and np.ndim(s.mask) == 2
                           else np.full(int(sm["window"][3]), float(sm["window"][2])))
                lat = tt[3] + np.arange(len(per_row) + 1) * tt[5]
                areas.append(sum(k * abs(geod.polygon_area_perimeter(
                    [tt[0], tt[0] + tt[1], tt[0] + tt[1], tt[0]], [lat[i], lat[i], lat[i + 1], lat[i + 1]])[0])
                    for i, k in enumerate(per_row) if k))
        return np.asarray(areas) / 1e4, {"method": "geodesic (pyproj.Geod on the CRS's ellipsoid)"}
    axes = crs.axis_info[:2]
    factors = [a.unit_conversion_factor for a in axes]
    angular = ("degree", "radian", "grad", "arc-second", "arc-minute", "unknown")
    if len(axes) < 2 or not all(f and f > 0 for f in factors) or any(a.unit_name.lower() in angular for a in axes):
        return None, {"note": "the raster's CRS has no linear units: areas unknown"}
    pixel_m2 = abs(t[1] * t[5] - t[2] * t[4]) * factors[0] * factors[1]
    return pixels * pixel_m2 / 1e4, {"method": f"pixel area {pixel_m2:.6g} m2 from the geotransform ({axes[0].unit_name})",
                                      "pixel_m2": pixel_m2}


def _left_out(samples, unit: str, n: int) -> dict:
    """What the reader left out, when it says so: nodata pixels (meta `nodata_pixels`), tracks too
    short (`skipped_tracks`); for a pixel grid, the window's cells that got no result."""
    m = samples[0].meta
    out = {}
    if m.get("nodata_pixels") is not None:
        out["nodata_pixels"] = int(m["nodata_pixels"])
    if m.get("skipped_tracks"):
        out["short_tracks"] = len(m["skipped_tracks"])
    if unit == "pixel" and "height" in m and "width" in m and "region" not in m:
        out["grid_pixels"] = int(m["height"]) * int(m["width"])
        out["pixels_without_result"] = max(0, out["grid_pixels"] - n)
    return out


def _class_rows(names, idx: np.ndarray, conf: np.ndarray, areas: np.ndarray | None, n_classes: int) -> list[dict]:
    counts = np.bincount(idx, minlength=n_classes)
    total_area = float(areas.sum()) if areas is not None else None
    rows = []
    for k in np.argsort(-counts, kind="stable"):
        if counts[k] == 0:
            break
        sel = idx == k
        row = {"name": names[k], "count": int(counts[k]), "share": float(counts[k] / len(idx)),
               "mean_confidence": float(conf[sel].mean())}
        if areas is not None:
            row["area_ha"] = float(areas[sel].sum())
            row["area_share"] = float(areas[sel].sum() / total_area) if total_area else 0.0
        rows.append(row)
    return rows


def summary_stats(result: dict, samples) -> dict:
    """The whole run's result in numbers (plain JSON types): per class count, share, area (ha) and
    mean confidence; value ranges for regression; per-element shares for point / pixel classification;
    the most likely futures for trajectories; what the reader left out."""
    task = result.get("task")
    n = len(samples)
    unit = sample_unit(samples)
    st: dict = {"task": task, "samples": n, "unit": unit}
    left = _left_out(samples, unit, n) if n else {}
    if left:
        st["left_out"] = left
    if task == "classification":
        probs = np.asarray(result["probabilities"], np.float64)
        idx, conf = probs.argmax(1), probs.max(1)
        areas, how = sample_areas(samples, unit)
        st["area"] = ({"total_ha": float(areas.sum()), **how} if areas is not None else how)
        st["classes"] = _class_rows(result["classes"], idx, conf, areas, probs.shape[1])
        st["mean_confidence"] = float(conf.mean())
        st["all_classes"] = list(result["classes"])
    elif task == "regression":
        values = np.asarray(result["values"], np.float64).reshape(n, -1)
        st["targets"] = []
        for j, t in enumerate(result["targets"]):
            v = values[:, j]
            lo, hi = int(np.nanargmin(v)), int(np.nanargmax(v))
            st["targets"].append({"name": t["name"], "unit": t.get("unit", ""), "min": float(v[lo]),
                                  "max": float(v[hi]), "mean": float(np.nanmean(v)), "median": float(np.nanmedian(v)),
                                  "min_at": _where(samples[lo]) or f"sample {lo}",
                                  "max_at": _where(samples[hi]) or f"sample {hi}"})
    elif task == "trajectory":
        paths, scores = np.asarray(result["paths"], np.float64), np.asarray(result["scores"], np.float64)
        best = scores.argmax(1)
        ends = np.hypot(*paths[np.arange(n), best, -1].T)
        st.update({"candidates": int(paths.shape[1]), "steps": int(paths.shape[2]),
                   "best_score_mean": float(scores.max(1).mean()),
                   "best_end_distance": {"min": float(ends.min()), "mean": float(ends.mean()), "max": float(ends.max()),
                                         "unit": "m"}})
    elif task == "forecast":
        st.update(_forecast_stats(result))
    elif task == "reid":  # one embedding per image: how many, how wide, in which light
        spectra = [str(s.meta.get("spectrum", "?")) for s in samples]
        st.update({"embedding_dim": int(np.asarray(result["embeddings"]).shape[-1]),
                   "infrared_images": spectra.count("infrared"), "visible_images": spectra.count("visible")})
        if result.get("ranking") is not None:  # a query ranked against a gallery: the nearest first
            d, files = np.asarray(result["distances"], np.float64), list(result["gallery_files"])
            persons = result.get("gallery_persons")
            st["query"], st["gallery_size"] = Path(str(result.get("query") or "")).name, len(files)
            st["matches"] = [{"file": Path(files[i]).name, "distance": float(d[i]),
                              **({"person": int(persons[i])} if persons is not None and persons[i] >= 0 else {})}
                             for i in np.asarray(result["ranking"])[:3]]
    elif task == "docstring":  # code: what the LLM wrote for each function (the first few)
        names = [s.meta.get("func_name") or s.meta.get("source") or f"function {i + 1}" for i, s in enumerate(samples)]
        st["docstrings"] = [{"function": str(f), "docstring": d} for f, d in
                            list(zip(names, result.get("docstrings") or []))[:5]]
        if result.get("ranking") is not None:  # a search sentence: the best matches first
            sim = np.asarray(result["similarity"], np.float64)
            st["query"] = result.get("query")
            st["matches"] = [{"function": str(names[i]), "similarity": float(sim[i]),
                              "docstring": (result.get("docstrings") or [""] * n)[i]}
                             for i in np.asarray(result["ranking"])[:3]]
    elif task == "depth":  # oblique photography: the reference views' depth maps
        maps = np.asarray(result.get("depth_map", result["depth"]), np.float64).reshape(n, -1)
        keep = np.isfinite(maps)
        v = maps[keep]
        st["depth"] = {"pixels": int(keep.sum()), "no_depth_pixels": int((~keep).sum()),
                       "unit": result.get("unit") or "", "min": float(v.min()) if v.size else None,
                       "max": float(v.max()) if v.size else None, "mean": float(v.mean()) if v.size else None,
                       "median": float(np.median(v)) if v.size else None}
    elif task in ("point_classification", "pixel_classification"):
        labels = np.asarray(result["element_labels"])
        probs = result.get("element_probabilities")
        keep = np.zeros(labels.shape, bool)
        for i, s in enumerate(samples):  # only the real elements (points) of each sample, not its padding
            k = len(s.meta["index"]) if "index" in s.meta else labels.shape[1]
            keep[i, :k] = True
        if result.get("element_xyz") is not None:
            keep &= np.isfinite(np.asarray(result["element_xyz"])[..., 0])
        keep &= labels >= 0
        idx = labels[keep].astype(np.int64)
        conf = np.asarray(probs, np.float64)[keep] if probs is not None else np.full(len(idx), np.nan)
        st["elements"] = int(keep.sum())
        areas = None
        if task == "pixel_classification":  # every element a pixel: its area from the grid (projected CRSs)
            _, how = sample_areas(samples, unit)
            areas = np.full(len(idx), how["pixel_m2"] / 1e4) if "pixel_m2" in how else None
            st["area"] = {"total_ha": float(areas.sum()), **how} if areas is not None else how
        st["classes"] = _class_rows(result["classes"], idx, conf, areas, len(result["classes"])) if len(idx) else []
        st["mean_confidence"] = float(np.nanmean(conf)) if len(idx) and probs is not None else None
        st["all_classes"] = list(result["classes"])
    return st


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _ha(x: float) -> str:
    return f"{x:,.0f} ha" if x >= 100 else f"{x:.2f} ha" if x >= 0.1 else f"{x:.3g} ha"


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def run_stats(run: dict) -> dict:
    """`summary_stats` of a whole run that a client made in parts (e.g. the QGIS dock's per-pixel map,
    classified block by block): `labels` (N,) class indices and `confidence` (N,) winning
    probabilities (NaN: unknown) of the pixels that got a result, their `rows` / `cols` on a grid of
    `height` x `width` with `transform` and `crs` (for areas), `classes`; optional `region` (as the
    samples' meta). The answer about a layer is then about all of it, not the pixels the LLM read."""
    from .errors import InputError
    from .modalities import Sample

    try:
        classes = [str(c) for c in run["classes"]]
        labels = np.asarray(run["labels"], np.int64).ravel()
        rows = np.asarray(run["rows"], np.int64).ravel()
        cols = np.asarray(run["cols"], np.int64).ravel()
        conf = np.asarray(run.get("confidence") if run.get("confidence") is not None else np.full(len(labels), np.nan),
                          np.float64).ravel()
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"the run's result is malformed ({exc}): it needs classes, labels, rows and cols") from None
    if not (len(labels) == len(rows) == len(cols) == len(conf)) or len(labels) == 0:
        raise InputError("the run's result is empty or its labels, rows, cols and confidence differ in length")
    if labels.min() < 0 or labels.max() >= len(classes):
        raise InputError(f"the run's labels must be class indices 0..{len(classes) - 1}")
    grid = {k: run[k] for k in ("transform", "crs", "height", "width", "region") if run.get(k) is not None}
    samples = [Sample({}, None, {**grid, "row": int(r), "col": int(c)}) for r, c in zip(rows, cols)]
    known = np.isfinite(conf)
    probs = np.zeros((len(labels), len(classes)))
    probs[np.arange(len(labels)), labels] = np.where(known, conf, 1.0)
    st = summary_stats({"task": "classification", "classes": classes, "probabilities": probs}, samples)
    if run.get("unit") in UNIT_WORDS and run.get("unit") != "pixel":  # e.g. a scene classifier's tile grid
        st["unit"] = run["unit"]
        st.get("left_out", {}).pop("pixels_without_result", None)
        st.get("left_out", {}).pop("grid_pixels", None)
        if "transform" not in grid:  # rows of a table, clips, texts: no map, no area
            st.pop("area", None)
    if not known.all():  # a winning probability the client did not keep is not 100%
        st.pop("mean_confidence", None)
        for r in st["classes"]:
            r.pop("mean_confidence", None)
    return st


def _forecast_stats(result: dict) -> dict:
    """A sensor network's forecast for its latest window: per horizon (3, 6 and 12 steps) the mean over
    the sensors and the range, the lowest and highest sensor at the last step, and the range of every
    forecast value (what a written answer's numbers are held to)."""
    v = np.asarray(result["values"], np.float64)[-1]  # (K sensors, H steps): the latest window
    K, H = v.shape
    target = (result.get("targets") or [{"name": "value", "unit": ""}])[0]
    minutes = list(result.get("horizon_minutes") or range(1, H + 1))
    ids = [str(i) for i in (result.get("sensor_ids") or range(K))]
    horizons = []
    for h in sorted({min(H, k) for k in (3, 6, 12)}):
        col = v[:, h - 1]
        horizons.append({"steps": h, "minutes": float(minutes[h - 1]), "mean": float(np.nanmean(col)),
                         "min": float(np.nanmin(col)), "max": float(np.nanmax(col))})
    last = v[:, -1]
    lo, hi = int(np.nanargmin(last)), int(np.nanargmax(last))
    return {"sensors": K, "steps": H, "horizons": horizons,
            "lowest": {"sensor": ids[lo], "value": float(last[lo])}, "highest": {"sensor": ids[hi], "value": float(last[hi])},
            "targets": [{"name": target["name"], "unit": target.get("unit", ""), "min": float(np.nanmin(v)),
                         "max": float(np.nanmax(v))}]}


def summary_text(st: dict, top: int = 5) -> str:
    """One line in words for the whole run (shown to users, given to the LLM with the question)."""
    task, n, unit = st.get("task"), st["samples"], st.get("unit", "sample")
    one, many, short = UNIT_WORDS.get(unit, UNIT_WORDS["sample"])
    what = f"{n:,} {one if n == 1 else many}"
    left = st.get("left_out", {})
    tail = []
    if left.get("nodata_pixels"):
        tail.append(f"{left['nodata_pixels']:,} nodata pixels left out")
    if left.get("pixels_without_result"):
        tail.append(f"{left['pixels_without_result']:,} of the {left['grid_pixels']:,} pixels had no result "
                    f"(nodata or not sampled)")
    if left.get("short_tracks"):
        tail.append(f"{left['short_tracks']} tracks too short to predict were left out")
    tail = ("; " + "; ".join(tail)) if tail else ""
    if task == "classification":
        area = st.get("area", {})
        rows = st["classes"]
        if n == 1:
            best = rows[0]
            where = f" ({_ha(area['total_ha'])})" if "total_ha" in area else ""
            return f"Classified as {best['name']} ({best['mean_confidence']:.0%}){where}{tail}."
        items = []
        for r in rows[:top]:
            extra = f"{r['count']:,} {short}" + (f", {_ha(r['area_ha'])}" if "area_ha" in r else "")
            items.append(f"{r['name']} {_pct(r['share'])} ({extra})")
        rest = rows[top:]
        if rest:
            items.append(f"{len(rest)} more classes {_pct(sum(r['share'] for r in rest))}")
        cover = f" covering {_ha(area['total_ha'])}" if "total_ha" in area else ""
        conf = f"; mean confidence {st['mean_confidence']:.0%}" if st.get("mean_confidence") is not None else ""
        return f"{what}{cover}: {', '.join(items)}{conf}{tail}."
    if task == "regression":
        parts = []
        for t in st["targets"]:
            u = f" {t['unit']}" if t.get("unit") else ""
            if n == 1:
                parts.append(f"{t['name']} = {_num(t['mean'])}{u}")
            else:
                parts.append(f"{t['name']} from {_num(t['min'])} to {_num(t['max'])}{u} "
                             f"(mean {_num(t['mean'])}, median {_num(t['median'])})")
        return (f"Predicted {', '.join(parts)}{tail}." if n == 1 else f"{what}: {'; '.join(parts)}{tail}.")
    if task == "trajectory":
        d = st["best_end_distance"]
        spread = f" (from {d['min']:.2f} to {d['max']:.2f} m)" if n > 1 else ""
        return (f"{what}, {st['candidates']} candidate futures of {st['steps']} steps each: the most likely "
                f"(mean score {st['best_score_mean']:.0%}) end{'s' if n == 1 else ''} "
                f"{'on average ' if n > 1 else ''}{d['mean']:.2f} m from the last observed position{spread}{tail}.")
    if task == "docstring":
        if st.get("matches"):
            best = "; ".join(f"{m['function']} ({m['similarity']:.2f})" for m in st["matches"])
            return f"For \"{st['query']}\", the closest of {n:,} function{'s' if n != 1 else ''}: {best}{tail}."
        said = "; ".join(f"{d['function']}: {d['docstring'] or '(nothing written)'}" for d in st["docstrings"][:3])
        more = f" (and {n - 3:,} more)" if n > 3 else ""
        return f"{n:,} function{'s' if n != 1 else ''} described: {said}{more}{tail}."
    if task == "reid" and st.get("matches"):
        best = "; ".join(f"{m['file']}" + (f" (person {m['person']}, " if "person" in m else " (")
                         + f"distance {m['distance']:.3f})" for m in st["matches"])
        return (f"For the infrared image {st['query']}, the nearest of {st['gallery_size']:,} gallery "
                f"image{'s' if st['gallery_size'] != 1 else ''}: {best}{tail}.")
    if task == "reid":
        return (f"{what}: a {st['embedding_dim']}-number appearance embedding each ({st['infrared_images']} infrared, "
                f"{st['visible_images']} visible), for ranking a gallery of people by distance{tail}.")
    if task == "forecast":
        t = st["targets"][0]
        u = f" {t['unit']}" if t.get("unit") else ""
        means = ", ".join(f"{_num(h['mean'])}{u} at +{_num(h['minutes'])} min" for h in st["horizons"])
        last = st["horizons"][-1]
        return (f"{st['sensors']:,} sensors, the next {st['steps']} steps: mean {t['name']} {means}; at "
                f"+{_num(last['minutes'])} min from {_num(st['lowest']['value'])}{u} (sensor {st['lowest']['sensor']}) "
                f"to {_num(st['highest']['value'])}{u} (sensor {st['highest']['sensor']}){tail}.")
    if task == "depth" and st.get("depth", {}).get("pixels"):
        d = st["depth"]
        u = f" {d['unit']}" if d.get("unit") else ""
        gap = f"; {d['no_depth_pixels']:,} pixels seen by no other view" if d.get("no_depth_pixels") else ""
        return (f"{what}, depth maps of {d['pixels']:,} pixels: depth from {_num(d['min'])} to {_num(d['max'])}{u} "
                f"(mean {_num(d['mean'])}{u}, median {_num(d['median'])}{u}){gap}{tail}.")
    if task in ("point_classification", "pixel_classification"):
        kind = "points" if task == "point_classification" else "pixels"
        items = [f"{r['name']} {_pct(r['share'])} ({r['count']:,} {kind}" + (f", {_ha(r['area_ha'])}" if "area_ha" in r
                                                                             else "") + ")"
                 for r in st["classes"][:top]]
        if len(st["classes"]) > top:
            items.append(f"{len(st['classes']) - top} more classes {_pct(sum(r['share'] for r in st['classes'][top:]))}")
        conf = f"; mean confidence {st['mean_confidence']:.0%}" if st.get("mean_confidence") is not None else ""
        return f"{what}, {st['elements']:,} {kind}: {', '.join(items)}{conf}{tail}."
    return f"{what}{tail}."


def raster_grid(samples):
    """(height, width, GDAL transform, crs) of the raster that the samples are pixels or tiles of, else None.
    Pixels carry row/col inside the raster they were read from; tiles carry their window in the whole raster."""
    m = samples[0].meta
    if "height" in m and "width" in m and all("row" in s.meta and "col" in s.meta for s in samples):
        return int(m["height"]), int(m["width"]), m.get("transform"), m.get("crs")
    if "raster_size" in m and all("window" in s.meta for s in samples):
        width, height = (int(v) for v in m["raster_size"])
        t, (c0, r0) = m.get("transform"), m["window"][:2]
        whole = None if t is None else [t[0] - c0 * t[1] - r0 * t[2], t[1], t[2], t[3] - c0 * t[4] - r0 * t[5], t[4], t[5]]
        return height, width, whole, m.get("crs")
    return None


def _atomic(path: Path):
    """atomic.atomic_path for a result file: beside it (its folder made when missing), with the
    permissions a new file would have had."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_path(path, prefix=f".{path.name}.", suffix=path.suffix, chmod=default_mode())


def write_label_raster(result: dict, samples, path: Path) -> Path:
    import rasterio
    from rasterio.transform import Affine

    height, width, transform, crs = raster_grid(samples)
    labels = np.full((height, width), 255, dtype=np.uint8)  # 255 = no prediction (nodata)
    if result.get("task") == "pixel_classification":  # dense tiles: a class per pixel of each tile, -1 = none
        for s, el in zip(samples, np.asarray(result["element_labels"])):
            t, (r, c), (w, h) = int(s.meta["tile"]), (int(s.meta["row"]), int(s.meta["col"])), s.meta["window"][2:]
            lab = el.reshape(t, t)[:int(h), :int(w)]
            view = labels[r:r + int(h), c:c + int(w)]
            view[lab >= 0] = lab[lab >= 0]
    ids = [] if result.get("task") == "pixel_classification" else np.asarray(result["probabilities"]).argmax(1)
    for s, k in zip(samples, ids):
        m = s.meta
        if "row" in m and "col" in m:
            labels[int(m["row"]), int(m["col"])] = k
        else:
            c, r, w, h = (int(v) for v in m["window"])
            labels[r:r + h, c:c + w] = k
    profile = {"driver": "GTiff", "height": height, "width": width, "count": 1, "dtype": "uint8", "nodata": 255,
               "compress": "deflate"}
    if transform is not None:
        profile["transform"] = Affine.from_gdal(*transform)
    if crs:
        profile["crs"] = crs
    with _atomic(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(labels, 1)
        dst.update_tags(1, classes=json.dumps(result["classes"]))
        dst.write_colormap(1, palette(len(result["classes"])))
        dst.set_band_description(1, "class")
    with _atomic(path.with_suffix(".classes.json")) as tmp:
        Path(tmp).write_text(json.dumps(result["classes"], ensure_ascii=False))
    return path


def palette(n: int) -> dict[int, tuple[int, int, int, int]]:
    import colorsys

    return {i: tuple(int(255 * c) for c in colorsys.hsv_to_rgb((i * 0.618034) % 1, 0.65, 0.9)) + (255,)
            for i in range(n)}


def write_result(result: dict, samples, path: str) -> Path:
    from .jsonable import jsonable as _jsonable

    path = Path(path)
    if result.get("task") == "depth" and path.suffix.lower() in (".tif", ".tiff"):  # oblique: depth GeoTIFF(s)
        from .modalities.oblique import write_depth_geotiffs

        return write_depth_geotiffs(result, samples, path)
    per_pixel = result.get("task") == "classification" or (
        result.get("task") == "pixel_classification" and samples and "tile" in samples[0].meta)
    if path.suffix.lower() in (".tif", ".tiff") and per_pixel and raster_grid(samples):
        return write_label_raster(result, samples, path)
    with _atomic(path) as tmp:
        Path(tmp).write_text(json.dumps(_jsonable(result), ensure_ascii=False))
    return path


# ---- the LLM's written answer, held to the numbers ----------------------------------------------
_PCT = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:%|per ?cent)", re.I)
_HA = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(?:ha|hectares?)\b", re.I)
_COUNT = re.compile(r"(\d[\d,]*)\s*(?:pixels?|px|samples?|rows?|tracks?|tiles?|points?)\b", re.I)
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?![\w.]*\d)")
_FILLER = set("and or the a an of with in on is are was were mean average confidence class classes covering "
              "cover covers about around approximately roughly total more other pixels pixel px ha hectares "
              "samples sample rows row tracks track tiles tile points point from to median predicted".split())


def _float(text: str) -> float:
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):  # 1,024 / 12,345.6
        return float(text.replace(",", ""))
    return float(text.replace(",", "."))  # 31,7 (a decimal comma)


def _sentences(text: str) -> list[str]:
    return [p for p in re.split(r"(?<=[.!?;])\s+", text.strip()) if p.strip()]


def _names_in(sentence: str, names) -> tuple[list[str], str]:
    """Class names the sentence mentions (longest first, so "Corn-notill" is not also "Corn"), and the
    sentence with them taken out."""
    found, rest = [], sentence
    for name in sorted(set(names), key=len, reverse=True):
        pat = re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", re.I)
        if pat.search(rest):
            found.append(name)
            rest = pat.sub(" ", rest)
    return found, rest


def _check_sentence(sentence: str, stats: list[dict]) -> tuple[str | None, bool]:
    """(why the sentence is not supported by any of the results, or None; whether it only restates
    the summary: its names and numbers, and no word of its own)."""
    shares, areas, counts, ranges, names_all, present = [], [], [], [], set(), set()
    for st in stats:
        counts += [st["samples"], *(v for v in st.get("left_out", {}).values() if isinstance(v, int))]
        if st.get("elements") is not None:
            counts.append(st["elements"])
        for r in st.get("classes", []):
            shares += [100 * r["share"], 100 * r.get("area_share", r["share"]), 100 * r["mean_confidence"]]
            counts.append(r["count"])
            present.add(r["name"].lower())
            if "area_ha" in r:
                areas.append(r["area_ha"])
        if len(st.get("classes", [])) > 5:
            shares.append(100 * sum(r["share"] for r in st["classes"][5:]))
        if st.get("mean_confidence") is not None:
            shares.append(100 * st["mean_confidence"])
        if st.get("best_score_mean") is not None:
            shares.append(100 * st["best_score_mean"])
        names_all |= set(st.get("all_classes") or [])
        if "total_ha" in st.get("area", {}):
            areas.append(st["area"]["total_ha"])
        for t in st.get("targets", []):
            ranges.append((t["min"], t["max"]))
        if st.get("best_end_distance"):
            ranges.append((0.0, st["best_end_distance"]["max"]))
    items = [i.strip().lower() for i in re.split(r"[,;]", sentence) if i.strip()]
    if len(items) >= 6 and len(set(items)) < 0.6 * len(items):  # a small base LLM looping over a list
        return "repeats the same items over and over", False
    named, rest = _names_in(sentence, names_all)
    absent = [c for c in named if c.lower() not in present]
    if absent:
        return f"names {', '.join(absent)}, which the result does not contain", False
    for m in _PCT.finditer(rest):
        v = _float(m.group(1))
        if not any(abs(v - s) <= 1.0 for s in shares):
            return f"{m.group(0)} matches no share or confidence of the result", False
    for m in _HA.finditer(rest):
        v = _float(m.group(1))
        if not any(abs(v - a) <= max(0.05, 0.02 * a) for a in areas):
            return f"{m.group(0)} matches no area of the result", False
    for m in _COUNT.finditer(rest):
        if _float(m.group(1)) not in counts:
            return f"{m.group(0)} matches no count of the result", False
    if ranges:  # regression values, distances: within what was predicted
        bare = _HA.sub(" ", _PCT.sub(" ", _COUNT.sub(" ", rest)))
        for m in _NUMBER.finditer(bare):
            v = _float(m.group(0))
            if not any(lo - 0.01 * abs(lo) - 1e-9 <= v <= hi + 0.01 * abs(hi) + 1e-9 for lo, hi in ranges) \
                    and v not in counts:
                return f"{m.group(0)} lies outside the predicted values", False
    filler = _FILLER | {w.lower() for st in stats for t in st.get("targets", [])
                        for w in re.findall(r"[A-Za-z]+", f"{t['name']} {t.get('unit', '')}")}
    words = [w for w in re.findall(r"[A-Za-z]+", _NUMBER.sub(" ", rest)) if w.lower() not in filler]
    claims = bool(named or _PCT.search(rest) or _HA.search(rest) or _COUNT.search(rest) or _NUMBER.search(rest))
    return None, claims and not words  # numbers and names the summary already gives, and nothing else


_NEW_QUESTION = re.compile(r"\s*(question|q)\s*:", re.IGNORECASE)


def ground_answer(text: str, stats) -> tuple[str, list[dict]]:
    """The LLM's answer without the sentences the results do not support (a class the result lacks, a
    share, area, count or value it does not hold) nor those that only restate the summary's list
    (printed right beside the answer); returns (kept text, [{"text", "why"}] dropped)."""
    stats = [stats] if isinstance(stats, dict) else list(stats)
    kept, dropped = [], []
    for sentence in _sentences(text or ""):
        if _NEW_QUESTION.match(sentence):  # a small base LLM writing the next exercise instead of an answer
            dropped.append({"text": sentence, "why": "asks a question instead of answering"})
            continue
        why, restates = _check_sentence(sentence, stats)
        if why is None and restates:
            why = "repeats the summary"
        if why is None:
            kept.append(sentence)
        else:
            dropped.append({"text": sentence, "why": why})
    return " ".join(kept).strip(), dropped


# ---- a label raster written block by block (allspark batch: a mosaic larger than memory) ----------
class LabelRasterWriter(PartFileWriter):
    """The label GeoTIFF of `write_label_raster` (uint8 class indices, 255 = nodata, DEFLATE, the class
    names as the band's `classes` tag, a palette, band description "class", `<name>.classes.json`
    beside it), written block by block as results arrive: memory is one block, whatever the raster.

    Blocks go into a tiled GeoTIFF beside the target (`.<name>.part.tif`); `close()` makes it a Cloud
    Optimized GeoTIFF at `path` (GDAL's COG driver: tiled, DEFLATE, overviews by nearest neighbour; a
    plain tiled GeoTIFF where GDAL has no COG driver), atomically. `abort()` removes the part file and
    leaves `path` untouched."""

    NODATA = 255
    BLOCK = 256

    def __init__(self, path, width: int, height: int, transform, crs, classes):
        import rasterio
        from rasterio.transform import Affine

        from .errors import InputError

        self.path = Path(path)
        self.classes = [str(c) for c in classes]
        if len(self.classes) >= self.NODATA:
            raise InputError(f"{self.path}: a label raster holds at most {self.NODATA - 1} classes, "
                             f"not {len(self.classes)}")
        self.width, self.height = int(width), int(height)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.part = self.path.with_name(f".{self.path.name}.part.tif")
        tiled = self.width >= 16 and self.height >= 16
        profile = {"driver": "GTiff", "height": self.height, "width": self.width, "count": 1, "dtype": "uint8",
                   "nodata": self.NODATA, "compress": "deflate", "BIGTIFF": "IF_SAFER"}
        if tiled:
            bx = min(self.BLOCK, max(16, self.width // 16 * 16))
            by = min(self.BLOCK, max(16, self.height // 16 * 16))
            profile.update(tiled=True, blockxsize=bx, blockysize=by)
        if transform is not None:
            profile["transform"] = Affine.from_gdal(*[float(v) for v in transform])
        if crs:
            profile["crs"] = crs
        self.dst = rasterio.open(self.part, "w", **profile)
        self.dst.write_colormap(1, palette(len(self.classes)))
        self.dst.update_tags(1, classes=json.dumps(self.classes))
        self.dst.set_band_description(1, "class")
        self.written = 0  # pixels written (blocks may be written again: a retried window)

    def write(self, labels: np.ndarray, xoff: int, yoff: int) -> None:
        """Class indices (h, w) of the block whose top-left pixel is (xoff, yoff); anything outside
        0..classes-1 (-1, 255) is nodata."""
        from rasterio.windows import Window

        labels = np.asarray(labels)
        if labels.ndim != 2:
            raise ValueError(f"a label block must be 2-D, got shape {labels.shape}")
        h, w = labels.shape
        if xoff < 0 or yoff < 0 or xoff + w > self.width or yoff + h > self.height:
            raise ValueError(f"block {w} x {h} at ({xoff}, {yoff}) lies outside the {self.width} x {self.height} raster")
        ok = (labels >= 0) & (labels < len(self.classes))
        self.dst.write(np.where(ok, labels, self.NODATA).astype(np.uint8), 1, window=Window(int(xoff), int(yoff), w, h))
        self.written += int(w) * int(h)

    def close(self, cog: bool = True) -> Path:
        """Finish the file: a COG at `path` (and `<name>.classes.json`); returns `path`."""
        import rasterio
        import rasterio.shutil

        self.dst.close()
        try:
            with _atomic(self.path) as tmp:
                done = False
                if cog:
                    try:
                        rasterio.shutil.copy(self.part, tmp, driver="COG", compress="DEFLATE", resampling="NEAREST",
                                             overviews="AUTO", BIGTIFF="IF_SAFER")
                        done = True
                    except Exception:  # noqa: BLE001 - a GDAL without the COG driver: the tiled GeoTIFF
                        done = False
                if done:
                    with rasterio.open(tmp) as out:  # the COG driver carries the legend over; check it did
                        done = out.tags(1).get("classes") == json.dumps(self.classes) and out.colormap(1)
                if not done:
                    import shutil

                    shutil.copyfile(self.part, tmp)
            with _atomic(self.path.with_suffix(".classes.json")) as tmp:
                Path(tmp).write_text(json.dumps(self.classes, ensure_ascii=False))
        finally:
            self._remove_part()
        return self.path

    def abort(self) -> None:
        try:
            self.dst.close()
        finally:
            self._remove_part()

    def _remove_part(self) -> None:
        for p in (self.part, Path(str(self.part) + ".aux.xml")):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
