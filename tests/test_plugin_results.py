"""Results -> styled layers: class GeoTIFF (GDAL) with a paletted renderer and class names in the
legend, prediction fields on a layer copy, candidate paths, classified points."""

import os

import numpy as np
import pytest
from support.data import data_dir, table_layer_uri, wkt

from allspark_qgis import results


def test_class_raster_has_palette_names_and_default_style(tmp_path, qgis_app):
    from osgeo import gdal
    from qgis.core import QgsRasterLayer

    labels = np.array([[0, 1, 2], [2, -1, 0]])
    path = results.write_class_raster(str(tmp_path / "c.tif"), labels, [500000, 640, 0, 4000000, 0, -640], wkt(),
                                      ["water", "forest", "urban"])
    ds = gdal.Open(path)
    band = ds.GetRasterBand(1)
    info = gdal.Info(path)  # (GDAL 3.6's Band.GetCategoryNames() returns None for PAM categories)
    assert "0: water" in info and "2: urban" in info and band.GetNoDataValue() == 255
    assert band.GetRasterColorTable().GetCount() >= 3
    assert band.ReadAsArray().tolist() == [[0, 1, 2], [2, 255, 0]]
    ds = None
    layer = results.class_raster_layer(path, ["water", "forest", "urban"], "classes")
    assert layer.renderer().type() == "paletted"
    assert results.legend_labels(layer) == ["water", "forest", "urban"]
    assert os.path.isfile(str(tmp_path / "c.qml"))  # the style travels with the file
    again = QgsRasterLayer(path, "again")
    assert again.renderer().type() == "paletted" and results.legend_labels(again) == ["water", "forest", "urban"]


def test_many_classes_use_uint16(tmp_path, qgis_app):
    from osgeo import gdal

    classes = [f"c{i}" for i in range(300)]
    path = results.write_class_raster(str(tmp_path / "big.tif"), np.arange(300).reshape(15, 20), [0, 1, 0, 0, 0, -1],
                                      None, classes)
    ds = gdal.Open(path)
    assert ds.GetRasterBand(1).DataType == gdal.GDT_UInt16 and ds.GetRasterBand(1).GetNoDataValue() == 65535
    assert len(set(results.class_colors(classes))) == 300


def test_copy_with_predictions_regression_and_classification(qgis_app):
    from qgis.core import QgsVectorLayer

    src = QgsVectorLayer(table_layer_uri(data_dir() / "table.csv"), "table", "delimitedtext")
    fids = [f.id() for f in src.getFeatures()][:3]
    reg = {"targets": [{"name": "PM2.5", "unit": "ug/m3"}], "values": np.array([[1.5], [2.5], [np.nan]], np.float32)}
    out = results.copy_with_predictions(src, reg, fids)
    assert out.featureCount() == src.featureCount()
    assert out.fields().indexOf("PM2_5_pred") >= 0
    vals = [f["PM2_5_pred"] for f in out.getFeatures()][:4]
    assert vals[:2] == [1.5, 2.5]
    assert vals[2] is None or str(vals[2]) == "NULL"  # the row predicted as NaN has no value
    assert vals[3] is None or str(vals[3]) == "NULL"  # nor has a row not asked about
    cls = {"classes": ["low", "high"], "labels": ["high", "low", "high"],
           "probabilities": np.array([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]], np.float32)}
    out = results.copy_with_predictions(src, cls, fids)
    feats = list(out.getFeatures())[:3]
    assert [f["pred_class"] for f in feats] == ["high", "low", "high"]
    assert feats[0]["pred_prob"] == pytest.approx(0.8)


def test_trajectory_layer_one_feature_per_candidate(qgis_app):
    from qgis.core import QgsCoordinateReferenceSystem

    rng = np.random.default_rng(0)
    paths = np.cumsum(rng.normal(0, 1, (2, 3, 12, 2)), axis=2)
    scores = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    layer = results.trajectory_layer({"paths": paths, "scores": scores}, ["a", "b"],
                                     QgsCoordinateReferenceSystem("EPSG:32633"), last_xy=[(0, 0), (5, 5)])
    feats = list(layer.getFeatures())
    assert len(feats) == 6 and layer.fields().names() == ["track_id", "rank", "score"]
    first = [f for f in feats if f["track_id"] == "a"]
    assert [f["rank"] for f in first] == [1, 2, 3] and first[0]["score"] == pytest.approx(0.5)
    assert len(first[0].geometry().asPolyline()) == 13  # last observed fix + 12 future points
    assert layer.renderer() is not None


def test_points_layer_from_the_result_alone(qgis_app):
    """The point layer comes from the result only: the points each tile kept, their file indexes and
    coordinates (element_xyz, NaN-padded); the plugin reads no LAS / LAZ file itself."""
    from qgis.core import QgsCoordinateReferenceSystem

    rng = np.random.default_rng(1)
    xyz = rng.uniform(0, 10, (45, 3))
    el_xyz = np.full((2, 25, 3), np.nan)
    el_xyz[0, :20], el_xyz[1, :25] = xyz[:20], xyz[20:45]
    res = {"classes": ["other", "ground"], "element_labels": np.array([[1] * 10 + [0] * 10 + [-1] * 5, [1] * 25]),
           "samples": [{"index": list(range(20))}, {"index": list(range(20, 45))}], "element_xyz": el_xyz}
    index, labels, pts = results.point_results(res)
    assert index.tolist() == list(range(45)) and labels.tolist() == [1] * 10 + [0] * 10 + [1] * 25
    np.testing.assert_array_equal(pts, xyz)
    layer = results.points_layer(pts, labels, ["other", "ground"], QgsCoordinateReferenceSystem("EPSG:32633"))
    assert layer.featureCount() == 45 and results.legend_labels(layer) == ["other", "ground"]
    assert layer.wkbType() == 1001  # PointZ
    with pytest.raises(ValueError, match="The backend sent no point coordinates"):
        results.point_results({k: v for k, v in res.items() if k != "element_xyz"})
    for gone in ("las_header", "las_xyz", "copc_nodes", "file_order_xyz", "write_classified_las", "las_codes",
                 "LAS_CODES"):  # the LAS reader / writer is the backend's (laspy), not the plugin's
        assert not hasattr(results, gone), gone


def test_label_indices():
    assert results.label_indices({"classes": ["a", "b"], "labels": ["b", "a", "x"]}).tolist() == [1, 0, -1]
    assert results.label_indices({"probabilities": np.array([[0.1, 0.9], [0.7, 0.3]])}).tolist() == [1, 0]
    assert results.label_indices({"element_labels": np.array([[0, 1], [1, 1]])}).tolist() == [0, 1, 1, 1]
