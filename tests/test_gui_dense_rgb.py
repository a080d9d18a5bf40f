"""A dense RGB bundle in a real QGIS window (Xvfb), as a user meets it: trained (against Gemma 3 270M)
from every third pixel of every third row of a mosaic of real UC Merced scenes, then "Ask AllSpark..." on
the mosaic with that bundle. One LLM sequence per 16 x 16 px tile; the classified layer has a class for
every pixel, on the raster's grid, its legend the two classes, and the pixels mostly right."""

import json

import numpy as np
import pytest
from support.data import ucmerced_mosaic, write_geotiff
from support.qgis_window import ASK_AND_RECORD, DOCK, END, XVFB, run_on_a_copy

QUESTION = "Where is the forest in this image, and where the parking lots?"

pytestmark = pytest.mark.integration

SCRIPT = DOCK + ASK_AND_RECORD + r"""
from osgeo import gdal
added = ask_and_record(field_path, "UC Merced mosaic", "rgb-mosaic-dense", question, 900)
if added:
    ds = gdal.Open(added[0].source())
    out["classes_px"] = ds.GetRasterBand(1).ReadAsArray().tolist()
    out["size"] = [ds.RasterXSize, ds.RasterYSize]
    out["geotransform"] = list(ds.GetGeoTransform())
    ds = None
out["saved"] = shot("dense_rgb.png")
""" + END


@pytest.mark.skipif(XVFB is None, reason="xvfb-run is not installed")
def test_a_dense_rgb_bundle_in_the_dock(gemma_gguf, shared_data, tmp_path):
    from allspark.train import TrainConfig, train

    img, truth, classes = ucmerced_mosaic(shared_data)
    (tmp_path / "src").mkdir()
    gt = (500000.0, 0.3, 0.0, 4000000.0, 0.0, -0.3)  # UC Merced's 1 ft pixels
    mosaic = write_geotiff(tmp_path / "src" / "mosaic.tif", img.astype(np.uint8), transform=gt)
    sparse = np.zeros((1,) + truth.shape, np.uint8)
    sparse[0, ::3, ::3] = truth[::3, ::3]
    labels = write_geotiff(tmp_path / "src" / "labels.tif", sparse, transform=gt)
    bundles = tmp_path / "bundles"
    cfg = TrainConfig(modality="rgb", task="pixel_classification", data=mosaic, labels=labels,
                      out=str(bundles / "rgb-mosaic-dense"), name="rgb-mosaic-dense", llm=str(gemma_gguf),
                      read_options={"tile": 16, "margin": 4, "classes": classes, "block": 16},
                      encoder={"width": 32, "dim": 64}, pretrain_epochs=20, pretrain_lr=3e-3, epochs=1,
                      batch_size=8, llm_max_samples=64, bridge={"queries": 8, "layers": 2, "heads": 8, "head_dim": 64,
                                                              "ffn_mult": 2},
                      head={"encoder_skip": True, "encoder_head": "elements"}, lr=5e-4, bf16=False, threads=2)
    train(cfg, progress=lambda f, m: None)
    out, shots = run_on_a_copy(SCRIPT, tmp_path, gemma_gguf, mosaic, QUESTION, bundles=bundles)
    assert out["ready"] and out["bundle"] == "rgb-mosaic-dense" and out["answered"], json.dumps(out)[:2000]
    assert out["size"] == [256, 256] and out["geotransform"] == pytest.approx(list(gt), abs=1e-6)
    assert sorted(out["legend"]) == sorted(classes)
    got = np.asarray(out["classes_px"])
    assert (got != 255).all()  # every pixel classified
    recall = [float((got == c - 1)[truth == c].mean()) for c in (1, 2)]
    assert min(recall) >= 0.8, recall
    assert "65,536 pixels" in out["entry"]["summary"], out["entry"]["summary"]
    assert out["saved"] and (shots / "dense_rgb.png").stat().st_size > 30000
