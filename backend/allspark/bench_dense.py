"""`allspark bench --dense BUNDLE`: dense per-pixel bundles over whole rasters, end to end through the
service, as the plugin runs it (blocks read with their halo, one batch job per block, the tiles' classes
placed and written block by block into a tiled GeoTIFF).

Figures: pixels per second and seconds for a cost curve of generated rasters (64^2, 256^2, 1024^2 px by
default: hyperspectral values from the Indian Pines cube, mirrored to size), the peak memory of the
process after each size (flat when memory is bounded by the block, not the raster), the pipeline's share
(encoder + bridge + head, tiling and writing) beside the LLM's time, and the whole Indian Pines scene when
its cube is at hand. Then every other raster modality's dense mode (RGB, multispectral, SAR) on a raster
of real values mirrored to `image_size` px: a dense bundle of the same tile, margin, bridge and head as
BUNDLE, untrained (its speed is that of a trained one; its answers mean nothing).
"""

from __future__ import annotations

import math
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

INDIAN_PINES = "hsi_indian_pines/Indian_pines_corrected.npy"
IMAGE_MODALITIES = ("rgb", "msi", "sar")
BLOCK_BYTES = 64 << 20  # one request's raster data, at most


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) / 1024.0 for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        return None


def write_mirrored_raster(path: Path, size: int, cube: np.ndarray) -> Path:
    """A size x size GeoTIFF of the (C, H, W) cube mirrored to size, written in strips (int16, as the
    sensors' counts)."""
    import rasterio
    from rasterio.transform import from_origin

    C, H, W = cube.shape
    prof = dict(driver="GTiff", width=size, height=size, count=C, dtype="int16", crs="EPSG:32616",
                transform=from_origin(600000, 4500000, 20, 20), tiled=True, blockxsize=256, blockysize=256)
    rows = np.array([_mirror(i, H) for i in range(size)])
    cols = np.array([_mirror(j, W) for j in range(size)])
    with rasterio.open(path, "w", **prof) as dst:
        for y in range(0, size, 256):
            h = min(256, size - y)
            dst.write(cube[:, rows[y:y + h]][:, :, cols].astype(np.int16), window=((y, y + h), (0, size)))
    return path


def _mirror(i: int, n: int) -> int:
    period = 2 * n - 2
    i %= period
    return i if i < n else period - i


def classify_through_service(client, bundle: dict, path: Path, out: Path) -> dict:
    """The plugin's way over a raster file: blocks of a multiple of the bundle's tile, each read with the
    halo its tiles' margin reads, one batch job each; classes written block by block. Returns timings."""
    import rasterio

    tile = int(bundle["input"].get("tile") or 1)
    margin = int(bundle["input"].get("margin") or 0)
    t_read = t_job = t_place = 0.0
    stages = {"encode_s": 0.0, "llm_s": 0.0, "head_s": 0.0}
    with rasterio.open(path) as src:
        W, H, C = src.width, src.height, src.count
        side = max(tile, int(math.sqrt(BLOCK_BYTES / (4 * C))) // tile * tile)
        prof = dict(driver="GTiff", width=W, height=H, count=1, dtype="uint8", nodata=255, crs=src.crs,
                    transform=src.transform, tiled=True, blockxsize=256, blockysize=256, compress="deflate")
        with rasterio.open(out, "w", **prof) as dst:
            for by in range(0, H, side):
                for bx in range(0, W, side):
                    w, h = min(side, W - bx), min(side, H - by)
                    t0 = time.perf_counter()
                    left, top = min(margin, bx), min(margin, by)
                    right, bottom = min(margin, W - bx - w), min(margin, H - by - h)
                    win = ((by - top, by + h + bottom), (bx - left, bx + w + right))
                    img = src.read(window=win).astype(np.float32)
                    meta = {"window": [bx - left, by - top, w + left + right, h + top + bottom],
                            "halo": [left, top, right, bottom]}
                    t1 = time.perf_counter()
                    res = client.wait(client.submit_batch(bundle["name"], payloads=[{"arrays": {"image": img},
                                                                                      "meta": meta}]))
                    t2 = time.perf_counter()
                    labels = np.full((h, w), 255, np.uint8)
                    el = np.asarray(res["element_labels"])
                    for i, s in enumerate(res.get("samples") or []):
                        x, y, tw, th = (int(v) for v in s["window"])
                        lab = el[i].reshape(tile, tile)[:th, :tw]
                        view = labels[y - by:y - by + th, x - bx:x - bx + tw]
                        view[lab >= 0] = lab[lab >= 0]
                    dst.write(labels[None], window=((by, by + h), (bx, bx + w)))
                    for k in stages:
                        stages[k] += float((res.get("timing") or {}).get(k, 0.0))
                    t_read += t1 - t0
                    t_job += t2 - t1
                    t_place += time.perf_counter() - t2
    return {"read_s": t_read, "job_s": t_job, "place_write_s": t_place, **stages}


def run_dense_bench(bundle: str, sizes=(64, 256, 1024), llm: str | None = None, data: str | None = None,
                    log=print, device: str = "auto", modalities=IMAGE_MODALITIES, image_size: int = 256) -> dict:
    """See the module docstring. `bundle`: a dense bundle's name or folder; `data`: the shared data
    folder (for the Indian Pines cube); `device`: auto (CUDA when present), cpu or cuda (an error without
    a GPU)."""
    from allspark_protocol.client import Client

    from .engine import Engine
    from .service.memory import release_freed_memory
    from .service.server import Server

    release_freed_memory()  # as `allspark serve` does: request-sized buffers go back to the OS when freed

    data = Path(data or os.environ.get("ALLSPARK_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")
    cube_path = data / INDIAN_PINES
    if not cube_path.is_file():
        raise FileNotFoundError(f"{cube_path}: the Indian Pines cube (the generated rasters' values)")
    cube = np.load(cube_path).transpose(2, 0, 1)
    engine = Engine(llm_path=llm, device=device)
    summary = engine.load_bundle(bundle)
    if summary.get("task") != "pixel_classification":
        raise ValueError(f"bundle {summary['name']} is not dense (task {summary.get('task')})")
    report: dict = {"bundle": summary["name"], "device": engine.device, "tile": summary["input"].get("tile"),
                    "margin": summary["input"].get("margin"), "cpu_count": os.cpu_count(), "sizes": []}
    with tempfile.TemporaryDirectory(prefix="allspark-bench-dense-") as tmp:
        server = Server(engine=engine, connection_file=os.path.join(tmp, "backend.json"),
                        max_payload_bytes=1 << 30).start_thread()
        client = Client(server.connection_file, timeout_s=600, retries=0)
        try:
            def warm_up(bundle_summary: dict, values: np.ndarray) -> None:
                """One small raster first, not counted: what a running service has done already (the
                convolutions' kernels chosen, the LLM's first batch)."""
                first = write_mirrored_raster(Path(tmp) / "warm_up.tif", 48, values)
                classify_through_service(client, bundle_summary, first, Path(tmp) / "warm_up_classes.tif")
                first.unlink()

            def measure(bundle_summary: dict, name: str, src: Path, px: int) -> dict:
                t0 = time.perf_counter()
                parts = classify_through_service(client, bundle_summary, src, Path(tmp) / f"{name}_classes.tif")
                total = time.perf_counter() - t0
                pipeline = parts["encode_s"] + parts["head_s"] + parts["read_s"] + parts["place_write_s"]
                tile = int(bundle_summary["input"]["tile"])
                row = {"raster": name, "modality": bundle_summary["modality"], "pixels": px,
                       "seconds": round(total, 2), "pixels_per_s": round(px / total, 1),
                       "tiles": math.ceil(math.sqrt(px) / tile) ** 2,
                       "llm_s": round(parts["llm_s"], 2), "encoder_bridge_s": round(parts["encode_s"], 3),
                       "head_s": round(parts["head_s"], 3), "read_s": round(parts["read_s"], 3),
                       "place_write_s": round(parts["place_write_s"], 3),
                       "pipeline_share_of_llm": round(pipeline / max(parts["llm_s"], 1e-9), 4),
                       "peak_rss_mb": round(peak_rss_mb(), 1), "rss_after_mb": round(rss_mb() or 0.0, 1)}
                log(f"{name}: {px} px in {total:.1f} s ({px / total:.0f} px/s); LLM {parts['llm_s']:.1f} s, "
                    f"pipeline {100 * row['pipeline_share_of_llm']:.1f}% of it; peak RSS {row['peak_rss_mb']:.0f} MB")
                return row

            warm_up(summary, cube)
            runs = [("indian_pines", None)] + [(f"{s}x{s}", s) for s in sizes]
            for name, size in runs:
                src = Path(tmp) / f"{name}.tif"
                if size is None:
                    _write_cube(src, cube)
                else:
                    write_mirrored_raster(src, size, cube)
                px = (cube.shape[1] * cube.shape[2]) if size is None else size * size
                report["sizes"].append(measure(summary, name, src, px))
                src.unlink()
            for name in modalities:
                src = Path(tmp) / f"{name}.tif"
                values = image_cube(name, data)
                write_mirrored_raster(src, image_size, values)
                made = dense_bundle_like(engine, summary, name, src, Path(tmp) / "bundles")
                warm_up(made, values)
                report["sizes"].append(measure(made, f"{name} {image_size}x{image_size}", src,
                                               image_size * image_size))
                src.unlink()
        finally:
            client.close()
            server.stop()
    curve = [r for r in report["sizes"] if r["modality"] == "hsi" and r["raster"] != "indian_pines"]
    if len(curve) >= 2:  # seconds per pixel, small to large: linear when it stays the same
        report["seconds_per_megapixel"] = [round(r["seconds"] / r["pixels"] * 1e6, 1) for r in curve]
    return report


def _write_cube(path: Path, cube: np.ndarray) -> Path:
    """The (C, H, W) cube itself as a GeoTIFF."""
    import rasterio
    from rasterio.transform import from_origin

    C, H, W = cube.shape
    with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=C, dtype="int16", crs="EPSG:32616",
                       transform=from_origin(600000, 4500000, 20, 20)) as dst:
        dst.write(cube.astype(np.int16))
    return path


def image_cube(modality: str, data: Path) -> np.ndarray:
    """Real values of a modality, (C, H, W): a UC Merced scene (RGB), the 10 m bands of the Sentinel-2
    scene (multispectral: blue, green, red, near infrared), an MSTAR chip (SAR amplitude)."""
    import rasterio

    if modality == "rgb":
        with rasterio.open(data / "rgb_ucmerced" / "forest" / "forest00.png") as src:
            return src.read()[:3]
    if modality == "msi":
        bands = []
        for b in ("B02", "B03", "B04", "B08"):
            with rasterio.open(data / "msi_sentinel2" / f"s2_{b}.tif") as src:
                bands.append(src.read(1, window=((0, 256), (0, 256))))
        return np.stack(bands)
    if modality == "sar":
        chips = sorted((data / "sar_mstar10" / "train_17deg").glob("*/*.jp*g"))
        with rasterio.open(chips[0]) as src:
            return src.read()[:1]
    raise ValueError(f"no bench raster for {modality!r}")


def dense_bundle_like(engine, like: dict, modality: str, raster: Path, out: Path) -> dict:
    """An untrained dense bundle of `modality` with the tile, margin, bridge and head of the bundle
    `like` (for speed, not answers), loaded into the engine; its summary."""
    from .bench import fresh_bundle
    from .modalities import get

    read_options = {"tile": int(like["input"]["tile"]), "margin": int(like["input"]["margin"])}
    samples = get(modality).read(str(raster), **read_options)
    loaded = engine._get(like["name"]).bundle.manifest
    bridge = {k: v for k, v in loaded["bridge"].items() if k != "output_rms"}
    made = fresh_bundle(modality, samples, engine.runtime, Path(engine.llm_path), out, task="pixel_classification",
                        read_options=read_options, bridge=bridge, head=dict(loaded.get("head") or {}))
    return engine.load_bundle(str(made.path))
