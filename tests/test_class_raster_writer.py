"""results.ClassRasterWriter: a class raster written block by block (memory: one block), ending as a
Cloud Optimized GeoTIFF with the legend; a cancelled write leaves nothing and overwrites nothing."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

GT = [500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0]
CLASSES = ["forest", "urban", "water"]


def _read(path):
    from osgeo import gdal

    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    return ds, band, band.ReadAsArray()


def test_blocks_make_one_cog_with_the_legend_on_the_grid(tmp_path):
    from allspark_qgis.results import ClassRasterWriter

    rng = np.random.default_rng(0)
    full = rng.integers(-1, 3, (700, 900))
    path = tmp_path / "classes.tif"
    with ClassRasterWriter(str(path), 900, 700, GT, None, CLASSES) as w:
        for y in range(0, 700, 100):  # in an order other than the file's tiles, the last ones cut
            for x in range(0, 900, 128):
                w.write(full[y:y + 100, x:x + 128], x, y)
    ds, band, got = _read(path)
    assert ds.GetMetadata("IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    assert list(ds.GetGeoTransform()) == GT and band.GetOverviewCount() >= 1
    np.testing.assert_array_equal(got, np.where(full < 0, 255, full))
    assert band.GetNoDataValue() == 255 and band.GetColorTable().GetCount() >= 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes.tif", "classes.tif.aux.xml"]
    from qgis.core import QgsRasterLayer

    from allspark_qgis.results import legend_labels, style_class_raster

    layer = QgsRasterLayer(str(path), "c")
    style_class_raster(layer, CLASSES, save_default=False)
    assert legend_labels(layer) == CLASSES


def test_memory_is_one_block_not_the_raster(tmp_path):
    """A 4000 x 4000 map (16 M pixels: 128 MB as int64 labels) written in 256-px blocks allocates a few
    blocks' worth in Python, not the map."""
    from allspark_qgis.results import ClassRasterWriter

    block = np.ones((256, 256), np.int64)
    tracemalloc.start()
    try:
        w = ClassRasterWriter(str(tmp_path / "big.tif"), 4000, 4000, GT, None, CLASSES)
        for y in range(0, 4000, 256):
            for x in range(0, 4000, 256):
                w.write(block[: min(256, 4000 - y), : min(256, 4000 - x)], x, y)
        w.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 256 * 256 * 8, peak  # a few blocks (the map itself: 16e6 pixels)
    from osgeo import gdal

    ds = gdal.Open(str(tmp_path / "big.tif"))  # the band lives only as long as its dataset
    assert ds.RasterXSize == 4000 and ds.GetRasterBand(1).ReadAsArray(3990, 3990, 10, 10).min() == 1


def test_abort_leaves_no_file_and_keeps_what_was_there(tmp_path):
    from allspark_qgis.results import ClassRasterWriter

    path = tmp_path / "classes.tif"
    path.write_bytes(b"an earlier result")
    with pytest.raises(RuntimeError):
        with ClassRasterWriter(str(path), 64, 64, GT, None, CLASSES) as w:
            w.write(np.zeros((32, 32), np.int64), 0, 0)
            raise RuntimeError("cancelled")
    assert path.read_bytes() == b"an earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes.tif"]


def test_a_block_outside_the_raster_is_refused(tmp_path):
    from allspark_qgis.results import ClassRasterWriter

    w = ClassRasterWriter(str(tmp_path / "c.tif"), 64, 64, GT, None, CLASSES)
    with pytest.raises(ValueError, match="outside the 64 x 64 raster"):
        w.write(np.zeros((32, 32), np.int64), 40, 0)
    w.abort()
