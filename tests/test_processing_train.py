"""allspark:train_bundle against a real backend (allspark serve, tiny GGUF): a bundle per modality from
generated layers, listed by the backend and offered by the algorithms afterwards; bad input refused;
a train job cancelled through the feedback."""

import json
import threading

import pytest
from support.data import data_dir, table_layer_uri
from support.plugin import TRAIN_OPTIONS, backend, connected, reload_provider, trained_bundles


@pytest.fixture(scope="module", autouse=True)
def bundles(qgis_processing):
    with connected():  # the plugin talks to the session's backend during this file's tests
        yield trained_bundles()


def test_a_bundle_per_modality_appears_in_the_pickers(bundles):
    from qgis.core import QgsApplication

    from allspark_qgis import connection

    listed = {b["name"]: b for b in connection.bundles(refresh=True)}
    expected = {"tiny-rgb": ("rgb", "classification"), "tiny-hsi": ("hsi", "classification"),
                "tiny-table": ("table", "regression"), "tiny-traj": ("trajectory", "trajectory"),
                "tiny-cloud": ("pointcloud", "point_classification")}
    for name, (modality, task) in expected.items():
        assert (listed[name]["modality"], listed[name]["task"]) == (modality, task), name
        out = bundles[name]
        assert out["BUNDLE_NAME"] == name and out["BUNDLE_PATH"].endswith(name)
        assert "validation" in json.loads(out["METRICS"])
    assert listed["tiny-rgb"]["classes"] == ["forest", "urban", "water"]
    assert listed["tiny-table"]["targets"][0]["name"] == "PM2.5"
    reg = QgsApplication.processingRegistry()
    options = reg.algorithmById("allspark:classify_raster").parameterDefinition("BUNDLE").options()
    assert "tiny-rgb" in options and "tiny-hsi" not in options
    # (other bundles the backend finds, e.g. the repository's bundles/, may be listed too)
    pixels = reg.algorithmById("allspark:classify_pixels").parameterDefinition("BUNDLE").options()
    assert "tiny-hsi" in pixels and all(listed[n]["modality"] == "hsi" for n in pixels)
    tracks = reg.algorithmById("allspark:predict_trajectories").parameterDefinition("BUNDLE").options()
    assert "tiny-traj" in tracks and all(listed[n]["modality"] == "trajectory" for n in tracks)


def test_training_input_is_checked(bundles):
    from qgis import processing
    from qgis.core import QgsProcessingException

    d = data_dir()
    with pytest.raises(QgsProcessingException, match="labelled point or polygon layer"):
        processing.run("allspark:train_bundle", {"INPUT": str(d / "rgb.tif"), "NAME": "x", "EPOCHS": 1})
    with pytest.raises(QgsProcessingException, match="Unknown training option"):
        processing.run("allspark:train_bundle", {"INPUT": str(d / "cloud.copc.laz"), "NAME": "x", "EPOCHS": 1,
                                                 "OPTIONS": '{"learning_rate": 1}'})
    with pytest.raises(QgsProcessingException, match="without slashes"):
        processing.run("allspark:train_bundle", {"INPUT": str(d / "cloud.copc.laz"), "NAME": "a/b", "EPOCHS": 1})


def test_cancel_stops_the_train_job(bundles):
    from qgis import processing
    from qgis.core import QgsProcessingFeedback

    from allspark_qgis import connection

    _, _, folder = backend()
    fb = QgsProcessingFeedback()
    started = threading.Event()
    fb.progressChanged.connect(lambda p: started.set() if p > 15 else None)
    timer = threading.Thread(target=lambda: (started.wait(60), fb.cancel()), daemon=True)
    timer.start()
    opts = json.dumps({**TRAIN_OPTIONS, "max_samples": 2000, "batch_size": 4})
    out = processing.run("allspark:train_bundle", {"INPUT": table_layer_uri(data_dir() / "table.csv", True),
                                                   "TARGET_FIELD": "PM2.5", "NAME": "cancelled", "EPOCHS": 50,
                                                   "OPTIONS": opts, "FOLDER": str(folder)}, feedback=fb)
    assert fb.isCanceled() and "BUNDLE_NAME" not in out
    assert "cancelled" not in {b["name"] for b in connection.bundles(refresh=True)}
    reload_provider()


def test_a_per_pixel_rgb_bundle_classifies_every_pixel(bundles, tmp_path):
    """"Classify every pixel" on an RGB raster trains a dense bundle (one LLM pass per 16 x 16 px tile) from
    labelled points; allspark:classify_pixels offers it (classify_raster does not) and writes a class for
    every valid pixel on the input's grid."""
    import numpy as np
    import rasterio
    from qgis import processing
    from qgis.core import QgsApplication
    from support.data import scene

    from allspark_qgis import connection

    trained_bundles(("tiny-rgb-dense",))
    listed = {b["name"]: b for b in connection.bundles(refresh=True)}
    dense = listed["tiny-rgb-dense"]
    assert (dense["modality"], dense["task"]) == ("rgb", "pixel_classification")
    assert dense["input"]["tile"] == 16 and dense["input"]["margin"] == 4
    reg = QgsApplication.processingRegistry()
    assert "tiny-rgb-dense" in reg.algorithmById("allspark:classify_pixels").parameterDefinition("BUNDLE").options()
    assert "tiny-rgb-dense" not in reg.algorithmById("allspark:classify_raster").parameterDefinition("BUNDLE").options()
    out = str(tmp_path / "classes.tif")
    processing.run("allspark:classify_pixels", {"INPUT": str(data_dir() / "rgb.tif"), "BUNDLE": "tiny-rgb-dense",
                                                "OUTPUT": out})
    with rasterio.open(out) as src:
        got, nodata = src.read(1), src.nodata
        assert (src.width, src.height) == (96, 96)
    valid = np.ones((96, 96), bool)
    valid[:8, :8] = False  # the input's nodata corner
    assert (got[~valid] == nodata).all() and (got[valid] != nodata).all()
    names = dense["classes"]
    truth = np.array([names.index(c) for c in ("water", "forest", "urban")])[scene()]
    acc = float((got[valid] == truth[valid]).mean())
    assert acc >= 0.8, f"pixel accuracy {acc:.3f} from 36 labelled points"
