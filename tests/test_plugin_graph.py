"""Sensor networks in QGIS (graph modality) against a real backend (offscreen): a table of readings (a
time column, one column per sensor) is detected as a sensor network, a bundle trains on it through
"Train a bundle", and the prompt dock forecasts every sensor's next hour as a table, a field per step."""

import pytest
from support.data import data_dir, sensor_layer_uri
from support.plugin import backend_with_bundles, dock_run


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
    entry, added = dock_run(qgis_app, qgis_iface, layer, "tiny-graph", 90)
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


def test_the_forecast_on_the_sensors_point_layer_and_a_timeline(ready, qgis_app, qgis_iface, qgis_new_project, tmp_path):
    """With the sensors as a point layer in the project (an id field naming them), the forecast also comes
    back on the map: the points with a field per step ahead, and a temporal layer of the next hour."""
    from qgis.core import QgsProject, QgsVectorLayer, QgsVectorLayerTemporalProperties
    from qgis.PyQt.QtCore import QDateTime, Qt

    ids = [str(770000 + 37 * k) for k in range(12)]  # support.data.sensor_csv's sensors
    places = tmp_path / "detectors.csv"
    places.write_text("sensor_id,longitude,latitude\n" + "".join(
        f"{s},{-118.3 + 0.01 * k},{34.1 + 0.005 * k}\n" for k, s in enumerate(ids[:11])), encoding="utf-8")
    points = QgsVectorLayer(f"file://{places}?delimiter=,&xField=longitude&yField=latitude&crs=EPSG:4326",
                            "detectors", "delimitedtext")
    readings = QgsVectorLayer(sensor_layer_uri(data_dir() / "sensors.csv"), "loops", "delimitedtext")
    assert points.isValid() and readings.isValid()
    QgsProject.instance().addMapLayers([points, readings])
    _, layers = dock_run(qgis_app, qgis_iface, readings, "tiny-graph", 90)
    added = {layer.name(): layer for layer in layers}
    table = next(v for k, v in added.items() if not k.endswith(("on detectors", "timeline")))
    on_map = next(v for k, v in added.items() if k.endswith("on detectors"))
    timeline = next(v for k, v in added.items() if k.endswith("timeline"))
    forecast = {r["sensor_id"]: r["in_60min"] for r in table.getFeatures()}
    rows = list(on_map.getFeatures())
    assert len(rows) == 11 and on_map.crs().authid() == "EPSG:4326"
    assert all(r["in_60min"] == pytest.approx(forecast[str(r["sensor_id"])]) for r in rows)
    assert on_map.fields().names()[:3] == ["sensor_id", "longitude", "latitude"]
    steps = list(timeline.getFeatures())
    assert len(steps) == 11 * 12
    props = timeline.temporalProperties()
    assert props.isActive() and props.mode() == QgsVectorLayerTemporalProperties.ModeFeatureDateTimeInstantFromField
    last = QDateTime.fromString("2012-03-06T11:55:00", Qt.ISODate)  # sensor_csv: 36 h from 2012-03-05 00:00
    times = sorted({f["time"] for f in steps})
    assert times[0] == last.addSecs(300) and times[-1] == last.addSecs(3600)


def test_training_with_the_sensors_places_makes_the_road_graph(ready, qgis_app, qgis_new_project, tmp_path):
    """"Train a bundle" on the readings with the sensors' point layer in the project: their places (in
    WGS 84, whatever the layer's CRS) go with the readings, and the bundle's road graph comes from the
    distances between them."""
    import json

    from qgis import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject, QgsVectorLayer
    from support.plugin import backend, train_inputs

    ids = [str(770000 + 37 * k) for k in range(12)]
    places = tmp_path / "detectors_utm.csv"  # UTM 11N metres around Los Angeles
    places.write_text("sensor_id,x,y\n" + "".join(f"{s},{380000 + 900 * (k % 4)},{3775000 + 700 * (k // 4)}\n"
                                                  for k, s in enumerate(ids)), encoding="utf-8")
    points = QgsVectorLayer(f"file://{places}?delimiter=,&xField=x&yField=y&crs=EPSG:32611", "detectors", "delimitedtext")
    assert points.isValid()
    QgsProject.instance().addMapLayer(points)
    _, _, bundles = backend()
    params = {**train_inputs(data_dir())["tiny-graph"], "NAME": "tiny-graph-places", "EPOCHS": 1,
              "FOLDER": str(bundles)}
    ctx = QgsProcessingContext()
    ctx.setProject(QgsProject.instance())
    processing.run("allspark:train_bundle", params, context=ctx, feedback=QgsProcessingFeedback())
    manifest = json.loads((bundles / "tiny-graph-places" / "manifest.json").read_text())
    adj = manifest["input"]["adjacency"]
    assert adj is not None and len(adj["rows"]) > 12  # the diagonal and edges between nearby sensors
    edges = {(r, c) for r, c in zip(adj["rows"], adj["cols"]) if r != c}
    assert edges and all((c, r) in edges for r, c in edges)  # distances are symmetric
    assert (0, 1) in edges and (0, 11) not in edges  # 900 m apart: an edge; the grid's far corner: none
