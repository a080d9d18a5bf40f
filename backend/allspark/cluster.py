"""`allspark batch`: a bundle over a large raster, a folder of rasters or point clouds, on a Ray cluster.

The driver (this process) plans the work and writes the output; Ray actors do the work:

- one raster -> windows of the one tiling (`allspark.tiling`) over the raster, or over an `area` of it
  ([x, y, w, h] px, as the plugin's extent: the tiling starts at the area's corner, as a read of that
  window does): per-pixel bundles (readers that take a `halo`: each pixel with its neighbourhood)
  read memory-bounded blocks plus a halo of the bundle's `patch` // 2 px, so every pixel sees the
  neighbours it sees in a whole-raster read; scene bundles
  (one class per tile) read blocks of a whole number of the bundle's tiles, the last block of a row /
  column taking the remainder, so the tiles are those of the single-process read
  (`engine.read(bundle, path, tile=T)`: flush with the far edge) and paint in the same order; with a
  `region` (the selected polygons, raster.parse_region) every window's read takes it (`optional`: the
  pixels outside stay nodata) and windows none of whose pixel centres it holds are not run;
- several files (a folder, a list) -> one task per file and one output per file in the output folder
  (`<stem>.labels.tif` for rasters, `<stem>.classified.laz` for point clouds);
- one point cloud -> one task, its classified LAS / LAZ / COPC copy (allspark.pointcloud_output).

Each actor holds one `Engine` (LLM + bundle, loaded once) and serves many windows. The windows' label
blocks come back as uint8 arrays and the driver writes them into ONE label GeoTIFF on the input's grid
(the area's part of it: its size and transform, as the plugin writes an extent) as they arrive
(`outputs.LabelRasterWriter`: memory is a block, not the raster), a COG once complete: the format of
`allspark ask --output labels.tif` (outputs.write_label_raster).

A worker that dies (kill -9, a lost node) loses no work: actors restart (`max_restarts`) and their
unfinished windows run again (`max_task_retries`); an actor that is gone for good is replaced by the
driver, which resubmits its windows. Windows are deterministic, so a retried one writes the same block.

`address=None` starts a local Ray on this machine (`workers` CPUs, default 2) and stops it after;
`address="host:port"` (or "auto", "ray://host:port") joins a running cluster (input files, the bundle
and the LLM must be at the same paths on every node: a shared file system). On CUDA nodes each actor
takes one GPU (`device` auto / cuda), else one CPU.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .errors import AllSparkError, Cancelled, InputError

Progress = Callable[[float, str], None]

BLOCK_MEMORY_BYTES = 64 * 2**20  # float32 pixel data per per-pixel block (tiling.memory_blocks)
IN_FLIGHT = 2  # windows queued per actor: the next one is ready when one finishes
ACTOR_REPLACEMENTS = 4  # actors the driver may replace after Ray gave up restarting them
POINT_TYPES = (".las", ".laz")
NODATA = 255


# ---- the plan -----------------------------------------------------------------------------------
@dataclasses.dataclass
class Task:
    """One unit of work: a window of a raster (`block` to answer, `read` window with its `halo`), or a
    whole file (`dst` its output)."""

    index: int
    kind: str  # "pixels" | "tiles" | "file"
    path: str
    block: list[int] | None = None  # [x, y, w, h] answered (written into the mosaic)
    read: list[int] | None = None  # [x, y, w, h] read (the block and its halo)
    halo: list[int] | None = None  # [left, top, right, bottom]
    options: dict = dataclasses.field(default_factory=dict)  # reader options beside the window
    dst: str | None = None


@dataclasses.dataclass
class Plan:
    bundle_path: str
    bundle_name: str
    llm_path: str
    classes: list[str]
    mode: str  # "mosaic" | "files"
    tasks: list[Task]
    output: str
    grid: dict | None = None  # mosaic: width, height, transform, crs
    unit: str = "window"


def _reader_fields(modality) -> set[str]:
    cls = getattr(modality, "options_class", None)
    return {f.name for f in dataclasses.fields(cls)} if cls is not None and dataclasses.is_dataclass(cls) else set()


def _tile_of(manifest: dict) -> int:
    """The tile (px) a scene bundle reads a raster in: its read `tile`, else the size of its training
    images (`input.source_size`, else `input.size`) -- as the plugin's runner.tile_size."""
    tile = (manifest.get("read_options") or {}).get("tile")
    if not tile:
        spec = manifest.get("input") or {}
        tile = spec.get("source_size") or spec.get("size") or spec.get("tile") or 64
    if isinstance(tile, (list, tuple)):
        if len(set(int(t) for t in tile)) != 1:
            raise InputError(f"allspark batch needs square tiles; the bundle reads {list(tile)}")
        tile = tile[0]
    return int(tile)


def _axis_blocks(n: int, side: int, tile: int) -> list[tuple[int, int]]:
    """(offset, length) of blocks of `side` px (a multiple of `tile`) along an axis of n px, the
    remainder joined to the last block when it is shorter than a tile (so the flush tile at the far
    edge is read whole, inside one block, as in a whole-raster read)."""
    offs = list(range(0, n, side))
    out = [(o, min(side, n - o)) for o in offs]
    if len(out) > 1 and out[-1][1] < tile:
        last = out.pop()
        o, length = out.pop()
        out.append((o, length + last[1]))
    return out


def check_area(area, width: int, height: int) -> list[int]:
    """The `area` [x, y, w, h] (native pixels) a run covers, checked against the width x height raster;
    the whole raster when None. InputError naming an area that is malformed or leaves the raster."""
    if area is None:
        return [0, 0, int(width), int(height)]
    try:
        x, y, w, h = (int(v) for v in area)
    except (TypeError, ValueError):
        raise InputError(f"the area must be [x, y, width, height] in pixels, not {area!r}") from None
    if w <= 0 or h <= 0:
        raise InputError(f"the area {[x, y, w, h]} is empty: its width and height must be positive")
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise InputError(f"the area {[x, y, w, h]} (x, y, width, height px) leaves the raster of {width} x {height} px")
    return [x, y, w, h]


def raster_tasks(path: str, manifest: dict, modality, width: int, height: int, bands: int,
                 window=None, memory_bytes: int = BLOCK_MEMORY_BYTES, area=None) -> tuple[list[Task], str]:
    """The windows of one raster for the bundle (module docstring), over `area` [x, y, w, h] of it when
    given (the tiling starts at its corner; a halo may reach outside it, not outside the raster);
    (tasks, unit)."""
    from .tiling import Grid, block_side

    ax, ay, aw, ah = check_area(area, width, height)
    read_options = dict(manifest.get("read_options") or {})
    fields = _reader_fields(modality)
    if window is not None:
        side = int(window if np.isscalar(window) else window[0])
        if side <= 0:
            raise InputError(f"the window must be a positive number of pixels, not {window!r}")
    else:
        side = None
    per_pixel = "halo" in fields and getattr(modality, "answers_per_pixel", lambda m: False)(manifest)
    dense = per_pixel and manifest.get("task") == "pixel_classification" and read_options.get("tile")
    if manifest.get("task") != "classification" and not dense:
        raise InputError(f"allspark batch writes label rasters of classification bundles; bundle "
                         f"{manifest.get('name')!r} is a {manifest.get('task')} bundle")
    if per_pixel:  # a per-pixel reader: blocks and a halo for the neighbourhoods (a dense tile's margin)
        # blocks of whole dense tiles from the area's corner, so the tiles are those of one read of the
        # area whatever the window
        step = int(read_options["tile"]) if dense else int(read_options.get("step") or 1)
        side = side or block_side(bands, memory_bytes, multiple=step)
        side = max(step, side // step * step)
        h = (int((manifest.get("input") or {}).get("margin") or read_options.get("margin") or 0) if dense
             else int(read_options.get("patch") or 1) // 2)
        tasks = []
        for i, (x, y, w, hh) in enumerate(Grid.of(width, height, side, flush=False, region=[ax, ay, aw, ah])):
            rx0, ry0 = max(0, x - h), max(0, y - h)
            rx1, ry1 = min(width, x + w + h), min(height, y + hh + h)
            tasks.append(Task(i, "pixels", path, [x, y, w, hh], [rx0, ry0, rx1 - rx0, ry1 - ry0],
                              [x - rx0, y - ry0, rx1 - (x + w), ry1 - (y + hh)]))
        return tasks, "pixel"
    if "tile" not in fields:
        raise InputError(f"bundle {manifest.get('name')!r} ({manifest.get('modality')}) does not read rasters "
                         f"in windows")
    tile = _tile_of(manifest)
    stride = read_options.get("stride")
    if stride and int(stride if np.isscalar(stride) else stride[0]) != tile:
        raise InputError(f"bundle {manifest.get('name')!r} reads overlapping tiles (stride {stride} px, tile "
                         f"{tile} px); allspark batch needs tiles that do not overlap")
    side = side or block_side(bands, memory_bytes, multiple=tile)
    side = max(tile, side // tile * tile)
    tasks = []
    for y, hh in _axis_blocks(ah, side, tile):
        for x, w in _axis_blocks(aw, side, tile):
            x, y = ax + x, ay + y
            tasks.append(Task(len(tasks), "tiles", path, [x, y, w, hh], [x, y, w, hh], None, {"tile": tile}))
    return tasks, "tile"


def _list_inputs(inputs, file_types: Sequence[str]) -> tuple[list[str], bool]:
    """(files, several): the files of `inputs` (a path, a folder, or a list of them); a missing one or
    an empty folder is an InputError naming it."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [os.fspath(p) for p in inputs]
    if not inputs:
        raise InputError("no input given: name a raster, a folder of rasters or point-cloud files")
    files, several = [], len(inputs) > 1
    types = tuple(t.lower() for t in file_types) or None
    for p in inputs:
        if not os.path.exists(p):
            raise InputError(f"input {p}: no such file or folder")
        if os.path.isdir(p):
            found = sorted(str(f) for f in Path(p).iterdir()
                           if f.is_file() and not f.name.startswith(".")
                           and (types is None or f.name.lower().endswith(types)))
            if not found:
                raise InputError(f"input folder {p} holds no file this bundle reads ({', '.join(file_types)})")
            files.extend(found)
            several = True
        else:
            files.append(p)
    return files, several


def _file_output(src: str, out_dir: str, point_cloud: bool) -> str:
    stem = Path(src).name
    for suffix in (".copc.laz", ".laz", ".las", *[s for s in (Path(src).suffix,) if s]):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return str(Path(out_dir) / (f"{stem}.classified.laz" if point_cloud else f"{stem}.labels.tif"))


def region_payload(region) -> dict | None:
    """The `region` every window's read takes: the selected polygons ({"wkb": [...], "crs": WKT, "layer":
    name}, raster.parse_region; a list of WKB) marked `optional` (a window they miss gives no pixel
    instead of an error); None without one."""
    if region is None:
        return None
    payload = {"wkb": list(region)} if isinstance(region, (list, tuple)) else region
    if not isinstance(payload, dict):
        raise InputError(f"the region must be {{'wkb': [polygon WKB, ...], 'crs': WKT, 'layer': name}}, "
                         f"not {type(region).__name__}")
    return {**payload, "optional": True}


def _block_grid(block, transform, crs):
    """(affine pixel -> map transform, outline polygon) of `block` [x, y, w, h] of the raster, as the
    readers place a window (raster.grid_transform)."""
    from .modalities.raster import footprint, grid_transform, shift_gt

    x, y, w, h = (int(v) for v in block)
    t = grid_transform({"transform": shift_gt(transform, x, y), "crs": crs, "window": [x, y, w, h]})
    return t, footprint(t, (h, w))


def _block_reached(region, block, transform, crs) -> bool:
    """Whether a pixel centre of `block` [x, y, w, h] lies in the region's polygons (as the readers burn
    them in, raster.region_mask): the windows worth running."""
    from .modalities.raster import geometry_pixels

    t, outline = _block_grid(block, transform, crs)
    geom = region.in_crs(crs).intersection(outline)
    return not geom.is_empty and bool(geometry_pixels(geom, (int(block[3]), int(block[2])), t).any())


def region_tasks(tasks: list[Task], region, path: str, transform, crs) -> list[Task]:
    """The tasks whose block the region reaches (renumbered), each read with the region (region_payload);
    InputError naming the polygons' layer when it reaches none."""
    from .modalities.raster import parse_region, region_miss

    payload = region_payload(region)
    if payload is None:
        return tasks
    polygons = parse_region(payload)
    kept = [t for t in tasks if _block_reached(polygons, t.block, transform, crs)]
    if not kept:
        x0, y0 = min(t.block[0] for t in tasks), min(t.block[1] for t in tasks)
        x1, y1 = max(t.block[0] + t.block[2] for t in tasks), max(t.block[1] + t.block[3] for t in tasks)
        _, outline = _block_grid([x0, y0, x1 - x0, y1 - y0], transform, crs)
        raise region_miss(polygons, path, overlap=polygons.in_crs(crs).intersects(outline))
    return [dataclasses.replace(t, index=i, options={**t.options, "region": payload}) for i, t in enumerate(kept)]


def plan_batch(bundle: str, inputs, output: str, llm=None, bundles_dir=None, window=None,
               memory_bytes: int = BLOCK_MEMORY_BYTES, area=None, region=None) -> Plan:
    """Check everything that can be checked before a cluster is reached (the bundle, the LLM it needs,
    the inputs, the output) and cut the work into tasks. `window`: the block side (px); `area` [x, y, w,
    h] (px) and `region` (the selected polygons, region_payload): the part of one raster to run, the
    mosaic then the area's grid (its size and transform) with nodata outside the polygons."""
    from .bundle import resolve_bundle
    from .llm.default import gguf_info, resolve_llm_path
    from .modalities import get as get_modality

    if not output:
        raise InputError("name the --output (a .tif for one raster, a folder for several files)")
    b = resolve_bundle(bundle, [Path(p) for p in ([bundles_dir] if isinstance(bundles_dir, (str, os.PathLike))
                                                  else (bundles_dir or []))])
    llm_path = os.path.abspath(resolve_llm_path(llm))
    b.check_llm(gguf_info(llm_path))
    m = b.manifest
    modality = get_modality(m["modality"])
    files, several = _list_inputs(inputs, getattr(modality, "file_types", []) or [])
    point_cloud = modality.layer_kind == "pointcloud"
    classes = [str(c) for c in (m.get("classes") or [])]
    common = dict(bundle_path=str(Path(b.path).resolve()), bundle_name=b.name, llm_path=llm_path, classes=classes)
    if several or point_cloud:
        if area is not None or region is not None:
            raise InputError("an area or a region limits one raster: give one raster file, not several files or "
                             "a point cloud")
        if point_cloud and m.get("task") != "point_classification":
            raise InputError(f"bundle {b.name!r} gives no per-point classes ({m.get('task')}): a classified point "
                             f"cloud needs a point_classification bundle")
        if not point_cloud and m.get("task") not in ("classification", "pixel_classification"):
            raise InputError(f"allspark batch writes label rasters of classification bundles; bundle {b.name!r} "
                             f"is a {m.get('task')} bundle")
        if several:
            if Path(output).suffix.lower() in (".tif", ".tiff", ".las", ".laz"):
                raise InputError(f"--output {output}: several inputs write one file each: name a folder")
            dsts = [_file_output(f, output, point_cloud) for f in files]
        elif point_cloud and not output.lower().endswith(POINT_TYPES):  # a folder for the classified copy
            dsts = [_file_output(files[0], output, True)]
        else:
            dsts = [output]
        if len(set(dsts)) != len(dsts):
            raise InputError("two inputs have the same file name: their outputs would overwrite each other")
        for f in files:
            if not point_cloud and f.lower().endswith(POINT_TYPES):
                raise InputError(f"input {f} is a point cloud; bundle {b.name!r} reads {m['modality']} rasters")
        Path(dsts[0]).parent.mkdir(parents=True, exist_ok=True)  # the output folder
        tasks = []
        for i, (f, dst) in enumerate(zip(files, dsts)):
            if point_cloud:
                from .pointcloud_output import check_output

                check_output(f, dst)
            tasks.append(Task(i, "file", f, dst=dst))
        return Plan(**common, mode="files", tasks=tasks, output=str(output), unit="file")
    (path,) = files
    if Path(output).suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"--output {output}: the mosaic of one raster is a GeoTIFF (.tif)")
    from .modalities.raster import open_raster, shift_gt

    with open_raster(path) as src:
        width, height, count = int(src.width), int(src.height), int(src.count)
        transform = [float(v) for v in src.transform.to_gdal()]
        crs = src.crs.to_wkt() if src.crs is not None else None
    bands = len((m.get("read_options") or {}).get("bands") or []) or count
    tasks, unit = raster_tasks(os.path.abspath(path), m, modality, width, height, bands, window, memory_bytes,
                               area=area)
    tasks = region_tasks(tasks, region, path, transform, crs)
    x, y, w, h = check_area(area, width, height)
    return Plan(**common, mode="mosaic", tasks=tasks, output=str(output), unit=unit,
                grid={"width": w, "height": h, "transform": shift_gt(transform, x, y), "crs": crs,
                      "xoff": x, "yoff": y})


# ---- the actor ------------------------------------------------------------------------------------
class BatchWorker:
    """What one Ray actor runs: one Engine (LLM + the bundle, loaded once), many windows / files."""

    def __init__(self, bundle_path: str, llm_path: str, device: str = "cpu", threads: int | None = 1,
                 journal: str | None = None):
        from .engine import Engine

        if threads:
            try:
                import torch

                torch.set_num_threads(int(threads))
            except Exception:  # noqa: BLE001 - torch sets its own when it cannot
                pass
        self.engine = Engine(llm_path=llm_path, device=device, threads=threads)
        self.name = self.engine.load_bundle(bundle_path)["name"]
        self.journal = journal

    def pid(self) -> int:
        return os.getpid()

    def _note(self, task: Task) -> None:
        """The journal (a folder): one file per window taken, named by the window and this process."""
        if self.journal:
            p = Path(self.journal) / f"window-{task.index}-pid-{os.getpid()}"
            p.write_text(f"{os.getpid()}\n")

    def run(self, task: Task) -> dict:
        t0, c0 = time.perf_counter(), time.process_time()
        out = self._run(task)
        out["seconds"], out["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        return out

    def _run(self, task: Task) -> dict:
        self._note(task)
        if task.kind == "file":
            return {"index": task.index, "pid": os.getpid(), **self._file(task)}
        x, y, w, h = task.block
        labels = np.full((h, w), NODATA, np.uint8)
        samples = self._read(task)
        n = len(samples)
        if n:
            res = self.engine.predict(self.name, samples)
            if res.get("task") == "pixel_classification":  # dense tiles: a class per pixel, -1 = none
                for s, el in zip(samples, np.asarray(res["element_labels"])):
                    c, r, ww, hh = (int(v) for v in s.meta["window"])
                    t = int(s.meta["tile"])
                    lab = el.reshape(t, t)[:hh, :ww]
                    view = labels[r - y:r - y + hh, c - x:c - x + ww]
                    view[lab >= 0] = lab[lab >= 0]
                return {"index": task.index, "pid": os.getpid(), "labels": labels, "samples": n}
            ids = np.asarray(res["probabilities"]).argmax(1).astype(np.uint8)
            if task.kind == "pixels":
                rx, ry = task.read[0], task.read[1]
                for s, k in zip(samples, ids):  # rows / cols of the cube read (block + halo)
                    m = s.meta
                    wx, wy = (m.get("window") or [rx, ry])[:2]
                    labels[int(wy) + int(m["row"]) - y, int(wx) + int(m["col"]) - x] = k
            else:  # tiles, painted in reading order (a flush tile over its neighbour, as a whole read)
                for s, k in zip(samples, ids):
                    c, r, ww, hh = (int(v) for v in s.meta["window"])
                    labels[r - y:r - y + hh, c - x:c - x + ww] = k
        return {"index": task.index, "pid": os.getpid(), "labels": labels, "samples": n}

    def _read(self, task: Task) -> list:
        options = dict(task.options)
        if task.kind == "pixels" and task.halo and any(task.halo):
            options["halo"] = list(task.halo)
        try:
            return self.engine.read(self.name, task.path, window=list(task.read), **options)
        except InputError:
            if not self._all_nodata(task.path, task.read):
                raise
            return []  # a block of nodata: nodata in the mosaic, as in a whole read

    @staticmethod
    def _all_nodata(path: str, window) -> bool:
        import rasterio
        from rasterio.windows import Window

        try:
            with rasterio.open(path) as src:
                mask = src.read_masks(window=Window(*[int(v) for v in window]))
        except Exception:  # noqa: BLE001 - not a file rasterio reads: the reader's error stands
            return False
        return not mask.all(axis=0).any()

    def _file(self, task: Task) -> dict:
        """A whole file, as `allspark ask --output` writes it: a label raster, or a classified point cloud."""
        from .outputs import write_result

        options = dict(task.options)
        samples = self.engine.read(self.name, task.path, **options)
        if not samples:
            raise InputError(f"{task.path}: no samples to run (empty input)")
        res = self.engine.predict(self.name, samples)
        if task.dst.lower().endswith(POINT_TYPES):
            return {"output": _write_point_cloud(res, samples, task.path, task.dst), "samples": len(samples)}
        if "probabilities" in res:
            ids = np.asarray(res["probabilities"]).argmax(1)
            counts = np.bincount(ids, minlength=len(res.get("classes") or [])).tolist()
        else:
            counts = None
        written = write_result(res, samples, task.dst)
        return {"output": str(written), "samples": len(samples), "counts": counts}


def _write_point_cloud(result: dict, samples, src: str, dst: str) -> str:
    from .pointcloud_output import point_labels, write_classified

    if "element_labels" not in result or samples[0].meta.get("point_index") is None:
        raise InputError(f"{dst}: a classified point cloud needs a per-point (point_classification) bundle")
    index, labels = point_labels(samples, result["element_labels"])
    kept = [(np.asarray(s.meta["index"], np.int64)[:8], np.asarray(s.meta["xyz"], np.float64)[:8])
            for s in samples if s.meta.get("xyz") is not None]
    check = (np.concatenate([k for k, _ in kept]), np.concatenate([x for _, x in kept])) if kept else None
    return write_classified(src, dst, index, labels, result.get("classes") or [], check_xyz=check)["path"]


# ---- Ray ------------------------------------------------------------------------------------------
def _ray():
    try:
        import ray
    except ImportError:
        raise AllSparkError("allspark batch runs on Ray: install it into the backend's environment "
                            "(pip install ray==2.60.0)") from None
    return ray


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """A cluster address someone listens on (a TCP connect), else an InputError naming it: Ray itself
    would wait on an address nobody listens on for minutes."""
    text = str(address).strip()
    if text in ("auto", "local"):
        return
    hostport = text.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise InputError(f"cluster address {address!r}: give host:port (e.g. 10.0.0.5:6379), ray://host:port or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise InputError(f"no Ray cluster answers at {address} ({exc.strerror or exc}): start one with "
                         f"`ray start --head` there, or leave the address out for a local Ray") from None


def use_auth_token() -> bool:
    """Ray (2.60) clusters started with token authentication (the default of `ray.init` and `ray start`)
    refuse a process that does not send the token, and a process started before the cluster (the
    service the plugin started with QGIS) has no RAY_AUTH_MODE: when a token is at hand (RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token as `ray start` writes it), use it."""
    if os.environ.get("RAY_AUTH_MODE"):
        return os.environ["RAY_AUTH_MODE"] == "token"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path):
        os.environ["RAY_AUTH_MODE"] = "token"
        return True
    return False


class _Session:
    """ray.init for the run: a local Ray of `workers` CPUs (stopped after) or the cluster at `address`."""

    def __init__(self, ray, address: str | None, workers: int | None):
        self.ray, self.address, self.started = ray, address, False
        if address is not None:
            check_address(address)
        if ray.is_initialized():
            return  # the caller's Ray (a test, a notebook): used as it is, left running
        kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                      configure_logging=True)
        try:
            if address is None:
                ray.init(num_cpus=int(workers or 2), **kwargs)
            else:
                ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
            where = "start a local Ray" if address is None else f"join the Ray cluster at {address}"
            raise AllSparkError(f"could not {where}: {_short(exc)}") from None
        self.started = True

    def close(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()


def _actor_class(ray):
    return ray.remote(max_restarts=2, max_task_retries=2)(BatchWorker)


def _error_of(ray, exc: BaseException, task: Task) -> AllSparkError:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, AllSparkError):
        return cause
    where = f"window {task.block}" if task.block else task.path
    return AllSparkError(f"{where} failed on a Ray worker: {str(cause or exc).strip()[:500]}")


def batch_steps(bundle: str, inputs, output: str, address: str | None = None, workers: int | None = None,
                window=None, cancel: threading.Event | None = None, llm=None, bundles_dir=None,
                device: str = "auto", journal: str | None = None,
                memory_bytes: int = BLOCK_MEMORY_BYTES, area=None, region=None) -> Iterator[tuple[float, str]]:
    """run_batch as steps: yields (fraction, message) as results arrive (and at least every half second
    while it waits), returns the summary (StopIteration.value)."""
    t0 = time.perf_counter()
    plan = plan_batch(bundle, inputs, output, llm=llm, bundles_dir=bundles_dir, window=window,
                      memory_bytes=memory_bytes, area=area, region=region)
    if address is not None:
        use_auth_token()  # before Ray is imported: it reads its authentication mode then
    ray = _ray()
    yield 0.0, "starting Ray" if address is None else f"joining the Ray cluster at {address}"
    session = _Session(ray, address, workers)
    writer = None
    actors: list = []
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        use_gpu = device == "cuda" or (device == "auto" and gpus > 0)
        if device == "cuda" and not gpus:
            raise InputError("--device cuda: the Ray cluster has no GPU")
        capacity = gpus if use_gpu else max(1, int(resources.get("CPU", 1)))
        n_actors = max(1, min(int(workers) if workers else capacity, capacity, len(plan.tasks)))
        Actor = _actor_class(ray)
        opts = {"num_gpus": 1, "num_cpus": 1} if use_gpu else {"num_cpus": 1}
        actor_device = "cuda" if use_gpu else "cpu"

        def new_actor():
            return Actor.options(**opts).remote(plan.bundle_path, plan.llm_path, actor_device,
                                                None if use_gpu else 1, journal)

        actors = [new_actor() for _ in range(n_actors)]
        yield 0.02, f"{n_actors} Ray worker{'s' if n_actors != 1 else ''} loading bundle {plan.bundle_name}"
        loading = [a.pid.remote() for a in actors]  # each answers once its engine is loaded
        while loading:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled while the Ray workers loaded the bundle")
            ready, loading = ray.wait(loading, num_returns=len(loading), timeout=0.5)
            for ref in ready:
                try:
                    ray.get(ref)
                except ray.exceptions.RayActorError as exc:  # the constructor failed: no use retrying
                    cause = getattr(exc, "cause", None) or exc
                    raise AllSparkError(f"a Ray worker could not load bundle {plan.bundle_name}: "
                                        f"{_short(cause)}") from None
            if loading:
                yield 0.03, f"{n_actors} Ray worker{'s' if n_actors != 1 else ''} loading bundle {plan.bundle_name}"
        t_ready = time.perf_counter()
        if plan.mode == "mosaic":
            from .outputs import LabelRasterWriter

            g = plan.grid
            writer = LabelRasterWriter(plan.output, g["width"], g["height"], g["transform"], g["crs"], plan.classes)
        pending = deque(plan.tasks)
        inflight: dict = {}  # ObjectRef -> (task, actor slot)
        attempts = {t.index: 0 for t in plan.tasks}
        done: set[int] = set()
        counts = np.zeros(max(1, len(plan.classes)), np.int64)
        pids: set[int] = set()
        outputs: dict[int, str] = {}
        replaced = retried = samples = 0
        compute = cpu = 0.0  # seconds (wall, CPU) the actors spent on the windows (read + predict), summed
        total = len(plan.tasks)

        def submit(slot: int, limit: int = IN_FLIGHT) -> None:
            while pending and sum(1 for _, s in inflight.values() if s == slot) < limit:
                task = pending.popleft()
                attempts[task.index] += 1
                inflight[actors[slot].run.remote(task)] = (task, slot)

        for limit in range(1, IN_FLIGHT + 1):  # round robin: every worker has work before any has two
            for slot in range(n_actors):
                submit(slot, limit)
        while inflight:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"cancelled after {len(done)} of {total} {_unit_words(plan)}")
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.5)
            if not ready:
                yield 0.05 + 0.9 * len(done) / total, f"{len(done)} of {total} {_unit_words(plan)} done"
                continue
            for ref in ready:
                task, slot = inflight.pop(ref)
                try:
                    out = ray.get(ref)
                except ray.exceptions.ActorUnavailableError:  # restarting: the same actor takes it again
                    retried += 1
                    pending.appendleft(task)
                    submit(slot)
                    continue
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                        ray.exceptions.ObjectLostError) as exc:
                    # Ray gave up on this actor (its restarts spent): a new one takes its windows
                    if attempts[task.index] > 1 + ACTOR_REPLACEMENTS:
                        raise AllSparkError(f"{_where(task)} failed {attempts[task.index]} times: its Ray worker "
                                            f"died each time ({_short(exc)})") from None
                    if replaced >= ACTOR_REPLACEMENTS * n_actors:
                        raise AllSparkError(f"Ray workers keep dying ({replaced} replaced): {_short(exc)}") from None
                    retried += 1
                    pending.appendleft(task)
                    stale, actors[slot] = actors[slot], new_actor()
                    replaced += 1
                    for r, (t, s) in list(inflight.items()):  # its other windows go to the new actor
                        if s == slot:
                            inflight.pop(r)
                            pending.appendleft(t)
                            retried += 1
                    try:
                        ray.kill(stale, no_restart=True)
                    except Exception:  # noqa: BLE001 - already gone
                        pass
                    submit(slot)
                    continue
                except ray.exceptions.RayTaskError as exc:
                    raise _error_of(ray, exc, task) from None
                pids.add(int(out["pid"]))
                samples += int(out.get("samples") or 0)
                compute += float(out.get("seconds") or 0.0)
                cpu += float(out.get("cpu_s") or 0.0)
                if task.index not in done:
                    if plan.mode == "mosaic":
                        labels = out["labels"]
                        writer.write(labels, task.block[0] - plan.grid["xoff"], task.block[1] - plan.grid["yoff"])
                        ok = labels[labels != NODATA]
                        counts += np.bincount(ok, minlength=len(counts))[:len(counts)]
                    else:
                        outputs[task.index] = out["output"]
                        if out.get("counts"):
                            c = np.asarray(out["counts"], np.int64)[:len(counts)]
                            counts[:len(c)] += c
                    done.add(task.index)
                submit(slot)
                yield 0.05 + 0.9 * len(done) / total, f"{len(done)} of {total} {_unit_words(plan)} done"
        t_windows = time.perf_counter()
        yield 0.97, "writing the output"
        summary = {"bundle": plan.bundle_name, "mode": plan.mode, "unit": plan.unit, "tasks": total,
                   "samples": samples, "workers": n_actors, "device": actor_device,
                   "address": address or "local", "worker_pids": sorted(pids), "replaced_workers": replaced,
                   "resubmitted": retried, "classes": plan.classes}
        if plan.mode == "mosaic":
            summary["output"] = str(writer.close())
            writer = None
            g = plan.grid
            summary.update(width=g["width"], height=g["height"], pixels=g["width"] * g["height"])
            summary["counts"] = {c: int(n) for c, n in zip(plan.classes, counts)}
        else:
            summary["outputs"] = [outputs[t.index] for t in plan.tasks]
            summary["output"] = plan.output
            if plan.classes and counts.any():
                summary["counts"] = {c: int(n) for c, n in zip(plan.classes, counts)}
        summary["seconds"] = time.perf_counter() - t0
        summary["startup_s"] = t_ready - t0  # Ray started / joined, every worker's engine loaded
        summary["windows_s"] = t_windows - t_ready  # the tasks, from the first submitted to the last result
        summary["compute_s"], summary["compute_cpu_s"] = compute, cpu
        yield 1.0, "done"
        return summary
    finally:
        if writer is not None:
            writer.abort()
        for a in actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        session.close()


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) < 300 else text[:300] + "..."


def _where(task: Task) -> str:
    return f"window {task.block} of {task.path}" if task.block else task.path


def _unit_words(plan: Plan) -> str:
    return "files" if plan.mode == "files" else "windows"


def run_batch(bundle: str, inputs, output: str, address: str | None = None, workers: int | None = None,
              window=None, progress: Progress | None = None, cancel: threading.Event | None = None, llm=None,
              bundles_dir=None, device: str = "auto", journal: str | None = None,
              memory_bytes: int = BLOCK_MEMORY_BYTES, area=None, region=None) -> dict:
    """Run `bundle` over `inputs` (one raster, a folder / list of rasters, point-cloud files) on Ray and
    write `output` (one label GeoTIFF on the raster's grid, or a folder of per-file outputs); see the
    module docstring. `window`: the block side in pixels (default: memory-bounded blocks); `area` [x, y, w,
    h] px: only that part of one raster, the output its grid; `region` (region_payload): only the pixels
    whose centre the selected polygons hold, the others nodata; `progress`
    (fraction, message); `cancel` a threading.Event; `journal` a folder where each actor notes the
    windows it takes (file `window-<i>-pid-<pid>`). Returns a summary (outputs, counts per class,
    workers, their process ids, windows resubmitted)."""
    from .progress import run_steps

    return run_steps(batch_steps(bundle, inputs, output, address=address, workers=workers, window=window,
                                 cancel=cancel, llm=llm, bundles_dir=bundles_dir, device=device, journal=journal,
                                 memory_bytes=memory_bytes, area=area, region=region), progress)


__all__ = ["run_batch", "batch_steps", "plan_batch", "raster_tasks", "region_tasks", "check_area", "BatchWorker",
           "check_address", "Plan", "Task"]
