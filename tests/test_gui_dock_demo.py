"""The prompt dock as a user meets it, in a real QGIS GUI under Xvfb, on the shipped demo field and the
shipped Indian Pines bundle (the real Gemma 3 270M behind it): ask -> result -> switch layer -> cancel.

Checks what the user reads: the typed question survives a refresh of the bundle list; progress counts
the field's pixels (never the backend's "samples 961-1024: 48 of 64 samples"); the answer, once another
layer is chosen, says it is about the earlier layer and "Done." / 100 % go; a real Sentinel-2 scene
(13 bands) says no multispectral bundle is installed and offers training on it; a cancel reads as
cancelled (neutral words, no warning, no failed task). Screenshots land in the test's folder."""

import shutil

import pytest
from support.qgis_window import DEMO, END, WINDOW, XVFB, run_on_a_copy

QUESTION = "Which crops grow in this field?"

pytestmark = pytest.mark.integration

SCRIPT = WINDOW + r"""
out = {}
import allspark_qgis
plugin = allspark_qgis.classFactory(iface)
plugin.initGui()
out["ready"] = pump(lambda: plugin.manager.state == "ready", 60)
field = QgsRasterLayer(field_path, "Indian Pines field")
scene = QgsRasterLayer(scene_path, "Sentinel-2 scene")
QgsProject.instance().addMapLayer(field)
QgsProject.instance().addMapLayer(scene)
window.show()
iface.activeLayer.return_value = field
plugin.layer_actions["raster"].trigger()
dock = plugin.dock
window.resizeDocks([layers_dock, dock], [230, 460], Qt.Horizontal)
out["modality"] = dock.modality_combo.currentText()
dock.bundle_combo.setCurrentIndex(dock.bundle_combo.findData("hsi-indian-pines"))
out["bundle"] = dock.bundle_combo.currentData()

# 1. the user types a question; the bundle list is refreshed: the question stays
dock.prompt_edit.setPlainText(question)
refreshed = []
plugin.manager.bundlesChanged.connect(refreshed.append)
dock.refresh_button.click()
out["refreshed"] = pump(lambda: bool(refreshed), 60)
out["prompt_after_refresh"] = dock.prompt_edit.toPlainText()

# 2. ask -> result: progress in pixels, the answer, the classified layer
answered, progress = [], []
dock.answered.connect(answered.append)
dock.run()
dock.task.messageChanged.connect(lambda _m: progress.append(dock.progress_label.text()))
out["answered"] = pump(lambda: bool(answered), 900)
out["progress"] = sorted(set(progress), key=progress.index)
out["done_label"], out["done_value"] = dock.progress_label.text(), dock.progress.value()
out["answer"] = dock.answer.toPlainText()
out["entry"] = answered[0] if answered else None
added = [l for l in QgsProject.instance().mapLayers().values() if l not in (field, scene)]
for l in added:
    l.renderer().setOpacity(0.85)
tree.expandAll()
out["shot_answer"] = shot("1_answer.png")

# 3. switch layer: the 13-band Sentinel-2 scene
dock.set_layer(scene)
out["scene_modality"] = dock.modality_combo.currentText()
out["scene_bundle"] = dock.bundle_combo.currentText()
out["scene_answer"] = dock.answer.toPlainText()
out["scene_label"], out["scene_value"] = dock.progress_label.text(), dock.progress.value()
hint, hint_label, train = (getattr(dock, n, None) for n in ("hint", "hint_label", "train_button"))
out["hint_visible"] = hint is not None and not hint.isHidden()
out["hint"] = hint_label.text() if hint_label is not None else ""
out["train_visible"] = train is not None and not train.isHidden()
out["run_enabled_on_scene"] = dock.run_button.isEnabled()
out["run_tip_on_scene"] = dock.run_button.toolTip()
out["shot_scene"] = shot("2_no_bundle.png")

# 4. back to the field, ask again, cancel while it runs
dock.set_layer(field)
out["prompt_back"] = dock.prompt_edit.toPlainText()
statuses, messages = [], []
dock.run()
task = dock.task
task.statusChanged.connect(statuses.append)
task.messageChanged.connect(messages.append)
out["running"] = pump(lambda: bool(messages) or dock.task is None, 300)
dock.cancel()
out["cancelling"] = dock.progress_label.text()
out["cancel_ended"] = pump(lambda: dock.task is None, 300)
out["cancel_label"], out["cancel_value"] = dock.progress_label.text(), dock.progress.value()
out["cancel_answer"] = dock.answer.toPlainText()
out["cancel_red"] = "#b00020" in dock.answer.toHtml().lower()
out["cancel_statuses"] = [int(s) for s in statuses]
out["terminated"] = int(QgsTask.Terminated)
out["task_description"] = task.description()
out["bar_warnings"] = [i.text() for i in bar.items() if i.level() in (Qgis.MessageLevel.Warning, Qgis.MessageLevel.Critical)]
out["run_enabled_after_cancel"] = dock.run_button.isEnabled()
out["shot_cancel"] = shot("3_cancelled.png")
out["platform"] = app.platformName()
""" + END


@pytest.mark.skipif(XVFB is None, reason="xvfb-run is not installed")
def test_demo_field_ask_switch_cancel(gemma_gguf, shared_data, tmp_path):
    from osgeo import gdal

    # a Sentinel-2 scene as a GIS analyst makes it: the 13 bands stacked into one virtual raster (on copies:
    # QGIS writes statistics next to what it opens)
    names = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    for n in names:
        shutil.copy(shared_data / "msi_sentinel2" / f"s2_{n}.tif", tmp_path)
    scene = str(tmp_path / "sentinel2_scene.vrt")
    gdal.BuildVRT(scene, [str(tmp_path / f"s2_{n}.tif") for n in names], separate=True, resolution="highest")
    out, shots = run_on_a_copy(SCRIPT, tmp_path, gemma_gguf, DEMO, QUESTION, scene)
    assert out["platform"] == "xcb" and out["ready"]
    assert out["modality"] == "Auto (Hyperspectral)" and out["bundle"] == "hsi-indian-pines"

    # the typed question survives a refresh of the bundle list (and coming back to the layer)
    assert out["refreshed"] and out["prompt_after_refresh"] == QUESTION
    assert out["prompt_back"] == QUESTION

    # ask -> result, progress in the GUI's words: the field's 32 x 32 pixels
    assert out["answered"] and out["entry"]["prompt"] == QUESTION and out["entry"]["bundle"] == "hsi-indian-pines"
    steps = [p for p in out["progress"] if p not in ("Writing the answer...", "Sending to the backend...")]
    assert steps and "1,024 of 1,024 pixels" in steps, out["progress"]
    for p in steps:
        assert p == "Starting..." or p.endswith(" of 1,024 pixels"), out["progress"]
        assert not any(w in p for w in ("samples", "blocks", "starting", "done")), out["progress"]
    assert out["done_label"] == "Done." and out["done_value"] == 100
    assert out["answer"].strip() and "Added layers:" in out["answer"]

    # switch layer: the answer is marked as about the field; no "Done." / 100 %; no bundle: say what to do
    assert out["scene_answer"].startswith("About the layer 'Indian Pines field', chosen before:")
    assert out["scene_label"] == "" and out["scene_value"] == 0
    assert out["scene_modality"] == "Auto (Multispectral)" and out["scene_bundle"] == "(no Multispectral bundle)"
    assert out["hint_visible"] and out["train_visible"] and not out["run_enabled_on_scene"]
    assert "No Multispectral bundle is installed" in out["hint"] and "draw points or polygons" in out["hint"]
    assert out["run_tip_on_scene"].startswith("No Multispectral bundle is installed")

    # cancel: neutral words, no warning, not a failed task
    assert out["running"] and out["cancelling"] == "Cancelling..." and out["cancel_ended"]
    assert out["cancel_label"] == "Cancelled." and out["cancel_value"] == 0
    assert "Cancelled." in out["cancel_answer"] and not out["cancel_red"]
    assert out["terminated"] not in out["cancel_statuses"] and out["task_description"].endswith("(cancelled)")
    assert not out["bar_warnings"] and out["run_enabled_after_cancel"]
    assert out["shot_answer"] and out["shot_scene"] and out["shot_cancel"]
