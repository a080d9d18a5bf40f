"""Support for the service tests (no tests here): an engine with the Engine API that does real, checkable
work on numpy arrays (sums, means, sleeps that honour cancel), so the transport, jobs and faults are
tested without an LLM; the end-to-end test in test_service_engine.py uses the real Engine.

Also usable as `allspark serve --engine-factory tests/test_service_support.py:make_engine`.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from allspark.errors import BundleError, Cancelled, InputError
from allspark.modalities import Sample

BUNDLES = {
    "sum": {"name": "sum", "modality": "array", "task": "regression", "delay_s": 0.0},
    "slow": {"name": "slow", "modality": "array", "task": "regression", "delay_s": 0.05},
}


class ArrayEngine:
    """Regression 'model': per sample [sum, mean, count of finite values] of its arrays."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.loaded: dict[str, dict] = {}
        self.lock = threading.RLock()
        self.calls: list[str] = []

    def health(self) -> dict:
        return {"device": "cpu", "runtime": "numpy", "llm": {"file": None, "loaded": False},
                "bundles": {n: {"task": b["task"]} for n, b in self.loaded.items()}}

    def list_bundles(self) -> list[dict]:
        return [{**b, "loaded": n in self.loaded} for n, b in BUNDLES.items()]

    def load_bundle(self, name: str) -> dict:
        if name not in BUNDLES:
            raise BundleError(f"no bundle {name!r}; known: {', '.join(BUNDLES)}")
        self.loaded[name] = BUNDLES[name]
        return dict(BUNDLES[name])

    def unload_bundle(self, name: str) -> None:
        if self.loaded.pop(name, None) is None:
            raise BundleError(f"bundle {name!r} is not loaded")

    def _bundle(self, name):
        if name not in self.loaded:
            self.load_bundle(name)
        return self.loaded[name]

    def from_payload(self, bundle: str, arrays: dict, meta: dict) -> list[Sample]:
        self._bundle(bundle)
        if not arrays:
            raise InputError("the payload has no arrays")
        if "rows" in arrays:
            rows = arrays["rows"]
            return [Sample(data={"x": rows[i]}, meta={**meta, "row": i}) for i in range(len(rows))]
        return [Sample(data=dict(arrays), meta=dict(meta))]

    def read(self, bundle: str, path: str, window=None, tile=None, ignore_window=False, **options) -> list[Sample]:
        self._bundle(bundle)
        if ignore_window:
            window = None
        if str(path).endswith((".npy", ".npz")):
            data = np.load(path, mmap_mode="r") if str(path).endswith(".npy") else np.load(path)["rows"]
            return [Sample(data={"x": np.asarray(data[i])}, meta={"fid": i, "source": path}) for i in range(len(data))]
        import rasterio
        from rasterio.windows import Window

        with rasterio.open(path) as src:
            x, y, w, h = window or [0, 0, src.width, src.height]
            img = src.read(window=Window(x, y, w, h)).astype(np.float32)
        t = int(tile or max(w, h))
        out = []
        for ty in range(0, h, t):
            for tx in range(0, w, t):
                out.append(Sample(data={"image": img[:, ty:ty + t, tx:tx + t]},
                                  meta={"window": [x + tx, y + ty, min(t, w - tx), min(t, h - ty)], "source": path}))
        return out

    def predict(self, bundle: str, samples, progress=None, cancel=None) -> dict:
        b = self._bundle(bundle)
        if not samples:
            raise InputError("no samples to run: the input is empty")
        values = np.zeros((len(samples), 3), dtype=np.float32)
        for i, s in enumerate(samples):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"cancelled after {i} of {len(samples)} samples")
            if b["delay_s"]:
                time.sleep(b["delay_s"])
            flat = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in s.data.values()])
            finite = flat[np.isfinite(flat)]
            values[i] = [finite.sum(), finite.mean() if finite.size else np.nan, finite.size]
            if progress is not None:
                progress((i + 1) / len(samples), f"{i + 1} of {len(samples)} samples")
        self.calls.append(f"predict:{len(samples)}")
        return {"task": "regression", "targets": [{"name": "sum", "unit": ""}, {"name": "mean", "unit": ""},
                                                   {"name": "count", "unit": ""}], "values": values}

    def ask(self, bundle: str, samples, prompt=None, text=False, on_token=None, max_tokens=96, cancel=None) -> dict:
        result = self.predict(bundle, samples, cancel=cancel)
        if text:
            pieces = ["The", " sum", " is", f" {float(result['values'][0, 0]):.1f}", "."]
            for piece in pieces[:max_tokens]:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled while writing the answer")
                if on_token is not None:
                    on_token(piece)
            result["text"] = "".join(pieces[:max_tokens])
            result["prompt"] = prompt
        return result

    def train(self, config: dict, progress=None, cancel=None) -> dict:
        from allspark.train import _setting  # the real engine's check of each setting (TrainConfig.from_dict)

        epochs = _setting("epochs", "int", config.get("epochs", 3))
        step_s = _setting("step_s", "float", config.get("step_s", 0.02))
        steps = _setting("steps", "int", config.get("steps", 10))
        for e in range(epochs):
            for s in range(steps):
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"training cancelled in epoch {e + 1}")
                time.sleep(step_s)
                if progress is not None:
                    progress((e * steps + s + 1) / (epochs * steps), f"epoch {e + 1}/{epochs} step {s + 1}")
        out = config.get("out")
        if out:
            os.makedirs(out, exist_ok=True)
        return {"name": config.get("name", "trained"), "epochs": epochs, "path": out}


def make_engine(**kwargs) -> ArrayEngine:
    return ArrayEngine(**kwargs)


# ---- fixtures and helpers shared by tests/test_service_*.py -------------------------------------
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SUPPORT_FILE = str(Path(__file__).resolve())


@pytest.fixture()
def service(tmp_path):
    """An in-process service (background thread) on an ArrayEngine; fast heartbeats."""
    from allspark.service.server import Server

    server = Server(engine=ArrayEngine(), connection_file=str(tmp_path / "run" / "backend.json"), heartbeat_s=0.2,
                    tile_memory_bytes=64 * 1024).start_thread()
    yield server
    server.stop()
    assert server.stopped.wait(10)


@pytest.fixture()
def client(service):
    from allspark_qgis.client import Client

    c = Client(service.connection_file, timeout_s=10)
    yield c
    c.close()


def backend_process(tmp_path, *extra, name="backend"):
    """A real `python -m allspark serve` subprocess on the ArrayEngine (not started yet)."""
    from allspark_qgis.client import BackendProcess

    return BackendProcess(python_exe=sys.executable,
                          extra_args=["--engine-factory", f"{SUPPORT_FILE}:make_engine", "--heartbeat-s", "0.2",
                                      *extra],
                          connection_file=str(tmp_path / f"{name}.json"), log_path=str(tmp_path / f"{name}.log"))
