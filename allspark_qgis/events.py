"""A small signal hub: code that runs anywhere (a Processing algorithm on a worker thread) tells the
plugin's GUI that the backend's bundles changed, e.g. after training; the plugin then reloads the
pickers and the Processing parameter lists. Signals cross threads as queued connections."""

from __future__ import annotations

from qgis.PyQt.QtCore import QObject, pyqtSignal


class _Hub(QObject):
    bundlesChanged = pyqtSignal()


_hub = None


def hub() -> _Hub:
    global _hub
    if _hub is None:
        from qgis.PyQt.QtCore import QCoreApplication

        _hub = _Hub()
        app = QCoreApplication.instance()
        if app is not None:
            _hub.moveToThread(app.thread())
    return _hub


def bundles_changed() -> None:
    from . import connection

    connection.invalidate()
    hub().bundlesChanged.emit()
