"""The backend as the plugin manages it: start / stop `allspark serve` as a subprocess (an argument
list, never a shell), check readiness, keep a status, and the bundle list the pickers show.

All blocking work (starting, pinging, listing bundles, stopping) runs in QgsTask; the manager's
signals arrive on the main thread.
"""

from __future__ import annotations

import os

from qgis.PyQt.QtCore import QObject, pyqtSignal

from . import connection
from .i18n import N_, tr
from .log import log
from .settings import Settings, backend_log_file
from .tasks import AllSparkTask, run_task

STOPPED, STARTING, READY, ERROR, STOPPING = "stopped", "starting", "ready", "error", "stopping"


def state_text(state: str) -> str:
    return {
        STOPPED: tr("Backend: not running"),
        STARTING: tr("Backend: starting..."),
        READY: tr("Backend: ready"),
        ERROR: tr("Backend: unreachable"),
        STOPPING: tr("Backend: stopping..."),
    }.get(state, state)


DEVICE_TITLES = {"auto": N_("Automatic"), "cpu": N_("CPU"), "cuda": N_("CUDA (NVIDIA GPU)")}


def _health_field(health: dict, key: str):
    return (health or {}).get(key) or ((health or {}).get("service") or {}).get(key)


def ready_text(health: dict, n: int) -> str:
    """"Backend ready" in words from what the backend told about itself: the device once it knows it; while
    its model still loads (a fresh `allspark serve` answers before it has an engine, so no device) the
    configured device, said as such; never "ready on ?"."""
    device = (health or {}).get("device")
    if device:
        return tr("Backend ready on {device}; {n} bundle(s).").format(device=tr(DEVICE_TITLES.get(device, device)), n=n)
    if _health_field(health, "engine_state") == "failed":
        return tr("Backend running, but its model could not be loaded: {error}").format(
            error=_health_field(health, "engine_error") or "")
    configured = Settings.load().device
    return tr("Backend ready; the model is still loading (device: {device}); {n} bundle(s).").format(
        device=tr(DEVICE_TITLES.get(configured, configured or "auto")), n=n)


class BackendManager(QObject):
    stateChanged = pyqtSignal(str, str)  # state, message
    bundlesChanged = pyqtSignal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.state = STOPPED
        self.message = ""
        self.process = None  # client.BackendProcess when this plugin started the backend
        self.bundles: list[dict] = []
        self.health: dict = {}
        self._task = None

    # ---- state ------------------------------------------------------------------------------
    def _set(self, state: str, message: str = "") -> None:
        self.state, self.message = state, message
        connection.invalidate()
        self.stateChanged.emit(state, message)

    @property
    def managed(self) -> bool:
        return self.process is not None

    def busy(self) -> bool:
        return self._task is not None

    # ---- start ------------------------------------------------------------------------------
    def start(self) -> AllSparkTask | None:
        """Start the configured backend (or connect to the configured connection file)."""
        if self.busy():
            return None
        if connection.pyzmq_missing():
            self._set(ERROR, connection.pyzmq_missing())
            return None
        s = Settings.load()
        if not s.python_exe:
            return self.refresh()
        if not os.path.isfile(s.python_exe):
            self._set(ERROR, tr("The backend's Python ({path}) does not exist; check AllSpark > Settings.").format(
                path=s.python_exe))
            return None
        self._set(STARTING, tr("Starting the AllSpark backend..."))

        def work(task):
            from .client import BackendProcess

            log_path = str(backend_log_file())
            conn = s.connection_file or connection.default_connection_file()
            proc = BackendProcess(s.python_exe, s.backend_args(), conn, log_path)
            task.report(0.05, tr("Waiting for the backend to be ready"))
            proc.start(timeout_s=s.start_timeout_s)
            task.check()
            return proc, self._probe(conn)

        task = AllSparkTask(tr("Starting the AllSpark backend"), work)
        return self._run(task, self._started)

    def _started(self, result) -> None:
        proc, (health, bundles) = result
        self.process = proc
        self._ready(health, bundles)

    # ---- connect / refresh ------------------------------------------------------------------
    def refresh(self) -> AllSparkTask | None:
        """Ping the backend and reload its bundles (in the background)."""
        if self.busy():
            return None
        if connection.pyzmq_missing():
            self._set(ERROR, connection.pyzmq_missing())
            return None
        if connection.connection_file() is None:
            self._set(STOPPED, connection.no_backend_message())
            return None

        def work(task):
            return self._probe(connection.connection_file())

        task = AllSparkTask(tr("Checking the AllSpark backend"), work)
        return self._run(task, lambda r: self._ready(*r))

    def _probe(self, path):
        from .protocol.client import Client

        s = Settings.load()
        c = Client(connection_file=path, timeout_s=min(s.timeout_s, 15.0), retries=1)
        try:
            c.ping()
            health = dict(c.health() or {})
            bundles = list(c.list_bundles())
        finally:
            close = getattr(c, "close", None)
            if callable(close):
                close()
        return health, bundles

    def _ready(self, health: dict, bundles: list) -> None:
        self.health, self.bundles = health, bundles
        self._set(READY, ready_text(health, len(bundles)))
        self.bundlesChanged.emit(list(bundles))

    # ---- stop -------------------------------------------------------------------------------
    def stop(self, wait: bool = False) -> AllSparkTask | None:
        """Stop the backend this plugin started (a backend started elsewhere is left running)."""
        proc = self.process
        if proc is None:
            self._set(STOPPED, tr("The backend was not started by this plugin; it keeps running."))
            return None
        self.process = None
        if wait:
            _stop(proc)
            self.bundles = []
            self._set(STOPPED, tr("Backend stopped."))
            self.bundlesChanged.emit([])
            return None
        self._set(STOPPING, tr("Stopping the backend..."))

        def work(task):
            _stop(proc)

        def done(_):
            self.bundles = []
            self._set(STOPPED, tr("Backend stopped."))
            self.bundlesChanged.emit([])

        return self._run(AllSparkTask(tr("Stopping the AllSpark backend"), work, can_cancel=False), done)

    # ---- helpers ----------------------------------------------------------------------------
    def _run(self, task: AllSparkTask, on_success) -> AllSparkTask:
        self._task = task

        def ok(result):
            self._task = None
            on_success(result)

        def fail(message):
            self._task = None
            log(message, "warning")
            self._set(ERROR, message)

        return run_task(task, ok, fail)

    def shutdown(self) -> None:
        """Plugin unload: stop a backend this plugin started, synchronously."""
        if self._task is not None:
            self._task.cancel()
        if self.process is not None:
            self.stop(wait=True)


def _stop(proc) -> None:
    try:
        proc.stop()
    except Exception as exc:  # noqa: BLE001
        log(tr("Stopping the backend: {error}").format(error=exc), "warning")
