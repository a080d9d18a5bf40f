"""What the user reads in the prompt dock (offscreen QGIS, a real backend, real layers): a typed
question survives a refresh of the bundle list and a change of layer or modality; an answer shown after
switching layers says which layer it is about; no bundle for a layer (the real Sentinel-2 data) says why
and offers training on the layer and the modality picker; progress counts pixels; a cancel reads as
cancelled; the backend's status never says "ready on ?"."""

import re
import shutil

import pytest
from support.data import data_dir, table_layer_uri
from support.plugin import GatedClients, backend_with_bundles, open_plugin, pump

QUESTION = "Which of these rows has the most PM2.5, and why?"


@pytest.fixture(scope="module")
def ready(qgis_processing):
    with backend_with_bundles(("tiny-table", "tiny-hsi")) as backend:
        yield backend


@pytest.fixture
def plugin(ready, qgis_app, qgis_iface, qgis_new_project):
    with open_plugin(qgis_app, qgis_iface) as p:
        qgis_iface.messageBar().clear_messages()
        yield p


@pytest.fixture
def dock(plugin):
    return plugin.show_dock()


def add(layer):
    from qgis.core import QgsProject

    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


def table_layer():
    from qgis.core import QgsVectorLayer

    return add(QgsVectorLayer(table_layer_uri(data_dir() / "table.csv"), "air quality", "delimitedtext"))


def hsi_layer():
    from qgis.core import QgsRasterLayer

    return add(QgsRasterLayer(str(data_dir() / "hsi.tif"), "field spectra"))


def choose(d, layer, bundle):
    d.set_layer(layer)
    d.bundle_combo.setCurrentIndex(d.bundle_combo.findData(bundle))
    assert d.current_bundle()["name"] == bundle


def refresh(qgis_app, manager):
    """Reload the bundle list from the backend and wait for it (the refresh button's action)."""
    got = []
    manager.bundlesChanged.connect(got.append)
    try:
        assert manager.refresh() is not None
        assert pump(qgis_app, lambda: bool(got), 30)
    finally:
        manager.bundlesChanged.disconnect(got.append)


def run_to_end(qgis_app, d):
    got = []
    d.answered.connect(got.append)
    labels = []
    d.run()
    assert d.task is not None
    d.task.messageChanged.connect(lambda _m: labels.append(d.progress_label.text()))  # after the dock's own slot
    assert pump(qgis_app, lambda: bool(got), 120), d.answer.toPlainText()
    return got[0], labels


def test_typed_question_survives_refresh_layer_and_modality_changes(qgis_app, plugin, dock):
    table, field = table_layer(), hsi_layer()
    choose(dock, table, "tiny-table")
    bundle_prompt = dock.prompt_edit.toPlainText()
    assert bundle_prompt == dock.current_bundle()["prompts"][0]  # an untouched prompt is the bundle's
    dock.prompt_edit.setPlainText(QUESTION)  # the user types a question
    refresh(qgis_app, plugin.manager)
    assert dock.prompt_edit.toPlainText() == QUESTION
    dock.refresh_button.click()
    assert pump(qgis_app, lambda: not plugin.manager.busy(), 30)
    assert dock.prompt_edit.toPlainText() == QUESTION
    dock.set_layer(field)  # another layer, with bundles of its own
    assert dock.current_bundle() is not None and dock.prompt_edit.toPlainText() == QUESTION
    dock.modality_combo.setCurrentIndex(dock.modality_combo.findData("table"))
    assert dock.prompt_edit.toPlainText() == QUESTION
    dock.set_layer(table)
    assert dock.prompt_edit.toPlainText() == QUESTION
    dock.prompt_edit.setPlainText("")  # an emptied prompt is filled again with the bundle's
    refresh(qgis_app, plugin.manager)
    assert dock.prompt_edit.toPlainText() == bundle_prompt


def test_progress_counts_pixels(qgis_app, dock):
    choose(dock, hsi_layer(), "tiny-hsi")
    entry, labels = run_to_end(qgis_app, dock)
    assert entry["bundle"] == "tiny-hsi"
    steps = [t for t in labels if t and t not in ("Writing the answer...", "Sending to the backend...")]
    assert steps, labels
    for text in steps:  # 18 x 18 pixels, in the GUI's words, never the backend's
        assert re.fullmatch(r"(\d+) of 324 pixels|Starting\.\.\.", text), labels
        assert not re.search(r"samples|blocks|starting|done", text), labels
    assert "324 of 324 pixels" in steps
    assert dock.progress.value() == 100 and dock.progress_label.text() == "Done."


def test_answer_after_switching_layers_names_its_layer(qgis_app, dock):
    field, table = hsi_layer(), table_layer()
    choose(dock, field, "tiny-hsi")
    run_to_end(qgis_app, dock)
    answer = dock.answer.toPlainText()
    assert answer and "chosen before" not in answer
    dock.set_layer(table)  # the answer was about the field, not about this table: no "Done." / 100 %
    assert dock.progress.value() == 0 and dock.progress_label.text() == ""
    text = dock.answer.toPlainText()
    assert text.startswith("About the layer 'field spectra', chosen before:") and answer in text
    dock.set_layer(field)
    assert dock.answer.toPlainText() == answer


def test_cancel_reads_as_cancelled(qgis_app, qgis_iface, dock, monkeypatch):
    from qgis.core import Qgis, QgsTask

    gated = GatedClients(monkeypatch)  # the work waits at the gate: the task runs when the cancel comes
    choose(dock, table_layer(), "tiny-table")
    statuses = []
    dock.run()
    task = dock.task
    task.statusChanged.connect(statuses.append)
    assert pump(qgis_app, lambda: gated.entered.is_set() and task.status() == QgsTask.Running, 30)
    dock.cancel()
    assert dock.progress_label.text() == "Cancelling..."
    gated.gate.set()
    assert pump(qgis_app, lambda: dock.task is None, 60)
    assert dock.progress_label.text() == "Cancelled." and dock.progress.value() == 0
    assert "Cancelled." in dock.answer.toPlainText()
    assert "#b00020" not in dock.answer.toHtml().lower()  # not the error colour
    assert not qgis_iface.messageBar().get_messages(Qgis.MessageLevel.Warning)
    # QGIS's task manager: ended normally ("complete", not "terminated"), described as cancelled
    assert QgsTask.Terminated not in statuses and task.description().endswith("(cancelled)")
    assert dock.run_button.isEnabled()


def test_no_bundle_for_a_sentinel2_band_says_what_to_do(qgis_app, qgis_iface, shared_data, tmp_path, monkeypatch, dock):
    """A real Sentinel-2 band: detected as multispectral (not SAR); no multispectral bundle, so the dock
    says so, offers 'Train a bundle' pre-filled with the layer, and the modality picker."""
    from qgis.core import QgsRasterLayer
    from qgis.gui import QgsBrowserGuiModel

    browser = QgsBrowserGuiModel()  # Processing's dialogs ask QGIS for its browser model; the stub iface has none
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)
    from qgis.PyQt.QtCore import QTimer
    from qgis.PyQt.QtWidgets import QApplication, QDialog

    shutil.copy(shared_data / "msi_sentinel2" / "s2_B04.tif", tmp_path)  # QGIS writes .aux.xml beside it
    band = add(QgsRasterLayer(str(tmp_path / "s2_B04.tif"), "S2 red"))
    dock.set_layer(band)
    assert dock.modality_combo.currentText() == "Auto (Multispectral)"
    assert dock.bundle_combo.currentText() == "(no Multispectral bundle)"
    assert not dock.run_button.isEnabled()
    assert not dock.hint.isHidden() and not dock.train_button.isHidden()
    hint = dock.hint_label.text()
    assert "No Multispectral bundle is installed" in hint and "draw points or polygons" in hint
    assert "Choose the modality by hand" in hint
    assert dock.run_button.toolTip().startswith("No Multispectral bundle is installed")

    seen = {}

    def inspect():  # runs inside the algorithm dialog's own event loop (offscreen: no "active" modal widget)
        # Processing's algorithm dialog, not another dialog an earlier test left open; whatever happens,
        # the dialog is closed (an exception here would escape into Qt: see conftest)
        dialogs = [w for w in QApplication.topLevelWidgets()
                   if isinstance(w, QDialog) and w.isVisible() and hasattr(w, "createProcessingParameters")]
        if not dialogs:
            QTimer.singleShot(20, inspect)
            return
        dlg = dialogs[0]
        try:
            seen["title"] = dlg.windowTitle()
            seen["params"] = dlg.createProcessingParameters()
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            seen["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            dlg.reject()

    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    labels = QgsVectorLayer("Point?crs=EPSG:32618&field=class:string", "my labels", "memory")
    f = QgsFeature(labels.fields())
    f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(band.extent().center())))
    f["class"] = "water"
    labels.dataProvider().addFeatures([f])
    labels.updateExtents()
    add(labels)  # the one point layer over the band: the training dialog takes it as the labels
    QTimer.singleShot(0, inspect)
    dock.train_button.click()
    assert "error" not in seen, seen["error"]
    assert "Train a bundle" in seen["title"]
    params = seen["params"]
    assert params["INPUT"] in (band.id(), band.source()) and params["MODALITY"] == "msi"
    assert params["NAME"] == "s2_red-msi"
    assert params["LABELS"] in (labels.id(), labels.source(), labels), params

    dock._on_hint_link("modality")  # the picker opens for a choice by hand
    assert dock.modality_combo.hasFocus() or dock.modality_combo.view().isVisible()
    dock.modality_combo.hidePopup()
    dock.modality_combo.setCurrentIndex(dock.modality_combo.findData("hsi"))
    assert dock.current_bundle() is not None and dock.hint.isHidden()


def test_a_band_with_no_name_asks_for_the_modality(qgis_app, shared_data, tmp_path, dock):
    from qgis.core import QgsRasterLayer

    shutil.copy(shared_data / "msi_sentinel2" / "s2_B04.tif", tmp_path / "layer.tif")
    band = add(QgsRasterLayer(str(tmp_path / "layer.tif"), "one band"))
    dock.set_layer(band)
    assert dock.modality_combo.currentText() == "Auto (not detected)"  # was "Auto (SAR)"
    assert dock.bundle_combo.currentText() == "(choose the modality)"
    assert "cannot tell what this raster holds from its 1 band(s) (UInt16)" in dock.hint_label.text()
    assert dock.train_button.isHidden() and not dock.run_button.isEnabled()


def test_backend_status_never_says_ready_on_question_mark(qgis_app, plugin, dock):
    from allspark_qgis.backend import READY, BackendManager
    from allspark_qgis.gui.settings_dialog import SettingsDialog

    loading = BackendManager()  # what the backend answers while its model still loads: no device yet
    loading._ready({"engine_state": "starting"}, [{"name": "x"}])
    assert loading.state == READY
    dlg = SettingsDialog(loading)  # it also asks the backend again for its device
    status = dlg.status.text()
    assert "?" not in status and "the model is still loading" in status, status
    assert pump(qgis_app, lambda: not loading.busy(), 30)
    assert "Backend ready on CPU;" in dlg.status.text()  # the backend's answer, once asked again
    dlg.reject()

    m = plugin.manager
    assert m.health.get("device") == "cpu"  # the test backend runs on the CPU
    assert "Backend ready on CPU;" in plugin.status_widget.toolTip()
    assert "Backend ready on CPU;" in dock.status_label.toolTip()

    # ready while the model loads (what a fresh `allspark serve` answers first): the toolbar says so, and
    # asks the backend again until it knows the device
    m.health = {"engine_state": "starting"}
    m.stateChanged.emit(READY, m.message)
    assert "the model is still loading" in plugin.status_widget.toolTip()
    assert "the model is still loading" in dock.status_label.toolTip()
    assert pump(qgis_app, lambda: "Backend ready on CPU;" in plugin.status_widget.toolTip(), 30)
    assert "Backend ready on CPU;" in dock.status_label.toolTip()
