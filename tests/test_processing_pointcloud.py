"""allspark:classify_pointcloud through processing.run against a real backend: the backend reads the
COPC file; the result is a classified 3D point layer, and the backend writes a classified copy of the
point cloud (here LAZ: every point of the file, the classes as ASPRS codes; tests/test_pointcloud_output.py)."""

import numpy as np
import pytest
from support.data import data_dir
from support.plugin import connected, trained_bundles


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
    infos = []
    fb.pushInfo = infos.append
    las_out = tmp_path / "classified" / "copy.laz"  # the folder is made
    res = processing.run("allspark:classify_pointcloud", {"INPUT": src, "BUNDLE": "tiny-cloud", "OUTPUT": out,
                                                          "OUTPUT_LAS": str(las_out)}, feedback=fb)
    assert res["OUTPUT_LAS"] == str(las_out) and not errors
    assert any(i.startswith(f"Classified point cloud written: {las_out} (1,500 of 1,500 points") for i in infos), infos
    # the LAZ copy: every point of the COPC file, in its order, each classified (ground 2, the other class 1)
    orig, copy = laspy.read(src), laspy.read(str(las_out))
    with open(las_out, "rb") as f:
        assert f.read(105)[104] & 0x80  # compressed (LAZ)
    assert len(copy.points) == len(orig.points) == 1500
    for d in ("X", "Y", "Z", "intensity", "gps_time"):
        assert np.array_equal(np.asarray(orig[d]), np.asarray(copy[d])), d
    assert set(np.unique(copy.classification)) <= {1, 2}
    assert copy.header.parse_crs() is not None and copy.header.parse_crs() == orig.header.parse_crs()
    assert not any(v.user_id == "copc" for v in copy.header.vlrs)  # a plain LAZ file, not a broken COPC one
    layer = QgsVectorLayer(res["OUTPUT"], "points", "ogr")
    assert layer.isValid() and QgsWkbTypes.hasZ(layer.wkbType())
    assert 0 < layer.featureCount() <= 1500
    assert set(layer.fields().names()) >= {"class", "class_name", "z"}
    names = {f["class_name"] for f in layer.getFeatures()}
    assert names and names <= {"other", "ground", "non-ground", "unclassified"}, names
    assert legend_labels(layer)  # categorised by class, stored in the GeoPackage
    # each output point is one of the file's points
    las = laspy.read(src)
    file_xyz = np.c_[las.x, las.y, las.z]
    f = next(layer.getFeatures())
    p = f.geometry().constGet()
    assert np.min(np.abs(file_xyz - [p.x(), p.y(), p.z()]).sum(axis=1)) < 1e-6
    # the layer's points carry in the LAZ copy the code of the class the layer shows
    code = {"ground": 2, "other": 1, "non-ground": 1, "unclassified": 1}
    where = {tuple(np.round(v, 3)): i for i, v in enumerate(file_xyz)}
    for f in layer.getFeatures():
        p = f.geometry().constGet()
        i = where[tuple(np.round([p.x(), p.y(), p.z()], 3))]
        assert copy.classification[i] == code[f["class_name"]]
