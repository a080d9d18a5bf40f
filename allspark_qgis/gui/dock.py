"""The prompt dock: pick a layer (modality detected, overridable), a bundle of that modality, write or
pick a prompt, choose the extent, Run / Cancel; the answer streams in as text and the results come
back as styled layers. Every exchange is kept in the project's history.

What the user typed stays when the bundle list, the layer or the modality changes (only a prompt the
dock filled in itself is replaced); an answer shown after switching layers says which layer it is
about; no bundle for a layer says why and offers the ways forward (train one on this layer, choose
the modality by hand); progress counts pixels / tiles / rows / tracks; a cancel reads as cancelled.

The dock is thin: what a run reads, sends and adds as layers comes from the layer's modality family
(families/), the backend calls from runner.py (in a QgsTask).
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
from qgis.gui import QgsCheckableComboBox, QgsCollapsibleGroupBox, QgsDockWidget, QgsFieldComboBox, QgsMapLayerComboBox
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

from .. import connection, families, history, layers, modality, runner
from ..backend import READY, state_text
from ..i18n import tr
from ..icons import icon
from ..log import log, notify
from ..tasks import AllSparkTask, WordedFeedback, run_task
from .settings_dialog import backend_status_text

EXTENT_LAYER, EXTENT_CANVAS, EXTENT_SELECTION = "layer", "canvas", "selection"


def modality_label(m: str | None) -> str:
    return modality.title(m) if m else tr("not detected")


class PromptDock(QgsDockWidget):
    answered = pyqtSignal(dict)  # the history entry of a finished run (tests, screenshots)

    def __init__(self, iface, manager, parent=None):
        super().__init__(tr("AllSpark"), parent)
        self.setObjectName("AllSparkPromptDock")
        self.iface = iface
        self.manager = manager
        self.task: AllSparkTask | None = None
        self._streamed = ""
        self._auto_prompt = ""  # the prompt the dock filled in itself (replaced on a bundle change; typed text is kept)
        self._answer_html = ""  # what the answer area shows, and the layer (id, name) it is about
        self._answer_layer: tuple[str, str] | None = None
        self._facts = (None, None)  # (layer id, modality.LayerFacts) of the current layer
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
        self.region_combo = QgsMapLayerComboBox()  # a raster question limited to a field, a parcel
        self.region_combo.setFilters(Qgis.LayerFilters(Qgis.LayerFilter.PolygonLayer))
        self.region_combo.setAllowEmptyLayer(True, tr("(no limit)"))
        self.region_combo.setLayer(None)
        self.region_combo.setToolTip(tr("Only the pixels inside the selected polygons of this layer are used, and "
                                        "the areas in the answer are theirs."))
        self.region_label = QLabel(tr("Limit to selected polygons of"))
        form.addRow(self.region_label, self.region_combo)
        self.others_combo = QgsCheckableComboBox()  # one question about several layers at once
        self.others_combo.setDefaultText(tr("(this layer only)"))
        self.others_combo.setToolTip(tr("One written question about the layer and these layers at once: each is "
                                        "read by the first bundle of its modality and the LLM reads them side by "
                                        "side."))
        form.addRow(tr("Ask together with"), self.others_combo)
        lay.addLayout(form)

        self.hint = QWidget()  # no bundle for this layer: why, and the ways forward
        hint_lay = QVBoxLayout(self.hint)
        hint_lay.setContentsMargins(0, 0, 0, 0)
        self.hint_label = QLabel()
        self.hint_label.setWordWrap(True)
        self.hint_label.setTextFormat(Qt.RichText)
        self.hint_label.linkActivated.connect(self._on_hint_link)
        self.train_button = QPushButton(icon("train"), tr("Train a bundle on this layer..."))
        self.train_button.setToolTip(tr("Open the 'Train a bundle' algorithm with this layer filled in"))
        self.train_button.clicked.connect(self.train_on_layer)
        hint_lay.addWidget(self.hint_label)
        hint_lay.addWidget(self.train_button, 0, Qt.AlignLeft)
        self.hint.setVisible(False)
        lay.addWidget(self.hint)

        self.prompt_pick = QComboBox()
        self.prompt_pick.setToolTip(tr("The bundle's prompts"))
        self.prompt_pick.activated.connect(lambda i: self._set_prompt(self.prompt_pick.itemText(i)))
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
        self.status_label.setToolTip(backend_status_text(self.manager))
        self.start_button.setVisible(not ok)
        self._update_run()

    def _start_backend(self) -> None:
        self.manager.start()

    def _on_bundles(self, bundles: list) -> None:
        self._fill_bundles()
        self._fill_others()

    def _fill_others(self, *_) -> None:
        """The project's other layers that a bundle can read, for a question about several layers; the
        ones checked before stay checked."""
        checked = set(self.others_combo.checkedItemsData())
        current = self.layer_combo.currentLayer()
        self.others_combo.clear()
        for lyr in QgsProject.instance().mapLayers().values():
            if current is not None and lyr.id() == current.id():
                continue
            if self.bundle_for(lyr) is None:  # no modality detected, or no bundle of it
                continue
            state = Qt.Checked if lyr.id() in checked else Qt.Unchecked
            self.others_combo.addItemWithCheckState(lyr.name(), state, lyr.id())

    def bundle_for(self, layer):
        """(the first bundle of the layer's detected modality, the modality), or None."""
        m = modality.detect_layer(layer)
        cands = modality.bundles_for(self.manager.bundles, m) if m else []
        return (cands[0], m) if cands else None

    def other_layers(self) -> list:
        """(layer, bundle manifest, modality) of each layer checked in "Ask together with"."""
        out = []
        for layer_id in self.others_combo.checkedItemsData():
            lyr = QgsProject.instance().mapLayer(layer_id)
            picked = self.bundle_for(lyr) if lyr is not None else None
            if picked is not None:
                out.append((lyr, *picked))
        return out

    def set_layer(self, layer) -> None:
        """Open the dock on a layer (the context menu's "Ask AllSpark...")."""
        if layer is not None:
            self.layer_combo.setLayer(layer)
            self._on_layer(layer)

    def _on_layer(self, layer) -> None:
        if self._answer_html and self.task is None and self._answer_layer and (
                layer is None or layer.id() != self._answer_layer[0]):
            self.progress.setValue(0)  # "Done." and 100% were about the earlier layer
            self.progress_label.setText("")
        self._render_answer()
        self.modality_combo.blockSignals(True)
        self.modality_combo.clear()
        detected = modality.detect(self.layer_facts()) if layer is not None else None
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
        self._fill_others()

    def layer_facts(self):
        """The current layer's modality facts (read once per layer choice)."""
        layer = self.layer_combo.currentLayer()
        if layer is None:
            return None
        if self._facts[0] != layer.id():
            self._facts = (layer.id(), modality.facts_from_layer(layer))
        return self._facts[1]

    def current_modality(self) -> str | None:
        m = self.modality_combo.currentData()
        if m:
            return m
        facts = self.layer_facts()
        return modality.detect(facts) if facts is not None else None

    def _fill_bundles(self, *_):
        m = self.current_modality()
        family = families.of(m)
        for wdg in (self.time_field, self.id_field, self.time_label, self.id_label):
            wdg.setVisible(bool(family and family.uses_track_fields))
        for wdg in (self.region_combo, self.region_label):
            wdg.setVisible(bool(family and family.uses_region))
        current = self.bundle_combo.currentData()
        self.bundle_combo.blockSignals(True)
        self.bundle_combo.clear()
        for b in (modality.bundles_for(self.manager.bundles, m) if m else []):
            self.bundle_combo.addItem(f"{b['name']} ({b.get('task', '?')})", b["name"])
        if self.bundle_combo.count() == 0:
            empty = tr("(no {modality} bundle)").format(modality=modality_label(m)) if m else tr("(choose the modality)")
            self.bundle_combo.addItem(empty, None)
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
        typed = self.prompt_edit.toPlainText().strip()
        if prompts and (not typed or typed == self._auto_prompt):  # never replace what the user wrote
            self._set_prompt(prompts[0])
        self._update_run()

    def _set_prompt(self, text: str) -> None:
        """Fill the prompt in (a bundle's prompt): replaced again on a bundle change, unlike typed text."""
        self._auto_prompt = text.strip()
        self.prompt_edit.setPlainText(text)

    def _update_run(self) -> None:
        running = self.task is not None
        blocker = self._run_blocker()
        self.run_button.setEnabled(not running and blocker is None)
        self.run_button.setToolTip(blocker or tr("Ask the bundle about the layer"))
        self.cancel_button.setEnabled(running)
        self._update_hint()

    def _run_blocker(self) -> str | None:
        """Why Run cannot start now (a sentence), or None."""
        layer = self.layer_combo.currentLayer()
        if layer is None:
            return tr("Choose a layer.")
        if self.manager.state != READY:
            return tr("Start the backend first.")
        if self.current_bundle() is None:
            return modality.no_bundle_text(self.current_modality(), self.layer_facts())
        return None

    def _update_hint(self) -> None:
        """No bundle for the layer (with the backend ready): say why, offer training and the modality picker."""
        layer = self.layer_combo.currentLayer()
        show = layer is not None and self.manager.state == READY and self.current_bundle() is None
        self.hint.setVisible(show)
        if not show:
            return
        m = self.current_modality()
        text = html.escape(modality.no_bundle_text(m, self.layer_facts()))
        link = "<a href='modality'>" + html.escape(tr("Choose the modality by hand")) + "</a>"
        self.hint_label.setText(f"<p>{text}</p><p>{link}</p>")
        self.train_button.setVisible(m is not None)

    def _on_hint_link(self, link: str) -> None:
        if link == "modality":
            self.modality_combo.setFocus()
            self.modality_combo.showPopup()

    def train_on_layer(self):
        """Open Processing's "Train a bundle" with this layer (and its modality) filled in."""
        from qgis import processing

        layer = self.layer_combo.currentLayer()
        if layer is None:
            return None
        return processing.execAlgorithmDialog("allspark:train_bundle", training_parameters(layer, self.current_modality()))

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
        others = self.other_layers() if want_text else []
        try:
            job = self._prepare(layer, m, manifest, extent, fids)
            for lyr, man, om in others:
                problem = modality.fit_problem(man, modality.facts_from_layer(lyr), om)
                if problem:
                    raise layers.LayerError(f"{lyr.name()}: {problem}")
            # each other layer's question, read as the dock reads a layer's question (its family's)
            together = [(lyr, man, families.of(om).question(lyr, om, man, families.Selection()))
                        for lyr, man, om in others]
        except layers.LayerError as exc:
            self._show_error(str(exc))
            return
        self._streamed = ""
        self._set_answer("", layer)
        self.progress.setValue(0)
        self.progress_label.setText(tr("Sending to the backend..."))
        unit = modality.run_unit(manifest)

        def work(task):
            fb = runner.TaskFeedback(task)
            c = connection.client()
            out = {"layers": add_layers}
            try:
                if add_layers:
                    predict_fb = WordedFeedback(runner.Sub(fb, 0.0, 0.8 if want_text else 1.0), unit, job.total)
                    out["result"] = job.predict(c, predict_fb)
                if together:  # one question about this layer and the others, in one LLM context
                    a, meta = job.question()
                    fb.progress(0.8 if add_layers else 0.1, tr("Writing the answer..."))
                    # this layer's summary is about the map made above, when there is one (as a single question's)
                    items = [(manifest["name"], a, meta, job.made())] + [(man["name"], *question())
                                                                          for _, man, question in together]
                    out["answer"] = runner.ask_together(c, items, prompt, fb, on_token=task.token)
                elif want_text or not add_layers:
                    a, meta = job.question()
                    fb.progress(0.8 if add_layers else 0.1, tr("Writing the answer..."))
                    out["answer"] = runner.ask(c, manifest["name"], a, meta, prompt, want_text, fb, on_token=task.token,
                                               run=job.made())  # the map made above, when there is one
            finally:
                connection._close(c)
            return out

        self.task = AllSparkTask(tr("AllSpark: {bundle} on {layer}").format(bundle=manifest["name"], layer=layer.name()), work)
        self.task.progressChanged.connect(lambda v: self.progress.setValue(int(v)))
        self.task.messageChanged.connect(self.progress_label.setText)
        self.task.tokenReceived.connect(self._on_token)
        ctx = {"layer": layer, "modality": m, "manifest": manifest, "prompt": prompt, "job": job,
               "together": [lyr.name() for lyr, *_ in together]}
        run_task(self.task, lambda r: self._done(r, ctx), self._failed, self._cancelled)
        self._update_run()

    def _prepare(self, layer, m, manifest, extent, fids) -> families.Run:
        """Main thread: what the task runs, from the layer's family (vector features are read here,
        rasters in the task through a cloned provider)."""
        family = families.of(m)
        sel = families.Selection(extent=extent, feature_ids=fids)
        if family.uses_region and self.region_combo.currentLayer() is not None:  # the selected polygons
            sel.region = layers.selected_region(self.region_combo.currentLayer(), layer)
        if family.uses_track_fields:
            sel.time_field = self.time_field.currentField() or None
            sel.id_field = self.id_field.currentField() or None
        return family.prepare(layer, m, manifest, sel, _results_dir())

    def cancel(self) -> None:
        if self.task is not None:
            # words first: a task that has not started yet ends inside cancel() (QGIS terminates it at
            # once, and _cancelled says "Cancelled."), which these words must not overwrite
            self.progress_label.setText(tr("Cancelling..."))
            self.task.cancel()

    def _on_token(self, piece: str) -> None:
        self._streamed += piece
        self._set_answer(f"<p>{html.escape(self._streamed)}</p>", self._answer_layer)

    def _failed(self, message: str) -> None:
        self.task = None
        self._update_run()
        self.progress.setValue(0)
        self.progress_label.setText("")
        self._show_error(message)

    def _cancelled(self) -> None:
        """A cancel is what the user asked for: neutral words, no warning."""
        self.task = None
        self._update_run()
        self.progress.setValue(0)
        self.progress_label.setText(tr("Cancelled."))
        streamed = f"<p>{html.escape(self._streamed)}</p>" if self._streamed.strip() else ""
        self._set_answer(streamed + "<p style='color:gray'>" + html.escape(tr("Cancelled.")) + "</p>", self._answer_layer)

    def _show_error(self, message: str) -> None:
        self._set_answer(f"<p style='color:#b00020'>{html.escape(message)}</p>", self.layer_combo.currentLayer())
        notify(self.iface, message, "warning")

    def _set_answer(self, body_html: str, layer) -> None:
        """Show an answer (or an error) about `layer` (a layer, or (id, name), or None)."""
        if layer is not None and not isinstance(layer, tuple):
            layer = (layer.id(), layer.name())
        self._answer_html, self._answer_layer = body_html, layer
        self._render_answer()

    def _render_answer(self) -> None:
        """The answer, marked as being about the earlier layer when another layer is chosen now."""
        body, about = self._answer_html, self._answer_layer
        current = self.layer_combo.currentLayer()
        if body and about is not None and (current is None or current.id() != about[0]):
            note = tr("About the layer '{layer}', chosen before:").format(layer=about[1])
            body = f"<p style='color:gray'><i>{html.escape(note)}</i></p>" + body
        self.answer.setHtml(body)

    def _done(self, out: dict, ctx: dict) -> None:
        self.task = None
        self._update_run()
        layer, m, manifest = ctx["layer"], ctx["modality"], ctx["manifest"]
        if self.layer_combo.currentLayer() is layer:  # else the answer is marked as about the earlier layer
            self.progress.setValue(100)
            self.progress_label.setText(tr("Done."))
        else:
            self.progress.setValue(0)
            self.progress_label.setText("")
        added = []
        try:
            if out.get("layers") and out.get("result") is not None:
                added = self._add_layers(out["result"], layer, m, manifest)
        except Exception as exc:  # noqa: BLE001 - shown, logged
            log(f"adding result layers: {exc}", "warning")
            notify(self.iface, tr("The results could not be added as layers: {error}").format(error=exc), "warning")
        answer = out.get("answer") or {}
        text = (answer.get("text") or "").strip()
        summary = (answer.get("summary") or "").strip()
        if answer.get("results"):  # a question about several layers: each layer's result in words
            names = [layer.name()] + ctx["together"]
            summary = "\n".join(f"{n}: {(r.get('summary') or '').strip()}" for n, r in zip(names, answer["results"]))
        parts = []
        if text:
            parts.append(f"<p>{html.escape(text)}</p>")
        if summary:
            parts.append("<p><i>" + "<br>".join(html.escape(line) for line in summary.splitlines()) + "</i></p>")
        if added:
            parts.append("<p>" + html.escape(tr("Added layers: {names}").format(names=", ".join(a.name() for a in added))) + "</p>")
        self._set_answer("".join(parts) or html.escape(tr("Done.")), layer)
        entry = history.add({
            "layer": layer.name(), "layer_id": layer.id(), "modality": m, "bundle": manifest["name"],
            "prompt": ctx["prompt"], "answer": text, "summary": summary, "layers": [a.name() for a in added],
            **({"together": ctx["together"]} if ctx["together"] else {}),
        })
        self._append_history(entry)
        notify(self.iface, tr("AllSpark answered about '{layer}'.").format(layer=layer.name()), "success")
        self.answered.emit(entry)

    def _add_layers(self, res, layer, m, manifest) -> list:
        out = families.of(m).add_layers(res, layer, manifest)
        for lyr in out:
            QgsProject.instance().addMapLayer(lyr)
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
        self._set_answer(
            f"<p><b>{html.escape(e.get('prompt', ''))}</b></p><p>{html.escape(e.get('answer', ''))}</p>"
            f"<p><i>{html.escape(e.get('summary', ''))}</i></p>"
            f"<p style='color:gray'>{html.escape(e.get('time', ''))} - {html.escape(e.get('layer', ''))} - "
            f"{html.escape(e.get('bundle', ''))}</p>", None,  # the entry names its layer itself
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


def training_parameters(layer, m: str | None) -> dict:
    """allspark:train_bundle's parameters for training on `layer`: the layer, its modality, a bundle name,
    and what the layer's family fills in (a raster's labels layer, when the project holds exactly one
    point / polygon layer over it)."""
    params = {"INPUT": layer}
    if m:
        params["MODALITY"] = m
    params["NAME"] = families.safe_name(f"{layer.name()}-{m or 'bundle'}").lower()
    kind = modality.layer_kind(layer)
    family = families.of(m or modality.detect_layer(layer)) or families.by_layer_kind(kind)
    if family is not None and kind == family.layer_kind:
        params.update(family.training_parameters(layer))
    return params


def _results_dir() -> str:
    home = QgsProject.instance().homePath()
    if home and os.path.isdir(home) and os.access(home, os.W_OK):
        d = os.path.join(home, "allspark_results")
    else:
        d = os.path.join(tempfile.gettempdir(), "allspark_results")
    os.makedirs(d, exist_ok=True)
    return d
