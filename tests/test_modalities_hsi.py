"""Hyperspectral modality: Indian Pines, generic GeoTIFF cube + label raster, per-pixel samples."""

from __future__ import annotations

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_origin  # noqa: E402

from allspark.errors import InputError  # noqa: E402
from allspark.modalities import get  # noqa: E402
from allspark.modalities.hsi import INDIAN_PINES_CLASSES  # noqa: E402


def write_tif(path, arr, nodata=None):
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[None]
    prof = dict(driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0], dtype=arr.dtype,
                crs="EPSG:32616", transform=from_origin(600000, 4500000, 20, 20))
    if nodata is not None:
        prof["nodata"] = nodata
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr)
    return path


def test_indian_pines(shared_data):
    hsi = get("hsi")
    ls = hsi.read_labelled(shared_data / "hsi_indian_pines")
    assert len(ls.samples) == 1030 and ls.classes == INDIAN_PINES_CLASSES and len(ls.classes) == 16
    counts = np.bincount(ls.targets, minlength=16)
    assert counts.tolist() == [5, 143, 83, 24, 48, 73, 5, 48, 5, 97, 246, 59, 20, 126, 39, 9]
    s = ls.samples[0]
    assert s.data["spectrum"].shape == (200,) and s.meta["shape"] == (145, 145)
    assert ls.groups is not None and 10 < len(np.unique(ls.groups)) <= 25 and ls.info["block_px"] == 29
    # groups are spatial blocks: pixels of one group are close together
    g0 = [t for t, g in zip(ls.samples, ls.groups) if g == ls.groups[0]]
    assert max(t.meta["row"] for t in g0) - min(t.meta["row"] for t in g0) < 29
    spec = hsi.default_spec(ls.samples)
    assert spec["input"]["bands"] == 200
    for t in ls.samples[:20]:
        hsi.check(t, spec)


def test_indian_pines_cube_pixels_and_label_raster(shared_data):
    hsi = get("hsi")
    px = hsi.read(shared_data / "hsi_indian_pines" / "Indian_pines_corrected.npy", step=4)
    assert len(px) == 37 * 37
    lab = hsi.to_label_raster(px, np.arange(1, len(px) + 1), fill=0)
    assert lab.shape == (145, 145) and lab[0, 0] == 1 and lab[0, 4] == 2 and lab[1, 1] == 0


def test_generic_geotiff_cube(tmp_path):
    rng = np.random.default_rng(0)
    cube = rng.integers(100, 5000, (30, 12, 10)).astype(np.int16)
    cube[:, 0, 0] = -1  # nodata pixel
    labels = np.zeros((12, 10), np.uint8)
    labels[2:6, 2:6] = 3
    labels[8:10, 1:9] = 7
    labels[0, 0] = 3  # labelled but nodata: not a sample
    img = write_tif(tmp_path / "cube.tif", cube, nodata=-1)
    lab = write_tif(tmp_path / "labels.tif", labels)
    hsi = get("hsi")
    px = hsi.read(img)
    assert len(px) == 12 * 10 - 1
    assert px[0].meta["transform"] == [600000.0, 20.0, 0.0, 4500000.0, 0.0, -20.0] and px[0].meta["crs"]
    ls = hsi.read_labelled(img, labels=lab, classes=[f"c{i}" for i in range(1, 8)], block=5)
    assert len(ls.samples) == 16 + 16
    assert set(ls.targets.tolist()) == {2, 6} and ls.classes[2] == "c3"
    ls2 = hsi.read_labelled(img, labels=lab)
    assert ls2.classes == ["class 3", "class 7"] and set(ls2.targets.tolist()) == {0, 1}
    with pytest.raises(InputError, match="labels="):
        hsi.read_labelled(img)


def test_hsi_errors(tmp_path):
    hsi = get("hsi")
    empty = write_tif(tmp_path / "nd.tif", np.full((5, 4, 4), -1, np.int16), nodata=-1)
    with pytest.raises(InputError, match="all-nodata"):
        hsi.read(empty)
    px = hsi.read(write_tif(tmp_path / "ok.tif", np.ones((100, 3, 3), np.float32)))
    with pytest.raises(InputError, match="expects 200 bands, got 100"):
        hsi.check(px[0], {"input": {"bands": 200}})
    px[0].data["spectrum"] = px[0].data["spectrum"].copy()
    px[0].data["spectrum"][5] = np.nan
    with pytest.raises(InputError, match="NaN"):
        hsi.check(px[0], {"input": {"bands": 100}})
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not numpy")
    with pytest.raises(InputError, match="cannot read .*bad.npy"):
        hsi.read(bad)


def test_hsi_payload_round_trip():
    hsi = get("hsi")
    img = np.random.default_rng(1).random((20, 6, 7)).astype(np.float32)
    img[:, 1, 1] = np.nan
    mask = np.ones((6, 7), np.uint8)
    mask[0, 0] = 0
    px = hsi.from_payload({"image": img, "mask": mask}, {"transform": [0, 1, 0, 0, 0, -1], "crs": None})
    assert len(px) == 42 - 2
    s = next(p for p in px if p.meta["row"] == 3 and p.meta["col"] == 4)
    np.testing.assert_array_equal(s.data["spectrum"], img[:, 3, 4])
    lab = hsi.to_label_raster(px, np.ones(len(px), np.int32), fill=0)
    assert lab.sum() == 40 and lab[1, 1] == 0 and lab[0, 0] == 0


def test_hsi_encoder(shared_data):
    import torch

    hsi = get("hsi")
    ls = hsi.read_labelled(shared_data / "hsi_indian_pines")
    samples = ls.samples[:32]
    spec = hsi.default_spec(samples)
    st = hsi.normalise_stats(ls.samples, spec)
    x = hsi.to_inputs(samples, spec, st)
    assert x["spectrum"].shape == (32, 200) and x["spectrum"].dtype == np.float32
    assert abs(float(hsi.to_inputs(ls.samples, spec, st)["spectrum"].mean())) < 0.05
    enc = hsi.build_encoder(spec).eval()
    with torch.no_grad():
        tok = enc(spectrum=torch.from_numpy(x["spectrum"]))
    assert tuple(tok.shape) == (32, 21, 128)
    spec1 = {"input": {"bands": 200}, "encoder": {"group": 1, "dim": 32, "depth": 1, "heads": 2}}
    with torch.no_grad():
        tok1 = hsi.build_encoder(spec1)(spectrum=torch.from_numpy(x["spectrum"][:2]))
    assert tuple(tok1.shape) == (2, 201, 32)  # one token per band value
    spec7 = {"input": {"bands": 200}, "encoder": {"group": 7, "dim": 32, "depth": 1, "heads": 2}}
    with torch.no_grad():
        assert tuple(hsi.build_encoder(spec7)(spectrum=torch.from_numpy(x["spectrum"][:2])).shape) == (2, 30, 32)


def test_pixels_carry_their_neighbourhood_as_views(shared_data):
    """patch=k: each pixel's k x k neighbourhood, mirrored at the image's edges, as views into one padded
    copy of the cube (memory stays one cube, whatever the number of pixels)."""
    hsi = get("hsi")
    cube = np.load(shared_data / "hsi_indian_pines" / "Indian_pines_corrected.npy").astype(np.float32)
    px = hsi.read(shared_data / "hsi_indian_pines" / "Indian_pines_corrected.npy", step=8, patch=9)
    s = next(p for p in px if p.meta["row"] == 40 and p.meta["col"] == 48)
    assert s.data["patch"].shape == (200, 9, 9)
    np.testing.assert_array_equal(s.data["patch"][:, 4, 4], s.data["spectrum"])
    np.testing.assert_array_equal(s.data["patch"][:, 0, 8], cube[36, 52])  # 4 up, 4 right
    corner = px[0]
    assert (corner.meta["row"], corner.meta["col"]) == (0, 0)
    np.testing.assert_array_equal(corner.data["patch"][:, 3, 4], cube[1, 0])  # mirrored above the top edge
    assert not px[0].data["patch"].flags.owndata and np.may_share_memory(px[0].data["patch"], px[-1].data["patch"])


def test_neighbourhood_inputs_are_principal_components(shared_data):
    hsi = get("hsi")
    ls = hsi.read_labelled(shared_data / "hsi_indian_pines", patch=5)
    spec = hsi.default_spec(ls.samples)
    assert spec["input"]["patch"] == 5 and spec["encoder"]["type"] == "patch_cnn"
    stats = hsi.normalise_stats(ls.samples[:300], spec)
    pca = np.asarray(stats["pca"])
    assert pca.shape == (30, 200)
    np.testing.assert_allclose(pca @ pca.T, np.eye(30), atol=1e-4)  # orthonormal components
    x = hsi.to_inputs(ls.samples[:7], spec, stats)["patch"]
    assert x.shape == (7, 30, 5, 5) and x.dtype == np.float32 and np.isfinite(x).all()
    # the first component carries most of the variance of the standardised spectra
    assert x[:, 0].var() > 5 * x[:, 10].var()
    enc = hsi.build_encoder(spec)
    import torch

    assert enc(torch.as_tensor(x)).shape == (7, 5 * 5 + 2, spec["encoder"]["dim"])


def test_a_neighbourhood_bundle_refuses_single_pixels(shared_data):
    hsi = get("hsi")
    spec = {"input": {"bands": 200, "patch": 9}, "encoder": {}}
    one = hsi.read(shared_data / "hsi_indian_pines" / "Indian_pines_corrected.npy", step=50)[0]
    with pytest.raises(InputError, match="9 x 9 neighbourhood"):
        hsi.check(one, spec)
    with pytest.raises(InputError, match="odd number"):
        hsi.read(shared_data / "hsi_indian_pines" / "Indian_pines_corrected.npy", step=50, patch=4)
