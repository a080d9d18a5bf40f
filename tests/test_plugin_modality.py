"""The modality rule (a plain function of layer facts) and whether a layer fits a bundle."""

import pytest
from support.data import data_dir, table_layer_uri, trajectory_layer_uri

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
        (1, "Float32", [], False, None),  # 1-2 bands and nothing else known: AllSpark cannot tell (was "sar")
        (1, "UInt16", [], False, None),
        (2, "Byte", [], False, None),
        (1, "UInt16", ["B04"], False, "msi"),  # one Sentinel-2 band
        (2, "UInt16", ["red", "nir"], False, "msi"),
        (2, "Float32", ["VV", "VH"], False, "sar"),
        (1, "CFloat32", [], False, "sar"),  # SLC
        (3, "Float32", ["Sigma0_VV", "Sigma0_VH", "ratio"], False, "sar"),
        (0, "", [], False, None),
    ],
)
def test_raster_rule(bands, dtype, names, alpha, expected):
    assert detect(LayerFacts("raster", band_count=bands, data_type=dtype, band_names=names, alpha_last=alpha)) == expected


@pytest.mark.parametrize(
    "facts,expected",
    [
        # a single Sentinel-2 band (uint16 reflectance) is not SAR: its file name names the band
        (dict(band_count=1, data_type="UInt16", source="/data/msi_sentinel2/s2_B04.tif"), "msi"),
        (dict(band_count=1, data_type="UInt16", source="/l8/LC08_L2SP_044034_20200601_SR_B4.TIF"), "msi"),
        (dict(band_count=1, data_type="UInt16", metadata={"SPACECRAFT_NAME": "Sentinel-2A"}), "msi"),
        (dict(band_count=1, data_type="Float32", metadata={"band1:WAVELENGTH": "665"}), "msi"),
        # SAR: metadata, product names, folders, backscatter in dB
        (dict(band_count=2, data_type="Float32", metadata={"band1:POLARISATION": "VV"}), "sar"),
        (dict(band_count=1, data_type="UInt16", source="/s1/S1A_IW_GRDH_1SDV_20200101T000000_x.tif"), "sar"),
        (dict(band_count=1, data_type="Byte", source="/d/sar_mstar10/train_17deg/2S1/hb19377.jpeg"), "sar"),
        (dict(band_count=1, data_type="Float32", values=(-31.0, -14.2, 4.0)), "sar"),  # sigma0 in dB
        (dict(band_count=1, data_type="Float32", values=(-0.3, 0.45, 0.92)), None),  # NDVI: not dB
        (dict(band_count=1, data_type="UInt16", values=(-31.0, -14.2, 4.0)), None),  # dB are floats
        (dict(band_count=1, data_type="UInt16", source="/home/sarah/dem.tif"), None),  # "sar" in a word: no
        # the band count decides for 3+ bands, whatever the folder is called
        (dict(band_count=13, data_type="UInt16", source="/data/sar_and_optical/s2.vrt"), "msi"),
        (dict(band_count=4, data_type="ARGB32"), "rgb"),  # a WMS / XYZ layer
    ],
)
def test_raster_rule_beyond_the_band_count(facts, expected):
    assert detect(LayerFacts("raster", **facts)) == expected


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
    assert msg == "Bundle 'hsi-pines' needs a hyperspectral raster, but this layer looks like an RGB image (3 bands)."
    msg = fit_problem(hsi, LayerFacts("raster", band_count=13, data_type="UInt16"))
    assert "a multispectral raster (13 bands)" in msg and " msi" not in msg and " hsi " not in msg
    msg = fit_problem(hsi, LayerFacts("raster", band_count=1, data_type="UInt16"))
    assert "cannot tell" in msg and "choose the modality by hand" in msg
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


def test_real_sentinel2_and_radar_layers(qgis_app, shared_data, tmp_path):
    """The real Sentinel-2 scene (13 bands as a virtual raster, and one band alone) is multispectral,
    never SAR; a band with no name is "cannot tell"; float backscatter in dB and named polarisations are SAR."""
    import shutil

    import numpy as np
    from osgeo import gdal
    from qgis.core import QgsRasterLayer
    from support.data import write_geotiff

    from allspark_qgis.modality import detect_layer, facts_from_layer

    names = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    s2 = tmp_path / "msi_sentinel2"  # a copy: QGIS writes statistics (.aux.xml) next to the rasters it opens
    s2.mkdir()
    for n in names:
        shutil.copy(shared_data / "msi_sentinel2" / f"s2_{n}.tif", s2)
    vrt = str(tmp_path / "s2_scene.vrt")
    gdal.BuildVRT(vrt, [str(s2 / f"s2_{n}.tif") for n in names], separate=True, resolution="highest")
    scene = QgsRasterLayer(vrt, "scene")
    assert scene.isValid() and scene.bandCount() == 13 and detect_layer(scene) == "msi"
    band = QgsRasterLayer(str(s2 / "s2_B04.tif"), "B04")
    assert band.bandCount() == 1 and detect_layer(band) == "msi"  # was "sar"
    plain = tmp_path / "band.tif"  # the same band, named for nothing
    shutil.copy(s2 / "s2_B04.tif", plain)
    assert detect_layer(QgsRasterLayer(str(plain), "band")) is None  # 1 band, uint16, no name: not SAR
    rng = np.random.default_rng(0)
    db = write_geotiff(tmp_path / "scene_db.tif", (10 * np.log10(rng.gamma(2.0, 0.05, (1, 32, 32)))).astype(np.float32))
    facts = facts_from_layer(QgsRasterLayer(db, "db"))
    assert facts.values is not None and facts.values[1] < -3
    assert detect_layer(QgsRasterLayer(db, "db")) == "sar"
    linear = write_geotiff(tmp_path / "scene_lin.tif", rng.random((1, 32, 32)).astype(np.float32))
    assert detect_layer(QgsRasterLayer(linear, "lin")) is None
    pol = write_geotiff(tmp_path / "scene_pol.tif", rng.random((1, 32, 32)).astype(np.float32), band_names=["HH"])
    assert detect_layer(QgsRasterLayer(pol, "hh")) == "sar"

