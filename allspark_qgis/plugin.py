"""AllSpark for QGIS: menu, toolbar, status indicator, "Ask AllSpark..." in the layer tree's context
menu, the prompt dock, and the Processing provider. Everything it adds, unload() removes."""

from __future__ import annotations

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import QAction, QLabel, QMessageBox

from . import i18n
from .i18n import tr
from .icons import icon
from .log import log, notify

MENU = "&AllSpark"
LOADING_RECHECK_MS = 2000  # while the backend's model loads, ask again for its device this often
LOADING_RECHECKS = 30  # at most this many times
LAYER_TYPES = (
    ("raster", Qgis.LayerType.Raster),
    ("vector", Qgis.LayerType.Vector),
    ("pointcloud", Qgis.LayerType.PointCloud),
)


class AllSparkPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.manager = None
        self.dock = None
        self.actions: list[QAction] = []
        self.layer_actions: dict[str, QAction] = {}
        self.toolbar = None
        self.status_widget = None
        self._rechecks = 0
        self._recheck_timer = None

    # ---- Processing (also called alone by qgis_process) --------------------------------------
    def initProcessing(self):  # noqa: N802 - QGIS's name
        if self.provider is not None:
            return
        reg = QgsApplication.processingRegistry()
        if reg.providerById("allspark") is not None:
            # PyQGIS: addProvider() of a second provider with the same id deletes it; keep the one there
            log(tr("The AllSpark Processing provider is already registered."), "warning")
            return
        from .processing.provider import AllSparkProvider

        self.provider = AllSparkProvider()
        reg.addProvider(self.provider)

    # ---- GUI --------------------------------------------------------------------------------
    def initGui(self):  # noqa: N802
        i18n.install()
        from .backend import BackendManager

        self.initProcessing()
        self.manager = BackendManager(self.iface.mainWindow())
        self.manager.stateChanged.connect(self._on_state)
        self.manager.bundlesChanged.connect(self._on_bundles)

        self.ask_action = self._action("ask", tr("Ask AllSpark..."), self.show_dock, tr("Open the AllSpark prompt panel"))
        self.ask_action.setCheckable(False)
        self.start_action = self._action("start", tr("Start Backend"), self.start_backend)
        self.stop_action = self._action("stop", tr("Stop Backend"), self.stop_backend)
        self.settings_action = self._action("settings", tr("Settings..."), self.show_settings)
        self.diag_action = self._action("diagnostics", tr("Diagnostics..."), self.diagnostics,
                                        tr("Write a report for a bug report (versions, device, backend log)"))
        self.train_action = self._action("train", tr("Train a Bundle..."), self.train_dialog)
        for a in self.actions:
            self.iface.addPluginToMenu(MENU, a)

        self.toolbar = self.iface.addToolBar(tr("AllSpark"))
        self.toolbar.setObjectName("AllSparkToolbar")
        self.toolbar.addAction(self.ask_action)
        self.status_widget = QLabel()
        self.status_widget.setObjectName("AllSparkStatus")
        self.status_widget.setToolTip(tr("AllSpark backend status"))
        self.status_action = self.toolbar.addWidget(self.status_widget)

        for kind, layer_type in LAYER_TYPES:
            a = QAction(icon("ask"), tr("Ask AllSpark..."), self.iface.mainWindow())
            a.setObjectName(f"AllSparkAsk_{kind}")
            a.triggered.connect(self.ask_current_layer)
            self.iface.addCustomActionForLayerType(a, "", layer_type, True)
            self.layer_actions[kind] = a

        from . import events

        events.hub().bundlesChanged.connect(self.manager.refresh)
        self._on_state(self.manager.state, "")
        from .settings import Settings

        if Settings.load().autostart:
            self.manager.start()
        else:
            self.manager.refresh()

    def _action(self, icon_name, text, slot, tip=None) -> QAction:
        a = QAction(icon(icon_name), text, self.iface.mainWindow())
        a.setObjectName("AllSpark" + "".join(ch for ch in text.title() if ch.isalnum()))
        if tip:
            a.setToolTip(tip)
            a.setStatusTip(tip)
        a.triggered.connect(slot)
        self.actions.append(a)
        return a

    def unload(self):
        if self._recheck_timer is not None:
            self._recheck_timer.stop()
            self._recheck_timer.deleteLater()
            self._recheck_timer = None
        for a in self.layer_actions.values():
            self.iface.removeCustomActionForLayerType(a)
            a.deleteLater()
        self.layer_actions.clear()
        for a in self.actions:
            self.iface.removePluginMenu(MENU, a)
            a.deleteLater()
        self.actions.clear()
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.dock is not None:
            self.dock.cleanup()
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        if self.manager is not None:
            from . import events

            try:
                events.hub().bundlesChanged.disconnect(self.manager.refresh)
            except TypeError:
                pass
            self.manager.shutdown()
            self.manager.deleteLater()
            self.manager = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        i18n.remove()

    # ---- actions ----------------------------------------------------------------------------
    def show_dock(self, layer=None):
        if self.dock is None:
            from .gui.dock import PromptDock

            self.dock = PromptDock(self.iface, self.manager, self.iface.mainWindow())
            self.iface.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self.dock.show()
        self.dock.raise_()
        if layer is not None and not isinstance(layer, bool):
            self.dock.set_layer(layer)
        return self.dock

    def ask_current_layer(self):
        layer = self.iface.activeLayer()
        if layer is None:
            view = self.iface.layerTreeView()
            layer = view.currentLayer() if view is not None else None
        return self.show_dock(layer)

    def start_backend(self):
        from .settings import Settings

        if not Settings.load().python_exe and self.manager.state != "ready":
            notify(self.iface, tr("Set the backend's Python in AllSpark > Settings first (or a connection file)."), "warning")
            self.show_settings()
            return
        self.manager.start()

    def stop_backend(self):
        self.manager.stop()

    def show_settings(self):
        from .gui.settings_dialog import SettingsDialog

        dlg = SettingsDialog(self.manager, self.iface.mainWindow())
        if dlg.exec_():
            self.manager.refresh()

    def train_dialog(self):
        from qgis import processing

        processing.execAlgorithmDialog("allspark:train_bundle")

    def diagnostics(self):
        from . import diagnostics
        from .tasks import AllSparkTask, run_task

        manager = self.manager

        def work(task):
            health = None
            try:
                from . import connection

                c = connection.client(timeout_s=5.0, retries=0)
                try:
                    health = c.health()
                finally:
                    connection._close(c)
            except Exception as exc:  # noqa: BLE001 - the report says the backend is unreachable
                health = {"error": str(exc)}
            return diagnostics.report(diagnostics.collect(manager, health))

        def done(text):
            path = diagnostics.write_report(text)
            notify(self.iface, tr("Diagnostics written to {path}").format(path=diagnostics.redact(path)), "success")
            box = QMessageBox(QMessageBox.Information, tr("AllSpark Diagnostics"),
                              tr("The report was written to {path}.").format(path=path), QMessageBox.Ok,
                              self.iface.mainWindow())
            box.setDetailedText(text)
            box.setModal(False)
            box.show()
            self._diag_box = box

        run_task(AllSparkTask(tr("AllSpark diagnostics"), work), done,
                 lambda m: notify(self.iface, m, "warning"))

    # ---- status -----------------------------------------------------------------------------
    def _on_state(self, state: str, message: str):
        from .backend import READY, STARTING, state_text
        from .gui.settings_dialog import backend_status_text, device_known, engine_state

        text = backend_status_text(self.manager) if self.manager is not None else message
        if self.status_widget is not None:
            self.status_widget.setPixmap(icon("status_ok" if state == READY else "status_off").pixmap(16, 16))
            self.status_widget.setToolTip(f"{state_text(state)}\n{text}".strip())
        if hasattr(self, "start_action"):
            self.start_action.setEnabled(state not in (READY, STARTING))
            self.stop_action.setEnabled(self.manager is not None and self.manager.managed)
        if message and state in ("error",):
            notify(self.iface, message, "warning")
        elif text and text != getattr(self, "_last_status", None):
            log(text)
        self._last_status = text
        health = self.manager.health if self.manager is not None else {}
        if state == READY and not device_known(health) and engine_state(health) != "failed":
            self._recheck_later()  # the model is still loading: the device is known once it is loaded
        else:
            self._rechecks = 0

    def _recheck_later(self):
        if self._rechecks >= LOADING_RECHECKS or self.manager is None:
            return
        self._rechecks += 1
        if self._recheck_timer is None:
            self._recheck_timer = QTimer(self.iface.mainWindow())
            self._recheck_timer.setSingleShot(True)
            self._recheck_timer.timeout.connect(self._recheck_health)
        self._recheck_timer.start(LOADING_RECHECK_MS)

    def _recheck_health(self):
        """Ask the backend for its health again (not its bundles): the device, once the model is loaded."""
        from . import connection
        from .backend import READY
        from .tasks import AllSparkTask, run_task

        def work(task):
            c = connection.client(timeout_s=5.0, retries=0)
            try:
                return c.health()
            finally:
                connection._close(c)

        def done(health):
            if self.manager is not None and self.manager.state == READY:
                self.manager.health = dict(health or {})
                self.manager.stateChanged.emit(READY, self.manager.message)

        run_task(AllSparkTask(tr("Checking the AllSpark backend"), work), done, lambda message: log(message))

    def _on_bundles(self, bundles):
        from . import connection

        connection.invalidate()
        provider = QgsApplication.processingRegistry().providerById("allspark")
        if provider is not None:
            provider.refreshAlgorithms()  # the bundle lists of the algorithms' parameters
