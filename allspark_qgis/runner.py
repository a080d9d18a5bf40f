"""What the prompt dock and the Processing algorithms ask the backend, in plain functions.

Each takes a client (allspark_qgis.protocol.client.Client), the bundle's manifest, the layer data, and a
`Feedback` (progress + cancel), and returns arrays ready for results.py. They run on worker threads
(QgsTask, Processing), so rasters are read through a cloned data provider.
"""

from __future__ import annotations

import math
import os
import re
import tempfile

import numpy as np

from . import layers
from .i18n import N_, number, progress_text, tr

PAYLOAD_BYTES = 24 * 2**20  # raster pixels sent per batch job
TABLE_ROWS = 20000  # rows per table payload


class Cancelled(Exception):
    pass


class Feedback:
    """Progress and cancel for plain code; adapters wrap QgsTask and QgsProcessingFeedback."""

    def progress(self, fraction: float, message: str = "") -> None:  # noqa: D401
        pass

    def canceled(self) -> bool:
        return False

    def info(self, message: str) -> None:
        pass

    def check(self) -> None:
        if self.canceled():
            raise Cancelled(tr("Cancelled."))


class TaskFeedback(Feedback):
    def __init__(self, task):
        self.task = task

    def progress(self, fraction, message=""):
        self.task.report(fraction, message)

    def canceled(self):
        return self.task.isCanceled()

    def info(self, message):
        self.task.report(None, message)


class ProcessingFeedback(Feedback):
    def __init__(self, feedback, lo: float = 0.0, hi: float = 100.0):
        self.fb, self.lo, self.hi = feedback, lo, hi

    def progress(self, fraction, message=""):
        if self.fb is None:
            return
        self.fb.setProgress(self.lo + (self.hi - self.lo) * max(0.0, min(1.0, float(fraction))))
        if message:
            self.fb.setProgressText(str(message))

    def canceled(self):
        return self.fb is not None and self.fb.isCanceled()

    def info(self, message):
        if self.fb is not None:
            self.fb.pushInfo(str(message))


class WordedFeedback(Feedback):
    """A feedback whose progress messages reach `parent` in the GUI's words: what the run counts
    (`unit`: pixels, tiles, rows, tracks; `total` of them when known), translated
    (`i18n.progress_text`: "1,008 of 1,024 pixels", never the backend's "samples 961-1024: 48 of 64
    samples" or "1 of 1 blocks"). The runner's jobs word their own progress with it, so the prompt
    dock and every Processing algorithm show the same words."""

    def __init__(self, parent: Feedback, unit: str, total: int | None = None):
        self.parent, self.unit, self.total = parent, unit, total

    def progress(self, fraction, message=""):
        text = progress_text(message, self.unit, self.total, fraction) if message else None
        self.parent.progress(fraction, text or message)

    def canceled(self):
        return self.parent.canceled()

    def info(self, message):
        self.parent.info(progress_text(message, self.unit) or message)


def worded(feedback: Feedback, unit: str, total: int | None = None) -> Feedback:
    """`feedback` wording progress as `unit` (of `total`); a feedback already worded by its caller
    (the prompt dock knows its run's total) is kept as it is."""
    return feedback if isinstance(feedback, WordedFeedback) else WordedFeedback(feedback, unit, total)


class Sub(Feedback):
    """A slice [lo, hi] of another feedback's progress."""

    def __init__(self, parent: Feedback, lo: float, hi: float):
        self.parent, self.lo, self.hi = parent, lo, hi

    def progress(self, fraction, message=""):
        self.parent.progress(self.lo + (self.hi - self.lo) * max(0.0, min(1.0, float(fraction))), message)

    def canceled(self):
        return self.parent.canceled()

    def info(self, message):
        self.parent.info(message)


# ---- jobs ---------------------------------------------------------------------------------------


def batch(client, bundle: str, payloads: list[tuple[dict, dict]], feedback: Feedback, options: dict | None = None) -> dict:
    """One batch job over payloads [(arrays, meta), ...]; the merged result (with `samples` meta)."""
    feedback.check()
    job = client.submit_batch(bundle, payloads=[{"arrays": a, "meta": m} for a, m in payloads], options=options or None)
    return wait(client, job, feedback)


def wait(client, job_id, feedback: Feedback) -> dict:
    def on_progress(ev):
        frac = ev.get("progress")
        if frac is not None:
            feedback.progress(float(frac), ev.get("message") or "")

    try:
        out = client.wait(job_id, on_progress=on_progress, cancel_check=feedback.canceled)
    except Exception:
        if feedback.canceled():
            raise Cancelled(tr("Cancelled.")) from None
        raise
    if feedback.canceled():
        raise Cancelled(tr("Cancelled."))
    return out


def ask(client, bundle: str, arrays: dict, meta: dict, prompt: str | None, text: bool, feedback: Feedback,
        on_token=None, run: dict | None = None) -> dict:
    """The head result and the LLM's answer for a payload; `run` (run_of_pixels) makes the summary and
    the answer about the whole run (the map the user sees), not only the pixels the LLM reads."""
    feedback.check()
    kwargs = {"run": run} if run is not None else {}
    return client.ask(bundle, arrays, meta, prompt=prompt or None, text=text, on_token=on_token, **kwargs)


def ask_together(client, items, prompt: str | None, feedback: Feedback, on_token=None) -> dict:
    """One written question about several layers: `items` [(bundle, arrays, meta), ...] (this layer's
    first); each layer's head result (`results`) and one answer (`text`)."""
    feedback.check()
    question = prompt or tr("What do these layers show, and how do they relate?")
    return client.ask_together(items, question, on_token=on_token)


def run_of_pixels(labels: np.ndarray, confidence: np.ndarray | None, classes, transform, crs: str | None,
                  region=None, unit: str = "pixel") -> dict | None:
    """A class map (labels (h, w), -1 = none; winning probabilities (h, w), NaN = unknown) as the
    `run` an ask summarises: the cells with a result, their place on the map's grid (transform, CRS:
    areas in ha), the classes, and what a cell is (`unit`: pixel, or tile for scene classifiers' tile
    grids). None when no cell got a result."""
    rows, cols = np.nonzero(labels >= 0)
    if len(rows) == 0:
        return None
    run = {"classes": list(classes), "labels": labels[rows, cols].astype(np.int32),
           "rows": rows.astype(np.int32), "cols": cols.astype(np.int32),
           "height": int(labels.shape[0]), "width": int(labels.shape[1]),
           "transform": [float(v) for v in transform], "crs": crs or None, "unit": unit}
    if confidence is not None:
        run["confidence"] = confidence[rows, cols].astype(np.float32)
    if region is not None:
        run["region"] = region.meta(optional=True)
    return run


def run_of_rows(result: dict) -> dict | None:
    """A classification of rows (features' texts, clips, table rows) as the `run` an ask summarises: every
    row's class and winning probability, so the written answer is about all the rows, not the one the
    LLM read. None for a result without classes (regression)."""
    probs, classes = result.get("probabilities"), result.get("classes")
    if probs is None or not classes:
        return None
    p = np.asarray(probs, np.float32)
    n = len(p)
    return {"classes": list(classes), "labels": p.argmax(1).astype(np.int32), "confidence": p.max(1),
            "rows": np.arange(n, dtype=np.int32), "cols": np.zeros(n, np.int32), "height": n, "width": 1,
            "unit": "row"}


class Kept:
    """A run's result kept for its `made()` (families' Run): `wrap(predict)` runs predict and keeps what
    it returns; `run()` is that result as an ask's `run` (run_of_rows)."""

    def __init__(self):
        self.result = None

    def wrap(self, predict):
        def run(client, feedback):
            out = predict(client, feedback)
            self.result = out[0] if isinstance(out, tuple) else out
            return out
        return run

    def run(self) -> dict | None:
        return run_of_rows(self.result) if isinstance(self.result, dict) else None


# ---- rasters ------------------------------------------------------------------------------------


def tile_size(manifest: dict, override: int | None = None, window=None) -> int:
    """The tile (px) a scene bundle reads a raster in: `override`, else the size of the images it was
    trained on (its read `tile`, else `input.source_size`: a UC Merced bundle saw 256 px scenes resized
    to 128, an MSTAR bundle 128-193 px chips centre-cropped to 88; else `input.size`). With a `window`,
    the bundle's tile is fitted to it (layers.fitted_tile): a 172 px chip is one scene, not four."""
    if override:
        return int(override)
    tile = (read_options(manifest) or {}).get("tile")  # the size the bundle was trained on
    if not tile:
        spec = manifest.get("input") or {}
        tile = spec.get("source_size") or spec.get("size") or spec.get("tile") or 64
    if isinstance(tile, (list, tuple)):
        tile = tile[0]
    return layers.fitted_tile(window, int(tile)) if window is not None else int(tile)


def read_options(manifest: dict) -> dict:
    """The bundle's reader options: from the listing, or its manifest.json when the folder is local."""
    if "read_options" in manifest:
        return manifest.get("read_options") or {}
    path = manifest.get("path")
    if path and os.path.isfile(os.path.join(path, "manifest.json")):
        import json

        try:
            with open(os.path.join(path, "manifest.json"), encoding="utf-8") as f:
                return json.load(f).get("read_options") or {}
        except (OSError, ValueError):
            return {}
    return {}


def _raster_source(layer, provider=None):
    """What the raster runs read from: (provider, grid, data bands, alpha band, CRS WKT, band names)."""
    provider = provider or layer.dataProvider().clone()
    grid = layers.raster_grid(layer)
    bands = layers.data_bands(layer)
    return provider, grid, bands, layers.alpha_band(layer), layers.crs_wkt(layer.crs()), layers.band_names(layer, bands)


def classify_tiles(client, manifest: dict, layer, window, tile: int, feedback: Feedback, provider=None,
                   region=None):
    """Scene classification tile by tile over a native window; with a `region` (layers.selected_region)
    only the tiles its polygons reach, their pixels outside the polygons masked by the backend.

    Returns (labels (rows, cols) int, -1 = no data; probabilities (rows, cols) of the winning class;
    GDAL transform of the tile grid; classes)."""
    provider, grid, bands, alpha, crs, names = _raster_source(layer, provider)
    cols, rows = layers.tile_grid(window, tile)
    labels = np.full((rows, cols), -1, np.int64)
    conf = np.full((rows, cols), np.nan, np.float32)
    classes = list(manifest.get("classes") or [])
    per_job = max(1, PAYLOAD_BYTES // (len(bands) * tile * tile * 4))
    cells = list(layers.iter_tiles(window, tile))
    feedback = worded(feedback, "tiles", len(cells))
    done = 0
    for start in range(0, len(cells), per_job):
        feedback.check()
        chunk = cells[start:start + per_job]
        payloads, where = [], []
        for c, r, win in chunk:
            if region is not None and not region.reaches(grid, win):
                continue
            img = layers.read_block(provider, grid.window_extent(win), tile, tile, bands, alpha)
            if not np.isfinite(img).any():
                continue
            meta = {"crs": crs, "transform": grid.transform(win), "window": win, "band_names": names,
                    "tile": int(r * cols + c), "nodata": None}
            if region is not None:
                meta["region"] = region.meta(optional=True)
            payloads.append(({"image": img}, meta))
            where.append((r, c))
        if payloads:
            sub = Sub(feedback, start / len(cells), (start + len(chunk)) / len(cells))
            res = batch(client, manifest["name"], payloads, sub)
            classes = list(res.get("classes") or classes)
            idx = _sample_order(res, [m["tile"] for _, m in payloads], "tile")
            lab = results_labels(res, classes)
            prob = _winning_prob(res)
            for k, (r, c) in enumerate(where):
                j = idx[k]
                if j is None:
                    continue
                labels[r, c] = lab[j]
                if prob is not None:
                    conf[r, c] = prob[j]
        done += len(chunk)
        feedback.progress(done / len(cells), tr("{done} of {total} tiles").format(done=done, total=len(cells)))
    return labels, conf, grid.transform(window, scale=tile), classes


def dense_tile(manifest: dict) -> int:
    """The tile side of a dense per-pixel bundle (one LLM sequence per tile), 1 for a bundle that answers
    pixel by pixel."""
    inp = manifest.get("input") or {}
    return int(inp.get("tile") or 1) if manifest.get("task") == "pixel_classification" else 1


def context_px(manifest: dict) -> int:
    """Pixels of context a per-pixel bundle reads around each pixel it answers (a dense tile's margin, a
    neighbourhood's radius): the halo its blocks are read with."""
    inp = manifest.get("input") or {}
    if dense_tile(manifest) > 1:
        return int(inp.get("margin") or 0)
    return int(inp.get("patch") or read_options(manifest).get("patch") or 1) // 2


def pixel_blocks(window, bands: int, side: int | None = None, tile: int = 1) -> list[list[int]]:
    """The blocks [x, y, w, h] a per-pixel run sends, row by row: squares of `side` pixels (default: as
    large as one request's payload allows for `bands` bands), a multiple of a dense bundle's `tile` so
    the tiles are the same whatever the block size, the last ones cut at the window's edge."""
    x0, y0, w, h = window
    side = side or max(16, int(math.sqrt(PAYLOAD_BYTES / (4 * max(1, bands)))))
    if tile > 1:
        side = max(tile, side // tile * tile)
    return [[x0 + bx, y0 + by, min(side, w - bx), min(side, h - by)] for by in range(0, h, side) for bx in range(0, w, side)]


def classify_pixels(client, manifest: dict, layer, window, feedback: Feedback, provider=None, region=None,
                    confidence: np.ndarray | None = None, sink=None):
    """Per-pixel classification (hyperspectral) over a native window, block by block; with a `region`
    (layers.selected_region) only the pixels whose centre lies in its polygons (the others stay -1).
    `confidence` (h, w) float, when given, receives each pixel's winning probability.

    With a `sink` (results.ClassRasterWriter on the window's grid) each block's classes are written
    there as they come and no map of the window is held: memory is one block. Blocks the run skips
    (outside the region, all nodata) stay nodata in the sink.

    Returns (labels (h, w) int, -1 = none, or None with a sink; GDAL transform of the window; classes)."""
    provider, grid, bands, alpha, crs, names = _raster_source(layer, provider)
    x0, y0, w, h = window
    feedback = worded(feedback, "pixels", w * h)
    labels = None if sink is not None else np.full((h, w), -1, np.int64)
    classes = list(manifest.get("classes") or [])
    blocks = pixel_blocks(window, len(bands), tile=dense_tile(manifest))
    context = context_px(manifest)
    for i, blk in enumerate(blocks):
        feedback.check()
        if region is not None and not region.reaches(grid, blk):
            continue
        ext, halo = layers.with_halo(grid, blk, context)  # read with the context the bundle reads around
        img = layers.read_block(provider, grid.window_extent(ext), ext[2], ext[3], bands, alpha)
        if not np.isfinite(img).any():
            continue
        meta = {"crs": crs, "transform": grid.transform(ext), "window": ext, "band_names": names, "nodata": None,
                "halo": halo}
        if region is not None:
            meta["region"] = region.meta(optional=True)
        res = batch(client, manifest["name"], [({"image": img}, meta)], Sub(feedback, i / len(blocks), (i + 1) / len(blocks)))
        classes = list(res.get("classes") or classes)
        if sink is None:
            place_pixels(labels, res, blk, window, classes, confidence)
        else:
            block = np.full((blk[3], blk[2]), -1, np.int64)
            place_pixels(block, res, blk, blk, classes)
            sink.write(block, blk[0] - x0, blk[1] - y0)
        feedback.progress((i + 1) / len(blocks), tr("{done} of {total} blocks").format(done=i + 1, total=len(blocks)))
    return labels, grid.transform(window), classes


def classify_pixels_for_answer(client, manifest: dict, layer, window, feedback: Feedback, provider=None, region=None):
    """classify_pixels, and the map it made as the `run` an ask then summarises (run_of_pixels):
    (labels, transform, classes, run)."""
    confidence = np.full((window[3], window[2]), np.nan, np.float32)
    labels, gt, classes = classify_pixels(client, manifest, layer, window, feedback, provider, region, confidence)
    return labels, gt, classes, run_of_pixels(labels, confidence, classes, gt, layers.crs_wkt(layer), region)


def place_pixels(labels: np.ndarray, res: dict, blk, window, classes, confidence: np.ndarray | None = None) -> None:
    """Write one block's per-pixel result into the window's label array (and, when given, each pixel's
    winning probability into `confidence`)."""
    bx, by = blk[0] - window[0], blk[1] - window[1]
    n_block = blk[2] * blk[3]
    samples = res.get("samples") or []
    if res.get("element_labels") is not None and samples and all("tile" in s and "window" in s for s in samples):
        return place_tiles(labels, res, samples, window, confidence)
    dense = res.get("element_labels") is not None and np.asarray(res["element_labels"]).size == n_block
    if dense:
        values = np.asarray(res["element_labels"]).reshape(-1)
        probs = res.get("element_probabilities")
        probs = None if probs is None else np.asarray(probs, np.float64).reshape(-1)
    else:
        values, probs = np.asarray(results_labels(res, classes)), _winning_prob(res)
    samples = res.get("samples") or []
    if not dense and samples and all("row" in s and "col" in s for s in samples):
        n = min(len(samples), len(values))
        wins = [s.get("window") or blk for s in samples[:n]]
        rows = np.array([int(s["row"]) + int(w[1]) - window[1] for s, w in zip(samples, wins)], np.int64)
        cols = np.array([int(s["col"]) + int(w[0]) - window[0] for s, w in zip(samples, wins)], np.int64)
        inside = (rows >= 0) & (rows < labels.shape[0]) & (cols >= 0) & (cols < labels.shape[1])
        labels[rows[inside], cols[inside]] = values[:n][inside]
        if confidence is not None and probs is not None:
            confidence[rows[inside], cols[inside]] = probs[:n][inside]
    elif len(values) == n_block:
        labels[by:by + blk[3], bx:bx + blk[2]] = values.reshape(blk[3], blk[2])
        if confidence is not None and probs is not None:
            confidence[by:by + blk[3], bx:bx + blk[2]] = probs.reshape(blk[3], blk[2])
    else:
        raise RuntimeError(tr("The backend returned {n} labels for a block of {m} pixels.").format(
            n=len(values), m=n_block))


def place_tiles(labels: np.ndarray, res: dict, samples, window, confidence: np.ndarray | None = None) -> None:
    """A dense bundle's tiles (sample meta `window` [x, y, w, h] in raster pixels, `tile` side; elements
    row by row over the tile, -1 = not answered) into the window's label array."""
    el = np.asarray(res["element_labels"])
    probs = res.get("element_probabilities")
    probs = None if probs is None else np.asarray(probs, np.float64)
    for i, s in enumerate(samples):
        x, y, tw, th = (int(v) for v in s["window"])
        t = int(s["tile"])
        lab = el[i].reshape(t, t)[:th, :tw]
        r0, c0 = y - window[1], x - window[0]
        ok = lab >= 0
        rows, cols = np.nonzero(ok)
        inside = (rows + r0 >= 0) & (rows + r0 < labels.shape[0]) & (cols + c0 >= 0) & (cols + c0 < labels.shape[1])
        rows, cols = rows[inside], cols[inside]
        labels[rows + r0, cols + c0] = lab[rows, cols]
        if confidence is not None and probs is not None:
            confidence[rows + r0, cols + c0] = probs[i].reshape(t, t)[:th, :tw][rows, cols]


def results_labels(res: dict, classes) -> np.ndarray:
    from .results import label_indices

    if res.get("element_labels") is not None and res.get("labels") is None and res.get("probabilities") is None:
        return label_indices(res)
    r = dict(res)
    r.pop("element_labels", None)
    r["classes"] = classes
    return label_indices(r)


def _winning_prob(res: dict):
    p = res.get("probabilities")
    if p is None:
        return None
    p = np.asarray(p)
    return p.reshape(-1, p.shape[-1]).max(axis=1)


def _sample_order(res: dict, keys, key: str) -> list:
    """For each payload (by its `key` value), the index of its sample in the result."""
    samples = res.get("samples") or []
    if samples and all(key in s for s in samples):
        pos = {s[key]: i for i, s in enumerate(samples)}
        return [pos.get(k) for k in keys]
    n = len(results_labels(res, res.get("classes") or []))
    return [i if i < n else None for i in range(len(keys))]


# ---- tables -------------------------------------------------------------------------------------


def predict_table(client, manifest: dict, arrays: dict, meta: dict, feedback: Feedback) -> tuple[dict, list]:
    """Predictions for table rows, in payloads of TABLE_ROWS; returns (merged result, fids in order)."""
    fids = list(meta.get("fids") or [])
    n = len(fids)
    feedback = worded(feedback, "rows", n)
    parts, order = [], []
    for start in range(0, n, TABLE_ROWS):
        feedback.check()
        sl = slice(start, start + TABLE_ROWS)
        a = {k: v[sl] for k, v in arrays.items()}
        m = dict(meta, fids=fids[sl], categorical={k: v[sl] for k, v in (meta.get("categorical") or {}).items()})
        res = batch(client, manifest["name"], [(a, m)], Sub(feedback, start / n, min(n, start + TABLE_ROWS) / n))
        samples = res.get("samples") or []
        got = [s.get("fid") for s in samples] if samples and all("fid" in s for s in samples) else fids[sl]
        parts.append(res)
        order.extend(got)
    return merge(parts), order


def predict_payloads(client, manifest: dict, payloads: list, feedback: Feedback, unit: str = "rows") -> tuple[dict, list]:
    """A backend job per payload (each meta holds its features' `fids`: texts, clips), one progress over
    them all; (the merged result, the feature ids in its order)."""
    n = sum(len(m["fids"]) for _, m in payloads)
    feedback = worded(feedback, unit, n)
    parts, order, done = [], [], 0
    for arrays, meta in payloads:
        feedback.check()
        k = len(meta["fids"])
        res = batch(client, manifest["name"], [(arrays, meta)], Sub(feedback, done / n, (done + k) / n))
        samples = res.get("samples") or []
        order.extend([s.get("fid") for s in samples] if samples and all("fid" in s for s in samples) else meta["fids"])
        parts.append(res)
        done += k
    return merge(parts), order


def merge(parts: list[dict]) -> dict:
    if len(parts) == 1:
        return parts[0]
    out = dict(parts[0])
    for k, v in parts[0].items():
        if isinstance(v, np.ndarray) and v.ndim > 0:
            out[k] = np.concatenate([np.asarray(p[k]) for p in parts])
        elif k in ("labels", "samples"):
            out[k] = [x for p in parts for x in (p.get(k) or [])]
    return out


# ---- trajectories -------------------------------------------------------------------------------


def predict_trajectories(client, manifest: dict, arrays: dict, meta: dict, feedback: Feedback):
    """(result, track ids in result order, last observed xy per result row, in the layer's CRS).

    The backend places the candidate paths in the layer's CRS (`paths_xy`, from `origin_xy`, the last
    observed fix); `results.trajectory_features` draws those. A track cut by a time gap gives a sample
    per piece, named "<id>#<piece>"."""
    ids = list(meta.get("track_ids") or [])
    res = batch(client, manifest["name"], [(arrays, meta)], worded(feedback, "tracks", len(ids) or None))
    samples = res.get("samples") or []
    n = np.asarray(res["paths"]).shape[0]
    if samples and all("track" in s for s in samples):
        codes = [s["track"] for s in samples]
    else:
        codes = list(range(n))
    names, codes_only = [], []
    for c in codes:
        code, piece = c, ""
        if isinstance(c, str) and "#" in c:  # a piece of a track cut by a gap: "<code>#<k>"
            head, _, k = c.partition("#")
            if head.lstrip("-").isdigit():
                code, piece = int(head), "#" + k
        if isinstance(code, (int, np.integer)) and 0 <= int(code) < len(ids):
            names.append(f"{ids[int(code)]}{piece}" if piece else ids[int(code)])
            codes_only.append(None if piece else int(code))
        else:
            names.append(c)
            codes_only.append(None)
    if res.get("origin_xy") is not None:
        last = [tuple(float(v) for v in p) for p in np.asarray(res["origin_xy"], np.float64)]
        return res, names, last
    # an older backend: offsets only, placed from the payload's last fixes
    from .results import last_positions

    pos = last_positions(arrays, len(ids) or (int(np.max(arrays["track"])) + 1))
    last = [pos[c] if c is not None and c < len(pos) else None for c in codes_only]
    return res, names, (last if all(p is not None for p in last) else None)


# ---- point clouds -------------------------------------------------------------------------------


def classify_pointcloud(client, manifest: dict, path: str, feedback: Feedback, crs_wkt: str | None = None,
                        output_las: str | None = None) -> dict:
    """Per-point classes for a LAS / LAZ / COPC file the backend reads (tile by tile), with the
    coordinates of the points it classified (`element_xyz`). `output_las` (.las / .laz / .copc.laz): the
    backend also writes a classified copy of the file there (every point; result `output_las`).
    `crs_wkt` is not sent: the backend reads the CRS from the file (its reader takes no CRS option)."""
    meta = {"path": path, "return_xyz": True}
    if output_las:
        meta["output_las"] = os.fspath(output_las)
    return batch(client, manifest["name"], [({}, meta)], worded(feedback, "tiles"))


# what the backend says while it converts a file to COPC ("writing node 3 of 8") -> the GUI's words
COPC_STEPS = {"starting": N_("Starting..."), "reading": N_("Reading {name}..."),
              "indexing": N_("Sorting the points into an octree..."), "done": N_("COPC file written.")}
_COPC_NODE = re.compile(r"writing node (\d+) of (\d+)")


def copc_progress_text(message: str, name: str) -> str:
    m = _COPC_NODE.fullmatch(message or "")
    if m:
        return tr("Writing octree node {done} of {total}").format(done=number(int(m.group(1))),
                                                                  total=number(int(m.group(2))))
    return tr(COPC_STEPS.get(message, N_("Converting {name} to COPC..."))).format(name=name)


class CopcFeedback(Feedback):
    def __init__(self, parent: Feedback, name: str):
        self.parent, self.name = parent, name

    def progress(self, fraction, message=""):
        self.parent.progress(fraction, copc_progress_text(message, self.name))

    def canceled(self):
        return self.parent.canceled()

    def info(self, message):
        self.parent.info(message)


def convert_to_copc(client, path: str, output: str, feedback: Feedback) -> dict:
    """The backend rewrites a LAS / LAZ file as COPC (`output`, *.copc.laz), the point-cloud format this
    QGIS opens without PDAL; returns its summary {path, points, nodes, crs, ...}."""
    feedback.check()
    job = client._submit("convert_copc", {"path": os.fspath(path), "output": os.fspath(output)})
    return wait(client, job, CopcFeedback(feedback, os.path.basename(path)))


# ---- a Ray cluster ------------------------------------------------------------------------------
# what the backend says while a cluster_batch job runs (allspark.cluster) -> the GUI's words
_RAY_DONE = re.compile(r"(\d+) of (\d+) (windows|files) done")
_RAY_JOIN = re.compile(r"joining the Ray cluster at (.+)")
_RAY_LOAD = re.compile(r"(\d+) Ray workers? loading bundle (.+)")
RAY_STEPS = {"starting": N_("Starting..."), "starting Ray": N_("Starting a local Ray..."),
             "writing the output": N_("Writing the output..."), "done": N_("Done.")}
LOCAL_RAY = "local"  # the Processing parameter's value for a local Ray on the backend's machine


def ray_progress_text(message: str) -> str:
    """A cluster_batch progress message of the backend in the GUI's words (translated)."""
    message = (message or "").strip()
    if message in RAY_STEPS:
        return tr(RAY_STEPS[message])
    m = _RAY_DONE.fullmatch(message)
    if m:
        text = (N_("{done} of {total} windows done on Ray") if m.group(3) == "windows"
                else N_("{done} of {total} files done on Ray"))
        return tr(text).format(done=number(int(m.group(1))), total=number(int(m.group(2))))
    m = _RAY_JOIN.fullmatch(message)
    if m:
        return tr("Joining the Ray cluster at {address}...").format(address=m.group(1))
    m = _RAY_LOAD.fullmatch(message)
    if m:
        return tr("{n} Ray workers are loading bundle {name}...").format(n=number(int(m.group(1))), name=m.group(2))
    return message


class RayFeedback(Feedback):
    def __init__(self, parent: Feedback):
        self.parent = parent

    def progress(self, fraction, message=""):
        self.parent.progress(fraction, ray_progress_text(message) if message else message)

    def canceled(self):
        return self.parent.canceled()

    def info(self, message):
        self.parent.info(message)


def cluster_batch(client, bundle: str, inputs, output: str, feedback: Feedback, address: str | None = None,
                  workers: int | None = None, window: int | None = None, area=None, region=None) -> dict:
    """The backend runs `bundle` over `inputs` (raster files it reads itself: one is cut into windows, a
    folder or several give one output each) on Ray and writes `output` (a label GeoTIFF on the input's
    grid, or a folder); `address` None or "local": a local Ray on the backend's machine, else a cluster
    address (host:port). With one raster, `area` (a native window [x, y, w, h]) runs that part only and
    the label GeoTIFF is its grid, as classify_pixels writes it; `region` (layers.selected_region) limits
    the run to the pixels whose centre its polygons hold, the windows they miss not run (as in
    classify_pixels / classify_tiles). Progress comes from the cluster. Returns the backend's summary
    (output, counts per class, workers, windows run again after a lost worker, ...)."""
    feedback.check()
    inputs = [os.fspath(inputs)] if isinstance(inputs, (str, os.PathLike)) else [os.fspath(p) for p in inputs]
    body: dict = {"bundle": bundle, "inputs": inputs, "output": os.fspath(output)}
    address = (address or "").strip()
    if address and address.lower() != LOCAL_RAY:
        body["address"] = address
    if workers:
        body["workers"] = int(workers)
    if window:
        body["window"] = int(window)
    if area is not None:
        body["area"] = [int(v) for v in area]
    if region is not None:
        body["region"] = region.meta(optional=True)
    job = client._submit("cluster_batch", body)
    return wait(client, job, RayFeedback(feedback))


# ---- training -----------------------------------------------------------------------------------


# what the backend says while it trains (allspark.train) -> the GUI's words
_NUM = r"(-?[0-9.]+(?:e-?[0-9]+)?|nan|inf)"
_TRAIN_SPLITS = re.compile(r"training .+: (\d+) training / (\d+) model-selection / (\d+) validation samples, "
                           r"([0-9.]+) M parameters")
_TRAIN_STAGE1 = re.compile(r"stage 1 \(encoder\) epoch (\d+)/(\d+): loss " + _NUM + r", model-selection (\w+) "
                           + _NUM + r" \(best " + _NUM + r"\)")
_TRAIN_STEP = re.compile(r"epoch (\d+)/(\d+) step (\d+)/(\d+) loss " + _NUM)
_TRAIN_EPOCH = re.compile(r"epoch (\d+): loss " + _NUM + r", model-selection (\w+) " + _NUM + r" \(best " + _NUM
                          + r"\), (\d+) s")
_TRAIN_WRITTEN = re.compile(r"bundle written to (.+)")
TRAIN_STEPS = {"stage 2: caching the frozen encoder's outputs": N_("Encoding the training examples once..."),
               "scoring the validation split (never used to choose anything)":
                   N_("Scoring the validation examples (they chose nothing)..."),
               "starting": N_("Starting...")}
METRIC_WORDS = {"accuracy": N_("accuracy"), "rmse": N_("RMSE"), "min_ade": N_("best-of-20 ADE (m)")}


def _figure(value: str) -> str:
    try:
        return f"{float(value):.3f}"
    except ValueError:
        return value


def training_text(message: str) -> str | None:
    """A training progress message of the backend in the GUI's words (translated), or None."""
    message = (message or "").strip()
    if message in TRAIN_STEPS:
        return tr(TRAIN_STEPS[message])
    m = _TRAIN_SPLITS.fullmatch(message)
    if m:
        return tr("Training on {train} examples; {select} choose the epochs, {val} are kept to report the "
                  "result ({params} million weights).").format(train=number(int(m.group(1))), select=number(int(m.group(2))),
                                                             val=number(int(m.group(3))), params=m.group(4))
    m = _TRAIN_STAGE1.fullmatch(message)
    if m:
        return tr("Training the encoder: epoch {epoch} of {epochs}, {metric} {value} on the model-selection "
                  "examples (best {best})").format(epoch=number(int(m.group(1))), epochs=number(int(m.group(2))),
                                                   metric=tr(METRIC_WORDS.get(m.group(4), m.group(4))),
                                                   value=_figure(m.group(5)), best=_figure(m.group(6)))
    m = _TRAIN_STEP.fullmatch(message)
    if m:
        return tr("Training through the LLM: epoch {epoch} of {epochs}, step {step} of {steps}").format(
            epoch=number(int(m.group(1))), epochs=number(int(m.group(2))), step=number(int(m.group(3))),
            steps=number(int(m.group(4))))
    m = _TRAIN_EPOCH.fullmatch(message)
    if m:
        return tr("Training through the LLM: epoch {epoch} finished, {metric} {value} on the model-selection "
                  "examples (best {best})").format(epoch=number(int(m.group(1))),
                                                   metric=tr(METRIC_WORDS.get(m.group(3), m.group(3))),
                                                   value=_figure(m.group(4)), best=_figure(m.group(5)))
    m = _TRAIN_WRITTEN.fullmatch(message)
    if m:
        return tr("Bundle written to {path}").format(path=m.group(1))
    return None


class TrainingFeedback(Feedback):
    """Training progress in the GUI's words; a message it does not know is shown as it is."""

    def __init__(self, parent: Feedback):
        self.parent = parent

    def progress(self, fraction, message=""):
        self.parent.progress(fraction, (training_text(message) or message) if message else message)

    def canceled(self):
        return self.parent.canceled()

    def info(self, message):
        self.parent.info(training_text(message) or message)


def train(client, config: dict, feedback: Feedback) -> dict:
    feedback.check()
    job = client.submit_train(config)
    return wait(client, job, TrainingFeedback(feedback))


def temp_dir(prefix: str = "allspark-") -> str:
    return tempfile.mkdtemp(prefix=prefix)


def is_file_raster(layer) -> bool:
    """A GDAL raster whose source is a plain local file (the backend could read it by path)."""
    return layer.providerType() == "gdal" and os.path.isfile(layer.source())
