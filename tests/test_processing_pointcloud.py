"""allspark:classify_pointcloud through processing.run against a real backend: the backend reads the
COPC file; the result is a classified 3D point layer (QGIS without PDAL writes no point clouds); a
classified LAS copy is written only for uncompressed LAS input (tests/test_plugin_results.py)."""

import numpy as np
import pytest
from test_plugin_support import connected, data_dir, trained_bundles


@pytest.fixture(scope="module", autouse=True)
def bundles(qgis_processing):
    with connected():  # the plugin talks to the session's backend during this file's tests
        yield trained_bundles(("tiny-cloud",))


def test_classify_copc(bundles, tmp_path):
    import laspy
    from qgis import processing
    from qgis.core import QgsProcessingFeedback, QgsVectorLayer, QgsWkbTypes

    from allspark_qgis.results import legend_labels

    src = str(data_dir() / "cloud.copc.laz")
    out = str(tmp_path / "points.gpkg")
    fb = QgsProcessingFeedback()
    errors = []
    fb.reportError = lambda msg, fatalError=False: errors.append(msg)
    res = processing.run("allspark:classify_pointcloud", {"INPUT": src, "BUNDLE": "tiny-cloud", "OUTPUT": out,
                                                          "OUTPUT_LAS": str(tmp_path / "copy.las")}, feedback=fb)
    assert not (tmp_path / "copy.las").exists() and "OUTPUT_LAS" not in res  # a COPC input gets no LAS copy
    layer = QgsVectorLayer(res["OUTPUT"], "points", "ogr")
    assert layer.isValid() and QgsWkbTypes.hasZ(layer.wkbType())
    assert 0 < layer.featureCount() <= 1500
    assert set(layer.fields().names()) >= {"class", "class_name", "z"}
    names = {f["class_name"] for f in layer.getFeatures()}
    assert names <= {"other", "ground", "non-ground", "unclassified"} or names
    assert legend_labels(layer)  # categorised by class, stored in the GeoPackage
    # each output point is one of the file's points
    las = laspy.read(src)
    file_xyz = np.c_[las.x, las.y, las.z]
    f = next(layer.getFeatures())
    p = f.geometry().constGet()
    assert np.min(np.abs(file_xyz - [p.x(), p.y(), p.z()]).sum(axis=1)) < 1e-6
