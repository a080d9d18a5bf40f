"""Jobs of the service: one model worker thread runs everything that uses the shared LLM.

The worker takes interactive tasks (ask, load / unload a bundle) before the next step of a job, so
a long batch job yields to an `ask` between its chunks; batch jobs run one at a time in the order
submitted (one LLM), each as a generator of steps: a tile (block) of a raster, or a chunk of samples.
Cancel sets the job's threading.Event, which the engine checks between its batches and the job
between its steps. Every event a job emits (progress, partial, result, error, cancelled) has a
sequence number and is kept (bounded) so a client that reconnects can `attach` and catch up.

Large rasters are read block by block (`raster_blocks`), each block at most `tile_memory_bytes` of
float32 pixels, so memory stays bounded whatever the raster's size. Result files are written to a
temporary file beside the target and moved into place when complete (`write_result_file`); input
files are only ever opened for reading.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import os
import re
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import AllSparkError, BundleError, Cancelled, InputError, LLMError, ProtocolError
from ..jsonable import jsonable
from .atomic import write_atomically

log = logging.getLogger("allspark.service")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL_STATES = (DONE, FAILED, CANCELLED)
RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".img", ".png", ".jpg", ".jpeg")
META_KEYS = ("window", "row", "col", "fid", "fids", "tile", "track", "source", "index")


def error_code(exc: BaseException) -> str:
    """The error code a reply carries for an exception."""
    if isinstance(exc, Cancelled):
        return "cancelled"
    if isinstance(exc, InputError):
        return "input_error"
    if isinstance(exc, BundleError):
        return "bundle_error"
    if isinstance(exc, LLMError):
        return "llm_error"
    if isinstance(exc, ProtocolError):
        return "bad_request"
    if isinstance(exc, AllSparkError):
        return "error"
    return "internal"


def error_message(exc: BaseException) -> str:
    if isinstance(exc, AllSparkError):
        return str(exc)
    return f"internal error in the backend: {type(exc).__name__}: {str(exc)[:500]}"


def accepts(fn, name: str) -> bool:
    """Whether callable `fn` takes a keyword argument `name`."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


@dataclass
class Job:
    id: str
    kind: str  # "batch" | "train" | "convert_copc"
    request_id: str
    owner: bytes
    body: dict
    state: str = QUEUED
    cancel: threading.Event = field(default_factory=threading.Event)
    subscribers: set = field(default_factory=set)
    events: deque = field(default_factory=lambda: deque(maxlen=256))
    seq: int = 0
    progress: float = 0.0
    message: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: dict | None = None
    final: dict | None = None  # the terminal event (result / error / cancelled), always kept
    final_body: dict | None = None  # what the job's steps leave for its result event
    last_progress_sent: float = 0.0
    last_phase_sent: str | None = None
    nbytes: int = 0  # payload bytes the job holds while queued / running
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards state changes

    def claim(self) -> bool:
        """queued -> running; False when the job was cancelled first."""
        with self.lock:
            if self.state != QUEUED:
                return False
            self.state, self.started = RUNNING, time.time()
            return True

    def cancel_if_queued(self) -> bool:
        """queued -> cancelled (the caller emits the event); False when it already runs or ended."""
        with self.lock:
            self.cancel.set()
            if self.state != QUEUED:
                return False
            self.state, self.finished = CANCELLED, time.time()
            return True

    def snapshot(self) -> dict:
        return {"job_id": self.id, "kind": self.kind, "state": self.state, "progress": self.progress,
                "message": self.message, "created": self.created, "started": self.started,
                "finished": self.finished, "error": self.error, "last_seq": self.seq}


class JobTable:
    """Jobs by id (thread-safe); finished jobs are kept `keep_s` seconds (at most `keep` of them)."""

    def __init__(self, keep: int = 100, keep_s: float = 3600.0):
        self._jobs: dict[str, Job] = {}
        self._by_request: dict[str, str] = {}
        self.lock = threading.RLock()
        self.keep, self.keep_s = keep, keep_s

    def add(self, job: Job) -> Job:
        with self.lock:
            self._jobs[job.id] = job
            self._by_request[job.request_id] = job.id
            return job

    def get(self, job_id) -> Job | None:
        with self.lock:
            return self._jobs.get(job_id) if isinstance(job_id, str) else None

    def for_request(self, request_id: str) -> Job | None:
        with self.lock:
            jid = self._by_request.get(request_id)
            return self._jobs.get(jid) if jid else None

    def all(self) -> list[Job]:
        with self.lock:
            return list(self._jobs.values())

    def active(self) -> list[Job]:
        return [j for j in self.all() if j.state not in FINAL_STATES]

    def gc(self) -> None:
        now = time.time()
        with self.lock:
            done = sorted((j for j in self._jobs.values() if j.state in FINAL_STATES), key=lambda j: j.finished or 0)
            drop = [j for j in done if now - (j.finished or now) > self.keep_s]
            drop += done[: max(0, len(done) - self.keep)]
            for j in drop:
                self._jobs.pop(j.id, None)
                self._by_request.pop(j.request_id, None)


# ---- results on disk ----------------------------------------------------------------------------
def _jsonable(obj):
    return jsonable(obj, str_keys=True, bytes_hex=True)


def write_result_file(path: str, result: dict, inputs: list[str] = ()) -> str:
    """Write `result` to `path` atomically: .npz (arrays + JSON of the rest) or else JSON.

    The data goes to a temporary file in the same folder, flushed to disk, then os.replace()d onto
    the target, so a reader never sees a partial file and a failed or cancelled job leaves none."""
    path = os.path.abspath(os.fspath(path))
    for src in inputs:
        if src and os.path.exists(src) and os.path.exists(path) and os.path.samefile(src, path):
            raise InputError(f"refusing to write the result over the input file {src}")
        if src and os.path.abspath(src) == path:
            raise InputError(f"refusing to write the result over the input file {src}")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {path}: folder {folder} does not exist")
    name = os.path.basename(path)

    def write(f):
        if path.lower().endswith(".npz"):
            arrays = {}

            def strip(obj, prefix):
                if isinstance(obj, dict):
                    return {k: strip(v, f"{prefix}{k}.") for k, v in obj.items()}
                if isinstance(obj, np.ndarray):
                    key = prefix.rstrip(".") or "array"
                    arrays[key] = obj
                    return {"$npz": key}
                return _jsonable(obj)

            rest = strip(result, "")
            arrays["__json__"] = np.frombuffer(json.dumps(rest).encode("utf-8"), dtype=np.uint8)
            np.savez(f, **arrays)
        else:
            f.write(json.dumps(_jsonable(result), ensure_ascii=False).encode("utf-8"))

    return write_atomically(path, write, prefix=f".{name}.", suffix=".part", folder=folder)


def merge_results(parts: list[dict]) -> dict:
    """Concatenate head results along the sample axis (arrays and per-sample lists)."""
    if not parts:
        return {}
    if len(parts) == 1:
        return dict(parts[0])
    out = dict(parts[0])
    for key, value in parts[0].items():
        try:
            if isinstance(value, np.ndarray) and value.ndim > 0:
                out[key] = np.concatenate([np.asarray(p[key]) for p in parts])
            elif key in ("labels", "samples"):
                out[key] = [x for p in parts for x in p.get(key, [])]
        except (KeyError, ValueError):
            out[key] = [p.get(key) for p in parts]
    out.pop("timing", None)
    return out


# ---- raster blocks ------------------------------------------------------------------------------
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
    sides are multiples of `tile` when given, so tiles line up across blocks."""
    x0, y0, w, h = (int(v) for v in (region or [0, 0, width, height]))
    per_pixel = max(1, bands) * 4 * 4  # float32 data, mask, and working copies
    side = max(1, int(math.sqrt(max(1, memory_bytes) / per_pixel)))
    if tile:
        side = max(int(tile), side // int(tile) * int(tile))
    blocks = []
    for by in range(y0, y0 + h, side):
        for bx in range(x0, x0 + w, side):
            blocks.append([bx, by, min(side, x0 + w - bx), min(side, y0 + h - by)])
    return blocks


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
        m = {k: _jsonable(meta[k]) for k in META_KEYS if k in meta}
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
    return ctx.engine.predict(bundle, samples, **kwargs)


def _payload_samples(engine, bundle: str, payload: dict) -> list:
    arrays = payload.get("arrays") or {}
    meta = payload.get("meta") or {}
    if not isinstance(arrays, dict) or not isinstance(meta, dict):
        raise ProtocolError("a payload is {'arrays': {name: array}, 'meta': {...}}")
    if "path" in meta and not arrays:
        options = {k: v for k, v in meta.items() if k != "path"}
        return engine.read(bundle, meta["path"], **options)
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
        for i, payload in enumerate(payloads):
            ctx.check_cancel()
            if not isinstance(payload, dict):
                raise ProtocolError(f"payload {i} is not an object")
            samples = _payload_samples(engine, bundle, payload)
            pending.extend(samples)
            last = i == n - 1
            while pending and (len(pending) >= chunk or last):
                part, pending = pending[:chunk], pending[chunk:]
                hi = max(lo, min(1.0, (i + 1 - len(pending) / max(1, len(samples))) / n))
                run(part, lo, hi, f"samples {start + 1}-{start + len(part)}: ", {"start": start, "payload": i})
                start += len(part)
                lo = hi
                yield
    if not parts:
        raise InputError("nothing to predict: every block or payload was empty")
    result = merge_results(parts)
    result["samples"] = metas
    output = body.get("output")
    out = {"result": result}
    if output:
        out["output"] = write_result_file(output, result, inputs)
        if body.get("return_result") is False:
            out.pop("result")
    ctx.job.final_body = out
    return


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


def convert_copc_steps(ctx: JobContext) -> Iterator[None]:
    """LAS / LAZ -> COPC (allspark.copc): the file QGIS without PDAL can open. Needs no engine."""
    from ..copc import convert_steps

    body = ctx.job.body
    ctx.progress(0.0, "starting", force=True)
    yield
    steps = convert_steps(body["path"], body["output"])
    while True:
        ctx.check_cancel()
        try:
            fraction, message = next(steps)
        except StopIteration as stop:
            summary = stop.value
            break
        ctx.progress(fraction, message, force=message in ("reading", "done"))
        yield
    ctx.job.final_body = {"result": summary}
    return


JOB_KINDS = {"batch": batch_steps, "train": train_steps, "convert_copc": convert_copc_steps}
ENGINELESS = {"convert_copc"}  # job kinds that run without the engine (and its LLM)


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
    chunk = body.get("chunk")
    if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1):
        raise ProtocolError("batch 'chunk' must be a positive integer")


# ---- the model worker ---------------------------------------------------------------------------
class Worker(threading.Thread):
    """The one thread that uses the engine's LLM: interactive tasks first, then steps of the current job."""

    def __init__(self, engine_provider: Callable[[], Any], emit: Callable[[Job, str, dict], None],
                 settings: dict):
        super().__init__(name="allspark-model-worker", daemon=True)
        self._engine_provider = engine_provider
        self._emit = emit
        self.settings = settings
        self._interactive: deque = deque()
        self._jobs: deque = deque()
        self._cv = threading.Condition()
        self._halt = False
        self.current: Job | None = None
        self.busy_since: float | None = None

    # called from other threads
    def submit_task(self, fn: Callable[[], None]) -> None:
        with self._cv:
            self._interactive.append(fn)
            self._cv.notify()

    def submit_job(self, job: Job) -> None:
        with self._cv:
            self._jobs.append(job)
            self._cv.notify()

    def queued(self) -> int:
        with self._cv:
            return len(self._jobs) + len(self._interactive)

    def stop(self) -> None:
        with self._cv:
            self._halt = True
            self._cv.notify_all()

    def run(self) -> None:
        gen = None
        while True:
            task = job = None
            with self._cv:
                while not self._halt and not self._interactive and gen is None and not self._jobs:
                    self._cv.wait(0.5)
                if self._halt:
                    break
                if self._interactive:
                    task = self._interactive.popleft()
                elif gen is None:
                    job = self._jobs.popleft()
            if task is not None:
                self.busy_since = time.monotonic()
                try:
                    task()
                except Exception:  # tasks report their own errors; this is a last resort
                    log.exception("interactive task failed")
                self.busy_since = None
                continue
            if job is not None:
                gen = self._start(job)
            if gen is not None:
                gen = self._step(gen)
        if self.current is not None:
            self.current.cancel.set()

    def _start(self, job: Job):
        if not job.claim():  # cancelled while queued
            return None
        self.current = job
        try:
            engine = None if job.kind in ENGINELESS else self._engine_provider()
            return JOB_KINDS[job.kind](JobContext(job, engine, self._emit, self.settings))
        except Exception as exc:
            self._finish(job, FAILED, {"code": error_code(exc), "message": error_message(exc)})
            return None

    def _step(self, gen):
        job = self.current
        self.busy_since = time.monotonic()
        try:
            next(gen)
            return gen
        except StopIteration:
            if job.cancel.is_set():
                self._finish(job, CANCELLED, {"message": "cancelled by the user"})
            else:
                self._finish(job, DONE, getattr(job, "final_body", None) or {})
        except Cancelled as exc:
            self._finish(job, CANCELLED, {"message": str(exc) or "cancelled by the user"})
        except Exception as exc:
            if job.cancel.is_set():
                self._finish(job, CANCELLED, {"message": "cancelled by the user"})
            else:
                if error_code(exc) == "internal":
                    log.error("job %s failed:\n%s", job.id, traceback.format_exc())
                self._finish(job, FAILED, {"code": error_code(exc), "message": error_message(exc)})
        finally:
            self.busy_since = None
        return None

    def _finish(self, job: Job, state: str, body: dict) -> None:
        job.finished = time.time()
        if state == DONE:
            job.progress = 1.0
        if state == FAILED:
            job.error = {"code": body.get("code"), "message": body.get("message")}
        job.state = state
        self.current = None
        kind = {DONE: "result", FAILED: "error", CANCELLED: "cancelled"}[state]
        self._emit(job, kind, {**body, "elapsed_s": job.finished - (job.started or job.finished)})
        job.final_body = None
