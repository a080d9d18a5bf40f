"""The prompt dock in a real QGIS GUI under Xvfb: open it on a raster from the layer's "Ask AllSpark..."
action, run a prompt against the real backend, wait for the streamed answer and the classified layer,
and save a screenshot to docs/img/prompt_dock.png (shown in the README)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_plugin_support import backend, data_dir, trained_bundles

REPO = Path(__file__).resolve().parents[1]
SHOT = REPO / "docs" / "img" / "prompt_dock.png"
XVFB = shutil.which("xvfb-run")

SCRIPT = r"""
import json, os, sys, time
repo, raster, shot = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, repo)
from unittest.mock import MagicMock
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
app = QgsApplication([], True)
app.initQgis()
from qgis.core import QgsLayerTreeModel
from qgis.gui import QgsLayerTreeMapCanvasBridge, QgsLayerTreeView, QgsMapCanvas, QgsMessageBar
from qgis.PyQt.QtCore import Qt, QSize
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
model = QgsLayerTreeModel(root)  # keep a reference: the view does not own its model
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
    end = time.time() + timeout
    while time.time() < end and not until():
        app.processEvents()
        time.sleep(0.02)
    return until()

import allspark_qgis
plugin = allspark_qgis.classFactory(iface)
plugin.initGui()
out = {"ready": pump(lambda: plugin.manager.state == "ready", 30)}
layer = QgsRasterLayer(raster, "scene (RGB)")
QgsProject.instance().addMapLayer(layer)
canvas.setDestinationCrs(layer.crs())
canvas.setExtent(layer.extent().buffered(40))
window.show()
iface.activeLayer.return_value = layer
plugin.layer_actions["raster"].trigger()
dock = plugin.dock
window.resizeDocks([layers_dock, dock], [230, 440], Qt.Horizontal)
dock.bundle_combo.setCurrentIndex(max(0, dock.bundle_combo.findData("tiny-rgb")))
dock.prompt_edit.setPlainText("Which land cover classes are in this scene?")
answered = []
dock.answered.connect(answered.append)
out["run_enabled"] = dock.run_button.isEnabled()
dock.run()
out["answered"] = pump(lambda: bool(answered), 90)
added = [l for l in QgsProject.instance().mapLayers().values() if l is not layer]
for l in added:
    l.renderer().setOpacity(0.8)
tree.expandAll()
canvas.refreshAllLayers()
pump(lambda: False, 1.0)
canvas.waitWhileRendering()
pump(lambda: False, 0.5)
out["answer_html"] = dock.answer.toPlainText()
out["entry"] = answered[0] if answered else None
out["added"] = [l.name() for l in added]
out["canvas_layers"] = [l.name() for l in canvas.layers()]
out["tree_layers"] = [l.name() for l in root.findLayers()]
os.makedirs(os.path.dirname(shot), exist_ok=True)
out["saved"] = window.grab().save(shot)
out["platform"] = app.platformName()
plugin.unload()
print("RESULT" + json.dumps(out))
app.exitQgis()
"""


@pytest.mark.skipif(XVFB is None, reason="xvfb-run is not installed")
def test_dock_runs_a_prompt_and_saves_a_screenshot(qgis_processing, tmp_path):
    trained_bundles(("tiny-rgb",))
    _, conn, _ = backend()
    script = tmp_path / "gui.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "ALLSPARK_CONNECTION_FILE": conn}
    env.pop("QT_QPA_PLATFORM", None)  # a real X server (Xvfb), not offscreen
    r = subprocess.run([XVFB, "-a", "-s", "-screen 0 1280x800x24", sys.executable, str(script), str(REPO),
                        str(data_dir() / "rgb.tif"), str(SHOT)], capture_output=True, text=True, timeout=180, env=env,
                       cwd=str(tmp_path))
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT")]
    assert line, r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads(line[0][6:])
    assert out["platform"] == "xcb" and out["ready"] and out["run_enabled"] and out["answered"], out
    assert out["entry"]["bundle"] == "tiny-rgb" and out["entry"]["prompt"].startswith("Which land cover")
    assert out["added"] and "Classified as" in out["answer_html"]
    assert out["saved"] and SHOT.stat().st_size > 20000
