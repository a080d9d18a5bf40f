"""QGIS layers -> payloads (docs/DESIGN.md): rasters with NaN nodata and GDAL transforms, attribute
columns, trajectory rows (points, lines with M, lines without M), point-cloud paths."""

import math

import numpy as np
import pytest
from support.data import data_dir, table_layer_uri, trajectory_layer_uri, write_geotiff

from allspark_qgis import layers
from allspark_qgis.families.trajectory import FAMILY as TRAJECTORIES


@pytest.fixture(scope="module")
def rgb(qgis_app):
    from qgis.core import QgsRasterLayer

    return QgsRasterLayer(str(data_dir() / "rgb.tif"), "rgb")


def test_raster_payload_whole_layer(rgb):
    arrays, meta = layers.raster_payload(rgb)
    img = arrays["image"]
    assert img.shape == (3, 96, 96) and img.dtype == np.float32
    assert np.isnan(img[:, :8, :8]).all() and np.isfinite(img[:, 8:, 8:]).all()  # nodata 0 -> NaN
    assert meta["transform"] == [500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0]
    assert meta["window"] == [0, 0, 96, 96] and meta["nodata"] == 0.0
    assert "32633" in meta["crs"] or "UTM zone 33N" in meta["crs"]
    assert meta["band_names"] == ["B1", "B2", "B3"]


def test_raster_payload_extent_window_and_decimation(rgb):
    from qgis.core import QgsRectangle

    ext = QgsRectangle(500100, 3999500, 500300, 3999900)  # 20 x 40 px, inside
    arrays, meta = layers.raster_payload(rgb, ext)
    assert arrays["image"].shape == (3, 40, 20)
    assert meta["window"] == [10, 10, 20, 40]
    assert meta["transform"][0] == 500100 and meta["transform"][3] == 3999900
    outside = QgsRectangle(600000, 0, 600100, 100)
    with pytest.raises(layers.LayerError, match="does not overlap"):
        layers.raster_payload(rgb, outside)
    arrays, meta = layers.raster_payload(rgb, max_pixels=48 * 48)
    assert arrays["image"].shape == (3, 48, 48) and meta["transform"][1] == pytest.approx(20.0)


def test_tiles_reach_past_the_edge_as_nodata(rgb):
    grid = layers.raster_grid(rgb)
    tiles = list(layers.iter_tiles([0, 0, 96, 96], 40))
    assert len(tiles) == 9 and tiles[-1][2] == [80, 80, 40, 40]
    img = layers.read_block(rgb.dataProvider(), grid.window_extent(tiles[-1][2]), 40, 40, [1, 2, 3])
    assert np.isfinite(img[:, :16, :16]).all() and np.isnan(img[:, 16:, :]).all()


def test_all_nodata_is_refused(tmp_path, qgis_app):
    from qgis.core import QgsRasterLayer

    p = write_geotiff(tmp_path / "empty.tif", np.full((1, 4, 4), -1, np.float32), nodata=-1)
    with pytest.raises(layers.LayerError, match="nodata"):
        layers.raster_payload(QgsRasterLayer(p, "empty"))


def test_table_payload(qgis_app):
    from qgis.core import QgsVectorLayer

    lyr = QgsVectorLayer(table_layer_uri(data_dir() / "table.csv"), "table", "delimitedtext")
    arrays, meta = layers.table_payload(lyr)
    assert set(arrays) == {"col:No", "col:NO2", "col:CO", "col:TEMP", "col:PM2.5"}
    assert arrays["col:NO2"].dtype == np.float64 and len(arrays["col:NO2"]) == 120
    assert meta["categorical"]["station"][:3] == ["Aotizhongxin", "Changping", "Dingling"]
    assert len(meta["fids"]) == 120
    arrays, meta = layers.table_payload(lyr, feature_ids=meta["fids"][:2], numeric=["NO2"], categorical=["station", "No"])
    assert set(arrays) == {"col:NO2"} and meta["categorical"]["No"] == ["1", "2"]
    assert meta["features"] == ["NO2", "station", "No"]
    with pytest.raises(layers.LayerError, match="lacks"):
        layers.table_payload(lyr, numeric=["SO2"])


def test_trajectory_payload_from_points(qgis_app):
    from qgis.core import QgsVectorLayer

    lyr = QgsVectorLayer(trajectory_layer_uri(data_dir() / "tracks.csv"), "tracks", "delimitedtext")
    arrays, meta = TRAJECTORIES.payload(lyr)
    assert meta["time_field"] == "t" and meta["id_field"] == "track_id"
    assert arrays["xy"].shape == (240, 2) and arrays["t"].shape == (240,) and arrays["track"].dtype == np.int64
    assert meta["track_ids"] == [f"ped{k}" for k in range(6)]
    first = arrays["track"] == 0
    assert np.all(np.diff(arrays["t"][first]) > 0)


def _memory_lines(with_m: bool):
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    geom = "LineStringM" if with_m else "LineString"
    lyr = QgsVectorLayer(f"{geom}?crs=EPSG:32633&field=vessel_id:string&field=time:double", "lines", "memory")
    feats = []
    for t0, wkt in ([(0.0, "LineStringM(0 0 0, 10 0 1, 20 0 2)"), (2.0, "LineStringM(20 0 2, 20 10 3)")]):
        f = QgsFeature(lyr.fields())
        g = QgsGeometry.fromWkt(wkt if with_m else wkt.replace("LineStringM", "LineString").replace(" 0,", ",")
                                .replace(" 1,", ",").replace(" 2,", ",").replace(" 2)", ")").replace(" 3)", ")"))
        f.setGeometry(g)
        f.setAttributes(["a", t0])
        feats.append(f)
    lyr.dataProvider().addFeatures(feats)
    return lyr


def test_trajectory_rows_from_lines(qgis_app):
    rows = layers.trajectory_rows(_memory_lines(True), "time", "vessel_id")
    assert [r[2] for r in rows] == [0, 1, 2, 2, 3]
    rows = layers.trajectory_rows(_memory_lines(False), "time", "vessel_id")
    # first line: from t=0 to the next line's t=2 by distance; last line: its first vertex only
    assert [round(r[2], 3) for r in rows] == [0.0, 1.0, 2.0] and rows[-1][:2] == (20.0, 0.0)


def test_pointcloud_payload_is_the_source_file(qgis_app):
    from qgis.core import QgsPointCloudLayer

    lyr = QgsPointCloudLayer(str(data_dir() / "cloud.copc.laz"), "pc", "copc")
    arrays, meta = layers.pointcloud_payload(lyr)
    assert arrays == {} and meta["path"].endswith("cloud.copc.laz")


def test_to_seconds(qgis_app):
    from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime

    assert layers.to_seconds(QDateTime(QDate(1970, 1, 2), QTime(0, 0), Qt.UTC)) == 86400
    assert layers.to_seconds(QDate(1970, 1, 1)) == 0
    assert layers.to_seconds("1970-01-01T00:01:00Z") == 60
    assert layers.to_seconds("12.5") == 12.5 and layers.to_seconds(3) == 3.0
    assert math.isnan(layers.to_seconds(None)) and math.isnan(layers.to_seconds("soon"))


def test_an_8_bit_raster_reads_as_its_bytes(tmp_path, qgis_app):
    """QGIS 3.40 hands an 8-bit band to numpy as int8 and, masked, calls every 0 nodata: the demo SAR
    chip in the dock once read its bright returns (200 -> -56) and its dark pixels (0 -> nodata) wrong,
    and the bundle named the wrong vehicle. Bytes stay bytes; 0 is a value unless it is the nodata
    value; what lies outside the raster is nodata."""
    from qgis.core import QgsRasterLayer

    data = np.array([[[0, 1, 127], [128, 200, 255]]], np.uint8)
    layer = QgsRasterLayer(write_geotiff(tmp_path / "bytes.tif", data), "bytes")
    grid = layers.raster_grid(layer)
    img = layers.read_block(layer.dataProvider(), grid.window_extent([0, 0, 3, 2]), 3, 2, [1])
    np.testing.assert_array_equal(img, data.astype(np.float32))
    wider = layers.read_block(layer.dataProvider(), grid.window_extent([0, 0, 4, 2]), 4, 2, [1])
    np.testing.assert_array_equal(wider[:, :, :3], data.astype(np.float32))
    assert np.isnan(wider[:, :, 3]).all()
    with_nodata = QgsRasterLayer(write_geotiff(tmp_path / "nd.tif", data, nodata=255), "nd")
    img = layers.read_block(with_nodata.dataProvider(), grid.window_extent([0, 0, 3, 2]), 3, 2, [1])
    assert np.isnan(img[0, 1, 2]) and np.isfinite(img).sum() == 5 and img[0, 0, 0] == 0


def test_a_scene_tile_fits_its_window():
    """A 172 x 173 px MSTAR chip under a bundle trained on ~158 px chips is one scene, not four; a large
    raster is cut into tiles near the bundle's size, with no sliver tiles."""
    from allspark_qgis import runner

    assert layers.fitted_tile([0, 0, 172, 173], 158) == 173
    assert layers.tile_grid([0, 0, 172, 173], layers.fitted_tile([0, 0, 172, 173], 158)) == (1, 1)
    assert layers.fitted_tile([0, 0, 1000, 600], 256) == 300  # 4 x 2 tiles of 250-300 px
    assert layers.tile_grid([0, 0, 1000, 600], 300) == (4, 2)
    manifest = {"input": {"size": 88, "source_size": 158}, "read_options": {"size": 88}}
    assert runner.tile_size(manifest) == 158 and runner.tile_size(manifest, window=[0, 0, 172, 173]) == 173
    assert runner.tile_size(manifest, override=64, window=[0, 0, 172, 173]) == 64  # the user's choice stands
    assert runner.tile_size({"input": {"size": 128}}) == 128  # a bundle from before source_size
