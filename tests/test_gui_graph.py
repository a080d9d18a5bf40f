"""The shipped sensor-network bundle in a real QGIS window (Xvfb), as a user meets it: METR-LA's speeds
file (207 loop detectors, 5 days of 5-minute readings, no time column) added as a table beside the
sensors' locations as a point layer, "Ask AllSpark..." on the readings, the graph bundle, Run. The
forecast comes back as a table of 207 sensors with a field per 5 minutes ahead, in mph, on the sensors'
points (graduated by the hour ahead) and as a temporal layer of the next hour; the dock says it in words."""

import json

import pytest
from support.qgis_window import DOCK, END, XVFB, run_in_qgis_window

QUESTION = "How will the traffic speeds change in the next hour?"

pytestmark = pytest.mark.integration

SCRIPT = DOCK + r"""
from qgis.core import QgsVectorLayer
readings = QgsVectorLayer("file://" + field_path + "?delimiter=,&geomType=none", "METR-LA speeds", "delimitedtext")
places = QgsVectorLayer("file://" + os.path.join(os.path.dirname(field_path), "graph_sensor_locations.csv")
                        + "?delimiter=,&xField=longitude&yField=latitude&crs=EPSG:4326", "METR-LA sensors", "delimitedtext")
QgsProject.instance().addMapLayer(places)
QgsProject.instance().addMapLayer(readings)
d = show_dock_on(readings, "vector", "graph-metr-la")
out["modality"] = d.current_modality()
out["bundle"] = d.bundle_combo.currentData()
entry = ask(d, question, 600)
out["entry"] = entry
out["answer"] = d.answer.toPlainText()
added = [l for l in QgsProject.instance().mapLayers().values() if l.id() not in (readings.id(), places.id())]
out["added"] = sorted(l.name() for l in added)
for t in added:
    if t.name().endswith("on METR-LA sensors"):
        out["points"] = [[f["sensor_id"], f["in_60min"]] for f in t.getFeatures()]
        canvas.setDestinationCrs(t.crs())
        canvas.setExtent(t.extent().buffered(0.02))
    elif t.name().endswith("timeline"):
        out["timeline"] = [t.featureCount(), t.temporalProperties().isActive()]
    else:
        out["fields"] = t.fields().names()
        out["rows"] = [[f[n] for n in ("sensor_id", "in_5min", "in_60min")] for f in t.getFeatures()]
drawn = []
canvas.mapCanvasRefreshed.connect(lambda: drawn.append(1))
canvas.refreshAllLayers()
pump(lambda: bool(drawn), 30)
app.processEvents()
out["saved"] = window.grab().save(os.path.join(out_dir, "graph.png"))
""" + END


@pytest.mark.skipif(XVFB is None, reason="xvfb-run is not installed")
def test_the_shipped_graph_bundle_in_the_dock(gemma_gguf, shared_data, tmp_path):
    import shutil

    src = tmp_path / "los_speed_days1-5.csv"
    shutil.copy(shared_data / "graph_metr_la" / "los_speed_days1-5.csv", src)
    shutil.copy(shared_data / "graph_metr_la" / "graph_sensor_locations.csv", tmp_path / "graph_sensor_locations.csv")
    out, shots = run_in_qgis_window(SCRIPT, tmp_path, gemma_gguf, src, "", QUESTION)
    assert out["ready"] and out["modality"] == "graph" and out["bundle"] == "graph-metr-la", json.dumps(out)[:2000]
    entry = out["entry"]
    assert entry is not None and entry["summary"].startswith("207 sensors, the next 12 steps"), json.dumps(out)[:2000]
    assert out["fields"][:2] == ["sensor_id", "in_5min"] and out["fields"][-1] == "in_60min"
    assert len(out["rows"]) == 207 and all(5 < r[2] < 90 for r in out["rows"])  # mph
    # the sensors' point layer in the project: the forecast on the map, and a timeline of the next hour
    forecast = {str(r[0]): r[2] for r in out["rows"]}
    assert len(out["points"]) == 207 and all(abs(v - forecast[str(s)]) < 1e-6 for s, v in out["points"])
    assert out["timeline"] == [207 * 12, True]
    assert out["saved"] and (shots / "graph.png").stat().st_size > 30000
