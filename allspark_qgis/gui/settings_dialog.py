"""AllSpark > Settings: where the backend is, on which device, with which LLM and bundles."""

from __future__ import annotations

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

from ..i18n import tr
from ..settings import DEVICES, Settings


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
        for d, label in zip(DEVICES, (tr("Automatic"), tr("CPU"), tr("CUDA (NVIDIA GPU)"))):
            self.device.addItem(label, d)
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

        self.status.setText(f"<b>{state_text(state)}</b><br>{message}" if message else state_text(state))

    def done(self, r) -> None:
        if self.manager is not None:
            try:
                self.manager.stateChanged.disconnect(self._on_state)
            except TypeError:
                pass
        super().done(r)
