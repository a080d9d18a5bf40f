"""Raster modalities: shared reading (raster.py), RGB, MSI, SAR — real data and generated GeoTIFFs."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_origin  # noqa: E402

from allspark.errors import InputError  # noqa: E402
from allspark.modalities import get, raster  # noqa: E402

warnings.filterwarnings("ignore", category=PendingDeprecationWarning)


def write_tif(path, arr, transform=None, crs="EPSG:32618", nodata=None, **kw):
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[None]
    profile = dict(driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0], dtype=arr.dtype,
                   crs=crs, transform=transform or from_origin(500000, 4200000, 10, 10), **kw)
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)
    return path


def forward(mod, samples, spec=None):
    import torch

    spec = spec or mod.default_spec(samples)
    st = mod.normalise_stats(samples, spec)
    x = mod.to_inputs(samples, spec, st)
    assert all(v.dtype == np.float32 for v in x.values())
    enc = mod.build_encoder(spec).eval()
    with torch.no_grad():
        return x, enc(**{k: torch.from_numpy(v) for k, v in x.items()})


# ---- registry / light import -------------------------------------------------------------------


def test_modalities_import_without_torch_or_rasterio():
    code = ("import sys; from allspark.modalities import all_modalities; ms = all_modalities(); "
            "print(sorted(m.name for m in ms)); "
            "assert 'torch' not in sys.modules and 'rasterio' not in sys.modules, sorted(k for k in sys.modules if k in ('torch', 'rasterio'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert ("['code', 'graph', 'hsi', 'infrared', 'msi', 'oblique', 'pointcloud', 'rgb', 'sar', 'table', 'text', "
            "'trajectory', 'video']") in out.stdout  # all thirteen, listed without torch


def test_describe_and_prompts():
    rgb = get("rgb")
    d = rgb.describe()
    assert d["layer_kind"] == "raster" and d["tasks"] == ["classification", "pixel_classification"]
    assert ".png" in d["file_types"]
    p = rgb.prompt_for(None, ["forest", "river"])
    assert p == "This remote sensing image belongs to which of the following categories: forest, river"
    assert rgb.prompt_for(rgb.prompts[1], ["x"]) == rgb.prompts[1]
    assert "[category list]" not in rgb.prompt_for()
    for name in ("rgb", "msi", "sar", "hsi", "table", "trajectory", "pointcloud"):
        m = get(name)
        assert m.prompts and m.tasks and m.file_types


# ---- shared raster reading --------------------------------------------------------------------


def test_tile_windows_cover_the_raster():
    from allspark.tiling import grid_windows

    w = grid_windows(300, 200, 128)
    assert [x for x, *_ in w[:3]] == [0, 128, 172] and {y for _, y, *_ in w} == {0, 72}
    assert all(ww == 128 and hh == 128 for *_, ww, hh in w)
    assert grid_windows(50, 40, 128) == [[0, 0, 50, 40]]
    assert len(grid_windows(256, 256, 128, stride=64)) == 9


def test_nodata_and_nan_become_mask(tmp_path):
    a = np.arange(3 * 20 * 30, dtype=np.float32).reshape(3, 20, 30) + 1
    a[0, 2, 3] = -9999  # nodata in one band -> the pixel is invalid in all
    a[1, 5, 6] = np.nan
    p = write_tif(tmp_path / "f.tif", a, nodata=-9999)
    s = raster.read_raster(p)
    assert s.data["image"].shape == (3, 20, 30) and s.data["image"].dtype == np.float32
    assert not s.mask[2, 3] and not s.mask[5, 6] and s.mask.sum() == 600 - 2
    assert np.isnan(s.data["image"][:, 2, 3]).all()
    assert s.meta["crs"] and "32618" in rasterio.crs.CRS.from_wkt(s.meta["crs"]).to_string()
    assert s.meta["transform"] == [500000.0, 10.0, 0.0, 4200000.0, 0.0, -10.0]
    x = raster.image_inputs([s], raster.band_stats([s]), 30, "crop")  # 20 rows: padded by 5 above
    assert x["image"][0, :, 7, 3].tolist() == [0, 0, 0] and x["mask"][0, 0, 7, 3] == 0
    assert x["mask"][0, 0, :5].sum() == 0 and x["mask"][0, 0].sum() == 600 - 2
    assert np.isfinite(x["image"]).all()


def test_window_and_tile_transforms(tmp_path):
    p = write_tif(tmp_path / "big.tif", np.random.default_rng(0).integers(1, 255, (3, 200, 300)).astype(np.uint8))
    s = raster.read_raster(p, window=[128, 64, 50, 40])
    assert s.data["image"].shape == (3, 40, 50)
    assert s.meta["transform"][0] == 500000 + 1280 and s.meta["transform"][3] == 4200000 - 640
    tiles = get("rgb").read(p, tile=128)
    assert len(tiles) == 6 and all(t.data["image"].shape == (3, 128, 128) for t in tiles)
    t1 = tiles[1]
    assert t1.meta["window"] == [128, 0, 128, 128] and t1.meta["transform"][0] == 500000 + 1280
    with pytest.raises(InputError, match="outside"):
        raster.read_raster(p, window=[250, 0, 100, 10])


def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00 this is not really a tiff" * 10)
    with pytest.raises(InputError, match=r"cannot read .*broken\.tif"):
        get("rgb").read(bad)
    with pytest.raises(InputError, match="cannot read .*no such file"):
        get("sar").read(tmp_path / "nope.jpeg")
    half = tmp_path / "half.tif"
    write_tif(tmp_path / "ok.tif", np.ones((3, 64, 64), np.uint8))
    half.write_bytes((tmp_path / "ok.tif").read_bytes()[:300])
    with pytest.raises(InputError, match="cannot read"):
        raster.read_raster(half)


def test_all_nodata_raster_is_refused(tmp_path):
    p = write_tif(tmp_path / "empty.tif", np.zeros((3, 32, 32), np.uint16), nodata=0)
    rgb = get("rgb")
    s = rgb.read(p)[0]
    with pytest.raises(InputError, match="nodata"):
        rgb.check(s, rgb.default_spec())
    with pytest.raises(InputError, match="every tile is nodata"):
        rgb.read(p, tile=16)


def test_raster_payload_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    a = rng.integers(1, 1000, (3, 40, 40)).astype(np.uint16)
    a[:, :4, :4] = 0
    p = write_tif(tmp_path / "pay.tif", a, nodata=0)
    rgb = get("rgb")
    s = rgb.read(p)[0]
    arrays = {"image": s.data["image"], "mask": s.mask.astype(np.uint8)}
    meta = {"crs": s.meta["crs"], "transform": s.meta["transform"], "nodata": None, "band_names": s.meta["band_names"]}
    back = rgb.from_payload(arrays, meta)[0]
    np.testing.assert_array_equal(np.isnan(back.data["image"]), np.isnan(s.data["image"]))
    np.testing.assert_array_equal(back.mask, s.mask)
    assert back.meta["transform"] == s.meta["transform"] and back.meta["crs"] == s.meta["crs"]
    # NaN only (no mask array) and a nodata value in meta
    img = a.astype(np.float32)
    back2 = rgb.from_payload({"image": img}, {"nodata": 0})[0]
    assert back2.mask.sum() == s.mask.sum()
    # path + window: the backend reads the file itself
    back3 = rgb.from_payload({}, {"path": str(p), "window": [4, 4, 10, 10]})[0]
    assert back3.data["image"].shape == (3, 10, 10) and back3.mask.all()
    with pytest.raises(InputError, match="neither"):
        rgb.from_payload({}, {})
    with pytest.raises(InputError, match=r"\(C, H, W\)"):
        rgb.from_payload({"image": np.zeros((2, 2, 2, 2), np.float32)}, {})


# ---- RGB ------------------------------------------------------------------------------------


def test_rgb_ucmerced(shared_data):
    root = shared_data / "rgb_ucmerced"
    classes, files, labels = raster.class_folders(root)
    assert len(classes) == 21 and len(files) == 420 and np.bincount(labels).tolist() == [20] * 21
    rgb = get("rgb")
    ls = rgb.read_labelled(root, per_class=1)
    assert ls.classes == classes and len(ls.samples) == 21 and ls.targets.tolist() == list(range(21))
    off = rgb.read(root / "sparseresidential" / "sparseresidential45.png")[0]  # 242 x 256 as published
    assert off.data["image"].shape == (3, 256, 242)
    spec = rgb.default_spec(ls.samples)
    assert spec["input"]["bands"] == 3
    for s in ls.samples + [off]:
        rgb.check(s, spec)
    x, tok = forward(rgb, ls.samples[:3] + [off], spec)
    assert x["image"].shape == (4, 3, 128, 128)
    assert tuple(tok.shape) == (4, 65, 192)


def test_rgb_band_count_error_and_rgba(tmp_path):
    rgb = get("rgb")
    gray = rgb.read(write_tif(tmp_path / "gray.tif", np.ones((1, 16, 16), np.uint8)))[0]
    with pytest.raises(InputError, match="expects 3 bands, got 1"):
        rgb.check(gray, rgb.default_spec())
    a = np.full((4, 16, 16), 200, np.uint8)
    a[3, :8] = 0  # alpha: top half transparent
    p = write_tif(tmp_path / "rgba.tif", a, photometric="RGB", alpha="YES")
    s = rgb.read(p)[0]
    assert s.data["image"].shape[0] == 3
    assert s.mask[:8].sum() == 0 and s.mask[8:].all()


# ---- MSI ------------------------------------------------------------------------------------


def test_msi_resamples_bands_by_georeference(tmp_path):
    fine = np.ones((40, 40), np.uint16) * 100
    coarse = np.tile(np.arange(21, dtype=np.float32), (21, 1))  # value = column of the 20 m grid
    d = tmp_path / "scene"
    d.mkdir()
    write_tif(d / "x_B02.tif", fine, transform=from_origin(1000, 2000, 10, 10))
    write_tif(d / "x_B05.tif", coarse, transform=from_origin(990, 2000, 20, 20))  # 10 m west of the fine grid
    s = get("msi").read(d)[0]
    assert s.meta["band_names"] == ["B02", "B05"] and s.data["image"].shape == (2, 40, 40)
    row = s.data["image"][1, 20, 2:-2]
    j = np.arange(2, 38)
    np.testing.assert_allclose(row, 0.25 + 0.5 * j, atol=1e-3)  # bilinear of a ramp, offset honoured
    assert s.meta["transform"] == [1000.0, 10.0, 0.0, 2000.0, 0.0, -10.0]
    listed = get("msi").read([d / "x_B05.tif", d / "x_B02.tif"])[0]  # a list of files: bundle band order
    assert listed.meta["band_names"] == ["B02", "B05"]
    np.testing.assert_array_equal(listed.data["image"], s.data["image"])


def test_msi_sentinel2_scene(shared_data):
    msi = get("msi")
    s = msi.read(shared_data / "msi_sentinel2", window=[256, 256, 128, 128])[0]
    assert s.meta["band_names"] == ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11",
                                    "B12", "B8A"]
    assert s.data["image"].shape == (13, 128, 128) and s.mask.all()
    assert s.meta["transform"][1] == 10.0 and s.meta["transform"][0] == 435790 + 2560
    img = s.data["image"]
    assert 200 < np.nanmean(img[1]) < 5000  # B02 reflectance x 10000
    msi.check(s, msi.default_spec())
    tiles = msi.read(shared_data / "msi_sentinel2", window=None, tile=512)
    assert len(tiles) == 4 and tiles[3].meta["window"] == [512, 512, 512, 512]


def test_msi_eurosat_layout_and_band_errors(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("Forest", "River"):
        (tmp_path / c).mkdir()
        for i in range(3):
            write_tif(tmp_path / c / f"{c}_{i}.tif", rng.integers(1, 4000, (13, 64, 64)).astype(np.uint16))
    msi = get("msi")
    ls = msi.read_labelled(tmp_path)
    assert ls.classes == ["Forest", "River"] and ls.targets.tolist() == [0, 0, 0, 1, 1, 1]
    spec = msi.default_spec()
    spec["input"]["band_names"] = None
    x, tok = forward(msi, ls.samples[:2], {"input": {"bands": 13, "size": 64},
                                           "encoder": {"dim": 64, "depth": 1, "heads": 2, "patch": 16}})
    assert x["image"].shape == (2, 13, 64, 64) and tuple(tok.shape) == (2, 17, 64)
    twelve = msi.read(write_tif(tmp_path / "t12.tif", rng.integers(1, 4000, (12, 8, 8)).astype(np.uint16)))[0]
    with pytest.raises(InputError, match="expects 13 bands, got 12"):
        msi.check(twelve, msi.default_spec())


# ---- SAR ------------------------------------------------------------------------------------


def test_sar_mstar(shared_data):
    root = shared_data / "sar_mstar10" / "train_17deg"
    classes, files, labels = raster.class_folders(root)
    assert len(classes) == 10 and len(files) == 2746
    sar = get("sar")
    ls = sar.read_labelled(root, per_class=1)
    sizes = {s.data["image"].shape for s in ls.samples}
    assert all(c == 1 for c, _, _ in sizes) and len({h for _, h, _ in sizes}) > 3  # 128 .. 193 px
    spec = sar.default_spec(ls.samples)
    x, tok = forward(sar, ls.samples, spec)
    assert x["image"].shape == (10, 1, 128, 128) and tuple(tok.shape) == (10, 64, 128)
    assert x["mask"].min() == 1  # every chip is at least 128 px


def test_sar_complex_and_padding(tmp_path):
    c = (np.ones((2, 50, 60)) * (3 + 4j)).astype(np.complex64)
    s = get("sar").read(write_tif(tmp_path / "slc.tif", c))[0]
    np.testing.assert_allclose(s.data["image"], 5.0)  # amplitude
    sar = get("sar")
    spec = {"input": {"bands": 2, "size": 64}, "encoder": {"dim": 32, "channels": [8, 8, 16], "tokens": 4}}
    sar.check(s, spec)
    x, tok = forward(sar, [s], spec)
    assert x["mask"][0, 0].sum() == 50 * 60  # smaller chip: zero-padded, masked
    assert tuple(tok.shape) == (1, 16, 32)
    with pytest.raises(InputError, match="expects 1 bands, got 2"):
        sar.check(s, sar.default_spec())


def test_tiles_of_a_window_stay_inside_it(tmp_path):
    """A block of a large raster, tiled: only that block is read, windows stay in the source grid
    (this failed before: the window was dropped whenever a tile size was given)."""
    import rasterio
    from rasterio.transform import from_origin

    from allspark.modalities import get
    from allspark.outputs import raster_grid

    path = tmp_path / "big.tif"
    data = np.arange(3 * 64 * 96, dtype=np.float32).reshape(3, 64, 96)
    with rasterio.open(path, "w", driver="GTiff", width=96, height=64, count=3, dtype="float32",
                       crs="EPSG:32618", transform=from_origin(500000, 4000000, 10, 10)) as d:
        d.write(data)
    tiles = get("rgb").read(str(path), tile=16, window=[32, 16, 32, 32])
    assert len(tiles) == 4
    assert sorted(tuple(t.meta["window"]) for t in tiles) == [(32, 16, 16, 16), (32, 32, 16, 16),
                                                             (48, 16, 16, 16), (48, 32, 16, 16)]
    first = min(tiles, key=lambda t: tuple(t.meta["window"][::-1]))
    assert first.meta["transform"][0] == 500000 + 32 * 10 and first.meta["transform"][3] == 4000000 - 16 * 10
    h, w, whole, _ = raster_grid(tiles)  # the label raster of tiles covers the whole source raster
    assert (h, w) == (64, 96) and whole[0] == 500000 and whole[3] == 4000000
