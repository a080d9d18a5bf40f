"""The shipped sensor-network bundle in a real QGIS window (Xvfb), as a user meets it: METR-LA's speeds
file (207 loop detectors, 5 days of 5-minute readings, no time column) added as a table, "Ask
AllSpark..." on it, the graph bundle, Run. The forecast comes back as a table of 207 sensors with a field
per 5 minutes ahead, in mph, and the dock says the next hour in words."""

import json

import pytest
from support.qgis_window import DOCK, END, XVFB, run_in_qgis_window

QUESTION = "How will the traffic speeds change in the next hour?"

pytestmark = pytest.mark.integration

SCRIPT = DOCK + r"""
from qgis.core import QgsVectorLayer
readings = QgsVectorLayer("file://" + field_path + "?delimiter=,&geomType=none", "METR-LA speeds", "delimitedtext")
QgsProject.instance().addMapLayer(readings)
d = show_dock_on(readings, "vector", "graph-metr-la")
out["modality"] = d.current_modality()
out["bundle"] = d.bundle_combo.currentData()
entry = ask(d, question, 600)
out["entry"] = entry
out["answer"] = d.answer.toPlainText()
added = [l for l in QgsProject.instance().mapLayers().values() if l.id() != readings.id()]
if added:
    t = added[0]
    out["fields"] = t.fields().names()
    out["rows"] = [[f[n] for n in ("sensor_id", "in_5min", "in_60min")] for f in t.getFeatures()]
app.processEvents()
out["saved"] = window.grab().save(os.path.join(out_dir, "graph.png"))
""" + END


@pytest.mark.skipif(XVFB is None, reason="xvfb-run is not installed")
def test_the_shipped_graph_bundle_in_the_dock(gemma_gguf, shared_data, tmp_path):
    import shutil

    src = tmp_path / "los_speed_days1-5.csv"
    shutil.copy(shared_data / "graph_metr_la" / "los_speed_days1-5.csv", src)
    out, shots = run_in_qgis_window(SCRIPT, tmp_path, gemma_gguf, src, "", QUESTION)
    assert out["ready"] and out["modality"] == "graph" and out["bundle"] == "graph-metr-la", json.dumps(out)[:2000]
    entry = out["entry"]
    assert entry is not None and entry["summary"].startswith("207 sensors, the next 12 steps"), json.dumps(out)[:2000]
    assert out["fields"][:2] == ["sensor_id", "in_5min"] and out["fields"][-1] == "in_60min"
    assert len(out["rows"]) == 207 and all(5 < r[2] < 90 for r in out["rows"])  # mph
    assert out["saved"] and (shots / "graph.png").stat().st_size > 30000
