"""A fake engine with the Engine API that does real, checkable work on numpy arrays (sums, means, counts),
so the service's transport, jobs and faults are tested without an LLM (the end-to-end test in
test_service_engine.py uses the real Engine), and a real `allspark serve` process on it.

Nothing here sleeps to make a job "take time": the `held` bundle's samples (and a train config with
`"hold": true`) wait at a Gate until the test lets them through (`engine.gate.allow(n)` / `.open()`),
or, in a backend process the test cannot reach, until the file named by the payload's meta
`release_file` exists; a cancel always ends the wait. `meta["free"]` lets the first rows through
without a permit. The test knows a job is running when `engine.gate.wait_waiting()` returns.

Also usable as `allspark serve --engine-factory tests/support/service.py:make_engine` (this file is
loaded by its path there: absolute imports only).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from allspark.errors import BundleError, Cancelled, InputError
from allspark.modalities import Sample

SUPPORT_FILE = str(Path(__file__).resolve())
BUNDLES = {
    "sum": {"name": "sum", "modality": "array", "task": "regression", "held": False},
    "held": {"name": "held", "modality": "array", "task": "regression", "held": True},
}


class Gate:
    """Where held work waits: each passage takes one permit the test hands out (`allow`), or none once
    the gate is `open`, or none when `release_file` exists; a set `cancel` Event raises Cancelled."""

    TICK_S = 0.02  # how often a waiter looks at its cancel Event and release file (set by other threads)

    def __init__(self):
        self._cv = threading.Condition()
        self._permits = 0
        self._open = False
        self.waiting = 0  # passages waiting now
        self.passed = 0  # passages through, in all

    def allow(self, n: int = 1) -> None:
        with self._cv:
            self._permits += int(n)
            self._cv.notify_all()

    def open(self) -> None:
        with self._cv:
            self._open = True
            self._cv.notify_all()

    def wait_waiting(self, n: int = 1, timeout: float = 30.0) -> bool:
        """Until n passages wait at the gate (a job is running, held); False after `timeout`."""
        with self._cv:
            return self._cv.wait_for(lambda: self.waiting >= n, timeout)

    def wait_passed(self, n: int, timeout: float = 30.0) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: self.passed >= n, timeout)

    @contextlib.contextmanager
    def opened_after(self, timeout: float = 60.0):
        """While the block runs, open the gate after `timeout` s: a job the test expects to be cancelled
        then ends with its result (the test fails) instead of holding the test forever."""
        timer = threading.Timer(timeout, self.open)
        timer.daemon = True
        timer.start()
        try:
            yield self
        finally:
            timer.cancel()

    def passage(self, cancel=None, release_file: str | None = None, what: str = "held work") -> None:
        with self._cv:
            self.waiting += 1
            self._cv.notify_all()
            try:
                while not (self._open or self._permits > 0 or (release_file and os.path.exists(release_file))):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled(f"cancelled while {what} waited")
                    self._cv.wait(self.TICK_S)
                if not self._open and self._permits > 0:
                    self._permits -= 1
                self.passed += 1
            finally:
                self.waiting -= 1
                self._cv.notify_all()


class ArrayEngine:
    """Regression 'model': per sample [sum, mean, count of finite values] of its arrays."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.loaded: dict[str, dict] = {}
        self.lock = threading.RLock()
        self.calls: list[str] = []
        self.gate = Gate()

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
            if b["held"] and s.meta.get("row", 0) >= int(s.meta.get("free", 0)):
                self.gate.passage(cancel, s.meta.get("release_file"), f"sample {i + 1} of {len(samples)}")
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
        """`epochs` x `steps` steps; with `"hold": true` each step waits at the gate (a cancel ends it)."""
        from allspark.train import _setting  # the real engine's check of each setting (TrainConfig.from_dict)

        epochs = _setting("epochs", "int", config.get("epochs", 3))
        steps = _setting("steps", "int", config.get("steps", 10))
        for e in range(epochs):
            for s in range(steps):
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"training cancelled in epoch {e + 1}")
                if config.get("hold"):
                    self.gate.passage(cancel, config.get("release_file"), f"training step {s + 1}")
                if progress is not None:
                    progress((e * steps + s + 1) / (epochs * steps), f"epoch {e + 1}/{epochs} step {s + 1}")
        out = config.get("out")
        if out:
            os.makedirs(out, exist_ok=True)
        return {"name": config.get("name", "trained"), "epochs": epochs, "path": out}


def make_engine(**kwargs) -> ArrayEngine:
    return ArrayEngine(**kwargs)


def backend_process(tmp_path, *extra, name="backend"):
    """A real `python -m allspark serve` subprocess on the ArrayEngine (not started yet)."""
    from allspark_qgis.client import BackendProcess

    return BackendProcess(python_exe=sys.executable,
                          extra_args=["--engine-factory", f"{SUPPORT_FILE}:make_engine", "--heartbeat-s", "0.2",
                                      *extra],
                          connection_file=str(tmp_path / f"{name}.json"), log_path=str(tmp_path / f"{name}.log"))


def first_partial(client, job_id) -> dict:
    """Follow a job until its first partial result (it is running, and has done some work)."""
    for event in client.events(job_id):
        if event["kind"] == "partial":
            return event
        assert event["kind"] not in ("result", "error", "cancelled"), f"job {job_id} ended first: {event}"
    raise AssertionError(f"job {job_id} ended without a partial result")


def run_threads(work, n: int, timeout: float = 60.0) -> None:
    """Run work(i) for i in range(n) on n threads at once; every thread must end within `timeout`."""
    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), f"threads still running after {timeout} s"


def wait_until(condition, timeout: float = 30.0, what: str = "the condition") -> None:
    """Poll `condition()` until it is true; only a generous deadline fails the test (never a fixed wait)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not come within {timeout} s"
        threading.Event().wait(0.01)
