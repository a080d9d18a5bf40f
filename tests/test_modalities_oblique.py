"""Oblique photography (multi-view depth): generated scenes in the MVSNet and WHU-OMVS layouts, the readers,
the plane-sweep warping, the depth metrics, a tiny bundle trained / evaluated / asked against the tiny
GGUF LLM, the depth GeoTIFF and the bad inputs.

Scenes: a ground plane (z = 0) with a few box 'buildings', textured with seeded value noise, rendered into
4 views per scene by per-pixel ray casting with known pinhole cameras looking obliquely down; the depth
(camera z) of every view is known exactly.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from allspark.errors import InputError
from allspark.modalities import get
from support.data import OBLIQUE_FOCAL as FOCAL
from support.data import OBLIQUE_SIZE
from support.data import oblique_scene as make_scene
from support.data import write_mvsnet

H = W = OBLIQUE_SIZE
N_SCENES = 10


# ---- generated scenes (the scenes themselves: tests/support/data.py, shared with the plugin's test) ----


def write_exr(path, depth: np.ndarray, zip_compression: bool = True) -> None:
    """A one-channel (Y, float) scanline OpenEXR file, uncompressed or ZIP (16 lines per block)."""
    h, w = depth.shape

    def attr(name, typ, value: bytes) -> bytes:
        return name.encode() + b"\0" + typ.encode() + b"\0" + struct.pack("<i", len(value)) + value

    header = b"\x76\x2f\x31\x01" + struct.pack("<i", 2)
    header += attr("channels", "chlist", b"Y\0" + struct.pack("<i", 2) + b"\0\0\0\0" + struct.pack("<ii", 1, 1) + b"\0")
    header += attr("compression", "compression", bytes([3 if zip_compression else 0]))
    header += attr("dataWindow", "box2i", struct.pack("<4i", 0, 0, w - 1, h - 1))
    header += attr("displayWindow", "box2i", struct.pack("<4i", 0, 0, w - 1, h - 1))
    header += attr("lineOrder", "lineOrder", b"\0")
    header += attr("pixelAspectRatio", "float", struct.pack("<f", 1.0))
    header += attr("screenWindowCenter", "v2f", struct.pack("<ff", 0, 0))
    header += attr("screenWindowWidth", "float", struct.pack("<f", 1.0)) + b"\0"
    lines = 16 if zip_compression else 1
    chunks = []
    for y in range(0, h, lines):
        raw = np.asarray(depth[y:y + lines], "<f4").tobytes()
        if zip_compression:  # split into even / odd bytes, byte predictor, zlib (OpenEXR's ZIP)
            b = np.frombuffer(raw, np.uint8)
            t = np.concatenate([b[0::2], b[1::2]]).astype(np.int64)
            p = t.copy()
            p[1:] = (t[1:] - t[:-1] + 128 + 256) % 256
            raw = zlib.compress(p.astype(np.uint8).tobytes())
        chunks.append(struct.pack("<ii", y, len(raw)) + raw)
    table_at = len(header)
    offsets, pos = [], table_at + 8 * len(chunks)
    for c in chunks:
        offsets.append(pos)
        pos += len(c)
    path.write_bytes(header + struct.pack(f"<{len(offsets)}Q", *offsets) + b"".join(chunks))


def write_omvs(area, views, rng_depth):
    """A WHU-OMVS area: info/{viewpair,image_path}.txt, images/<cam>/<stem>.png, cams/<cam>/<stem>.txt
    ([Rwc | twc] x-right y-up, intrinsics, min max interval), depths/<cam>/<stem>.exr, masks/<cam>/<stem>.png."""
    lo, hi = rng_depth
    (area / "info").mkdir(parents=True)
    names = []
    for i, v in enumerate(views):
        cam, stem = str(i + 1), "000000"
        name = f"{cam}/{stem}"
        names.append(name)
        for sub in ("images", "cams", "depths", "masks"):
            (area / sub / cam).mkdir(parents=True, exist_ok=True)
        twc = np.linalg.inv(v["E"])
        twc[:3, :3] = twc[:3, :3] @ np.diag([1.0, -1.0, -1.0])  # the camera's y and z axes up / backwards
        lines = ["extrinsic XrightYup,[Rwc|twc]"] + [" ".join(f"{x:.12g}" for x in row) for row in twc]
        lines += [" ".join(f"{x:.10g}" for x in row) for row in v["K"]] + [f"{lo} {hi} {(hi - lo) / 64}"]
        (area / "cams" / cam / f"{stem}.txt").write_text("\n".join(lines) + "\n")
        Image.fromarray(v["image"].transpose(1, 2, 0)).save(area / "images" / cam / f"{stem}.png")
        d = np.where(np.isfinite(v["depth"]), v["depth"], 0).astype(np.float32)
        write_exr(area / "depths" / cam / f"{stem}.exr", d, zip_compression=i % 2 == 0)
        mask = np.full((H, W), 255, np.uint8)
        mask[:4] = 0  # the top rows masked out
        Image.fromarray(mask).save(area / "masks" / cam / f"{stem}.png")
    (area / "info" / "image_path.txt").write_text(
        f"{len(views)}\n" + "\n".join(f"{i} {n} H:/WHU_OMVS/{n}.png" for i, n in enumerate(names)) + "\n")
    pair = [str(len(views))]
    for i in range(len(views)):
        others = [j for j in range(len(views)) if j != i]
        pair += [str(i), f"{len(others)} " + " ".join(f"{j} 1.0" for j in others)]
    (area / "info" / "viewpair.txt").write_text("\n".join(pair) + "\n")


@pytest.fixture(scope="module")
def scenes():
    return [make_scene(100 + k) for k in range(N_SCENES)]


@pytest.fixture(scope="module")
def mvs_root(tmp_path_factory, scenes):
    root = tmp_path_factory.mktemp("oblique_mvsnet")
    for k, (views, rng_depth) in enumerate(scenes):
        write_mvsnet(root / f"scene{k:02d}", views, rng_depth)
    return root


READ = {"views": 3}


# ---- the readers ----------------------------------------------------------------------------------------


def test_reads_the_mvsnet_layout(mvs_root, scenes):
    ds = get("oblique").read_labelled(str(mvs_root), **READ)
    assert len(ds.samples) == 4 * N_SCENES and ds.targets.shape == (4 * N_SCENES, H * W)
    assert sorted(set(ds.groups.tolist())) == list(range(N_SCENES)) and ds.info["layout"] == "mvsnet"
    s = ds.samples[1]  # scene 0, reference view 1: sources 0 and 2 (pair.txt, best first)
    views, (lo, hi) = scenes[0]
    assert s.data["images"].shape == (3, 3, H, W) and s.meta["views"] == ["00000001", "00000000", "00000002"]
    np.testing.assert_allclose(s.data["E"][0], views[1]["E"], atol=1e-6)
    np.testing.assert_allclose(s.data["K"][1], views[0]["K"], atol=1e-6)
    np.testing.assert_allclose(s.data["depth_range"], [lo, hi])
    np.testing.assert_array_equal(s.data["images"][0], views[1]["image"].astype(np.float32))
    t = ds.targets[1].reshape(H, W)
    np.testing.assert_allclose(t[np.isfinite(t)], views[1]["depth"][np.isfinite(t)], rtol=1e-6)
    # every 2nd reference of each scene; at most 3 samples: the scenes' first references in turn
    assert len(get("oblique").read(str(mvs_root), views=2, stride=2)) == 2 * N_SCENES
    few = get("oblique").read(str(mvs_root), views=2, max_samples=3)
    assert [(s.meta["scene"], s.meta["reference"]) for s in few] == [(f"scene0{k}", "00000000") for k in range(3)]
    # resizing: intrinsics follow the images
    small = get("oblique").read(str(mvs_root / "scene00"), views=2, size=[16, 16])
    assert small[0].data["images"].shape == (2, 3, 16, 16)
    np.testing.assert_allclose(small[0].data["K"][0, 0, 0], FOCAL / 2)
    np.testing.assert_allclose(small[0].data["K"][0, 0, 2], ((W - 1) / 2 + 0.5) / 2 - 0.5)


def test_reads_the_whu_omvs_layout(tmp_path, scenes):
    views, rng_depth = scenes[1]
    write_omvs(tmp_path / "train" / "area1", views, rng_depth)
    write_omvs(tmp_path / "train" / "area4", scenes[2][0], scenes[2][1])
    ds = get("oblique").read_labelled(str(tmp_path / "train"), views=3)
    assert ds.info["layout"] == "whu-omvs" and len(ds.samples) == 8 and sorted(set(ds.groups.tolist())) == [0, 1]
    s = ds.samples[0]
    assert s.meta["views"] == ["1/000000", "2/000000", "3/000000"]
    for k in range(3):  # [Rwc | twc] y-up in the file -> world -> camera y-down
        np.testing.assert_allclose(s.data["E"][k], views[k]["E"], atol=1e-6)
    t = ds.targets[0].reshape(H, W)
    assert np.isnan(t[:4]).all()  # masks/: the top rows
    ok = np.isfinite(t)
    np.testing.assert_allclose(t[ok], views[0]["depth"][ok], rtol=1e-6)  # ZIP-compressed EXR
    t1 = ds.targets[1].reshape(H, W)  # view 2: an uncompressed EXR
    np.testing.assert_allclose(t1[np.isfinite(t1)], views[1]["depth"][np.isfinite(t1)], rtol=1e-6)
    assert ok[4:].mean() > 0.9


# ---- the warping ----------------------------------------------------------------------------------------


def test_warping_a_source_at_the_true_depth_reproduces_the_reference(scenes):
    import torch

    from allspark.modalities.oblique_encoder import warp_views

    views, _ = scenes[3]
    ref, src = views[0], views[1]
    rel = torch.as_tensor(src["E"] @ np.linalg.inv(ref["E"]), dtype=torch.float32)[None]
    K = torch.as_tensor(ref["K"], dtype=torch.float32)[None]
    image = torch.as_tensor(src["image"].astype(np.float32))[None]
    depth = torch.as_tensor(ref["depth"])[None, None]
    warped, seen = warp_views(image, K, K, rel, depth, (H, W), (H, W))
    warped, seen = warped[0, :, 0].numpy(), seen[0, 0, 0].numpy() > 0
    # visible in the source: the reference pixel's 3D point is what the source sees there (no occlusion)
    yy, xx = np.mgrid[0:H, 0:W]
    pts = np.linalg.solve(ref["K"], np.stack([xx.ravel(), yy.ravel(), np.ones(H * W)])) * ref["depth"].ravel()
    p = src["K"] @ (rel[0, :3, :3].numpy() @ pts + rel[0, :3, 3:].numpy())
    u, v = np.round(p[0] / p[2]).astype(int), np.round(p[1] / p[2]).astype(int)
    inside = (u >= 0) & (u < W) & (v >= 0) & (v < H)
    z_seen = np.full(H * W, np.nan)
    z_seen[inside] = src["depth"][v[inside], u[inside]]
    visible = (seen.ravel() & inside & (np.abs(z_seen - p[2]) < 0.02 * p[2])).reshape(H, W)
    visible[[0, -1]] = visible[:, [0, -1]] = False
    assert visible.mean() > 0.4
    ref_img = ref["image"].astype(np.float32)
    err_true = np.abs(warped - ref_img)[:, visible].mean()
    wrong, _ = warp_views(image, K, K, rel, depth * 1.15, (H, W), (H, W))
    err_wrong = np.abs(wrong[0, :, 0].numpy() - ref_img)[:, visible].mean()
    print("warp error at the true depth", err_true, "at 1.15 x", err_wrong, "visible", visible.mean())
    assert err_true < 12 and err_wrong > 2.5 * err_true, (err_true, err_wrong)
    # plane hypotheses (B, D): the true depth's plane is where the photometric error of a pixel is smallest
    planes = torch.linspace(float(ref["depth"].min()), float(ref["depth"].max()), 40)[None]
    swept, _ = warp_views(image, K, K, rel, planes, (H, W), (H, W))
    cost = np.abs(swept[0].numpy() - ref_img[:, None]).mean(0)  # (D, H, W)
    picked = planes[0].numpy()[cost.argmin(0)]
    assert np.median(np.abs(picked - ref["depth"])[visible]) < 1.0


# ---- the metrics ----------------------------------------------------------------------------------------


def test_depth_metrics_on_hand_made_arrays():
    from allspark import metrics

    truth = np.array([[10.0, 10.0, 10.0, np.nan], [20.0, 20.0, 20.0, 20.0]])
    pred = np.array([[10.1, 10.5, 11.5, 99.0], [20.0, 19.7, 21.0, 25.0]])
    m = metrics.depth(truth, pred)
    err = np.array([0.1, 0.5, 1.5, 0.0, 0.3, 1.0, 5.0])  # the NaN pixel is skipped
    assert m["n"] == 7 and m["samples"] == 2
    assert m["mae"] == pytest.approx(err.mean()) and m["rmse"] == pytest.approx(np.sqrt((err ** 2).mean()))
    assert m["pag2"] == pytest.approx(200 / 7) and m["pag4"] == pytest.approx(300 / 7)
    assert m["pag6"] == pytest.approx(400 / 7) and m["pag10"] == pytest.approx(400 / 7)  # 1.0 is not < 1.0
    assert metrics.MAIN_METRIC["depth"] == "mae" and metrics.better("depth", {"mae": 1.0}, {"mae": 2.0})
    empty = metrics.depth(np.full((1, 3), np.nan), np.zeros((1, 3)))
    assert empty["n"] == 0 and np.isnan(empty["mae"])


def test_depth_head_soft_argmin_and_masked_loss():
    import torch

    from allspark.heads import DepthHead, depth_from_output

    D = 5
    logits = torch.full((1, 2, D), -30.0)
    logits[0, 0, 1] = 30.0  # all on hypothesis 1 of [10, 20]: 12.5
    logits[0, 1, 3] = logits[0, 1, 4] = 30.0  # half on 17.5, half on 20
    out = torch.cat([logits, torch.tensor([[[10.0, 20.0], [10.0, 20.0]]])], -1)
    depth, interval, conf = depth_from_output(out)
    np.testing.assert_allclose(depth.numpy(), [[12.5, 18.75]], atol=1e-4)
    assert float(interval[0, 0]) == pytest.approx(2.5) and float(conf[0, 0]) == pytest.approx(1.0)
    loss = DepthHead.loss(out, torch.tensor([[12.5, float("nan")]]))
    assert float(loss) == pytest.approx(0.0, abs=1e-6)
    far = DepthHead.loss(out, torch.tensor([[17.5, float("nan")]]))
    assert float(far) == pytest.approx(2.0 - 0.5, abs=1e-4)  # smooth-L1 of a 2-interval error


# ---- a tiny bundle, trained, evaluated and asked -------------------------------------------------------


ENC = {"dim": 32, "vit_depth": 1, "heads": 2, "patch": 8, "vit_size": 32, "features": 8, "hypotheses": 24}
BRIDGE = {"queries": 4, "layers": 1, "heads": 2, "head_dim": 16, "ffn_mult": 2}


def test_tiny_bundle_trained_evaluated_and_asked(tmp_path, tiny_gguf, mvs_root):
    import rasterio

    from allspark.baselines import run_baselines
    from allspark.engine import Engine
    from allspark.evaluate import evaluate
    from allspark.outputs import write_result
    from allspark.train import TrainConfig, train

    out = tmp_path / "tiny-oblique"
    cfg = TrainConfig(modality="oblique", data=str(mvs_root), out=str(out), llm=str(tiny_gguf), epochs=1,
                      batch_size=8, pretrain_epochs=30, pretrain_batch_size=8, pretrain_lr=2e-3, read_options=READ,
                      encoder=ENC, bridge=BRIDGE, head={"dim": 32, "encoder_skip": True}, lr=1e-3, bf16=False,
                      val_fraction=0.2, seed=0)
    bundle = train(cfg, progress=lambda f, m: None)
    m = json.loads((bundle.path / "manifest.json").read_text())
    assert m["task"] == "depth" and m["head"]["hypotheses"] == 24 and m["input"]["views"] == 3
    val = m["metrics"]["validation"]
    assert {"mae", "rmse", "pag6", "pag10"} <= set(val) and m["metrics"]["stages"]["encoder"]["epochs"] == 30

    report = evaluate(str(bundle.path), str(mvs_root), llm=str(tiny_gguf), split="validation", precisions=("fp32",))
    r = report["results"]["fp32"]
    assert "encoder_only" in report and report["samples"] == 8  # 2 of the 10 scenes held out, 4 references each
    base = run_baselines(m, str(mvs_root))
    assert set(base) == {"plane_sweep_wta", "constant_depth"}
    const, sweep = base["constant_depth"], base["plane_sweep_wta"]
    assert r["n"] == const["n"] > 1000
    # learned depth clearly beats a constant depth on held-out scenes (and the classic plane sweep is no fluke)
    print("oblique validation:", {k: round(v, 3) for k, v in r.items() if isinstance(v, float)},
          "baselines:", {n: {k: round(v, 3) for k, v in b.items() if isinstance(v, float)} for n, b in base.items()})
    assert r["mae"] < 0.6 * const["mae"], (r, const)
    assert sweep["mae"] < const["mae"] and 0 <= r["pag10"] <= 100

    engine = Engine(llm_path=str(tiny_gguf), precision="fp32")
    try:
        name = engine.load_bundle(str(bundle.path))["name"]
        samples = engine.read(name, str(mvs_root / "scene09"))
        res = engine.ask(name, samples)
        assert res["depth"].shape == (4, H * W) and res["depth_map"].shape == (4, H, W)
        lo, hi = samples[0].data["depth_range"]
        d = res["depth_map"][np.isfinite(res["depth_map"])]
        assert d.size > 0.5 * 4 * H * W and lo <= d.min() and d.max() <= hi
        assert "depth from" in res["summary"] and res["summary_stats"]["depth"]["pixels"] == d.size
        written = write_result(res, samples[:1], str(tmp_path / "depth.tif"))
        with rasterio.open(written) as src:
            assert src.dtypes == ("float32",) and src.nodata == -9999.0 and src.count == 1
            assert src.profile.get("tiled") and src.compression.name.lower() == "deflate"
            band = src.read(1)
        np.testing.assert_allclose(np.where(band == -9999.0, np.nan, band), res["depth_map"][0], rtol=1e-6)
        with pytest.raises(InputError, match="gives 2 views; the bundle reads 3"):
            engine.predict(name, get("oblique").read(str(mvs_root / "scene09"), views=2))
    finally:
        engine.close()


def test_train_from_the_cli(tmp_path, tiny_gguf, mvs_root, capsys):
    from allspark.cli import main

    out = tmp_path / "cli-oblique"
    rc = main(["train", "--modality", "oblique", "--data", str(mvs_root), "--out", str(out), "--llm", str(tiny_gguf),
               "--epochs", "1", "--pretrain-epochs", "2", "--pretrain-batch-size", "8", "--max-samples", "16",
               "--options", json.dumps(READ), "--encoder", json.dumps({**ENC, "hypotheses": 8}),
               "--bridge", json.dumps(BRIDGE), "--fp32"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "validation: mae" in text and "pag6" in text
    m = json.loads((out / "manifest.json").read_text())
    assert m["modality"] == "oblique" and m["head"]["hypotheses"] == 8
    # allspark ask on a scene folder (4 reference views) writes a depth GeoTIFF per reference view
    rc = main(["ask", "--bundle", str(out), "--input", str(mvs_root / "scene09"), "--output", str(tmp_path / "d.tif"),
               "--llm", str(tiny_gguf)])
    text = capsys.readouterr().out
    assert rc == 0 and "Depth of the reference view" in text and "depth maps of" in text and "written:" in text
    files = sorted(p.name for p in tmp_path.glob("d_*.tif"))
    assert files == [f"d_{i:04d}_{i:08d}.tif" for i in range(4)]


# ---- the GeoTIFF ----------------------------------------------------------------------------------------


def test_depth_geotiff_georeferenced_or_on_the_pixel_grid(tmp_path):
    import rasterio

    from allspark.modalities.oblique import write_depth_geotiff

    d = np.linspace(10, 20, 40 * 48, dtype=np.float32).reshape(40, 48)
    d[:2] = np.nan
    t = [500000.0, 0.5, 0.0, 3400000.0, 0.0, -0.5]
    p = write_depth_geotiff(d, tmp_path / "geo.tif", t, "EPSG:32650")
    with rasterio.open(p) as src:
        assert src.crs.to_epsg() == 32650 and list(src.transform.to_gdal()) == t
        assert src.dtypes == ("float32",) and src.nodata == -9999.0 and src.profile["tiled"]
        assert src.block_shapes[0] == (32, 32) and src.compression.name.lower() == "deflate"
        band = src.read(1, masked=True)
    assert band.mask[:2].all() and not band.mask[2:].any()
    np.testing.assert_allclose(band[2:], d[2:])
    p2 = write_depth_geotiff(d, tmp_path / "grid.tif")
    with rasterio.open(p2) as src:
        assert src.crs is None and src.transform.is_identity


def test_georeferenced_reference_view_carries_its_transform(tmp_path, scenes):
    import rasterio
    from rasterio.transform import from_origin

    views, rng_depth = scenes[4]
    write_mvsnet(tmp_path / "s", views, rng_depth)
    img = tmp_path / "s" / "images" / "00000000.png"
    with rasterio.open(tmp_path / "s" / "images" / "00000000.tif", "w", driver="GTiff", width=W, height=H, count=3,
                       dtype="uint8", crs="EPSG:32650", transform=from_origin(500000, 3400000, 0.1, 0.1)) as dst:
        dst.write(views[0]["image"])
    img.unlink()
    s = get("oblique").read(str(tmp_path / "s"), views=2, size=[16, 16])[0]
    assert s.meta["transform"] == pytest.approx([500000, 0.2, 0, 3400000, 0, -0.2]) and "32650" in s.meta["crs"]


# ---- bad input: each an InputError naming the problem ----------------------------------------------------


def test_bad_inputs(tmp_path, scenes):
    from allspark.modalities.oblique import read_pfm

    ob = get("oblique")
    views, rng_depth = scenes[5]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="is empty"):
        ob.read(str(tmp_path / "empty"))
    with pytest.raises(InputError, match="no such folder"):
        ob.read(str(tmp_path / "missing"))

    def fresh(name):
        write_mvsnet(tmp_path / name, views, rng_depth)
        return tmp_path / name

    s = fresh("img")
    (s / "images" / "00000001.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="cannot read image .*00000001.png"):
        ob.read(str(s), views=2)
    s = fresh("cam")
    (s / "cams" / "00000002_cam.txt").write_text("extrinsic\n1 0 0\n")
    with pytest.raises(InputError, match="cannot read camera file .*00000002_cam.txt: 3 numbers"):
        ob.read(str(s), views=3)
    s = fresh("pfm")
    (s / "depths" / "00000000.pfm").write_bytes(b"P6\n1 1\n255\n\0\0\0")
    with pytest.raises(InputError, match="cannot read depth map .*00000000.pfm: not a PFM"):
        ob.read_labelled(str(s), views=2)
    with pytest.raises(InputError, match="cannot read depth map"):
        read_pfm(tmp_path / "nothing.pfm")
    s = fresh("size")
    Image.fromarray(views[1]["image"].transpose(1, 2, 0)[:, :24]).save(s / "images" / "00000001.png")
    with pytest.raises(InputError, match="views of different sizes: 00000000 is 32 x 32 px, 00000001 24 x 32 px"):
        ob.read(str(s), views=2)
    assert ob.read(str(s), views=2, size=[32, 32])[0].data["images"].shape == (2, 3, 32, 32)  # resized: fine
    with pytest.raises(InputError, match="at least 2 views"):
        ob.read(str(s), views=1)
    single = tmp_path / "single"
    write_mvsnet(single, views[:1], rng_depth)
    with pytest.raises(InputError, match="has no source view: oblique photography needs at least 2 views"):
        ob.read(str(single))
    s = fresh("singular")
    (s / "cams" / "00000001_cam.txt").write_text(
        "extrinsic\n1 0 0 0\n0 1 0 0\n0 0 1 5\n0 0 0 1\n\nintrinsic\n0 0 16\n0 34 16\n0 0 1\n\n10 1 48 50\n")
    with pytest.raises(InputError, match="singular camera matrix"):
        ob.read(str(s), views=2)
    s = fresh("nan")
    (s / "cams" / "00000001_cam.txt").write_text(
        "extrinsic\n1 0 0 0\n0 1 0 0\n0 0 1 nan\n0 0 0 1\n\nintrinsic\n34 0 16\n0 34 16\n0 0 1\n\n10 1 48 50\n")
    with pytest.raises(InputError, match="non-finite"):
        ob.read(str(s), views=2)
    s = fresh("range")
    text = (s / "cams" / "00000000_cam.txt").read_text().splitlines()
    (s / "cams" / "00000000_cam.txt").write_text("\n".join(text[:-1] + ["30 -1 48 5"]) + "\n")
    with pytest.raises(InputError, match=r"invalid depth range \[30, 5\]"):
        ob.read(str(s), views=2)
    with pytest.raises(InputError, match="invalid depth range"):
        ob.read(str(fresh("range2")), views=2, depth_range=[5, 5])
    # payloads
    good = ob.read(str(fresh("payload")), views=2)[0]
    arrays = {k: np.array(v) for k, v in good.data.items() if k != "depth_range"}
    assert ob.from_payload(arrays, {"depth_range": list(good.data["depth_range"])})[0].data["images"].shape == (2, 3, H, W)
    bad = dict(arrays, images=arrays["images"].copy())
    bad["images"][0, 0, 3, 3] = np.nan
    with pytest.raises(InputError, match="'images' holds NaN"):
        ob.from_payload(bad, {"depth_range": [10, 50]})
    bad = dict(arrays, K=arrays["K"].copy())
    bad["K"][1, 0, 0] = np.inf
    with pytest.raises(InputError, match="'K' holds NaN or infinite"):
        ob.from_payload(bad, {"depth_range": [10, 50]})
    with pytest.raises(InputError, match="needs depth_range"):
        ob.from_payload(arrays, {})
    one = {k: v[:1] for k, v in arrays.items()}
    with pytest.raises(InputError, match="has 1 view; oblique photography needs at least 2"):
        ob.from_payload(one, {"depth_range": [10, 50]})
    with pytest.raises(InputError, match="unknown oblique reader option"):
        ob.options({"view": 3})
