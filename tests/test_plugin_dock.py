"""The prompt dock against a real backend (offscreen): runs in a QgsTask while the interface keeps
processing events, streams the answer, adds styled result layers (new fields on a table copy,
candidate paths, classified points), keeps the history, and cancels."""


import pytest
from qgis.PyQt.QtCore import Qt
from support.data import data_dir, table_layer_uri, trajectory_layer_uri
from support.plugin import GatedClients, backend_with_bundles, open_plugin, pump


@pytest.fixture(scope="module")
def ready(qgis_processing):
    with backend_with_bundles(("tiny-table", "tiny-traj", "tiny-cloud")) as backend:
        yield backend


@pytest.fixture
def dock(ready, qgis_app, qgis_iface, qgis_new_project):
    with open_plugin(qgis_app, qgis_iface) as p:
        yield p.show_dock()


def run(qgis_app, d, layer, bundle, prompt="What do you see?", select=None):
    from qgis.core import QgsProject

    QgsProject.instance().addMapLayer(layer)
    d.set_layer(layer)
    if select is not None:
        layer.selectByIds(select)
        d.extent_combo.setCurrentIndex(d.extent_combo.findData("selection"))
    d.bundle_combo.setCurrentIndex(d.bundle_combo.findData(bundle))
    assert d.current_bundle()["name"] == bundle
    d.prompt_edit.setPlainText(prompt)
    got = []
    d.answered.connect(got.append)
    before = set(QgsProject.instance().mapLayers())
    d.run()
    assert d.task is not None and d.cancel_button.isEnabled() and not d.run_button.isEnabled()
    assert pump(qgis_app, lambda: bool(got), 90), d.answer.toPlainText()
    added = [QgsProject.instance().mapLayer(i) for i in set(QgsProject.instance().mapLayers()) - before]
    return got[0], added


def test_table_prediction_fields(qgis_app, dock):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(table_layer_uri(data_dir() / "table.csv"), "air quality", "delimitedtext")
    chosen = [f.id() for f in layer.getFeatures()][10:26]
    entry, added = run(qgis_app, dock, layer, "tiny-table", "How much PM2.5?", select=chosen)
    assert entry["modality"] == "table" and entry["prompt"] == "How much PM2.5?"
    assert len(added) == 1 and added[0].featureCount() == 120 and "PM2_5_pred" in added[0].fields().names()
    predicted = [f["PM2_5_pred"] for f in added[0].getFeatures()]
    assert sum(v is not None and str(v) != "NULL" for v in predicted) == 16  # only the selected rows
    assert "Predicted PM2.5" in dock.answer.toPlainText()
    from allspark_qgis import history

    assert history.entries()[-1]["bundle"] == "tiny-table"
    assert dock.history_list.count() >= 1


def test_trajectory_paths(qgis_app, dock):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(trajectory_layer_uri(data_dir() / "tracks.csv"), "pedestrians", "delimitedtext")
    entry, added = run(qgis_app, dock, layer, "tiny-traj")
    assert entry["modality"] == "trajectory"
    paths = added[0]
    assert paths.fields().names() == ["track_id", "rank", "score"] and paths.featureCount() == 120


def test_point_cloud_classes(qgis_app, dock):
    from qgis.core import QgsPointCloudLayer

    from allspark_qgis.results import legend_labels

    layer = QgsPointCloudLayer(str(data_dir() / "cloud.copc.laz"), "lidar", "copc")
    entry, added = run(qgis_app, dock, layer, "tiny-cloud")
    assert entry["modality"] == "pointcloud" and added[0].featureCount() > 0
    assert legend_labels(added[0])


def test_one_question_about_a_table_and_tracks(qgis_app, dock):
    """"Ask together with": the table layer's question and the track layer's, in one LLM context; one
    answer, each layer's result in words (the table's rows, the tracks' futures), the table's own map
    results still added."""
    from qgis.core import QgsProject, QgsVectorLayer

    tracks = QgsVectorLayer(trajectory_layer_uri(data_dir() / "tracks.csv"), "pedestrians", "delimitedtext")
    QgsProject.instance().addMapLayer(tracks)
    table = QgsVectorLayer(table_layer_uri(data_dir() / "table.csv"), "air quality", "delimitedtext")
    QgsProject.instance().addMapLayer(table)
    dock.set_layer(table)
    names = [dock.others_combo.itemText(i) for i in range(dock.others_combo.count())]
    assert "pedestrians" in names and "air quality" not in names  # the other layers a bundle can read
    dock.others_combo.setItemCheckState(names.index("pedestrians"), Qt.Checked)
    entry, added = run(qgis_app, dock, table, "tiny-table", "How is the air where these people walk?")
    assert entry["together"] == ["pedestrians"]
    table_line, tracks_line = entry["summary"].splitlines()
    assert table_line.startswith("air quality: ") and "PM2.5" in table_line
    assert tracks_line.startswith("pedestrians: ") and "candidate futures" in tracks_line
    assert any("PM2_5_pred" in a.fields().names() for a in added)


def test_cancel(qgis_app, dock, monkeypatch):
    """The task's work waits for its connection to the backend at a gate that opens only after the
    cancel, so the run cannot finish first: the answer reads as cancelled, and the work stopped there --
    nothing was sent to the backend and the task has no result (a cancel the work ignored fails here,
    though QGIS would still call the task cancelled)."""
    from qgis.core import QgsProject, QgsVectorLayer

    gated = GatedClients(monkeypatch)
    layer = QgsVectorLayer(table_layer_uri(data_dir() / "table.csv"), "air quality", "delimitedtext")
    QgsProject.instance().addMapLayer(layer)
    dock.set_layer(layer)
    dock.bundle_combo.setCurrentIndex(dock.bundle_combo.findData("tiny-table"))
    dock.extent_combo.setCurrentIndex(dock.extent_combo.findData("layer"))
    dock.run()
    task = dock.task
    assert task is not None and dock.cancel_button.isEnabled()
    assert pump(qgis_app, gated.entered.is_set, 30)  # the work runs, held at the gate
    dock.cancel()
    gated.gate.set()
    assert pump(qgis_app, lambda: dock.task is None, 60)
    assert dock.run_button.isEnabled()
    text = dock.answer.toPlainText()
    assert "Cancelled" in text and "Predicted" not in text
    assert dock.progress_label.text() == "Cancelled."
    assert gated.sent == [] and task.result is None, (gated.sent, task.result)
