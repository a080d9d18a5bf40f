"""allspark:ask through processing.run against a real backend: a free prompt about a layer -> text
outputs; and every algorithm is inactive, with a clear warning, when no backend can be reached."""

import pytest
from support.data import data_dir, trajectory_layer_uri
from support.plugin import connected, trained_bundles


@pytest.fixture(scope="module", autouse=True)
def bundles(qgis_processing):
    with connected():  # the plugin talks to the session's backend during this file's tests
        yield trained_bundles(("tiny-rgb", "tiny-hsi", "tiny-traj"))


def test_ask_about_rasters_and_tracks(bundles, tmp_path):
    from qgis import processing

    out = str(tmp_path / "answer.txt")
    res = processing.run("allspark:ask", {"INPUT": str(data_dir() / "rgb.tif"), "BUNDLE": "tiny-rgb",
                                          "PROMPT": "Which land cover is this?", "MAX_TOKENS": 8, "OUTPUT": out})
    assert isinstance(res["ANSWER"], str) and res["BUNDLE_USED"] == "tiny-rgb"
    assert "Classified as" in res["SUMMARY"]
    assert "Which land cover is this?" in open(out, encoding="utf-8").read()
    # no bundle given: the first bundle of the detected modality
    res = processing.run("allspark:ask", {"INPUT": str(data_dir() / "hsi.tif"), "MAX_TOKENS": 4})
    assert res["BUNDLE_USED"] == "tiny-hsi"
    res = processing.run("allspark:ask", {"INPUT": trajectory_layer_uri(data_dir() / "tracks.csv", True), "MAX_TOKENS": 4})
    assert res["BUNDLE_USED"] == "tiny-traj" and "candidate futures" in res["SUMMARY"]


def test_ask_refuses_a_layer_of_another_modality(bundles):
    from qgis import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=r"needs an RGB image, but this layer looks like a hyperspectral raster \(40 bands\)"):
        processing.run("allspark:ask", {"INPUT": str(data_dir() / "hsi.tif"), "BUNDLE": "tiny-rgb"})


def test_algorithms_are_inactive_without_a_backend(bundles, monkeypatch, tmp_path):
    from qgis import processing
    from qgis.core import QgsApplication, QgsProcessingException

    from allspark_qgis import connection

    monkeypatch.setenv("ALLSPARK_CONNECTION_FILE", str(tmp_path / "gone.json"))
    connection.invalidate()
    try:
        for alg in QgsApplication.processingRegistry().providerById("allspark").algorithms():
            ok, msg = alg.canExecute()
            assert not ok and "No AllSpark backend can be reached" in msg, alg.id()
        with pytest.raises(QgsProcessingException, match="No AllSpark backend"):
            processing.run("allspark:ask", {"INPUT": str(data_dir() / "rgb.tif"), "BUNDLE": "tiny-rgb"})
    finally:
        monkeypatch.undo()
        connection.invalidate()
