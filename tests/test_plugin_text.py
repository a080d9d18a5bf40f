"""Texts in QGIS (text modality) against a real backend (offscreen): a table of field notes (a text field
and a topic) is detected as text, a bundle trains on it through "Train a bundle", and both the prompt dock
and Processing's "Predict attribute" add a copy of the layer with every note's class."""

import pytest
from support.data import data_dir, notes_layer_uri
from support.plugin import backend_with_bundles, dock_run, run_algorithm


@pytest.fixture(scope="module")
def ready(qgis_processing):
    with backend_with_bundles(("tiny-text", "tiny-table")) as backend:
        yield backend


def notes():
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(notes_layer_uri(data_dir() / "notes.csv"), "notes", "delimitedtext")
    assert layer.isValid()
    return layer


def accuracy(layer) -> float:
    rows = list(layer.getFeatures())
    assert rows and all(r["pred_class"] in ("water", "forest") and 0.5 <= r["pred_prob"] <= 1 for r in rows)
    return sum(r["pred_class"] == r["topic"] for r in rows) / len(rows)


def test_a_notes_table_is_text_and_an_air_table_is_not(qgis_app):
    from qgis.core import QgsVectorLayer
    from support.data import table_layer_uri

    from allspark_qgis import modality

    assert modality.detect_layer(notes()) == "text"
    air = QgsVectorLayer(table_layer_uri(data_dir() / "table.csv"), "air", "delimitedtext")
    assert modality.detect_layer(air) == "table"
    # a table with a note beside its numbers stays a table
    assert modality.detect(modality.LayerFacts("vector", fields=[
        ("NO2", "double"), ("CO", "double"), ("TEMP", "double"), ("comment", "string")])) == "table"


def test_the_dock_classifies_every_note(ready, qgis_app, qgis_iface, qgis_new_project):
    from qgis.core import QgsProject

    from allspark_qgis import connection

    listed = {b["name"]: b for b in connection.bundles(refresh=True)}
    assert (listed["tiny-text"]["modality"], listed["tiny-text"]["task"]) == ("text", "classification")
    layer = notes()
    QgsProject.instance().addMapLayer(layer)
    entry, added = dock_run(qgis_app, qgis_iface, layer, "tiny-text", 90)
    assert entry["modality"] == "text"
    # the answer is about all 120 notes (every one classified), not the first one the LLM read
    assert entry["summary"].startswith("120 rows: "), entry["summary"]
    (copy,) = added
    assert copy.featureCount() == 120
    assert accuracy(copy) >= 0.85


def test_predict_attribute_classifies_every_note(ready, qgis_app):
    layer = run_algorithm("predict_attribute", {"INPUT": notes_layer_uri(data_dir() / "notes.csv", True),
                                                "BUNDLE": "tiny-text"})
    assert layer.featureCount() == 120
    assert accuracy(layer) >= 0.85


def test_a_note_without_text_is_named(ready, qgis_app, tmp_path):
    from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback, QgsProject

    from qgis import processing

    path = tmp_path / "gaps.csv"
    path.write_text('id,note,topic\n1,"the river is water",water\n2,"",forest\n', encoding="utf-8")
    ctx = QgsProcessingContext()
    ctx.setProject(QgsProject.instance())
    with pytest.raises(QgsProcessingException, match="has no text in the field 'note'"):
        processing.run("allspark:predict_attribute", {"INPUT": notes_layer_uri(path, True), "BUNDLE": "tiny-text",
                                                      "OUTPUT": "memory:"}, context=ctx, feedback=QgsProcessingFeedback())
