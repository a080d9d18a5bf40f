"""Background work in QgsTask: the interface never waits on the backend.

`AllSparkTask` runs a function `fn(task)` on a worker thread. The function reports with
`task.report(fraction, message)`, streams text with `task.token(piece)`, and checks
`task.isCanceled()` (or passes `task.isCanceled` as a cancel check to the client). The outcome comes
back on the main thread through the `succeeded(object)` / `failed(str)` signals.

PyQGIS rule: a task must stay referenced from Python until it finishes, or it is garbage collected
while QGIS still runs it; `run_task` keeps it in a module-level set.
"""

from __future__ import annotations

import traceback

from qgis.core import QgsApplication, QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from .i18n import tr
from .log import log
from .runner import Cancelled  # noqa: F401 - raised inside task functions

_running: set = set()


class AllSparkTask(QgsTask):
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(str)
    tokenReceived = pyqtSignal(str)
    messageChanged = pyqtSignal(str)

    def __init__(self, description: str, fn, can_cancel: bool = True):
        flags = QgsTask.Flag.CanCancel if can_cancel else QgsTask.Flags()
        super().__init__(description, flags)
        self.fn = fn
        self.result = None
        self.error: str | None = None

    # called from the worker thread ------------------------------------------------------------
    def report(self, fraction: float | None = None, message: str | None = None) -> None:
        if fraction is not None:
            self.setProgress(max(0.0, min(100.0, 100.0 * float(fraction))))
        if message:
            self.messageChanged.emit(str(message))

    def token(self, piece: str) -> None:
        if self.isCanceled():
            raise Cancelled()
        self.tokenReceived.emit(piece)

    def check(self) -> None:
        if self.isCanceled():
            raise Cancelled()

    def run(self) -> bool:
        try:
            self.result = self.fn(self)
            return not self.isCanceled()
        except Cancelled:
            return False
        except Exception as exc:  # noqa: BLE001 - shown to the user, full trace in the log
            if self.isCanceled():
                return False
            self.error = str(exc) or type(exc).__name__
            log(f"{self.description()}: {self.error}\n{traceback.format_exc()}", "warning")
            return False

    # main thread ------------------------------------------------------------------------------
    def finished(self, ok: bool) -> None:
        try:
            if ok:
                self.succeeded.emit(self.result)
            elif self.isCanceled():
                self.failed.emit(tr("Cancelled."))
            else:
                self.failed.emit(self.error or tr("The task failed."))
        finally:
            _running.discard(self)


def run_task(task: AllSparkTask, on_success=None, on_failure=None) -> AllSparkTask:
    if on_success is not None:
        task.succeeded.connect(on_success)
    if on_failure is not None:
        task.failed.connect(on_failure)
    _running.add(task)
    QgsApplication.taskManager().addTask(task)
    return task


def running_tasks() -> list:
    return list(_running)
