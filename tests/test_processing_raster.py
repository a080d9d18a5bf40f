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


# ---- CLUSTER=local: the same raster on Ray ----------------------------------------------------------
OFFSET_EXTENT = "500030,500150,3999850,3999970 [EPSG:32633]"  # pixels 3-14 x 3-14 of the 18 x 18 px raster
PARCEL = ("POLYGON((500021.3 3999973.1, 500117.4 3999961.7, 500103.2 3999871.3, 500027.6 3999883.9, "
          "500021.3 3999973.1))")


def _selected_polygon(wkt, name="parcels"):
    """A memory polygon layer (EPSG:32633) of one polygon, selected."""
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    layer = QgsVectorLayer("Polygon?crs=EPSG:32633", name, "memory")
    f = QgsFeature(layer.fields())
    f.setGeometry(QgsGeometry.fromWkt(wkt))
    layer.dataProvider().addFeatures([f])
    layer.updateExtents()
    layer.selectAll()
    return layer


def _in_backend_and_on_ray(tmp_path, name, **params):
    """(the class raster of a run in the backend, the same run with CLUSTER=local): _classes_of each."""
    from qgis import processing

    runs = []
    for cluster in ("", "local"):
        out = str(tmp_path / f"{name}{'.ray' if cluster else ''}.tif")
        res = processing.run("allspark:classify_pixels", {**params, "OUTPUT": out, "CLUSTER": cluster})
        assert res["OUTPUT"] == out and res["CLASSES"] == "forest, urban, water"
        runs.append(_classes_of(out))
    return runs


@pytest.mark.parametrize("bundle", ["tiny-hsi", "tiny-hsi-dense"])
def test_classify_pixels_on_ray_over_an_extent_is_the_backend_raster(bundles, tmp_path, bundle):
    """An extent on Ray: the window's grid (size, transform) and the classes of the run in the backend,
    pixel for pixel (a dense bundle's tiles start at the window's corner in both)."""
    local, ray = _in_backend_and_on_ray(tmp_path, bundle, INPUT=str(data_dir() / "hsi.tif"), BUNDLE=bundle,
                                        EXTENT=OFFSET_EXTENT)
    labels, gt, w, h = ray
    assert (w, h) == (12, 12) and gt == (500030.0, 10.0, 0.0, 3999970.0, 0.0, -10.0)
    assert (w, h, gt) == (local[2], local[3], local[1])
    assert np.array_equal(labels, local[0]) and (labels != 255).sum() == 12 * 12


def test_classify_pixels_on_ray_in_a_region_is_the_backend_raster(bundles, tmp_path):
    """The selected polygons on Ray (alone, then within an extent): the window holding them, the classes of
    the run in the backend inside them, nodata outside, pixel for pixel."""
    parcels = _selected_polygon(PARCEL)
    hsi = str(data_dir() / "hsi.tif")
    for name, extent in (("region", None), ("region-extent", OFFSET_EXTENT)):
        params = dict(INPUT=hsi, BUNDLE="tiny-hsi", REGION=parcels, **({"EXTENT": extent} if extent else {}))
        (labels, gt, w, h), (ray_labels, ray_gt, ray_w, ray_h) = _in_backend_and_on_ray(tmp_path, name, **params)
        assert (ray_w, ray_h, ray_gt) == (w, h, gt), name
        assert np.array_equal(ray_labels, labels), name
        assert 0 < (labels != 255).sum() < w * h, name  # some pixels inside the polygon, some outside
    assert (w, h) == (9, 10) and gt[:4] == (500030.0, 10.0, 0.0, 3999970.0)  # the extent's part of the polygon's window
