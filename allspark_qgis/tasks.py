"""Background work in QgsTask: the interface never waits on the backend.

`AllSparkTask` runs a function `fn(task)` on a worker thread. The function reports with
`task.report(fraction, message)`, streams text with `task.token(piece)`, and checks
`task.isCanceled()` (or passes `task.isCanceled` as a cancel check to the client). The outcome comes
back on the main thread through the `succeeded(object)` / `failed(str)` / `cancelled()` signals.

A cancelled task is not a failure: it ends normally for QGIS's task manager (no "Task failed"
notification), its description says "(cancelled)", and it emits `cancelled` (or, to a caller that
gave no cancel handler, `failed` with "Cancelled.").

`WordedFeedback` (runner.py, imported here for the dock) passes the backend's progress messages on in
the GUI's words (`i18n.progress_text`: "48 of 1,024 pixels" rather than "samples 961-1024: 48 of 64
samples"); the runner's jobs use it themselves, so Processing shows the same words.

PyQGIS rule: a task must stay referenced from Python until it finishes, or it is garbage collected
while QGIS still runs it; `run_task` keeps it in a module-level set.
"""

from __future__ import annotations

import traceback

from qgis.core import QgsApplication, QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from .i18n import tr
from .log import log
from .runner import Cancelled, WordedFeedback  # noqa: F401 - Cancelled is raised inside task functions; WordedFeedback lives in runner

_running: set = set()


class AllSparkTask(QgsTask):
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()
    tokenReceived = pyqtSignal(str)
    messageChanged = pyqtSignal(str)

    def __init__(self, description: str, fn, can_cancel: bool = True):
        flags = QgsTask.Flag.CanCancel if can_cancel else QgsTask.Flags()
        super().__init__(description, flags)
        self.fn = fn
        self.result = None
        self.error: str | None = None
        self.handles_cancel = False  # run_task(on_cancel=...) sets it; else a cancel reads as failed("Cancelled.")

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
            return True
        except Cancelled:
            return True  # ends normally: a cancel is not a failure (finished() tells it apart)
        except Exception as exc:  # noqa: BLE001 - shown to the user, full trace in the log
            if self.isCanceled():
                return True
            self.error = str(exc) or type(exc).__name__
            log(f"{self.description()}: {self.error}\n{traceback.format_exc()}", "warning")
            return False

    # main thread ------------------------------------------------------------------------------
    def finished(self, ok: bool) -> None:
        try:
            if self.isCanceled():
                self.setDescription(tr("{task} (cancelled)").format(task=self.description()))
                log(tr("{task}: cancelled.").format(task=self.description()))
                if self.handles_cancel:
                    self.cancelled.emit()
                else:
                    self.failed.emit(tr("Cancelled."))
            elif ok:
                self.succeeded.emit(self.result)
            else:
                self.failed.emit(self.error or tr("The task failed."))
        finally:
            _running.discard(self)


def run_task(task: AllSparkTask, on_success=None, on_failure=None, on_cancel=None) -> AllSparkTask:
    if on_success is not None:
        task.succeeded.connect(on_success)
    if on_failure is not None:
        task.failed.connect(on_failure)
    if on_cancel is not None:
        task.handles_cancel = True
        task.cancelled.connect(on_cancel)
    _running.add(task)
    QgsApplication.taskManager().addTask(task)
    return task


def running_tasks() -> list:
    return list(_running)
