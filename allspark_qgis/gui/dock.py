"""The prompt dock: pick a layer (modality detected, overridable), a bundle of that modality, write or
pick a prompt, choose the extent, Run / Cancel; the answer streams in as text and the results come
back as styled layers. Every exchange is kept in the project's history.

The dock is thin: payloads come from layers.py, the backend calls from runner.py (in a QgsTask),
and layers from results.py.
"""

from __future__ import annotations

import html
import os
import tempfile

from qgis.core import (
    Qgis,
    QgsCoordinateTransform,
    QgsProject,
    QgsRectangle,
)
from qgis.gui import QgsCollapsibleGroupBox, QgsDockWidget, QgsFieldComboBox, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import connection, history, layers, modality, results, runner
from ..backend import READY, state_text
from ..i18n import N_, tr
from ..icons import icon
from ..log import log, notify
from ..tasks import AllSparkTask, run_task

MODALITY_LABELS = {
    "rgb": N_("RGB"),
    "msi": N_("Multispectral"),
    "hsi": N_("Hyperspectral"),
    "sar": N_("SAR"),
    "table": N_("Table"),
    "trajectory": N_("Trajectory"),
    "pointcloud": N_("Point cloud"),
}
EXTENT_LAYER, EXTENT_CANVAS, EXTENT_SELECTION = "layer", "canvas", "selection"
TEXT_MAX_PIXELS = 512 * 512  # the image sent for a written answer about a raster extent


def modality_label(m: str | None) -> str:
    return tr(MODALITY_LABELS.get(m, m or "?")) if m else tr("none")


class PromptDock(QgsDockWidget):
    answered = pyqtSignal(dict)  # the history entry of a finished run (tests, screenshots)

    def __init__(self, iface, manager, parent=None):
        super().__init__(tr("AllSpark"), parent)
        self.setObjectName("AllSparkPromptDock")
        self.iface = iface
        self.manager = manager
        self.task: AllSparkTask | None = None
        self._streamed = ""
        self._build()
        manager.stateChanged.connect(self._on_state)
        manager.bundlesChanged.connect(self._on_bundles)
        QgsProject.instance().readProject.connect(self._load_history)
        QgsProject.instance().cleared.connect(self._load_history)
        self._on_state(manager.state, manager.message)
        self._on_layer(self.layer_combo.currentLayer())
        self._load_history()

    # ---- widgets ----------------------------------------------------------------------------
    def _build(self) -> None:
        w = QWidget()
        lay = QVBoxLayout(w)
        status = QHBoxLayout()
        self.status_icon = QLabel()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.start_button = QToolButton()
        self.start_button.setText(tr("Start"))
        self.start_button.setToolTip(tr("Start or reconnect to the backend"))
        self.start_button.clicked.connect(self._start_backend)
        status.addWidget(self.status_icon)
        status.addWidget(self.status_label, 1)
        status.addWidget(self.start_button)
        lay.addLayout(status)

        form = QFormLayout()
        self.layer_combo = QgsMapLayerComboBox()
        self.layer_combo.setFilters(
            Qgis.LayerFilters(Qgis.LayerFilter.RasterLayer | Qgis.LayerFilter.VectorLayer | Qgis.LayerFilter.PointCloudLayer)
        )
        self.layer_combo.layerChanged.connect(self._on_layer)
        form.addRow(tr("Layer"), self.layer_combo)
        self.modality_combo = QComboBox()
        self.modality_combo.currentIndexChanged.connect(self._fill_bundles)
        form.addRow(tr("Modality"), self.modality_combo)
        brow = QHBoxLayout()
        self.bundle_combo = QComboBox()
        self.bundle_combo.currentIndexChanged.connect(self._on_bundle)
        self.refresh_button = QToolButton()
        self.refresh_button.setIcon(icon("refresh"))
        self.refresh_button.setToolTip(tr("Reload the bundle list from the backend"))
        self.refresh_button.clicked.connect(lambda: self.manager.refresh())
        brow.addWidget(self.bundle_combo, 1)
        brow.addWidget(self.refresh_button)
        form.addRow(tr("Bundle"), brow)
        self.time_field = QgsFieldComboBox()
        self.id_field = QgsFieldComboBox()
        self.time_label, self.id_label = QLabel(tr("Time field")), QLabel(tr("Track id field"))
        form.addRow(self.time_label, self.time_field)
        form.addRow(self.id_label, self.id_field)
        self.extent_combo = QComboBox()
        self.extent_combo.addItem(tr("Layer extent"), EXTENT_LAYER)
        self.extent_combo.addItem(tr("Map canvas extent"), EXTENT_CANVAS)
        self.extent_combo.addItem(tr("Selected features"), EXTENT_SELECTION)
        form.addRow(tr("Extent"), self.extent_combo)
        lay.addLayout(form)

        self.prompt_pick = QComboBox()
        self.prompt_pick.setToolTip(tr("The bundle's prompts"))
        self.prompt_pick.activated.connect(lambda i: self.prompt_edit.setPlainText(self.prompt_pick.itemText(i)))
        lay.addWidget(self.prompt_pick)
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setPlaceholderText(tr("Ask something about the layer..."))
        self.prompt_edit.setMaximumHeight(90)
        lay.addWidget(self.prompt_edit)
        opts = QHBoxLayout()
        self.text_check = QCheckBox(tr("Answer in words"))
        self.text_check.setChecked(True)
        self.layers_check = QCheckBox(tr("Add results as layers"))
        self.layers_check.setChecked(True)
        opts.addWidget(self.text_check)
        opts.addWidget(self.layers_check)
        lay.addLayout(opts)

        runrow = QHBoxLayout()
        self.run_button = QPushButton(icon("ask"), tr("Run"))
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton(tr("Cancel"))
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        runrow.addWidget(self.run_button)
        runrow.addWidget(self.cancel_button)
        runrow.addWidget(self.progress, 1)
        lay.addLayout(runrow)
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        lay.addWidget(self.progress_label)

        self.answer = QTextBrowser()
        self.answer.setOpenExternalLinks(False)
        self.answer.setPlaceholderText(tr("The answer appears here."))
        lay.addWidget(self.answer, 1)

        self.history_box = QgsCollapsibleGroupBox(tr("History"))
        self.history_box.setCollapsed(True)
        hl = QVBoxLayout(self.history_box)
        self.history_list = QListWidget()
        self.history_list.itemClicked.connect(self._show_entry)
        hl.addWidget(self.history_list)
        clear = QPushButton(tr("Clear history"))
        clear.clicked.connect(self._clear_history)
        hl.addWidget(clear)
        lay.addWidget(self.history_box)
        self.setWidget(w)

    # ---- state ------------------------------------------------------------------------------
    def _on_state(self, state: str, message: str) -> None:
        ok = state == READY
        self.status_icon.setPixmap(icon("status_ok" if ok else "status_off").pixmap(16, 16))
        self.status_label.setText(state_text(state))
        self.status_label.setToolTip(message)
        self.start_button.setVisible(not ok)
        self._update_run()

    def _start_backend(self) -> None:
        self.manager.start()

    def _on_bundles(self, bundles: list) -> None:
        self._fill_bundles()

    def set_layer(self, layer) -> None:
        """Open the dock on a layer (the context menu's "Ask AllSpark...")."""
        if layer is not None:
            self.layer_combo.setLayer(layer)
            self._on_layer(layer)

    def _on_layer(self, layer) -> None:
        self.modality_combo.blockSignals(True)
        self.modality_combo.clear()
        detected = modality.detect_layer(layer) if layer is not None else None
        self.modality_combo.addItem(tr("Auto ({modality})").format(modality=modality_label(detected)), None)
        for m in modality.MODALITIES:
            self.modality_combo.addItem(modality_label(m), m)
        self.modality_combo.blockSignals(False)
        is_vector = layer is not None and modality.layer_kind(layer) == "vector"
        for wdg in (self.time_field, self.id_field):
            wdg.setLayer(layer if is_vector else None)
        if is_vector:
            kinds = modality.field_kinds(layer)
            t = modality.find_time_field(kinds)
            self.time_field.setField(t or "")
            self.id_field.setField(modality.find_id_field(kinds, exclude=t) or "")
        self._fill_bundles()

    def current_modality(self) -> str | None:
        m = self.modality_combo.currentData()
        if m:
            return m
        layer = self.layer_combo.currentLayer()
        return modality.detect_layer(layer) if layer is not None else None

    def _fill_bundles(self, *_):
        m = self.current_modality()
        traj = m == "trajectory"
        for wdg in (self.time_field, self.id_field, self.time_label, self.id_label):
            wdg.setVisible(traj)
        current = self.bundle_combo.currentData()
        self.bundle_combo.blockSignals(True)
        self.bundle_combo.clear()
        for b in modality.bundles_for(self.manager.bundles, m):
            self.bundle_combo.addItem(f"{b['name']} ({b.get('task', '?')})", b["name"])
        if self.bundle_combo.count() == 0:
            self.bundle_combo.addItem(tr("(no {modality} bundle)").format(modality=modality_label(m)), None)
        i = self.bundle_combo.findData(current)
        self.bundle_combo.setCurrentIndex(max(0, i))
        self.bundle_combo.blockSignals(False)
        self._on_bundle()

    def current_bundle(self) -> dict | None:
        name = self.bundle_combo.currentData()
        for b in self.manager.bundles:
            if b.get("name") == name:
                return b
        return None

    def _on_bundle(self, *_):
        b = self.current_bundle()
        self.prompt_pick.clear()
        prompts = list((b or {}).get("prompts") or [])
        for p in prompts:
            self.prompt_pick.addItem(p)
        self.prompt_pick.setVisible(bool(prompts))
        if prompts:
            self.prompt_edit.setPlainText(prompts[0])
        self._update_run()

    def _update_run(self) -> None:
        running = self.task is not None
        self.run_button.setEnabled(not running and self.manager.state == READY and self.current_bundle() is not None)
        self.cancel_button.setEnabled(running)

    # ---- run --------------------------------------------------------------------------------
    def _extent(self, layer):
        """(extent in the layer's CRS or None for all, selected feature ids or None)."""
        mode = self.extent_combo.currentData()
        if mode == EXTENT_CANVAS and self.iface is not None:
            canvas = self.iface.mapCanvas()
            ext = canvas.extent()
            ct = QgsCoordinateTransform(canvas.mapSettings().destinationCrs(), layer.crs(), QgsProject.instance())
            try:
                return ct.transformBoundingBox(ext), None
            except Exception:  # noqa: BLE001 - transform failures fall back to the layer
                return None, None
        if mode == EXTENT_SELECTION:
            if modality.layer_kind(layer) == "vector":
                ids = layer.selectedFeatureIds()
                return None, (list(ids) if ids else None)
            box = QgsRectangle()
            box.setNull()
            for other in QgsProject.instance().mapLayers().values():
                if modality.layer_kind(other) == "vector" and other.selectedFeatureCount():
                    ct = QgsCoordinateTransform(other.crs(), layer.crs(), QgsProject.instance())
                    box.combineExtentWith(ct.transformBoundingBox(other.boundingBoxOfSelected()))
            return (None if box.isNull() else box), None
        return None, None

    def run(self) -> None:
        layer = self.layer_combo.currentLayer()
        manifest = self.current_bundle()
        if layer is None or manifest is None:
            return
        m = self.current_modality()
        problem = modality.fit_problem(manifest, modality.facts_from_layer(layer), m)
        if problem:
            self._show_error(problem)
            return
        prompt = self.prompt_edit.toPlainText().strip()
        want_text = self.text_check.isChecked()
        add_layers = self.layers_check.isChecked()
        extent, fids = self._extent(layer)
        try:
            job = self._prepare(layer, m, manifest, extent, fids)
        except layers.LayerError as exc:
            self._show_error(str(exc))
            return
        self._streamed = ""
        self.answer.clear()
        self.progress.setValue(0)
        self.progress_label.setText(tr("Sending to the backend..."))

        def work(task):
            fb = runner.TaskFeedback(task)
            c = connection.client()
            out = {"layers": job["layers"] and add_layers}
            try:
                if add_layers:
                    out["result"] = job["predict"](c, runner.Sub(fb, 0.0, 0.8 if want_text else 1.0))
                if want_text or not add_layers:
                    a, meta = job["ask_payload"]()
                    fb.progress(0.8 if add_layers else 0.1, tr("Writing the answer..."))
                    out["answer"] = runner.ask(c, manifest["name"], a, meta, prompt, want_text, fb, on_token=task.token)
            finally:
                connection._close(c)
            return out

        self.task = AllSparkTask(tr("AllSpark: {bundle} on {layer}").format(bundle=manifest["name"], layer=layer.name()), work)
        self.task.progressChanged.connect(lambda v: self.progress.setValue(int(v)))
        self.task.messageChanged.connect(self.progress_label.setText)
        self.task.tokenReceived.connect(self._on_token)
        ctx = {"layer": layer, "modality": m, "manifest": manifest, "prompt": prompt, "job": job}
        run_task(self.task, lambda r: self._done(r, ctx), self._failed)
        self._update_run()

    def _prepare(self, layer, m, manifest, extent, fids) -> dict:
        """Main thread: read what must be read here (vector features), and return the functions the
        task runs (rasters are read there, through a cloned provider)."""
        name = manifest["name"]
        if m in modality.RASTER_MODALITIES:
            grid = layers.raster_grid(layer)
            window = layers.window_for_extent(grid, extent)
            if window is None:
                raise layers.LayerError(tr("The extent does not overlap the raster layer '{name}'.").format(name=layer.name()))
            provider = layer.dataProvider().clone()
            per_pixel = manifest.get("modality") == "hsi" or manifest.get("task") == "pixel_classification"
            tile = runner.tile_size(manifest)

            def predict(c, fb):
                if per_pixel:
                    lab, gt, classes = runner.classify_pixels(c, manifest, layer, window, fb, provider)
                else:
                    lab, _, gt, classes = runner.classify_tiles(c, manifest, layer, window, tile, fb, provider)
                path = _unique(os.path.join(_results_dir(), f"{_safe(layer.name())}_{_safe(name)}.tif"))
                results.write_class_raster(path, lab, gt, layers.crs_wkt(layer.crs()), classes)
                return {"raster": path, "classes": classes}

            def ask_payload():
                if per_pixel:  # the centre pixel: the written answer is about one spectrum
                    cx, cy = window[0] + window[2] // 2, window[1] + window[3] // 2
                    return layers.raster_payload(layer, window=[cx, cy, 1, 1], provider=provider)
                return layers.raster_payload(layer, window=window, provider=provider, max_pixels=TEXT_MAX_PIXELS)

            return {"predict": predict, "ask_payload": ask_payload, "layers": True}
        if m == "pointcloud":
            arrays, meta = layers.pointcloud_payload(layer)

            def predict(c, fb):
                return runner.classify_pointcloud(c, manifest, meta["path"], fb, meta.get("crs"))

            return {"predict": predict, "ask_payload": lambda: (arrays, meta), "layers": True}
        if m == "trajectory":
            t, i = self.time_field.currentField(), self.id_field.currentField()
            arrays, meta = layers.layer_payload(layer, m, feature_ids=fids, time_field=t or None, id_field=i or None)

            def predict(c, fb):
                return runner.predict_trajectories(c, manifest, arrays, meta, fb)

            return {"predict": predict, "ask_payload": lambda: (arrays, meta), "layers": True}
        numeric, categorical = layers.bundle_table_columns(manifest)
        arrays, meta = layers.table_payload(layer, fids, numeric=numeric, categorical=categorical)

        def predict(c, fb):
            return runner.predict_table(c, manifest, arrays, meta, fb)

        def ask_payload():  # the written answer is about the first row
            a = {k: v[:1] for k, v in arrays.items()}
            return a, dict(meta, fids=meta["fids"][:1], categorical={k: v[:1] for k, v in meta["categorical"].items()})

        return {"predict": predict, "ask_payload": ask_payload, "layers": True}

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.progress_label.setText(tr("Cancelling..."))

    def _on_token(self, piece: str) -> None:
        self._streamed += piece
        self.answer.setPlainText(self._streamed)

    def _failed(self, message: str) -> None:
        self.task = None
        self._update_run()
        self.progress.setValue(0)
        self.progress_label.setText("")
        self._show_error(message)

    def _show_error(self, message: str) -> None:
        self.answer.setHtml(f"<p style='color:#b00020'>{html.escape(message)}</p>")
        notify(self.iface, message, "warning")

    def _done(self, out: dict, ctx: dict) -> None:
        self.task = None
        self._update_run()
        self.progress.setValue(100)
        self.progress_label.setText(tr("Done."))
        layer, m, manifest = ctx["layer"], ctx["modality"], ctx["manifest"]
        added = []
        try:
            if out.get("layers") and out.get("result") is not None:
                added = self._add_layers(out["result"], layer, m, manifest, ctx["job"])
        except Exception as exc:  # noqa: BLE001 - shown, logged
            log(f"adding result layers: {exc}", "warning")
            notify(self.iface, tr("The results could not be added as layers: {error}").format(error=exc), "warning")
        answer = out.get("answer") or {}
        text = (answer.get("text") or "").strip()
        summary = (answer.get("summary") or "").strip()
        parts = []
        if text:
            parts.append(f"<p>{html.escape(text)}</p>")
        if summary:
            parts.append(f"<p><i>{html.escape(summary)}</i></p>")
        if added:
            parts.append("<p>" + html.escape(tr("Added layers: {names}").format(names=", ".join(a.name() for a in added))) + "</p>")
        self.answer.setHtml("".join(parts) or html.escape(tr("Done.")))
        entry = history.add({
            "layer": layer.name(), "layer_id": layer.id(), "modality": m, "bundle": manifest["name"],
            "prompt": ctx["prompt"], "answer": text, "summary": summary, "layers": [a.name() for a in added],
        })
        self._append_history(entry)
        notify(self.iface, tr("AllSpark answered about '{layer}'.").format(layer=layer.name()), "success")
        self.answered.emit(entry)

    def _add_layers(self, res, layer, m, manifest, job) -> list:
        project = QgsProject.instance()
        name = manifest["name"]
        out = []
        if m in modality.RASTER_MODALITIES:
            lyr = results.class_raster_layer(res["raster"], res["classes"], tr("{layer} - {bundle}").format(layer=layer.name(), bundle=name))
            out.append(lyr)
        elif m == "table":
            result, fids = res
            out.append(results.copy_with_predictions(layer, result, fids, tr("{layer} - {bundle}").format(layer=layer.name(), bundle=name)))
        elif m == "trajectory":
            result, ids, last = res
            out.append(results.trajectory_layer(result, ids, layer.crs(), tr("{layer} - predicted paths").format(layer=layer.name()), last))
        elif m == "pointcloud":
            classes = list(res.get("classes") or manifest.get("classes") or [])
            _, labels, xyz = results.point_results(res, layers.pointcloud_payload(layer)[1]["path"], layer)
            if xyz is None:
                raise ValueError(tr("the backend sent no point coordinates"))
            out.append(results.points_layer(xyz, labels, classes, layer.crs(), tr("{layer} - classes").format(layer=layer.name())))
        for lyr in out:
            project.addMapLayer(lyr)
        return out

    # ---- history ----------------------------------------------------------------------------
    def _load_history(self, *_):
        self.history_list.clear()
        for e in history.entries():
            self._append_history(e)

    def _append_history(self, e: dict) -> None:
        item = QListWidgetItem(f"{e.get('time', '')}  {e.get('layer', '')}: {e.get('prompt', '')[:60]}")
        item.setData(Qt.UserRole, e)
        self.history_list.addItem(item)

    def _show_entry(self, item) -> None:
        e = item.data(Qt.UserRole) or {}
        self.answer.setHtml(
            f"<p><b>{html.escape(e.get('prompt', ''))}</b></p><p>{html.escape(e.get('answer', ''))}</p>"
            f"<p><i>{html.escape(e.get('summary', ''))}</i></p>"
            f"<p style='color:gray'>{html.escape(e.get('time', ''))} - {html.escape(e.get('layer', ''))} - "
            f"{html.escape(e.get('bundle', ''))}</p>"
        )

    def _clear_history(self) -> None:
        history.clear()
        self.history_list.clear()

    def closeEvent(self, event):  # noqa: N802
        super().closeEvent(event)

    def cleanup(self) -> None:
        """Plugin unload: cancel a running task and drop the connections."""
        if self.task is not None:
            self.task.cancel()
        for sig, slot in (
            (self.manager.stateChanged, self._on_state),
            (self.manager.bundlesChanged, self._on_bundles),
            (QgsProject.instance().readProject, self._load_history),
            (QgsProject.instance().cleared, self._load_history),
        ):
            try:
                sig.disconnect(slot)
            except (TypeError, RuntimeError):
                pass


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:60] or "layer"


def _results_dir() -> str:
    home = QgsProject.instance().homePath()
    if home and os.path.isdir(home) and os.access(home, os.W_OK):
        d = os.path.join(home, "allspark_results")
    else:
        d = os.path.join(tempfile.gettempdir(), "allspark_results")
    os.makedirs(d, exist_ok=True)
    return d


def _unique(path: str) -> str:
    base, ext = os.path.splitext(path)
    k, out = 1, path
    while os.path.exists(out):
        k += 1
        out = f"{base}_{k}{ext}"
    return out
