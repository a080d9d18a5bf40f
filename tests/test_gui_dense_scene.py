"""The whole Indian Pines scene classified in a real QGIS window (Xvfb) by the dense bundle, as a user
does it: "Ask AllSpark..." on the scene, the dense bundle, Run. One LLM sequence per 16 x 16 px tile, so
the whole 145 x 145 px scene is one run; the classified layer covers every pixel, its legend the 16
crop classes, and the dock's answer is about all 21,025 pixels.

The picture is written to the test's folder; with ALLSPARK_WRITE_SCREENSHOT=1 it is copied to
docs/img/dense_scene.png:
    ALLSPARK_WRITE_SCREENSHOT=1 QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q tests/test_gui_dense_scene.py"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.qgis_window import ASK_AND_RECORD, DOCK, END, XVFB, run_on_a_copy

REPO = Path(__file__).resolve().parents[1]
SHOT = REPO / "docs" / "img" / "dense_scene.png"
QUESTION = "Which crops grow in this scene, and where?"

pytestmark = pytest.mark.integration

SCRIPT = DOCK + ASK_AND_RECORD + r"""
from osgeo import gdal
added = ask_and_record(field_path, "Indian Pines", "hsi-indian-pines-dense", question, 900)
if added:
    ds = gdal.Open(added[0].source())
    a = ds.GetRasterBand(1).ReadAsArray()
    out["size"] = [ds.RasterXSize, ds.RasterYSize]
    out["classified"] = int((a != 255).sum())
    out["layout"] = ds.GetMetadata("IMAGE_STRUCTURE").get("LAYOUT")
    ds = None
tree.expandAll()
out["saved"] = shot("dense_scene.png")
""" + END


def _scene_tif(shared_data, tmp_path) -> Path:
    import rasterio

    cube = np.load(shared_data / "hsi_indian_pines" / "Indian_pines_corrected.npy").transpose(2, 0, 1)
    path = tmp_path / "indian_pines.tif"
    with rasterio.open(path, "w", driver="GTiff", width=145, height=145, count=200, dtype="int16") as dst:
        dst.write(cube.astype(np.int16))
    return path


@pytest.mark.skipif(XVFB is None, reason="xvfb-run is not installed")
def test_whole_scene_in_one_run(gemma_gguf, shared_data, tmp_path):
    (tmp_path / "src").mkdir()
    src = _scene_tif(shared_data, tmp_path / "src")
    out, shots = run_on_a_copy(SCRIPT, tmp_path, gemma_gguf, src, QUESTION)
    assert out["ready"] and out["bundle"] == "hsi-indian-pines-dense" and out["answered"], out
    assert out["size"] == [145, 145] and out["classified"] == 145 * 145 and out["layout"] == "COG"
    assert len(out["legend"]) == 16 and {"Corn-notill", "Soybean-mintill", "Woods"} <= set(out["legend"])
    summary = out["entry"]["summary"]
    assert "21,025 pixels" in summary, summary  # the whole scene, not one tile
    png = shots / "dense_scene.png"
    assert out["saved"] and png.stat().st_size > 50000
    if os.environ.get("ALLSPARK_WRITE_SCREENSHOT") == "1":
        shutil.copy(png, SHOT)
