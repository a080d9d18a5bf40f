"""A SAR chip asked about in the dock, in a real QGIS window (Xvfb) with the shipped MSTAR bundle behind
a backend on Gemma 3 270M: one chip is one scene, and the dock names the vehicle the command line names.

Before: the dock cut the 172 x 173 px chip into four 88 px tiles (the bundle's crop size, not the size
of the chips it learnt from) and read the 8-bit chip through QGIS as int8 with its zeros as nodata;
it answered "4 tiles: BRDM_2 100%" for a T62."""

from pathlib import Path

import pytest
from support.qgis_window import DOCK, END, XVFB, run_on_a_copy

REPO = Path(__file__).resolve().parents[1]
CHIP = REPO / "demo" / "mstar_t62_hb19394.jpeg"

pytestmark = pytest.mark.integration

SCRIPT = DOCK + r"""
dock = open_dock(field_path, "MSTAR chip", "sar-mstar10")
out["modality"] = dock.modality_combo.currentText()
out["bundle"] = dock.bundle_combo.currentData()
entry = ask(dock, question, 600)
out["answered"] = entry is not None
out["summary"] = entry["summary"] if entry else None
out["label"] = dock.progress_label.text()
out["saved"] = shot("sar_chip.png")
""" + END


@pytest.mark.skipif(XVFB is None, reason="xvfb-run is not installed")
def test_a_sar_chip_is_one_scene_named_as_the_command_line_names_it(gemma_gguf, tmp_path):
    out, shots = run_on_a_copy(SCRIPT, tmp_path, gemma_gguf, CHIP, "Which vehicle is this?")
    assert out["ready"] and out["modality"] == "Auto (SAR)" and out["bundle"] == "sar-mstar10"
    assert out["answered"] and out["label"] == "Done."
    assert out["summary"].startswith("Classified as T62"), out["summary"]  # one scene; `allspark ask`: T62 (90%)
    assert (shots / "sar_chip.png").stat().st_size > 10000
