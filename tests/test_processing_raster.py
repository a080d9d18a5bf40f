"""allspark:classify_raster (tiled) and allspark:classify_pixels (hyperspectral) through processing.run
against a real backend: styled GeoTIFF outputs with the class names in the legend; a raster that
doesn't fit the bundle is refused with the reason."""

import numpy as np
import pytest
from support.data import data_dir
from support.plugin import connected, trained_bundles


@pytest.fixture(scope="module", autouse=True)
def bundles(qgis_processing):
    with connected():  # the plugin talks to the session's backend during this file's tests
        yield trained_bundles(("tiny-rgb", "tiny-hsi", "tiny-hsi-dense"))


def _classes_of(path):
    from osgeo import gdal

    ds = gdal.Open(path)
    return ds.GetRasterBand(1).ReadAsArray(), ds.GetGeoTransform(), ds.RasterXSize, ds.RasterYSize


def test_classify_raster_tiles(bundles, tmp_path):
    from qgis import processing
    from qgis.core import QgsRasterLayer

    from allspark_qgis.results import legend_labels

    out = str(tmp_path / "classes.tif")
    res = processing.run("allspark:classify_raster", {"INPUT": str(data_dir() / "rgb.tif"), "BUNDLE": "tiny-rgb",
                                                      "TILE": 16, "OUTPUT": out})
    assert res["OUTPUT"] == out and res["CLASSES"] == "forest, urban, water"
    labels, gt, w, h = _classes_of(out)
    assert (w, h) == (6, 6) and gt[1] == 160.0 and gt[0] == 500000.0  # one cell per 16 px tile
    assert set(np.unique(labels)) <= {0, 1, 2}
    layer = QgsRasterLayer(out, "classes")
    assert layer.renderer().type() == "paletted" and legend_labels(layer) == ["forest", "urban", "water"]


def test_classify_raster_extent_and_loaded_style(bundles, tmp_path, qgis_new_project):
    from qgis import processing
    from qgis.core import QgsProject

    from allspark_qgis.results import legend_labels

    res = processing.runAndLoadResults("allspark:classify_raster", {
        "INPUT": str(data_dir() / "rgb.tif"), "BUNDLE": "tiny-rgb", "TILE": 0,
        "EXTENT": "500000,500640,3999360,4000000 [EPSG:32633]", "OUTPUT": str(tmp_path / "part.tif")})
    labels, gt, w, h = _classes_of(res["OUTPUT"])
    assert (w, h) == (4, 4) and gt[1] == 160.0  # tiles of the bundle's training patch size (16 px)
    loaded = [lyr for lyr in QgsProject.instance().mapLayers().values() if lyr.source() == res["OUTPUT"]]
    assert loaded and legend_labels(loaded[0]) == ["forest", "urban", "water"]


def test_classify_pixels(bundles, tmp_path):
    from qgis import processing
    from qgis.core import QgsRasterLayer

    from allspark_qgis.results import legend_labels

    out = str(tmp_path / "pixels.tif")
    processing.run("allspark:classify_pixels", {"INPUT": str(data_dir() / "hsi.tif"), "BUNDLE": "tiny-hsi", "OUTPUT": out,
                                                "EXTENT": "500000,500060,3999940,4000000 [EPSG:32633]"})
    labels, gt, w, h = _classes_of(out)
    assert (w, h) == (6, 6) and gt[1] == 10.0 and gt[0] == 500000.0  # the input's grid over the extent
    assert labels[0, 0] == 255  # the nodata pixel stays nodata
    assert set(np.unique(labels[labels != 255])) <= {0, 1, 2} and (labels != 255).sum() == 6 * 6 - 1
    assert legend_labels(QgsRasterLayer(out, "p")) == ["forest", "urban", "water"]
    from osgeo import gdal

    assert gdal.Open(out).GetMetadata("IMAGE_STRUCTURE").get("LAYOUT") == "COG"  # written block by block, then a COG
    assert not list(tmp_path.glob("*.part.tif*"))


def test_classify_pixels_with_a_dense_bundle(bundles, tmp_path):
    """A dense bundle (tiles of 4 px, one LLM sequence each) through the same algorithm: every valid pixel of
    the extent gets a class, nodata stays nodata, the output is a COG on the input's grid."""
    from qgis import processing
    from qgis.core import QgsRasterLayer

    from allspark_qgis.results import legend_labels

    assert bundles["tiny-hsi-dense"]["BUNDLE_NAME"] == "tiny-hsi-dense"
    out = str(tmp_path / "dense.tif")
    processing.run("allspark:classify_pixels", {"INPUT": str(data_dir() / "hsi.tif"), "BUNDLE": "tiny-hsi-dense",
                                                "OUTPUT": out, "EXTENT": "500000,500060,3999940,4000000 [EPSG:32633]"})
    labels, gt, w, h = _classes_of(out)
    assert (w, h) == (6, 6) and gt[1] == 10.0 and gt[0] == 500000.0
    assert labels[0, 0] == 255 and (labels != 255).sum() == 6 * 6 - 1
    assert set(np.unique(labels[labels != 255])) <= {0, 1, 2}
    assert legend_labels(QgsRasterLayer(out, "p")) == ["forest", "urban", "water"]


def test_a_raster_that_does_not_fit_is_refused(bundles, tmp_path):
    from qgis import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=r"40 band\(s\)|needs an RGB image, but this layer looks like a hyperspectral raster \(40 bands\)"):
        processing.run("allspark:classify_raster", {"INPUT": str(data_dir() / "hsi.tif"), "BUNDLE": "tiny-rgb",
                                                    "OUTPUT": str(tmp_path / "x.tif")})
    with pytest.raises(QgsProcessingException, match=r"needs a hyperspectral raster, but this layer looks like an RGB image \(3 bands\)\.$"):
        processing.run("allspark:classify_pixels", {"INPUT": str(data_dir() / "rgb.tif"), "BUNDLE": "tiny-hsi",
                                                    "OUTPUT": str(tmp_path / "y.tif")})
