"""A job's result file (`.json` or `.npz`): written to a temporary file beside the target and moved into
place when complete, so a reader never sees half a file; and the merge of a job's partial results."""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import InputError
from ..jsonable import jsonable
from .atomic import write_atomically


def result_jsonable(obj):
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
                return result_jsonable(obj)

            rest = strip(result, "")
            arrays["__json__"] = np.frombuffer(json.dumps(rest).encode("utf-8"), dtype=np.uint8)
            np.savez(f, **arrays)
        else:
            f.write(json.dumps(result_jsonable(result), ensure_ascii=False).encode("utf-8"))

    return write_atomically(path, write, prefix=f".{name}.", suffix=".part", folder=folder)


def merge_results(parts: list[dict]) -> dict:
    """Concatenate head results along the sample axis (engine.merge_results); the parts' `timing`
    (seconds per stage) are summed."""
    from ..engine import merge_results as merge

    out = merge(parts)
    if len(parts) > 1:
        out.pop("timing", None)
        timings = [p["timing"] for p in parts if isinstance(p.get("timing"), dict)]
        if timings:
            out["timing"] = {k: float(sum(t.get(k, 0.0) for t in timings)) for k in timings[0]}
    return out


# ---- raster blocks ------------------------------------------------------------------------------
