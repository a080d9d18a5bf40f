"""The shipped demo field (demo/indian_pines_field.tif) as QGIS shows it. The AVIRIS Indian Pines scene
has no published georeference, so the file says it is not georeferenced (GDAL metadata that Layer
Properties > Information shows) and carries the scene's real 20 m pixels in a local engineering CRS
(metres from the scene's south-west corner): QGIS then shows a scale and areas that are true (before:
no CRS, "?" and a scale of 1:13,888,822). Its pixels are exactly the AVIRIS crop it claims to be."""

import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "indian_pines_field.tif"


@pytest.fixture
def field(tmp_path):
    """A copy: QGIS writes statistics (.aux.xml) beside the rasters it opens."""
    shutil.copy(DEMO, tmp_path / DEMO.name)
    return tmp_path / DEMO.name


def test_pixels_are_the_aviris_crop(shared_data, field):
    from osgeo import gdal

    ds = gdal.Open(str(field))
    cube = np.load(shared_data / "hsi_indian_pines" / "Indian_pines_corrected.npy", mmap_mode="r")
    crop = np.asarray(cube[48:80, 8:40, :]).transpose(2, 0, 1)  # rows 48-79, cols 8-39, as the metadata says
    pixels = ds.ReadAsArray()
    assert pixels.dtype == crop.dtype == np.uint16 and pixels.tobytes() == crop.tobytes()


def test_not_georeferenced_but_20_m_pixels(qgis_app, field):
    from osgeo import gdal
    from qgis.core import Qgis, QgsDistanceArea, QgsGeometry, QgsMapSettings, QgsProject, QgsRasterLayer
    from qgis.PyQt.QtCore import QSize

    ds = gdal.Open(str(field))
    md = ds.GetMetadata()
    assert "Not georeferenced" in md["TIFFTAG_IMAGEDESCRIPTION"] and "20 m" in md["TIFFTAG_IMAGEDESCRIPTION"]
    assert md["source"].startswith("Indian Pines (AVIRIS, 1992), rows 48-79, cols 8-39")
    assert ds.GetGeoTransform() == (160.0, 20.0, 0.0, 1940.0, 0.0, -20.0)  # scene cols 8-39, rows 48-79 of 145

    layer = QgsRasterLayer(str(field), "field")
    crs = layer.crs()
    assert layer.isValid() and crs.isValid() and not crs.isGeographic()
    assert crs.mapUnits() == Qgis.DistanceUnit.Meters
    assert "not georeferenced" in crs.description() and not crs.authid()  # an engineering CRS, no EPSG code
    assert (layer.rasterUnitsPerPixelX(), layer.rasterUnitsPerPixelY()) == (20.0, 20.0)
    info = layer.htmlMetadata()  # Layer Properties > Information
    assert "Not georeferenced" in info and "no published georeference" in info

    # the scale of the field on an 800 x 800 px map, and its area: true figures, not 1:13,888,822
    settings = QgsMapSettings()
    settings.setDestinationCrs(crs)
    settings.setOutputSize(QSize(800, 800))
    settings.setOutputDpi(96)
    settings.setExtent(layer.extent())
    assert settings.scale() == pytest.approx(640 / (800 / 96 * 0.0254), rel=0.01)  # 640 m over 8.33 in: 1:3,024
    area = QgsDistanceArea()
    area.setSourceCrs(crs, QgsProject.instance().transformContext())
    area.setEllipsoid(QgsProject.instance().ellipsoid())
    assert area.measureArea(QgsGeometry.fromRect(layer.extent())) == pytest.approx(32 * 32 * 20 * 20)  # 40.96 ha
    assert area.measureLength(QgsGeometry.fromWkt("LineString (160 1940, 800 1940)")) == pytest.approx(640.0)
