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


def test_one_question_about_a_raster_and_a_track_layer(bundles, tmp_path):
    """OTHER_LAYERS: one question about a raster and a trajectory layer at once; each layer is read by its
    own bundle, both in one LLM context (the backend's ask_together): one answer, each layer's result."""
    from qgis import processing

    out = str(tmp_path / "answer.txt")
    tracks = trajectory_layer_uri(data_dir() / "tracks.csv", True)
    res = processing.run("allspark:ask", {"INPUT": str(data_dir() / "rgb.tif"), "BUNDLE": "tiny-rgb",
                                          "OTHER_LAYERS": [tracks], "PROMPT": "Where do these people walk?",
                                          "MAX_TOKENS": 6, "OUTPUT": out})
    assert res["BUNDLE_USED"] == "tiny-rgb, tiny-traj" and isinstance(res["ANSWER"], str)
    lines = res["SUMMARY"].splitlines()
    assert len(lines) == 2 and "Classified as" in lines[0] and "candidate futures" in lines[1], res["SUMMARY"]
    assert "Where do these people walk?" in open(out, encoding="utf-8").read()


def test_one_question_refuses_too_many_layers(bundles):
    from qgis import processing
    from qgis.core import QgsProcessingException

    tif = str(data_dir() / "rgb.tif")
    with pytest.raises(QgsProcessingException, match="at most 3 other layers"):
        processing.run("allspark:ask", {"INPUT": tif, "BUNDLE": "tiny-rgb", "OTHER_LAYERS": [tif] * 4,
                                        "MAX_TOKENS": 2})
