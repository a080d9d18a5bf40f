"""Results in words and on disk: a label GeoTIFF for per-pixel / per-tile raster results, else JSON.
Files are written to a temporary name beside the target and moved into place when complete."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

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
    n = len(samples)
    lines = []
    for i in range(min(n, limit)):
        where = _where(samples[i])
        lines.append(f"sample {i}{f' ({where})' if where else ''}: {summarise(result, i)}")
    if n > limit:
        lines.append(f"... and {n - limit} more samples")
    if result.get("task") == "classification" and n > 1:
        labels, counts = np.unique(result["labels"], return_counts=True)
        order = np.argsort(counts)[::-1]
        lines.append("class counts: " + ", ".join(f"{labels[i]} {counts[i]}" for i in order))
    return lines


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


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def finish(tmp: Path, path: Path) -> None:
    """Move a complete temporary file into place, with the permissions a new file would have had."""
    mask = os.umask(0)
    os.umask(mask)
    tmp.chmod(0o666 & ~mask)
    os.replace(tmp, path)


def write_label_raster(result: dict, samples, path: Path) -> Path:
    import rasterio
    from rasterio.transform import Affine

    height, width, transform, crs = raster_grid(samples)
    labels = np.full((height, width), 255, dtype=np.uint8)  # 255 = no prediction (nodata)
    ids = np.asarray(result["probabilities"]).argmax(1)
    for s, k in zip(samples, ids):
        m = s.meta
        if "row" in m and "col" in m:
            labels[int(m["row"]), int(m["col"])] = k
        else:
            c, r, w, h = (int(v) for v in m["window"])
            labels[r:r + h, c:c + w] = k
    tmp = _atomic_target(path)
    profile = {"driver": "GTiff", "height": height, "width": width, "count": 1, "dtype": "uint8", "nodata": 255,
               "compress": "deflate"}
    if transform is not None:
        profile["transform"] = Affine.from_gdal(*transform)
    if crs:
        profile["crs"] = crs
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(labels, 1)
        dst.update_tags(1, classes=json.dumps(result["classes"]))
        dst.write_colormap(1, palette(len(result["classes"])))
        dst.set_band_description(1, "class")
    finish(tmp, path)
    path.with_suffix(".classes.json").write_text(json.dumps(result["classes"], ensure_ascii=False))
    return path


def palette(n: int) -> dict[int, tuple[int, int, int, int]]:
    import colorsys

    return {i: tuple(int(255 * c) for c in colorsys.hsv_to_rgb((i * 0.618034) % 1, 0.65, 0.9)) + (255,)
            for i in range(n)}


def write_result(result: dict, samples, path: str) -> Path:
    from .jsonable import jsonable as _jsonable

    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff") and result.get("task") == "classification" and raster_grid(samples):
        return write_label_raster(result, samples, path)
    tmp = _atomic_target(path)
    tmp.write_text(json.dumps(_jsonable(result), ensure_ascii=False))
    finish(tmp, path)
    return path
