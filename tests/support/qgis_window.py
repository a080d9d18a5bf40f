"""A real QGIS window for the integration tests that drive the prompt dock as a user does
(tests/test_gui_*.py): a script run by QGIS's Python under Xvfb, against a backend on Gemma 3 270M.

- `WINDOW`: the script's start -- a QGIS main window with a map canvas, a layer tree and a message bar,
  a mocked iface, `pump(until, timeout)` (the Qt event loop until a condition holds; the timeout only
  bounds a hang) and `shot(name)` (a screenshot once the canvas has drawn); argv: repo, field, scene,
  out_dir, question;
- `DOCK`: WINDOW, then the plugin loaded (`out["ready"]`) and the two steps every real-window dock test
  takes: `open_dock(path, name, bundle)` (as "Ask AllSpark..." does) and `ask(dock, question, timeout)`;
- `ASK_AND_RECORD`: `ask_and_record(path, name, bundle, question, timeout)`, the two steps and what a
  user then sees noted in `out`;
- `END`: the script's end (the plugin unloaded, `out` printed as RESULT, QGIS closed);
- `run_in_qgis_window(script, ...)`: run such a script, return what it printed as RESULT;
  `run_on_a_copy(...)`: the same on a copy of the layer's file (QGIS writes statistics beside it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support.plugin import VENV_PY

REPO = Path(__file__).resolve().parents[2]
XVFB = shutil.which("xvfb-run")
DEMO = REPO / "demo" / "indian_pines_field.tif"

WINDOW = r"""
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
"""

# the plugin in that window, and the two steps every real-window dock test takes: open the dock on a
# raster (as "Ask AllSpark..." does) with a bundle chosen, and ask it a question
DOCK = WINDOW + r"""
from qgis.PyQt.QtGui import QFont
app.setFont(QFont("Open Sans", 9))
out = {}
import allspark_qgis
plugin = allspark_qgis.classFactory(iface)
plugin.initGui()
out["ready"] = pump(lambda: plugin.manager.state == "ready", 120)


def show_dock_on(layer, kind, bundle):
    # "Ask AllSpark..." on the layer (its kind's context-menu action), the bundle chosen in the dock
    window.show()
    iface.activeLayer.return_value = layer
    plugin.layer_actions[kind].trigger()
    d = plugin.dock
    window.resizeDocks([layers_dock, d], [285, 460], Qt.Horizontal)
    d.bundle_combo.setCurrentIndex(d.bundle_combo.findData(bundle))
    return d


def open_dock(path, name, bundle, project_crs=False):
    global field
    field = QgsRasterLayer(path, name)
    QgsProject.instance().addMapLayer(field)
    if project_crs:  # what QGIS does for the first layer of a new project
        QgsProject.instance().setCrs(field.crs())
        canvas.setDestinationCrs(field.crs())
    return show_dock_on(field, "raster", bundle)


def ask(d, question, timeout):
    d.prompt_edit.setPlainText(question)
    answered = []
    d.answered.connect(answered.append)
    d.run()
    pump(lambda: bool(answered), timeout)
    return answered[0] if answered else None
"""

ASK_AND_RECORD = r"""
from allspark_qgis.results import legend_labels


def ask_and_record(path, name, bundle, question, timeout):
    # open the dock on the raster with the bundle, ask, and note what a user sees: the bundle chosen, the
    # history entry, the dock's text, the layers added and the first one's legend; returns those layers
    d = open_dock(path, name, bundle, project_crs=True)
    out["bundle"] = d.bundle_combo.currentData()
    out["entry"] = ask(d, question, timeout)
    out["answered"] = out["entry"] is not None
    out["answer"] = d.answer.toPlainText()
    out["done_label"] = d.progress_label.text()
    added = [l for l in QgsProject.instance().mapLayers().values() if l is not field]
    out["added"] = [l.name() for l in added]
    out["legend"] = legend_labels(added[0]) if added else []
    return added
"""

END = r"""plugin.unload()
print("RESULT" + json.dumps(out))
app.exitQgis()
"""


def run_in_qgis_window(script: str, tmp_path, gemma_gguf, field, scene: str, question: str,
                       bundles=None) -> tuple[dict, Path]:
    """A backend on Gemma 3 270M (no bundles folder but the repository's and `bundles`), `script` run by
    QGIS's Python in a real window (Xvfb) on `field` (and `scene`) with `question`: (what it printed as
    RESULT, the folder of its screenshots)."""
    from allspark_qgis.client import BackendProcess

    conn = str(tmp_path / "backend.json")
    proc = BackendProcess(str(VENV_PY), ["--llm", str(gemma_gguf), "--device", "cpu", "--bundles",
                                         str(bundles or tmp_path / "none")],
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


def run_on_a_copy(script: str, tmp_path, gemma_gguf, source, question: str, scene: str = "",
                  bundles=None) -> tuple[dict, Path]:
    """run_in_qgis_window on a copy of `source` in tmp_path: QGIS writes statistics beside what it opens."""
    copy = tmp_path / Path(source).name
    shutil.copy(source, copy)
    return run_in_qgis_window(script, tmp_path, gemma_gguf, copy, scene, question, bundles)
