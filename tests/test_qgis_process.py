"""qgis_process with the built plugin: `plugins enable allspark_qgis`, the algorithms listed, and
`run allspark:<algorithm> -- ...` on a generated GeoTIFF, a trajectory CSV and a COPC file against a
real backend; without a backend the run stops with the reason. The plugin is installed from the
built zip into a temporary plugins folder (QGIS_PLUGINPATH) and profile (QGIS_CUSTOM_CONFIG_PATH)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.data import data_dir, trajectory_layer_uri
from support.plugin import backend, qgis_process_env, trained_bundles

REPO = Path(__file__).resolve().parents[1]
QGIS_PROCESS = shutil.which("qgis_process")
pytestmark = pytest.mark.skipif(QGIS_PROCESS is None, reason="qgis_process is not installed")


@pytest.fixture(scope="module")
def installed(tmp_path_factory, qgis_processing):
    sys.path.insert(0, str(REPO))
    import build

    if build.find_lrelease() is None:
        pytest.skip("lrelease is not installed")
    from qgis.core import QgsApplication

    sys.path.append(os.path.join(QgsApplication.prefixPath(), "share", "qgis", "python"))
    from pyplugin_installer.unzip import unzip

    root = tmp_path_factory.mktemp("qgis_process")
    plugins = root / "plugins"
    plugins.mkdir()
    unzip(str(build.build(root / "dist")), str(plugins))
    trained_bundles(("tiny-rgb", "tiny-traj", "tiny-cloud"))
    _, conn, _ = backend()
    env = qgis_process_env(str(plugins), {"QGIS_CUSTOM_CONFIG_PATH": str(root / "profile"),
                                          "ALLSPARK_CONNECTION_FILE": conn})
    r = qgis_process(env, "plugins", "enable", "allspark_qgis")
    assert r.returncode == 0, r.stdout + r.stderr
    return env, root


def qgis_process(env, *args, timeout=120):
    return subprocess.run([QGIS_PROCESS, *args], capture_output=True, text=True, env=env, timeout=timeout)


def run_json(env, alg, **params):
    r = qgis_process(env, "--json", "run", alg, "--", *[f"{k}={v}" for k, v in params.items()])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(r.stdout[r.stdout.index("{"):])["results"]


def test_plugin_enabled_and_algorithms_listed(installed):
    env, _ = installed
    r = qgis_process(env, "plugins")
    assert "allspark_qgis" in r.stdout
    r = qgis_process(env, "list")
    for alg in ("classify_raster", "classify_pixels", "predict_trajectories", "predict_attribute",
                "classify_pointcloud", "ask", "train_bundle"):
        assert f"allspark:{alg}" in r.stdout, alg
    r = qgis_process(env, "help", "allspark:classify_raster")
    assert "BUNDLE" in r.stdout and "tiny-rgb" in r.stdout, r.stdout


def test_run_on_geotiff(installed):
    from qgis.core import QgsRasterLayer

    from allspark_qgis.results import legend_labels

    env, root = installed
    out = root / "classes.tif"
    res = run_json(env, "allspark:classify_raster", INPUT=data_dir() / "rgb.tif", BUNDLE="tiny-rgb", TILE=32,
                   OUTPUT=out)
    assert res["OUTPUT"] == str(out) and res["CLASSES"] == "forest, urban, water"
    layer = QgsRasterLayer(str(out), "classes")
    assert layer.width() == 3 and legend_labels(layer) == ["forest", "urban", "water"]


def test_run_on_trajectory_csv(installed):
    from qgis.core import QgsVectorLayer

    env, root = installed
    out = root / "paths.gpkg"
    res = run_json(env, "allspark:predict_trajectories", INPUT=trajectory_layer_uri(data_dir() / "tracks.csv", True),
                   BUNDLE="tiny-traj", TIME_FIELD="t", ID_FIELD="track_id", OUTPUT=out)
    layer = QgsVectorLayer(res["OUTPUT"], "paths", "ogr")
    assert layer.featureCount() == 120 and layer.fields().names()[-3:] == ["track_id", "rank", "score"]


def test_run_on_copc(installed):
    from qgis.core import QgsVectorLayer

    env, root = installed
    out = root / "points.gpkg"
    res = run_json(env, "allspark:classify_pointcloud", INPUT=data_dir() / "cloud.copc.laz", BUNDLE="tiny-cloud",
                   OUTPUT=out)
    assert QgsVectorLayer(res["OUTPUT"], "points", "ogr").featureCount() > 0


def test_ask_prints_the_answer(installed):
    env, _ = installed
    res = run_json(env, "allspark:ask", INPUT=data_dir() / "rgb.tif", BUNDLE="tiny-rgb", MAX_TOKENS=4,
                   PROMPT="What is this?")
    assert "ANSWER" in res and res["BUNDLE_USED"] == "tiny-rgb"


def test_without_backend_the_run_says_why(installed, tmp_path):
    env, _ = installed
    env = {**env, "ALLSPARK_CONNECTION_FILE": str(tmp_path / "none.json")}
    r = qgis_process(env, "run", "allspark:classify_raster", "--", f"INPUT={data_dir() / 'rgb.tif'}",
                     "BUNDLE=tiny-rgb", f"OUTPUT={tmp_path / 'x.tif'}")
    assert r.returncode != 0
    assert "No AllSpark backend can be reached" in r.stdout + r.stderr
