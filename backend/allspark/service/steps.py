"""What each kind of job does, step by step (JOB_KINDS): a batch job predicts block by block (a raster
is read in blocks of at most `tile_memory_bytes` of float32 pixels, so memory stays bounded whatever
its size) or chunk by chunk, streaming partial results; a training job trains a bundle; convert_copc
writes a COPC copy of a point cloud; cluster_batch runs a bundle over large inputs on Ray
(allspark.cluster). Input files are only ever opened for reading.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Callable, Iterator

import numpy as np

from ..errors import Cancelled, InputError, ProtocolError
from .jobs import Job, accepts
from .result_files import merge_results, result_jsonable, write_result_file

log = logging.getLogger("allspark.service")

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".img", ".png", ".jpg", ".jpeg")
META_KEYS = ("window", "row", "col", "fid", "fids", "tile", "track", "source", "index", "time",
             "reference")  # oblique: the reference view a depth map is of


def raster_size(path: str) -> tuple[int, int, int] | None:
    """(width, height, band count) of a raster file, or None when rasterio can't tell."""
    if not str(path).lower().endswith(RASTER_SUFFIXES):
        return None
    try:
        import rasterio
    except ImportError:
        return None
    try:
        with rasterio.open(path) as src:
            return int(src.width), int(src.height), int(src.count)
    except Exception:
        return None


def raster_blocks(width: int, height: int, bands: int, memory_bytes: int, tile: int | None = None,
                  region: list | None = None) -> list[list[int]]:
    """[xoff, yoff, w, h] blocks covering `region` (default the raster), each holding at most
    `memory_bytes` / 4 of float32 pixel data (with room for the mask and the encoder's copy); block
    sides are multiples of `tile` when given, so tiles line up across blocks (tiling.memory_blocks)."""
    from ..tiling import memory_blocks

    return memory_blocks(width, height, bands, memory_bytes, tile, region)


def within(block, samples) -> bool:
    """Whether every sample that names its window lies inside the block read."""
    bx, by, bw, bh = block
    for s in samples:
        win = (getattr(s, "meta", None) or {}).get("window")
        if isinstance(win, (list, tuple)) and len(win) == 4:
            x, y, w, h = (int(v) for v in win)
            if x < bx or y < by or x + w > bx + bw or y + h > by + bh:
                return False
    return True


def sample_meta(samples) -> list[dict]:
    """The per-sample metadata the plugin needs to place results: window (in the source grid), row /
    col (relative to the window read), fid, tile, track, ...; for a pixel sample (row / col and a
    window) also x / y, its column / row in the source raster, whichever block it was read in."""
    out = []
    for s in samples:
        meta = getattr(s, "meta", None) or {}
        m = {k: result_jsonable(meta[k]) for k in META_KEYS if k in meta}
        win = meta.get("window")
        if "row" in meta and "col" in meta and isinstance(win, (list, tuple)) and len(win) >= 2:
            try:
                m["x"], m["y"] = int(win[0]) + int(meta["col"]), int(win[1]) + int(meta["row"])
            except (TypeError, ValueError):
                pass
        out.append(m)
    return out


# ---- job bodies ---------------------------------------------------------------------------------
_DIGITS = re.compile(r"[0-9][0-9,.]*")


class JobContext:
    """What a job's steps use: the engine, settings, and `emit` for events."""

    def __init__(self, job: Job, engine, emit: Callable[[Job, str, dict], None], settings: dict):
        self.job, self.engine, self._emit, self.settings = job, engine, emit, settings

    def progress(self, fraction: float, message: str = "", force: bool = False) -> None:
        job = self.job
        job.progress = float(max(0.0, min(1.0, fraction)))
        job.message = str(message)[:500]
        now = time.monotonic()
        # the rate limit thins a phase's repeated counts ("node 7 of 40"), never a phase's first words
        # nor the end (100 %): what the user reads must not depend on how fast this machine is
        phase = _DIGITS.sub("#", job.message)
        if force or phase != job.last_phase_sent or job.progress >= 1.0 or now - job.last_progress_sent >= \
                self.settings.get("progress_interval_s", 0.05):
            job.last_progress_sent, job.last_phase_sent = now, phase
            self._emit(job, "progress", {"progress": job.progress, "message": job.message})

    def partial(self, body: dict) -> None:
        self._emit(self.job, "partial", body)

    def check_cancel(self) -> None:
        if self.job.cancel.is_set():
            raise Cancelled("cancelled by the user")


def _engine_progress(ctx: JobContext, lo: float, hi: float, prefix: str = ""):
    def progress(fraction=0.0, message="", *args, **kwargs):
        try:
            f = float(fraction)
        except (TypeError, ValueError):
            f = 0.0
        ctx.progress(lo + (hi - lo) * max(0.0, min(1.0, f)), f"{prefix}{message}")
    return progress


def _predict(ctx: JobContext, bundle: str, samples, lo: float, hi: float, prefix: str = ""):
    kwargs = {}
    if accepts(ctx.engine.predict, "progress"):
        kwargs["progress"] = _engine_progress(ctx, lo, hi, prefix)
    if accepts(ctx.engine.predict, "cancel"):
        kwargs["cancel"] = ctx.job.cancel
    timing = {} if accepts(ctx.engine.predict, "timing") else None
    if timing is not None:
        kwargs["timing"] = timing
    result = ctx.engine.predict(bundle, samples, **kwargs)
    if timing:  # seconds in the encoder + bridge, the LLM and the head (summed when parts merge)
        result = {**result, "timing": timing}
    return result


def _payload_samples(engine, bundle: str, payload: dict) -> list:
    arrays = payload.get("arrays") or {}
    meta = payload.get("meta") or {}
    if not isinstance(arrays, dict) or not isinstance(meta, dict):
        raise ProtocolError("a payload is {'arrays': {name: array}, 'meta': {...}}")
    if "path" in meta and not arrays:
        if hasattr(engine, "read_payload_file"):  # the layer's description set aside from the reader options
            return engine.read_payload_file(bundle, meta)
        return engine.read(bundle, meta["path"], **{k: v for k, v in meta.items() if k != "path"})
    if not hasattr(engine, "from_payload"):
        raise ProtocolError("this engine takes no payload arrays; send meta.path")
    return engine.from_payload(bundle, arrays, meta)


def samples_from_payload(engine, bundle: str, arrays: dict, meta: dict) -> list:
    return _payload_samples(engine, bundle, {"arrays": arrays, "meta": meta})


def batch_steps(ctx: JobContext) -> Iterator[None]:
    """A batch job: predict every block / chunk, stream partial results, return the merged result."""
    body, engine = ctx.job.body, ctx.engine
    bundle = body.get("bundle")
    if not isinstance(bundle, str) or not bundle:
        raise ProtocolError("batch needs 'bundle' (a bundle name)")
    chunk = int(body.get("chunk") or ctx.settings.get("chunk_samples", 64))
    parts, metas = [], []
    inputs: list[str] = []
    ctx.progress(0.0, "starting", force=True)
    yield

    def run(samples, lo, hi, prefix, extra):
        ctx.check_cancel()
        res = _predict(ctx, bundle, samples, lo, hi, prefix)
        ctx.check_cancel()
        meta = sample_meta(samples)
        parts.append(res)
        metas.extend(meta)
        ctx.partial({"index": len(parts) - 1, "samples": meta, "result": res, **extra})
        ctx.progress(hi, f"{prefix}done", force=True)

    path = body.get("path")
    if path:
        if not isinstance(path, str):
            raise ProtocolError("batch 'path' must be a file path")
        inputs.append(path)
        options = dict(body.get("options") or {})
        size = raster_size(path)
        if size is not None and body.get("tiled", True):
            width, height, count = size
            bands = len(options.get("bands") or []) or count
            tile = options.get("tile")
            tile = int(tile if np.isscalar(tile) else tile[0]) if tile else None
            region = options.pop("window", None) or body.get("window")
            blocks = raster_blocks(width, height, bands, ctx.settings["tile_memory_bytes"], tile, region)
            for i, block in enumerate(blocks):
                ctx.check_cancel()
                lo, hi = i / len(blocks), (i + 1) / len(blocks)
                samples = engine.read(bundle, path, **{**options, "window": block})
                if len(blocks) > 1 and not within(block, samples):
                    # the reader ignored the window (read everything): use that, once, without duplicates
                    log.warning("%s: the reader of bundle %s ignores window=; predicting it whole", path, bundle)
                    n = len(samples)
                    for start in range(0, n, chunk):
                        run(samples[start:start + chunk], start / n, min(n, start + chunk) / n,
                            f"samples {start + 1}-{min(n, start + chunk)} of {n}: ", {"start": start})
                        yield
                    break
                if samples:
                    run(samples, lo, hi, f"block {i + 1} of {len(blocks)}: ", {"block": block})
                del samples
                yield
        else:
            samples = engine.read(bundle, path, **options)
            n = len(samples)
            for start in range(0, n, chunk):
                run(samples[start:start + chunk], start / n, min(n, start + chunk) / n,
                    f"samples {start + 1}-{min(n, start + chunk)} of {n}: ", {"start": start})
                yield
    else:
        payloads = body.get("payloads")
        if not isinstance(payloads, list) or not payloads:
            raise ProtocolError("batch needs 'path' (a file the backend reads) or 'payloads' (a list of "
                                "{'arrays': ..., 'meta': ...})")
        n = len(payloads)
        pending, lo, start = [], 0.0, 0
        point_outputs = _point_outputs(payloads)  # {payload: classified LAS / LAZ to write} (meta output_las)
        owners, classified = [], {i: [] for i in point_outputs}  # payload of each pending sample; its points
        for i, payload in enumerate(payloads):
            ctx.check_cancel()
            if not isinstance(payload, dict):
                raise ProtocolError(f"payload {i} is not an object")
            samples = _payload_samples(engine, bundle, _reader_payload(payload))
            pending.extend(samples)
            owners.extend([i] * len(samples))
            last = i == n - 1
            while pending and (len(pending) >= chunk or last):
                part, pending = pending[:chunk], pending[chunk:]
                part_owners, owners = owners[:len(part)], owners[len(part):]
                hi = max(lo, min(1.0, (i + 1 - len(pending) / max(1, len(samples))) / n))
                run(part, lo, hi, f"samples {start + 1}-{start + len(part)}: ", {"start": start, "payload": i})
                if point_outputs:
                    _keep_point_labels(classified, part, part_owners, parts[-1], bundle)
                start += len(part)
                lo = hi
                yield
        if point_outputs and parts:
            written = {}
            for i, dst in point_outputs.items():
                ctx.check_cancel()
                written[i] = _write_point_output(payloads[i]["meta"]["path"], dst, classified.pop(i), parts[-1])
                yield
    if not parts:
        raise InputError("nothing to predict: every block or payload was empty")
    result = merge_results(parts)
    result["samples"] = metas
    if not path and point_outputs:  # the classified copies of the point clouds (meta output_las)
        paths = [written[i]["path"] for i in sorted(written)]
        result["output_las"] = paths[0] if len(paths) == 1 else paths
        result["output_las_summary"] = [written[i] for i in sorted(written)]
    output = body.get("output")
    out = {"result": result}
    if output:
        out["output"] = write_result_file(output, result, inputs)
        if body.get("return_result") is False:
            out.pop("result")
    ctx.job.final_body = out
    return


# what a point-cloud payload's meta asks of the job, not of the reader: a classified copy of the file
# (`output_las`), the kept points' coordinates (`return_xyz`: sent whenever the samples carry them)
POINT_JOB_KEYS = ("output_las", "return_xyz")


def _reader_payload(payload):
    """The payload without the job's own keys (POINT_JOB_KEYS), as the reader takes it."""
    meta = payload.get("meta")
    if not isinstance(meta, dict) or not any(k in meta for k in POINT_JOB_KEYS):
        return payload
    return {**payload, "meta": {k: v for k, v in meta.items() if k not in POINT_JOB_KEYS}}


def _point_outputs(payloads) -> dict[int, str]:
    """{payload index: its meta `output_las`} for the point-cloud payloads that ask for a classified copy."""
    out = {}
    for i, payload in enumerate(payloads or []):
        meta = payload.get("meta") if isinstance(payload, dict) else None
        if isinstance(meta, dict) and meta.get("output_las"):
            out[i] = meta["output_las"]
    return out


def _keep_point_labels(classified: dict, part, owners, res: dict, bundle: str) -> None:
    """Keep, for each payload that asked for a classified copy, its tiles' (file indexes, classes) of
    every point (the tile's index map) and the coordinates of a few kept points (to check the order)."""
    from ..pointcloud_output import point_labels

    wanted = [k for k, owner in enumerate(owners) if owner in classified]
    if not wanted:
        return
    if "element_labels" not in res:
        raise InputError(f"bundle {bundle!r} gives no per-point classes ({res.get('task')}): a classified point "
                         f"cloud (output_las) needs a point_classification bundle")
    el = np.asarray(res["element_labels"])
    for k in wanted:
        s = part[k]
        index, labels = point_labels([s], el[k:k + 1])
        kept = np.asarray(s.meta.get("index", []), np.int64)[:8]
        xyz = np.asarray(s.meta["xyz"], np.float64)[:len(kept)] if s.meta.get("xyz") is not None else None
        classified[owners[k]].append((index, labels, (kept, xyz) if xyz is not None else None))


def _write_point_output(src: str, dst: str, tiles: list, res: dict) -> dict:
    """Write the classified copy of the point cloud `src` to `dst` (allspark.pointcloud_output)."""
    from ..pointcloud_output import write_classified

    if not tiles:
        raise InputError(f"{src}: no point was classified, so no classified copy was written")
    index = np.concatenate([t[0] for t in tiles])
    labels = np.concatenate([t[1] for t in tiles])
    checks = [t[2] for t in tiles if t[2] is not None]
    check = (np.concatenate([c[0] for c in checks]), np.concatenate([c[1] for c in checks])) if checks else None
    return write_classified(src, dst, index, labels, list(res.get("classes") or []), check_xyz=check)


def train_steps(ctx: JobContext) -> Iterator[None]:
    config = ctx.job.body.get("config")
    if not isinstance(config, dict):
        raise ProtocolError("train needs 'config' (the training settings as an object)")
    ctx.progress(0.0, "starting", force=True)
    yield
    kwargs = {}
    if accepts(ctx.engine.train, "progress"):
        kwargs["progress"] = _engine_progress(ctx, 0.0, 1.0)
    if accepts(ctx.engine.train, "cancel"):
        kwargs["cancel"] = ctx.job.cancel
    result = ctx.engine.train(config, **kwargs)
    ctx.check_cancel()
    ctx.job.final_body = {"result": result}
    return


def forward_steps(ctx: JobContext, steps, force) -> Iterator[None]:
    """A generator of (fraction, message) steps as the job's own steps: each one's progress sent (always
    when force(fraction, message)), a cancel checked between them; returns the generator's value."""
    while True:
        ctx.check_cancel()
        try:
            fraction, message = next(steps)
        except StopIteration as stop:
            return stop.value
        ctx.progress(fraction, message, force=force(fraction, message))
        yield


def convert_copc_steps(ctx: JobContext) -> Iterator[None]:
    """LAS / LAZ -> COPC (allspark.copc): the file QGIS without PDAL can open. Needs no engine."""
    from ..copc import convert_steps

    body = ctx.job.body
    ctx.progress(0.0, "starting", force=True)
    yield
    steps = convert_steps(body["path"], body["output"])
    summary = yield from forward_steps(ctx, steps, lambda fraction, message: message in ("reading", "done"))
    ctx.job.final_body = {"result": summary}


def cluster_batch_steps(ctx: JobContext) -> Iterator[None]:
    """A bundle over a large raster / a folder of files on Ray (allspark.cluster): windows become Ray
    tasks, each Ray worker holds its own engine (LLM + bundle), the output is written here as results
    arrive, progress forwarded as the cluster reports it. The service's engine only names the LLM file
    and the bundles folders (its LLM is not loaded for this job); the body may name others. `area` [x, y,
    w, h] px and `region` (the selected polygons, as a payload's): only that part of the raster, as the
    plugin's extent and region limit a run in the backend."""
    from ..cluster import batch_steps as cluster_steps

    body = ctx.job.body
    engine = ctx.engine
    llm = body.get("llm") or getattr(engine, "llm_path", None)
    bundles_dir = [body["bundles_dir"]] if body.get("bundles_dir") else getattr(engine, "bundles_dir", None)
    ctx.progress(0.0, "starting", force=True)
    yield
    steps = cluster_steps(body["bundle"], body["inputs"], body["output"], address=body.get("address") or None,
                          workers=body.get("workers"), window=body.get("window"), cancel=ctx.job.cancel,
                          llm=str(llm) if llm else None, bundles_dir=bundles_dir, device=body.get("device") or "auto",
                          area=body.get("area"), region=body.get("region"))
    try:  # the last windows' counts are never thinned
        summary = yield from forward_steps(ctx, steps, lambda fraction, message: fraction >= 0.95)
    finally:
        steps.close()  # a cancel or an error: the Ray workers stopped, no partial output left
    ctx.job.final_body = {"result": summary, "output": summary.get("output")}


JOB_KINDS = {"batch": batch_steps, "train": train_steps, "convert_copc": convert_copc_steps,
             "cluster_batch": cluster_batch_steps}
ENGINELESS = {"convert_copc"}  # job kinds that run without the engine (cluster_batch only reads its paths)


def check_job_body(kind: str, body: dict) -> None:
    """Refuse a job whose request cannot work, before it queues (ProtocolError names the problem)."""
    if kind == "train":
        if not isinstance(body.get("config"), dict):
            raise ProtocolError("train needs 'config' (the training settings as an object)")
        return
    if kind == "convert_copc":
        for key, what in (("path", "the LAS / LAZ file to convert"), ("output", "the .copc.laz file to write")):
            if not isinstance(body.get(key), str) or not body[key]:
                raise ProtocolError(f"convert_copc needs '{key}' ({what})")
        if not body["output"].lower().endswith(".copc.laz"):
            raise ProtocolError(f"convert_copc 'output' {body['output']!r} must end with .copc.laz")
        return
    if kind == "cluster_batch":
        _check_cluster_batch(body)
        return
    if not isinstance(body.get("bundle"), str) or not body["bundle"]:
        raise ProtocolError("batch needs 'bundle' (a bundle name)")
    path, payloads = body.get("path"), body.get("payloads")
    if path is not None and not isinstance(path, str):
        raise ProtocolError("batch 'path' must be a file path")
    if path is None and (not isinstance(payloads, list) or not payloads
                         or not all(isinstance(p, dict) for p in payloads)):
        raise ProtocolError("batch needs 'path' (a file the backend reads) or 'payloads' (a non-empty list "
                            "of {'arrays': ..., 'meta': ...})")
    output = body.get("output")
    if output is not None:
        if not isinstance(output, str) or not output:
            raise ProtocolError("batch 'output' must be a file path")
        if not output.lower().endswith((".json", ".npz")):
            raise ProtocolError(f"batch 'output' {output!r}: the backend writes .json or .npz result files "
                                f"(label rasters are written from these by the plugin)")
    for key in ("options",):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise ProtocolError(f"batch '{key}' must be an object")
    for i, dst in _point_outputs(payloads if path is None else []).items():
        # a classified copy of a point cloud: refused now rather than after the classification
        from ..pointcloud_output import check_output

        src = (payloads[i].get("meta") or {}).get("path")
        if not isinstance(dst, str):
            raise ProtocolError(f"payload {i}: 'output_las' must be a file path (.las, .laz or .copc.laz)")
        if not isinstance(src, str) or not src:
            raise ProtocolError(f"payload {i}: 'output_las' needs meta 'path' (the LAS / LAZ / COPC file to copy)")
        check_output(src, dst)
    chunk = body.get("chunk")
    if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1):
        raise ProtocolError("batch 'chunk' must be a positive integer")


def _check_cluster_batch(body: dict) -> None:
    """cluster_batch {bundle, inputs (a path or a list of paths), output, address?, workers?, window?,
    area? ([x, y, w, h] px), region? (the selected polygons), device?, llm?, bundles_dir?}: refused before
    it queues when a key is missing or of the wrong kind."""
    for key, what in (("bundle", "a bundle name or folder"), ("output", "the label GeoTIFF or folder to write")):
        if not isinstance(body.get(key), str) or not body[key]:
            raise ProtocolError(f"cluster_batch needs '{key}' ({what})")
    inputs = body.get("inputs")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(p, str) and p for p in inputs):
        raise ProtocolError("cluster_batch needs 'inputs' (a file or folder path, or a list of them)")
    for key in ("address", "llm", "bundles_dir"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise ProtocolError(f"cluster_batch '{key}' must be a string")
    for key in ("workers", "window"):
        v = body.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ProtocolError(f"cluster_batch '{key}' must be a positive integer")
    area = body.get("area")
    if area is not None and (not isinstance(area, (list, tuple)) or len(area) != 4
                             or not all(isinstance(v, int) and not isinstance(v, bool) for v in area)):
        raise ProtocolError("cluster_batch 'area' must be [x, y, width, height] in whole pixels")
    if body.get("region") is not None and not isinstance(body["region"], dict):
        raise ProtocolError("cluster_batch 'region' must be an object {'wkb': [...], 'crs': WKT, 'layer': name}")
    if body.get("device") not in (None, "auto", "cpu", "cuda"):
        raise ProtocolError("cluster_batch 'device' must be auto, cpu or cuda")


# ---- the model worker ---------------------------------------------------------------------------
