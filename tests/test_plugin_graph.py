"""Sensor networks in QGIS (graph modality) against a real backend (offscreen): a table of readings (a
time column, one column per sensor) is detected as a sensor network, a bundle trains on it through
"Train a bundle", and the prompt dock forecasts every sensor's next hour as a table, a field per step."""

import pytest
from support.data import data_dir, sensor_layer_uri
from support.plugin import backend_with_bundles, open_plugin, pump


@pytest.fixture(scope="module")
def ready(qgis_processing):
    with backend_with_bundles(("tiny-graph", "tiny-table")) as backend:
        yield backend


def test_a_readings_table_is_a_sensor_network_and_an_air_table_is_not(qgis_app):
    from qgis.core import QgsVectorLayer
    from support.data import table_layer_uri

    from allspark_qgis import modality

    sensors = QgsVectorLayer(sensor_layer_uri(data_dir() / "sensors.csv"), "loops", "delimitedtext")
    assert sensors.isValid() and modality.detect_layer(sensors) == "graph"
    air = QgsVectorLayer(table_layer_uri(data_dir() / "table.csv"), "air", "delimitedtext")
    assert modality.detect_layer(air) == "table"


def test_the_dock_forecasts_every_sensor(ready, qgis_app, qgis_iface, qgis_new_project):
    from qgis.core import QgsProject, QgsVectorLayer

    from allspark_qgis import connection

    listed = {b["name"]: b for b in connection.bundles(refresh=True)}
    assert (listed["tiny-graph"]["modality"], listed["tiny-graph"]["task"]) == ("graph", "forecast")
    layer = QgsVectorLayer(sensor_layer_uri(data_dir() / "sensors.csv"), "loops", "delimitedtext")
    QgsProject.instance().addMapLayer(layer)
    with open_plugin(qgis_app, qgis_iface) as p:
        d = p.show_dock()
        d.set_layer(layer)
        d.bundle_combo.setCurrentIndex(d.bundle_combo.findData("tiny-graph"))
        assert d.current_bundle()["name"] == "tiny-graph"
        got = []
        d.answered.connect(got.append)
        before = set(QgsProject.instance().mapLayers())
        d.run()
        assert pump(qgis_app, lambda: bool(got), 90), d.answer.toPlainText()
        added = [QgsProject.instance().mapLayer(i) for i in set(QgsProject.instance().mapLayers()) - before]
    entry = got[0]
    assert entry["modality"] == "graph" and entry["summary"].startswith("12 sensors, the next 12 steps")
    table = added[0]
    names = table.fields().names()
    assert names[:3] == ["sensor_id", "in_5min", "in_10min"] and names[-1] == "in_60min"
    rows = list(table.getFeatures())
    assert len(rows) == 12 and all(30 < r["in_60min"] < 90 for r in rows)  # speeds in mph, not z-scores


def test_a_table_without_the_bundles_sensors_is_refused(ready, qgis_app):
    from qgis.core import QgsVectorLayer
    from support.data import table_layer_uri

    from allspark_qgis import connection, modality

    air = QgsVectorLayer(table_layer_uri(data_dir() / "table.csv"), "air", "delimitedtext")
    problem = modality.fit_problem(connection.bundle("tiny-graph"), modality.facts_from_layer(air), "graph")
    assert problem and "lacks 12 of them" in problem
