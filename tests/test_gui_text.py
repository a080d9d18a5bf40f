"""The shipped text bundle in a real QGIS window (Xvfb), as a user meets it: IMDB reviews the bundle's
training never chose anything with (30 positive and 30 negative of its validation split) added as a table, "Ask AllSpark..." on it, the
text bundle, Run. Every review comes back classified, in a copy of the table with pred_class and
pred_prob, shown in an attribute table beside the dock."""

import csv
import json

import pytest
from support.qgis_window import DOCK, END, REPO, XVFB, run_in_qgis_window

QUESTION = "Are these reviews positive or negative?"
N_REVIEWS = 60

pytestmark = pytest.mark.integration

SCRIPT = DOCK + r"""
from qgis.core import QgsVectorLayer
reviews = QgsVectorLayer("file://" + field_path + "?delimiter=,&geomType=none&detectTypes=yes", "IMDB reviews",
                         "delimitedtext")
QgsProject.instance().addMapLayer(reviews)
d = show_dock_on(reviews, "vector", "text-imdb")
out["modality"] = d.current_modality()
out["bundle"] = d.bundle_combo.currentData()
out["entry"] = ask(d, question, 1200)
out["answer"] = d.answer.toPlainText()
added = [l for l in QgsProject.instance().mapLayers().values() if l.id() != reviews.id()]
out["added"] = [l.name() for l in added]
if added:
    t = added[0]
    out["rows"] = [[f["label"], f["pred_class"], f["pred_prob"]] for f in t.getFeatures()]
    # the result's rows beside the dock, as the attribute table shows them
    from qgis.PyQt.QtWidgets import QTableWidget, QTableWidgetItem
    names = ["label", "pred_class", "pred_prob", "review"]
    view = QTableWidget(len(out["rows"]), len(names))
    view.setHorizontalHeaderLabels(names)
    for i, f in enumerate(t.getFeatures()):
        for j, n in enumerate(names):
            v = f[n]
            view.setItem(i, j, QTableWidgetItem(f"{v:.2f}" if isinstance(v, float) else str(v)[:90]))
    view.resizeColumnsToContents()
    canvas.hide()
    lay.addWidget(view)
    view.show()
    for _ in range(20):
        app.processEvents()
out["saved"] = window.grab().save(os.path.join(out_dir, "text.png"))
""" + END


@pytest.mark.skipif(XVFB is None, reason="xvfb-run is not installed")
def test_the_shipped_text_bundle_in_the_dock(gemma_gguf, shared_data, tmp_path):
    from allspark.evaluate import load_eval_data

    bundle = REPO / "bundles" / "text-imdb"
    _, ds = load_eval_data(str(bundle), str(shared_data / "text_imdb" / "imdb_train.jsonl.gz"), split="validation")
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "review", "label"])
        for k in range(len(ds.classes)):  # as many of each class
            for s in [s for s, t in zip(ds.samples, ds.targets) if t == k][:N_REVIEWS // len(ds.classes)]:
                w.writerow([s.meta["id"], str(s.data["text"]), ds.classes[k]])
    out, shots = run_in_qgis_window(SCRIPT, tmp_path, gemma_gguf, path, "", QUESTION)
    assert out["ready"] and out["modality"] == "text" and out["bundle"] == "text-imdb", json.dumps(out)[:2000]
    assert out["entry"] is not None, json.dumps(out)[:2000]
    rows = out["rows"]
    assert len(rows) == N_REVIEWS and all(p in ("negative", "positive") and 0.5 <= q <= 1 for _, p, q in rows)
    accuracy = sum(lab == p for lab, p, _ in rows) / len(rows)
    assert accuracy >= 0.7, accuracy
    assert out["entry"]["summary"].startswith(f"{N_REVIEWS} rows: "), out["entry"]  # about every review
    assert out["saved"] and (shots / "text.png").stat().st_size > 30000
