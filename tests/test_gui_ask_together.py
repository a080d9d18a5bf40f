"""One question about two layers in a real QGIS window (Xvfb), as a user asks it: the Indian Pines demo
field with the dense hyperspectral bundle, and the zara02 walkers (a point layer of tracks) checked in
"Ask together with"; Gemma 3 270M reads both layers' tokens in one context. The answer panel holds the
answer and each layer's result in words; the field's class map is added as usual."""

import json

import pytest
from support.qgis_window import DEMO, DOCK, END, REPO, XVFB, run_on_a_copy

QUESTION = "Which crops grow in this field, and how far do the people walk?"

pytestmark = pytest.mark.integration

SCRIPT = DOCK + r"""
from qgis.core import QgsVectorLayer
walkers = QgsVectorLayer("file://" + scene_path + "?delimiter=,&xField=x&yField=y", "zara02 walkers", "delimitedtext")
QgsProject.instance().addMapLayer(walkers)
d = open_dock(field_path, "Indian Pines field", "hsi-indian-pines-dense", project_crs=True)
names = [d.others_combo.itemText(i) for i in range(d.others_combo.count())]
out["others"] = names
if "zara02 walkers" in names:
    d.others_combo.setItemCheckState(names.index("zara02 walkers"), Qt.Checked)
entry = ask(d, question, 900)
out["entry"] = entry
out["answer"] = d.answer.toPlainText()
out["added"] = [l.name() for l in QgsProject.instance().mapLayers().values() if l.id() not in (field.id(), walkers.id())]
out["saved"] = shot("ask_together.png")
""" + END


@pytest.mark.skipif(XVFB is None, reason="xvfb-run is not installed")
def test_one_question_about_a_field_and_walkers_in_the_dock(gemma_gguf, tmp_path):
    walkers = tmp_path / "zara02_walkers.csv"
    rows = [line.split() for line in (REPO / "demo" / "eth_ucy_zara02_8_steps.txt").read_text().splitlines() if line.strip()]
    walkers.write_text("frame,ped_id,x,y\n" + "".join(",".join(r) + "\n" for r in rows))
    out, shots = run_on_a_copy(SCRIPT, tmp_path, gemma_gguf, DEMO, QUESTION, scene=str(walkers))
    assert out["ready"] and "zara02 walkers" in out["others"], json.dumps(out)[:2000]
    entry = out["entry"]
    assert entry is not None and entry["together"] == ["zara02 walkers"], json.dumps(out)[:2000]
    field_line, walkers_line = entry["summary"].splitlines()
    assert field_line.startswith("Indian Pines field: ") and "1,024 pixels" in field_line  # the map made, not one tile
    assert walkers_line.startswith("zara02 walkers: ") and "12 tracks" in walkers_line
    assert field_line.split(": ", 1)[1] in out["answer"] and walkers_line.split(": ", 1)[1] in out["answer"]
    assert any("hsi-indian-pines-dense" in name for name in out["added"])  # the field's class map
    assert out["saved"] and (shots / "ask_together.png").stat().st_size > 30000
