"""The test data tests/support/data.py writes opens in QGIS as what the plugin's tests take it for."""

from support.data import data_dir, table_layer_uri, trajectory_layer_uri


def test_generated_data_opens_in_qgis(qgis_app):
    from qgis.core import QgsPointCloudLayer, QgsRasterLayer, QgsVectorLayer

    d = data_dir()
    for name, bands in (("rgb.tif", 3), ("hsi.tif", 40), ("sar.tif", 2)):
        r = QgsRasterLayer(str(d / name), name)
        assert r.isValid() and r.bandCount() == bands
    pc = QgsPointCloudLayer(str(d / "cloud.copc.laz"), "cloud", "copc")
    assert pc.isValid() and pc.pointCount() == 1500
    assert "Classification" in [a.name() for a in pc.attributes().attributes()]
    t = QgsVectorLayer(trajectory_layer_uri(d / "tracks.csv"), "tracks", "delimitedtext")
    assert t.isValid() and t.featureCount() == 240
    tab = QgsVectorLayer(table_layer_uri(d / "table.csv"), "table", "delimitedtext")
    assert tab.isValid() and tab.featureCount() == 120 and not tab.isSpatial()
    lab = QgsVectorLayer(str(d / "labels.gpkg") + "|layername=labels", "labels", "ogr")
    assert lab.isValid() and lab.featureCount() == 36
