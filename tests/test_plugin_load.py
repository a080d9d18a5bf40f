"""The plugin loads and unloads cleanly in QGIS 3.40; "Ask AllSpark..." is in the layer tree's context
menu for raster, vector and point-cloud layers and opens the prompt dock on that layer; settings,
history, diagnostics."""

import os

import pytest
from support.data import data_dir, trajectory_layer_uri
from support.plugin import drop_provider

ALGORITHMS = {"classify_raster", "classify_pixels", "predict_trajectories", "predict_attribute",
              "classify_pointcloud", "convert_to_copc", "ask", "train_bundle", "describe_code", "find_person",
              "depth_from_views"}


@pytest.fixture
def no_backend(monkeypatch, tmp_path):
    """No backend can be reached: the connection file does not exist."""
    from allspark_qgis import connection

    monkeypatch.setenv("ALLSPARK_CONNECTION_FILE", str(tmp_path / "none.json"))
    connection.invalidate()
    drop_provider()  # the plugin registers its own
    yield
    connection.invalidate()


@pytest.fixture
def plugin(qgis_iface, qgis_new_project, no_backend):
    import allspark_qgis

    qgis_iface.addCustomActionForLayerType.reset_mock()
    qgis_iface.removeCustomActionForLayerType.reset_mock()
    p = allspark_qgis.classFactory(qgis_iface)
    p.initGui()
    yield p
    if p.manager is not None:
        p.unload()


def test_load_registers_provider_menu_toolbar(plugin, qgis_iface):
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("allspark")
    assert provider is not None and provider is plugin.provider
    assert {a.name() for a in provider.algorithms()} == ALGORITHMS
    texts = [a.text() for a in plugin.actions]
    assert "Ask AllSpark..." in texts and "Diagnostics..." in texts and "Settings..." in texts
    assert plugin.toolbar is not None and plugin.status_widget is not None
    assert plugin.manager.state == "stopped"


def test_context_menu_action_for_each_layer_type(plugin, qgis_iface):
    from qgis.core import Qgis

    calls = qgis_iface.addCustomActionForLayerType.call_args_list
    types = [c.args[2] for c in calls]
    assert types == [Qgis.LayerType.Raster, Qgis.LayerType.Vector, Qgis.LayerType.PointCloud]
    assert all(c.args[0].text() == "Ask AllSpark..." and c.args[3] is True for c in calls)
    assert set(plugin.layer_actions) == {"raster", "vector", "pointcloud"}


def test_context_action_opens_the_dock_on_that_layer(plugin, qgis_iface):
    from qgis.core import QgsPointCloudLayer, QgsProject, QgsRasterLayer, QgsVectorLayer

    d = data_dir()
    layers = {
        "raster": (QgsRasterLayer(str(d / "hsi.tif"), "hsi"), "Hyperspectral"),
        "vector": (QgsVectorLayer(trajectory_layer_uri(d / "tracks.csv"), "tracks", "delimitedtext"), "Trajectory"),
        "pointcloud": (QgsPointCloudLayer(str(d / "cloud.copc.laz"), "cloud", "copc"), "Point cloud"),
    }
    for kind, (layer, label) in layers.items():
        assert layer.isValid()
        QgsProject.instance().addMapLayer(layer)
        qgis_iface.setActiveLayer(layer)
        plugin.layer_actions[kind].trigger()
        dock = plugin.dock
        assert dock is not None and not dock.isHidden()  # (the test main window itself is never shown)
        assert dock.layer_combo.currentLayer() is layer
        assert dock.modality_combo.itemText(0) == f"Auto ({label})"
        assert not dock.run_button.isEnabled()  # no backend: nothing to run
    # the trajectory modality shows the time / id pickers with the detected fields
    qgis_iface.setActiveLayer(layers["vector"][0])
    plugin.layer_actions["vector"].trigger()
    assert plugin.dock.time_field.currentField() == "t" and plugin.dock.id_field.currentField() == "track_id"
    assert not plugin.dock.time_field.isHidden()
    # overriding the modality re-filters the bundles
    plugin.dock.modality_combo.setCurrentIndex(plugin.dock.modality_combo.findData("table"))
    assert plugin.dock.current_modality() == "table" and plugin.dock.time_field.isHidden()


def test_unload_removes_everything(qgis_iface, qgis_new_project, no_backend):
    from qgis.core import QgsApplication

    import allspark_qgis

    for _ in range(2):  # load / unload twice: nothing is left behind, nothing is registered twice
        qgis_iface.removeCustomActionForLayerType.reset_mock()
        p = allspark_qgis.classFactory(qgis_iface)
        p.initGui()
        p.show_dock()
        assert QgsApplication.processingRegistry().providerById("allspark") is not None
        p.unload()
        assert QgsApplication.processingRegistry().providerById("allspark") is None
        assert qgis_iface.removeCustomActionForLayerType.call_count == 3
        assert p.dock is None and p.toolbar is None and p.manager is None and not p.actions


def test_processing_alone_for_qgis_process(qgis_iface, no_backend):
    """qgis_process calls initProcessing() only."""
    from qgis.core import QgsApplication

    import allspark_qgis

    p = allspark_qgis.classFactory(qgis_iface)
    p.initProcessing()
    try:
        alg = QgsApplication.processingRegistry().algorithmById("allspark:classify_raster")
        ok, msg = alg.canExecute()
        assert not ok and "No AllSpark backend can be reached" in msg
    finally:
        QgsApplication.processingRegistry().removeProvider(p.provider)


def test_settings_roundtrip(qgis_app):
    from allspark_qgis.settings import Settings

    s = Settings.load()
    old = Settings(**vars(s))
    try:
        s.python_exe, s.device, s.bundles_dir, s.autostart = "/opt/venv/bin/python", "cuda", "/data/bundles", False
        s.save()
        t = Settings.load()
        assert (t.python_exe, t.device, t.bundles_dir) == ("/opt/venv/bin/python", "cuda", "/data/bundles")
        assert t.backend_args() == ["--device", "cuda", "--bundles", "/data/bundles"]
    finally:
        old.save()


def test_history_is_kept_in_the_project(tmp_path, qgis_new_project):
    from qgis.core import QgsProject

    from allspark_qgis import history

    project = QgsProject.instance()
    history.add({"layer": "hsi", "prompt": "Which class?", "answer": "Corn"})
    history.add({"layer": "hsi", "prompt": "And here?", "answer": "Woods"})
    path = str(tmp_path / "p.qgz")
    assert project.write(path)
    project.clear()
    assert history.entries() == []
    assert project.read(path)
    assert [e["answer"] for e in history.entries()] == ["Corn", "Woods"]


def test_diagnostics_report_redacts_home(qgis_app, no_backend):
    from allspark_qgis import diagnostics

    home = os.path.expanduser("~")
    info = diagnostics.collect(None, {"device": "cpu", "llm": {"file": "tiny.gguf", "path": f"{home}/models/tiny.gguf"}})
    text = diagnostics.report(info)
    assert "QGIS 3." in text and "device: cpu" in text and "pyzmq" in text
    assert home not in text and "~/models/tiny.gguf" in text
    path = diagnostics.write_report(text, folder=os.path.join(os.environ.get("TMPDIR", "/tmp"), "allspark-diag-test"))
    assert os.path.isfile(path)
