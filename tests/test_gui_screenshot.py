"""The README's screenshot (docs/img/prompt_dock.png) from the real flow on real data: a real QGIS GUI
under Xvfb, the shipped Indian Pines bundle behind a backend on Gemma 3 270M, the shipped demo field;
"Ask AllSpark..." on the field, a question, the classified layer with its class names in the legend and
the answer in words in the dock.

The picture is written to the test's folder; only with ALLSPARK_WRITE_SCREENSHOT=1 is it copied to
docs/img/prompt_dock.png:
    ALLSPARK_WRITE_SCREENSHOT=1 QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q tests/test_gui_screenshot.py

The window, the mocked QGIS interface, the Qt pump, the map-drawing wait and the dock's two steps (open
it on a raster, ask) are tests/support/qgis_window.py's DOCK, shared with the other real-window tests."""

import os
import re
import shutil
from pathlib import Path

import pytest
from support.qgis_window import ASK_AND_RECORD, DEMO, DOCK, END, XVFB, run_on_a_copy

REPO = Path(__file__).resolve().parents[1]
SHOT = REPO / "docs" / "img" / "prompt_dock.png"
QUESTION = "Which crops grow in this field?"

pytestmark = pytest.mark.integration

SCRIPT = DOCK + ASK_AND_RECORD + r"""
ask_and_record(field_path, "Indian Pines field", "hsi-indian-pines", question, 1200)
out["tree"] = [l.name() for l in root.findLayers()]
out["crs"] = field.crs().description()
tree.expandAll()
out["saved"] = shot("prompt_dock.png")
out["scale"] = canvas.scale()
out["platform"] = app.platformName()
""" + END


@pytest.mark.skipif(XVFB is None, reason="xvfb-run is not installed")
def test_readme_screenshot_from_the_demo(gemma_gguf, tmp_path):
    out, shots = run_on_a_copy(SCRIPT, tmp_path, gemma_gguf, DEMO, QUESTION)
    assert out["platform"] == "xcb" and out["ready"] and out["bundle"] == "hsi-indian-pines"
    assert out["answered"] and out["entry"]["prompt"] == QUESTION and out["done_label"] == "Done."

    # the classified layer, its legend the bundle's crop classes
    assert len(out["added"]) == 1 and out["added"][0] in out["tree"]
    legend = out["legend"]
    assert len(legend) == 16 and {"Corn-notill", "Soybean-mintill", "Grass-trees", "Woods"} <= set(legend), legend

    # a readable answer about the whole field: the map's shares in words (crop classes, ha), and the LLM's
    # words only where the numbers support them (Gemma 3 270M, a base model, mostly restates the numbers:
    # then only the summary is shown), never a line of colons; the layer added
    written = out["entry"]["answer"].strip()
    if written:
        assert re.search(r"[^\W\d_]{3,}", written), written  # words
        assert sum(not (ch.isalnum() or ch.isspace()) for ch in written) < len(written) / 2, written  # not "::::"
    summary = out["entry"]["summary"]
    assert summary.startswith("1,024 pixels covering 40.96 ha:"), summary  # all of the field, not one pixel
    assert sum(c in summary for c in legend) >= 3, summary  # several crop classes, with their shares
    answer = out["answer"]
    assert answer.startswith(written) and summary in answer and "Added layers:" in answer, answer
    # the field at its real 20 m pixels (before: no CRS, a scale of 1:13,888,822)
    assert "not georeferenced" in out["crs"] and 1000 < out["scale"] < 20000, out["scale"]

    png = shots / "prompt_dock.png"
    assert out["saved"] and png.stat().st_size > 50000
    if os.environ.get("ALLSPARK_WRITE_SCREENSHOT") == "1":
        SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, SHOT)
