"""The prompt dock as a user meets it, in a real QGIS GUI under Xvfb, on the shipped demo field and the
shipped Indian Pines bundle (the real Gemma 3 270M behind it): ask -> result -> switch layer -> cancel.

Checks what the user reads: the typed question survives a refresh of the bundle list; progress counts
the field's pixels (never the backend's "samples 961-1024: 48 of 64 samples"); the answer, once another
layer is chosen, says it is about the earlier layer and "Done." / 100 % go; a real Sentinel-2 scene
(13 bands) says no multispectral bundle is installed and offers training on it; a cancel reads as
cancelled (neutral words, no warning, no failed task). Screenshots land in the test's folder."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
XVFB = shutil.which("xvfb-run")
DEMO = REPO / "demo" / "indian_pines_field.tif"
QUESTION = "Which crops grow in this field?"

pytestmark = pytest.mark.integration

SCRIPT = r"""
import json, os, re, sys, time
repo, field_path, scene_path, out_dir, question = sys.argv[1:6]
sys.path.insert(0, repo)
from unittest.mock import MagicMock
from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer, QgsTask
app = QgsApplication([], True)
app.initQgis()
from qgis.core import QgsLayerTreeModel
from qgis.gui import QgsLayerTreeMapCanvasBridge, QgsLayerTreeView, QgsMapCanvas, QgsMessageBar
from qgis.PyQt.QtCore import QSize, Qt
from qgis.PyQt.QtWidgets import QDockWidget, QMainWindow, QVBoxLayout, QWidget

window = QMainWindow()
window.setWindowTitle("QGIS - AllSpark")
central = QWidget()
lay = QVBoxLayout(central)
bar, canvas = QgsMessageBar(), QgsMapCanvas()
lay.addWidget(bar)
lay.addWidget(canvas)
window.setCentralWidget(central)
window.resize(QSize(1280, 800))
root = QgsProject.instance().layerTreeRoot()
tree = QgsLayerTreeView()
model = QgsLayerTreeModel(root)
tree.setModel(model)
bridge = QgsLayerTreeMapCanvasBridge(root, canvas)
layers_dock = QDockWidget("Layers")
layers_dock.setWidget(tree)
window.addDockWidget(Qt.LeftDockWidgetArea, layers_dock)
iface = MagicMock()
iface.mainWindow.return_value = window
iface.mapCanvas.return_value = canvas
iface.messageBar.return_value = bar
iface.addToolBar.side_effect = lambda name: window.addToolBar(name)
iface.addDockWidget.side_effect = lambda area, dock: window.addDockWidget(area, dock)
iface.removeDockWidget.side_effect = lambda dock: window.removeDockWidget(dock)

def pump(until, timeout):
    # the Qt event loop waits for events until the condition holds (signals set it); a timer's ticks
    # wake it so the timeout, which only bounds a hang, is honoured
    from qgis.PyQt.QtCore import QEventLoop, QTimer

    tick = QTimer()
    tick.start(50)
    end = time.time() + timeout
    while time.time() < end and not until():
        app.processEvents(QEventLoop.AllEvents | QEventLoop.WaitForMoreEvents)
    tick.stop()
    return until()

def shot(name):
    canvas.setExtent(field.extent().buffered(2))  # the field (the scene lies elsewhere, in UTM)
    drawn = []
    canvas.mapCanvasRefreshed.connect(lambda: drawn.append(1))
    canvas.refreshAllLayers()
    pump(lambda: bool(drawn), 30)  # the canvas has drawn the layers
    app.processEvents()
    return window.grab().save(os.path.join(out_dir, name))

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
plugin.unload()
print("RESULT" + json.dumps(out))
app.exitQgis()
"""


def run_in_qgis_window(script: str, tmp_path, gemma_gguf, field, scene: str, question: str) -> tuple[dict, Path]:
    """A backend on Gemma 3 270M (no bundles folder but the repository's), `script` run by QGIS's Python
    in a real window (Xvfb) on `field` (and `scene`) with `question`: (what it printed as RESULT, the
    folder of its screenshots)."""
    from test_plugin_support import VENV_PY

    from allspark_qgis.client import BackendProcess

    conn = str(tmp_path / "backend.json")
    proc = BackendProcess(str(VENV_PY), ["--llm", str(gemma_gguf), "--device", "cpu", "--bundles", str(tmp_path / "none")],
                          conn, str(tmp_path / "backend.log"))
    proc.start(timeout_s=300)
    try:
        path = tmp_path / "gui_script.py"
        path.write_text(script)
        shots = tmp_path / "shots"
        shots.mkdir(exist_ok=True)
        env = {**os.environ, "ALLSPARK_CONNECTION_FILE": conn}
        env.pop("QT_QPA_PLATFORM", None)  # a real X server (Xvfb), not offscreen
        r = subprocess.run([XVFB, "-a", "-s", "-screen 0 1280x800x24", sys.executable, str(path), str(REPO),
                            str(field), scene, str(shots), question], capture_output=True, text=True,
                           timeout=1500, env=env, cwd=str(tmp_path))
    finally:
        proc.stop(timeout_s=10)
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT")]
    assert line, r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads(line[0][6:])
    print(json.dumps(out, indent=1))
    return out, shots


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
    field = tmp_path / DEMO.name
    shutil.copy(DEMO, field)
    out, shots = run_in_qgis_window(SCRIPT, tmp_path, gemma_gguf, field, scene, QUESTION)
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
