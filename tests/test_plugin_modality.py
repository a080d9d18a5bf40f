"""The modality rule (a plain function of layer facts) and whether a layer fits a bundle."""

import pytest
from test_plugin_support import data_dir, table_layer_uri, trajectory_layer_uri

from allspark_qgis.modality import LayerFacts, detect, find_id_field, find_time_field, fit_problem


@pytest.mark.parametrize(
    "bands,dtype,names,alpha,expected",
    [
        (3, "Byte", [], False, "rgb"),
        (3, "UInt16", [], False, "rgb"),
        (4, "Byte", [], True, "rgb"),  # RGBA
        (4, "UInt16", [], False, "msi"),  # RGB + NIR
        (13, "UInt16", [], False, "msi"),  # Sentinel-2
        (29, "Float32", [], False, "msi"),
        (30, "Float32", [], False, "hsi"),
        (200, "UInt16", [], False, "hsi"),  # Indian Pines
        (1, "Float32", [], False, "sar"),
        (2, "Float32", ["VV", "VH"], False, "sar"),
        (1, "CFloat32", [], False, "sar"),  # SLC
        (3, "Float32", ["Sigma0_VV", "Sigma0_VH", "ratio"], False, "sar"),
        (0, "", [], False, None),
    ],
)
def test_raster_rule(bands, dtype, names, alpha, expected):
    assert detect(LayerFacts("raster", band_count=bands, data_type=dtype, band_names=names, alpha_last=alpha)) == expected


def test_vector_rule():
    traj = [("t", "double"), ("track_id", "string"), ("x", "double")]
    assert detect(LayerFacts("vector", geometry="point", fields=traj)) == "trajectory"
    assert detect(LayerFacts("vector", geometry="line", fields=[("when", "datetime"), ("mmsi", "int")])) == "trajectory"
    # no id field, or no time field, or polygons / no geometry: an attribute table
    assert detect(LayerFacts("vector", geometry="point", fields=[("t", "double"), ("value", "double")])) == "table"
    assert detect(LayerFacts("vector", geometry="point", fields=[("id", "int"), ("value", "double")])) == "table"
    assert detect(LayerFacts("vector", geometry="polygon", fields=traj)) == "table"
    assert detect(LayerFacts("vector", geometry="none", fields=traj)) == "table"
    assert detect(LayerFacts("pointcloud")) == "pointcloud"
    assert detect(LayerFacts("other")) is None


def test_field_finders():
    assert find_time_field([("name", "string"), ("stamp", "datetime")]) == "stamp"
    assert find_time_field([("frame_id", "int"), ("ped_id", "int")]) == "frame_id"
    assert find_time_field([("value", "double")]) is None
    assert find_id_field([("fid", "int"), ("ped_id", "int")]) == "ped_id"
    assert find_id_field([("t", "double")], exclude="t") is None


def test_fit_problem_says_why():
    hsi = {"name": "hsi-pines", "modality": "hsi", "input": {"bands": 200}}
    assert fit_problem(hsi, LayerFacts("raster", band_count=200, data_type="UInt16")) is None
    msg = fit_problem(hsi, LayerFacts("raster", band_count=40, data_type="Float32"))
    assert "200 band(s)" in msg and "40" in msg
    msg = fit_problem(hsi, LayerFacts("raster", band_count=3, data_type="Byte"))
    assert "expects a hsi layer" in msg and "rgb" in msg
    table = {"name": "pm25", "modality": "table", "input": {"numeric": ["NO2", "CO"], "categorical": ["station"]}}
    facts = LayerFacts("vector", geometry="none", fields=[("NO2", "double"), ("station", "string")])
    assert "CO" in fit_problem(table, facts)
    facts.fields.append(("CO", "double"))
    assert fit_problem(table, facts) is None
    cloud = {"name": "ground", "modality": "pointcloud"}
    assert fit_problem(cloud, LayerFacts("pointcloud", source="/data/a.copc.laz")) is None
    assert "LAS, LAZ or COPC" in fit_problem(cloud, LayerFacts("pointcloud", source="/data/ept.json"))


def test_facts_from_real_layers(qgis_app):
    from qgis.core import QgsPointCloudLayer, QgsRasterLayer, QgsVectorLayer

    from allspark_qgis.modality import detect_layer

    d = data_dir()
    assert detect_layer(QgsRasterLayer(str(d / "rgb.tif"), "rgb")) == "rgb"
    assert detect_layer(QgsRasterLayer(str(d / "hsi.tif"), "hsi")) == "hsi"
    assert detect_layer(QgsRasterLayer(str(d / "sar.tif"), "sar")) == "sar"
    assert detect_layer(QgsVectorLayer(trajectory_layer_uri(d / "tracks.csv"), "t", "delimitedtext")) == "trajectory"
    assert detect_layer(QgsVectorLayer(table_layer_uri(d / "table.csv"), "tab", "delimitedtext")) == "table"
    assert detect_layer(QgsVectorLayer(str(d / "labels.gpkg") + "|layername=labels", "l", "ogr")) == "table"
    assert detect_layer(QgsPointCloudLayer(str(d / "cloud.copc.laz"), "pc", "copc")) == "pointcloud"
