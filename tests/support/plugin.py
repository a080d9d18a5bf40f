"""A real backend for the plugin's tests (tests/test_plugin_*.py, test_processing_*.py,
test_qgis_process.py, test_copc.py, test_trajectory_layers.py), and the Qt helpers they share:

- `backend()`: one `allspark serve` for the whole test session, started with the plugin's own
  BackendProcess from .venv's Python, on the tiny GGUF (allspark.llm.tiny), with a temporary bundles
  folder; stopped at exit; `connected()` points the plugin at it;
- `trained_bundles()`: tiny bundles for rgb, hsi, table, trajectory and point cloud, trained through
  the plugin's own allspark:train_bundle algorithm (a backend train job) on support.data's layers;
- `pump()`: the Qt event loop until a condition holds (a deadline only fails the test);
- `backend_with_bundles()`: both of the above for a test module; `open_plugin()`: the plugin loaded on
  the session's backend and ready, unloaded after;
- `GatedClients`: the prompt dock's task work held at a gate until the test opens it (a cancel lands
  first), recording what it sent the backend.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from support.data import clips_layer_uri, data_dir, notes_layer_uri, sensor_layer_uri, table_layer_uri, trajectory_layer_uri

REPO = Path(__file__).resolve().parents[2]
VENV_PY = REPO / ".venv" / "bin" / "python"
TINY_BRIDGE = {"queries": 4, "layers": 1, "heads": 2, "head_dim": 16, "ffn_mult": 2}
TRAIN_OPTIONS = {"bridge": TINY_BRIDGE, "encoder": {"dim": 32, "depth": 1, "heads": 2}, "batch_size": 16,
                 "lr": 0.002, "bf16": False, "max_samples": 32}

# tiny video bundles: 8 frames of 32 x 32 px, two small tubes, the encoder pretrained (no LLM) first
TINY_VIDEO = {"read_options": {"frames": 8, "size": 32}, "pretrain_epochs": 30, "pretrain_lr": 0.002,
              "pretrain_batch_size": 16, "lr": 0.001, "max_samples": 64, "val_fraction": 0.2, "cpu_precision": "fp32",
              "head": {"encoder_skip": True, "dim": 32},
              "encoder": {"dim": 32, "depth": 1, "heads": 2, "tubes": [
                  {"kernel": [4, 8, 8], "stride": [2, 8, 8]},
                  {"kernel": [8, 4, 4], "stride": [8, 8, 8], "offset": [0, 2, 2]}]}}

_lock = threading.Lock()
_state: dict = {}


def have_backend_env() -> bool:
    try:
        import allspark.service.server  # noqa: F401
        import llama_cpp  # noqa: F401
        import torch  # noqa: F401
    except Exception:  # noqa: BLE001
        return False
    return VENV_PY.is_file()


def backend():
    """(BackendProcess, connection file, bundles folder): one real `allspark serve` per session.
    `connected()` points the plugin at it."""
    with _lock:
        if "backend" in _state:
            proc, conn, bundles = _state["backend"]
            if proc.is_alive():
                return _state["backend"]
        if not have_backend_env():
            pytest.skip("the backend (allspark serve, torch, llama-cpp-python) is not installed in .venv")
        from allspark.llm.tiny import write_tiny_gguf

        from allspark_qgis.client import BackendProcess

        d = Path(tempfile.mkdtemp(prefix="allspark-plugin-backend-"))
        gguf = write_tiny_gguf(d / "tiny-gemma3.gguf")
        bundles = d / "bundles"
        bundles.mkdir()
        conn = str(d / "backend.json")
        proc = BackendProcess(str(VENV_PY), ["--llm", str(gguf), "--bundles", str(bundles), "--device", "cpu",
                                             "--threads", "1", "--batch-size", os.environ.get("ALLSPARK_TEST_BATCH", "16")], conn, str(d / "backend.log"))
        proc.start(timeout_s=120)
        atexit.register(_stop, proc, d)
        _state["backend"] = (proc, conn, bundles)
        return _state["backend"]


@contextlib.contextmanager
def connected():
    """ALLSPARK_CONNECTION_FILE -> the session's backend while the block runs (restored after, so the
    other test files of the session see the environment they expect)."""
    from allspark_qgis import connection

    _, conn, _ = backend()
    old = os.environ.get("ALLSPARK_CONNECTION_FILE")
    os.environ["ALLSPARK_CONNECTION_FILE"] = conn
    connection.invalidate()
    try:
        yield conn
    finally:
        if old is None:
            os.environ.pop("ALLSPARK_CONNECTION_FILE", None)
        else:
            os.environ["ALLSPARK_CONNECTION_FILE"] = old
        connection.invalidate()


def _stop(proc, folder) -> None:
    try:
        proc.stop(timeout_s=5)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def reload_provider() -> None:
    """Make sure an allspark provider is registered, and refresh its bundle lists."""
    from qgis.core import QgsApplication

    from allspark_qgis import connection
    from allspark_qgis.processing.provider import AllSparkProvider

    connection.invalidate()
    reg = QgsApplication.processingRegistry()
    old = reg.providerById("allspark")
    if old is not None:
        old.refreshAlgorithms()
    else:
        p = AllSparkProvider()
        _state["provider"] = p
        reg.addProvider(p)


def drop_provider() -> None:
    """Remove a registered allspark provider (tests that load the plugin itself start without one)."""
    from qgis.core import QgsApplication

    reg = QgsApplication.processingRegistry()
    if reg.providerById("allspark") is not None:
        reg.removeProvider("allspark")
    _state.pop("provider", None)


def train_inputs(d: Path) -> dict:
    """processing.run parameters of allspark:train_bundle for each modality's tiny bundle."""
    import json

    opts = json.dumps(TRAIN_OPTIONS)
    cloud = json.dumps({**TRAIN_OPTIONS, "encoder": {"dim": 32, "depth": 1, "heads": 2, "groups": 16, "group_size": 16}})
    return {
        "tiny-rgb": {"INPUT": str(d / "rgb.tif"), "LABELS": f"{d / 'labels.gpkg'}|layername=labels", "LABEL_FIELD": "class",
                     "PATCH": 16, "MODALITY": "rgb", "OPTIONS": opts},
        "tiny-hsi": {"INPUT": str(d / "hsi.tif"), "LABELS": f"{d / 'hsi_labels.gpkg'}|layername=labels",
                     "LABEL_FIELD": "class", "OPTIONS": opts},
        "tiny-hsi-dense": {"INPUT": str(d / "hsi.tif"), "LABELS": f"{d / 'hsi_labels.gpkg'}|layername=labels",
                           "LABEL_FIELD": "class", "OPTIONS": json.dumps({
                               **TRAIN_OPTIONS, "read_options": {"tile": 4, "margin": 1, "block": 4},
                               "encoder": {"components": 8, "width": 16, "dim": 32}, "val_fraction": 0.2})},
        "tiny-rgb-dense": {"INPUT": str(d / "rgb.tif"), "LABELS": f"{d / 'labels.gpkg'}|layername=labels",
                           "LABEL_FIELD": "class", "MODALITY": "rgb", "PER_PIXEL": True, "OPTIONS": json.dumps({
                               **TRAIN_OPTIONS, "encoder": {"width": 16, "dim": 32}, "pretrain_epochs": 60,
                               "pretrain_lr": 0.005, "pretrain_batch_size": 4, "max_samples": 64,
                               "val_fraction": 0.2})},
        "tiny-table": {"INPUT": table_layer_uri(d / "table.csv", True), "TARGET_FIELD": "PM2.5", "OPTIONS": opts},
        "tiny-graph": {"INPUT": sensor_layer_uri(d / "sensors.csv", True), "MODALITY": "graph", "OPTIONS": json.dumps({
            **TRAIN_OPTIONS, "encoder": {"dim": 16}, "read_options": {"block_hours": 4}, "pretrain_epochs": 2})},
        "tiny-text": {"INPUT": notes_layer_uri(d / "notes.csv", True), "TARGET_FIELD": "topic", "MODALITY": "text",
                      "EPOCHS": 40, "OPTIONS": json.dumps({"lr": 0.003, "batch_size": 16})},
        "tiny-video": {"INPUT": clips_layer_uri(d / "clips.csv", True), "TARGET_FIELD": "action", "MODALITY": "video",
                       "EPOCHS": 2, "OPTIONS": json.dumps({**TRAIN_OPTIONS, **TINY_VIDEO})},
        "tiny-traj": {"INPUT": trajectory_layer_uri(d / "tracks.csv", True), "TIME_FIELD": "t", "ID_FIELD": "track_id",
                      "OPTIONS": opts},
        "tiny-cloud": {"INPUT": str(d / "cloud.copc.laz"), "OPTIONS": cloud},
    }


def trained_bundles(names=("tiny-rgb", "tiny-hsi", "tiny-table", "tiny-traj", "tiny-cloud")) -> dict:
    """Train (once per session) the tiny bundles through allspark:train_bundle; {name: summary outputs}."""
    from qgis import processing

    with connected():
        _, _, bundles = backend()
        with _lock:
            done = _state.setdefault("trained", {})
        todo = [n for n in names if n not in done]
        reload_provider()
        if todo:
            from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

            inputs = train_inputs(data_dir())
            for name in todo:
                params = {"EPOCHS": 1, **inputs[name], "NAME": name, "FOLDER": str(bundles)}
                ctx = QgsProcessingContext()
                ctx.setProject(QgsProject.instance())
                out = processing.run("allspark:train_bundle", params, context=ctx, feedback=QgsProcessingFeedback())
                done[name] = out
        reload_provider()
    return {n: done[n] for n in names}


def pyzmq_for_qgis_python() -> str | None:
    """A folder holding only pyzmq (from .venv), for QGIS's own Python (qgis_process embeds the system
    Python, where pyzmq may be missing): what a user's `pip install pyzmq` into QGIS's Python gives.
    None when the system Python has pyzmq already."""
    import importlib.util
    import subprocess

    if subprocess.run(["/usr/bin/python3", "-c", "import zmq"], capture_output=True).returncode == 0:
        return None
    spec = importlib.util.find_spec("zmq")
    if spec is None or not spec.submodule_search_locations:
        return None
    site = Path(list(spec.submodule_search_locations)[0]).parent
    with _lock:
        if "pyzmq_dir" not in _state:
            d = Path(tempfile.mkdtemp(prefix="allspark-pyzmq-"))
            for name in ("zmq", "pyzmq.libs"):
                if (site / name).exists():
                    os.symlink(site / name, d / name)
            _state["pyzmq_dir"] = str(d)
            atexit.register(shutil.rmtree, d, True)
        return _state["pyzmq_dir"]


def qgis_process_env(plugins_dir: str, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV")}
    env["QGIS_PLUGINPATH"] = plugins_dir
    zmq_dir = pyzmq_for_qgis_python()
    if zmq_dir:
        env["PYTHONPATH"] = zmq_dir
    env["QT_QPA_PLATFORM"] = "offscreen"
    if not env.get("XDG_RUNTIME_DIR"):
        run = Path(tempfile.gettempdir()) / f"allspark-runtime-{os.getuid()}"
        run.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(run)
    env.update(extra or {})
    return env


def pump(app, until, timeout=60.0):
    """Run the Qt event loop until `until()` is true or `timeout` seconds pass; returns until(). The loop
    waits for events (signals, replies, task ends set the condition); a timer's ticks wake it so the
    timeout, which only bounds a hang, is honoured."""
    from qgis.PyQt.QtCore import QEventLoop, QTimer

    tick = QTimer()
    tick.start(20)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end and not until():
            app.processEvents(QEventLoop.AllEvents | QEventLoop.WaitForMoreEvents)
    finally:
        tick.stop()
    return until()


@contextlib.contextmanager
def open_plugin(qgis_app, qgis_iface):
    """The plugin loaded (classFactory, initGui) on the backend `connected()` names, once its backend
    manager says ready; unloaded after the block."""
    import allspark_qgis

    p = allspark_qgis.classFactory(qgis_iface)
    p.initGui()
    try:
        assert pump(qgis_app, lambda: p.manager.state == "ready", 30), p.manager.message
        yield p
    finally:
        p.unload()


@contextlib.contextmanager
def backend_with_bundles(names):
    """The session's backend with the tiny bundles `names` trained, and the plugin pointed at it."""
    trained_bundles(tuple(names))
    with connected():
        yield backend()


class GatedClients:
    """The plugin's `connection.client()`, called from `caller` (the prompt dock's task work), held at
    a gate: the work waits there (`entered` is set) until the test opens `gate`, so a cancel can land
    before the work does anything; each client made there records what it sent the backend (`sent`:
    submit_batch, ask, submit_train calls). Calls from elsewhere (the plugin's health checks) pass."""

    RECORDED = ("submit_batch", "ask", "submit_train")

    def __init__(self, monkeypatch, caller: str = os.path.join("allspark_qgis", "gui", "dock.py")):
        from allspark_qgis import connection

        self.gate, self.entered, self.sent = threading.Event(), threading.Event(), []
        real = connection.client

        def gated_client(*args, **kwargs):
            if not sys._getframe(1).f_code.co_filename.endswith(caller):
                return real(*args, **kwargs)
            self.entered.set()
            assert self.gate.wait(60), "the test never opened the gate"
            c = real(*args, **kwargs)
            for name in self.RECORDED:
                setattr(c, name, self._recording(name, getattr(c, name)))
            return c

        monkeypatch.setattr(connection, "client", gated_client)

    def _recording(self, name, fn):
        def call(*args, **kwargs):
            self.sent.append(name)
            return fn(*args, **kwargs)
        return call


def dock_run(qgis_app, qgis_iface, layer, bundle: str, timeout: float = 120.0) -> tuple[dict, list]:
    """The dock on `layer` (in the project) with `bundle` chosen, Run, waited on until it answers:
    (the history entry, the layers the run added to the project)."""
    from qgis.core import QgsProject

    with open_plugin(qgis_app, qgis_iface) as p:
        d = p.show_dock()
        d.set_layer(layer)
        d.bundle_combo.setCurrentIndex(d.bundle_combo.findData(bundle))
        assert d.current_bundle()["name"] == bundle
        got = []
        d.answered.connect(got.append)
        before = set(QgsProject.instance().mapLayers())
        d.run()
        assert pump(qgis_app, lambda: bool(got), timeout), d.answer.toPlainText()
        added = [QgsProject.instance().mapLayer(i) for i in set(QgsProject.instance().mapLayers()) - before]
    return got[0], added


def run_algorithm(name: str, params: dict, output: str = "OUTPUT"):
    """processing.run("allspark:<name>") in a context on the current project; the layer its `output`
    made (a memory sink by default)."""
    from qgis import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    ctx = QgsProcessingContext()
    ctx.setProject(QgsProject.instance())
    out = processing.run(f"allspark:{name}", {output: "memory:", **params}, context=ctx,
                         feedback=QgsProcessingFeedback())
    return ctx.getMapLayer(out[output]) if isinstance(out[output], str) else out[output]
