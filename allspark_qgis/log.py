"""Messages: everything goes to the QGIS message log ("AllSpark" tab); user-facing outcomes also to
the message bar."""

from __future__ import annotations

TAG = "AllSpark"


def _level(level: str):
    from qgis.core import Qgis

    return {
        "info": Qgis.MessageLevel.Info,
        "warning": Qgis.MessageLevel.Warning,
        "critical": Qgis.MessageLevel.Critical,
        "success": Qgis.MessageLevel.Success,
    }[level]


def log(message: str, level: str = "info") -> None:
    """Thread-safe: QgsMessageLog may be called from QgsTask.run()."""
    from qgis.core import QgsMessageLog

    QgsMessageLog.logMessage(str(message), TAG, _level(level))


def notify(iface, message: str, level: str = "info", duration: int | None = None, title: str | None = None) -> None:
    """Message bar (main thread only) plus the log."""
    from .i18n import tr

    log(message, "info" if level == "success" else level)
    if iface is None:
        return
    bar = iface.messageBar()
    if bar is None:
        return
    if duration is None:
        duration = {"info": 5, "success": 5, "warning": 10, "critical": 0}[level]
    bar.pushMessage(title or tr("AllSpark"), str(message), _level(level), duration)
