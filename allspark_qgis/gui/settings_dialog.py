"""AllSpark > Settings: where the backend is, on which device, with which LLM and bundles.

`backend_status_text(manager)` is the backend's state in words, shared by this dialog, the toolbar's
status indicator and the prompt panel: the device once the backend knows it ("Backend ready on CPU"),
never a "?" while the model is still loading.
"""

from __future__ import annotations

import html

from qgis.gui import QgsFileWidget
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from ..i18n import N_, tr
from ..settings import DEVICES, Settings

DEVICE_TITLES = {"auto": N_("Automatic"), "cpu": N_("CPU"), "cuda": N_("CUDA (NVIDIA GPU)")}


def device_title(device: str | None) -> str:
    return tr(DEVICE_TITLES.get(device, device or "?"))


def engine_state(health: dict) -> str | None:
    """The backend engine's state from a health answer: starting (the model loads), ready, failed."""
    return (health or {}).get("engine_state") or ((health or {}).get("service") or {}).get("engine_state")


def device_known(health: dict) -> bool:
    return bool((health or {}).get("device"))


def backend_status_text(manager) -> str:
    """The backend's state in words: the manager's message, with the ready state said from what the
    backend told about itself (the device only once it is known)."""
    from ..backend import READY, state_text

    if manager is None:
        return ""
    if manager.state != READY:
        return manager.message or state_text(manager.state)
    health = manager.health or {}
    n = len(manager.bundles)
    if device_known(health):
        return tr("Backend ready on {device}; {n} bundle(s).").format(device=device_title(health["device"]), n=n)
    if engine_state(health) == "failed":
        error = health.get("engine_error") or (health.get("service") or {}).get("engine_error") or ""
        return tr("Backend running, but its model could not be loaded: {error}").format(error=error)
    return tr("Backend ready; the model is still loading (device: {device}); {n} bundle(s).").format(
        device=device_title(Settings.load().device), n=n)


class SettingsDialog(QDialog):
    def __init__(self, manager=None, parent=None):
        super().__init__(parent)
        self.manager = manager
        self.setWindowTitle(tr("AllSpark Settings"))
        self.setObjectName("AllSparkSettingsDialog")
        s = Settings.load()

        start = QGroupBox(tr("Start the backend"))
        f1 = QFormLayout(start)
        self.python_exe = QgsFileWidget()
        self.python_exe.setStorageMode(QgsFileWidget.GetFile)
        self.python_exe.setFilePath(s.python_exe)
        self.python_exe.setToolTip(tr("The Python of an environment where the allspark backend is installed "
                                      "(e.g. .venv/bin/python); the plugin runs `python -m allspark serve`."))
        f1.addRow(tr("Backend Python"), self.python_exe)
        self.device = QComboBox()
        for d in DEVICES:
            self.device.addItem(device_title(d), d)
        self.device.setCurrentIndex(max(0, self.device.findData(s.device)))
        f1.addRow(tr("Device"), self.device)
        self.llm_file = QgsFileWidget()
        self.llm_file.setFilter(tr("GGUF models (*.gguf)"))
        self.llm_file.setFilePath(s.llm_file)
        self.llm_file.lineEdit().setPlaceholderText(tr("default (Gemma 3 270M)"))
        f1.addRow(tr("LLM file"), self.llm_file)
        self.bundles_dir = QgsFileWidget()
        self.bundles_dir.setStorageMode(QgsFileWidget.GetDirectory)
        self.bundles_dir.setFilePath(s.bundles_dir)
        f1.addRow(tr("Bundles folder"), self.bundles_dir)
        self.autostart = QCheckBox(tr("Start the backend when QGIS starts"))
        self.autostart.setChecked(s.autostart)
        f1.addRow(self.autostart)

        conn = QGroupBox(tr("Or connect to a running backend"))
        f2 = QFormLayout(conn)
        self.connection_file = QgsFileWidget()
        self.connection_file.setFilter(tr("Connection files (*.json)"))
        self.connection_file.setFilePath(s.connection_file)
        self.connection_file.lineEdit().setPlaceholderText(tr("default connection file"))
        f2.addRow(tr("Connection file"), self.connection_file)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1, 3600)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(s.timeout_s)
        f2.addRow(tr("Request time limit"), self.timeout)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.start_button = QPushButton(tr("Start backend"))
        self.stop_button = QPushButton(tr("Stop backend"))
        self.start_button.clicked.connect(self._start)
        self.stop_button.clicked.connect(self._stop)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.start_button)
        row.addWidget(self.stop_button)

        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(start)
        lay.addWidget(conn)
        lay.addLayout(row)
        lay.addWidget(buttons)
        if manager is not None:
            manager.stateChanged.connect(self._on_state)
            self._on_state(manager.state, manager.message)
            if manager.state == "ready" and not device_known(manager.health):
                manager.refresh()  # the model may have loaded since: ask again for the device

    def values(self) -> Settings:
        s = Settings.load()
        s.python_exe = self.python_exe.filePath().strip()
        s.device = self.device.currentData()
        s.llm_file = self.llm_file.filePath().strip()
        s.bundles_dir = self.bundles_dir.filePath().strip()
        s.autostart = self.autostart.isChecked()
        s.connection_file = self.connection_file.filePath().strip()
        s.timeout_s = float(self.timeout.value())
        return s

    def accept(self) -> None:
        self.values().save()
        super().accept()

    def _start(self) -> None:
        self.values().save()
        if self.manager is not None:
            self.manager.start()

    def _stop(self) -> None:
        if self.manager is not None:
            self.manager.stop()

    def _on_state(self, state: str, message: str) -> None:
        from ..backend import state_text

        detail = backend_status_text(self.manager) if self.manager is not None else message
        head = html.escape(state_text(state))
        self.status.setText(f"<b>{head}</b><br>{html.escape(detail)}" if detail else head)

    def done(self, r) -> None:
        if self.manager is not None:
            try:
                self.manager.stateChanged.disconnect(self._on_state)
            except TypeError:
                pass
        super().done(r)
