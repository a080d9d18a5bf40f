"""allspark:predict_trajectories and allspark:predict_attribute through processing.run against a real
backend: candidate paths (rank, score) as a line layer; predictions as new fields on a layer copy."""

import pytest
from support.data import data_dir, table_layer_uri, trajectory_layer_uri
from support.plugin import connected, trained_bundles


@pytest.fixture(scope="module", autouse=True)
def bundles(qgis_processing):
    with connected():  # the plugin talks to the session's backend during this file's tests
        yield trained_bundles(("tiny-traj", "tiny-table"))


def test_predict_trajectories(bundles, tmp_path):
    from qgis import processing
    from qgis.core import QgsVectorLayer, QgsWkbTypes

    out = str(tmp_path / "paths.gpkg")
    res = processing.run("allspark:predict_trajectories", {
        "INPUT": trajectory_layer_uri(data_dir() / "tracks.csv", True), "BUNDLE": "tiny-traj", "OUTPUT": out})
    layer = QgsVectorLayer(res["OUTPUT"], "paths", "ogr")
    assert layer.isValid() and QgsWkbTypes.geometryType(layer.wkbType()) == QgsWkbTypes.LineGeometry
    feats = list(layer.getFeatures())
    tracks = {f["track_id"] for f in feats}
    assert tracks == {f"ped{k}" for k in range(6)}
    per = [f for f in feats if f["track_id"] == "ped0"]
    assert sorted(f["rank"] for f in per) == list(range(1, len(per) + 1)) and len(per) == 20
    assert sum(f["score"] for f in per) == pytest.approx(1.0, abs=1e-4)
    best = min(per, key=lambda f: f["rank"])
    assert best["score"] == max(f["score"] for f in per)
    assert len(best.geometry().asPolyline()) == 13  # from the last observed fix, 12 steps ahead
    # the style stored in the GeoPackage: rank 1 bold, the others thinner, by data-defined width
    sl = layer.renderer().symbol().symbolLayer(0)
    assert layer.renderer().type() == "singleSymbol" and sl.dataDefinedProperties().hasActiveProperties()


def test_predict_trajectories_with_detected_fields_and_refusal(bundles):
    from qgis import processing
    from qgis.core import QgsProcessingException

    res = processing.run("allspark:predict_trajectories", {
        "INPUT": trajectory_layer_uri(data_dir() / "tracks.csv", True), "BUNDLE": "tiny-traj", "OUTPUT": "TEMPORARY_OUTPUT"})
    assert res["OUTPUT"].featureCount() == 120
    with pytest.raises(QgsProcessingException, match=r"needs the field\(s\) .*NO2"):
        processing.run("allspark:predict_attribute", {"INPUT": trajectory_layer_uri(data_dir() / "tracks.csv", True),
                                                      "BUNDLE": "tiny-table", "OUTPUT": "TEMPORARY_OUTPUT"})


def test_predict_attribute(bundles, tmp_path):
    from qgis import processing
    from qgis.core import QgsVectorLayer

    out = str(tmp_path / "pred.gpkg")
    src = table_layer_uri(data_dir() / "table.csv", True)
    res = processing.run("allspark:predict_attribute", {"INPUT": src, "BUNDLE": "tiny-table", "OUTPUT": out})
    layer = QgsVectorLayer(res["OUTPUT"], "pred", "ogr")
    assert layer.featureCount() == 120
    names = layer.fields().names()
    assert "PM2_5_pred" in names and "NO2" in names and "station" in names
    values = [f["PM2_5_pred"] for f in layer.getFeatures()]
    assert all(isinstance(v, float) for v in values) and len(set(values)) > 1


def test_predict_attribute_missing_field_is_refused(bundles, tmp_path):
    from qgis import processing
    from qgis.core import QgsProcessingException

    bad = tmp_path / "bad.csv"
    bad.write_text("No,NO2,TEMP,station\n1,10,5,Dingling\n")
    with pytest.raises(QgsProcessingException, match="CO"):
        processing.run("allspark:predict_attribute", {"INPUT": table_layer_uri(bad, True), "BUNDLE": "tiny-table",
                                                      "OUTPUT": "TEMPORARY_OUTPUT"})
