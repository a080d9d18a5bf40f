"""Point cloud modality: Autzen (LAZ, feet), COPC, LAS, object point sets, index maps, PointBERT encoder."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("laspy")

from allspark.errors import InputError  # noqa: E402
from allspark.modalities import get  # noqa: E402


@pytest.fixture(scope="module")
def autzen(shared_data):
    return get("pointcloud").read_labelled(shared_data / "pointcloud_lidar" / "autzen_west.laz")


def test_autzen_tiles_and_ground_labels(autzen):
    ls = autzen
    assert ls.classes == ["non-ground", "ground"] and ls.targets.shape == (len(ls.samples), 2048)
    assert sum(s.meta["n_points"] for s in ls.samples) == 55_000  # every point is in one tile
    s = ls.samples[0]
    assert "foot" in s.meta["crs"].lower() and s.meta["units_to_m"][0] == pytest.approx(0.3048)
    assert s.data["points"].shape[1] == 6 and s.data["points"].dtype == np.float32
    # 20 m tiles: x, y relative to the centre within +-10 m
    big = max(ls.samples, key=lambda t: t.meta["n_points"])
    assert np.abs(big.data["points"][:, :2]).max() <= 10.0 + 1e-3
    # ground share over kept points is close to the file's 13,077 / 55,000
    kept = ls.targets[ls.targets >= 0]
    assert 0.2 < kept.mean() < 0.28
    assert set(np.unique(ls.targets)) <= {-1, 0, 1} and len(np.unique(ls.groups)) == len(ls.samples)
    assert len(ls.info["ground_share_per_tile"]) == len(ls.samples) and "partial" in ls.info["caveat"]


def test_index_map_sends_results_to_every_point(autzen):
    pc = get("pointcloud")
    big = max(autzen.samples, key=lambda t: t.meta["n_points"])
    K, n = len(big.data["points"]), big.meta["n_points"]
    assert K == 2048 and n > K  # downsampled tile
    idx, vals = pc.expand(big, np.arange(K))
    assert len(idx) == n and len(np.unique(idx)) == n and vals.max() < K
    kept_pos = np.searchsorted(idx, big.meta["index"])
    np.testing.assert_array_equal(vals[kept_pos], np.arange(K))  # kept points map to themselves


def test_las_copc_and_units(shared_data):
    pc = get("pointcloud")
    d = shared_data / "pointcloud_lidar"
    copc = pc.read(d / "simple.copc.laz", tile=500)
    las = pc.read(d / "simple.las", tile=500)
    assert sum(s.meta["n_points"] for s in copc) == 1065 and sum(s.meta["n_points"] for s in las) == 1065
    assert copc[0].meta["units_to_m"] == [1.0, 1.0, pytest.approx(0.3048006)]  # its WKT says metres + US ft height
    assert las[0].meta["crs"] is None
    plane = pc.read(d / "plane.laz")
    assert len(plane) == 1 and plane[0].meta["n_points"] == 28185 and len(plane[0].data["points"]) == 2048


def test_corrupt_and_empty_files(tmp_path):
    pc = get("pointcloud")
    bad = tmp_path / "bad.laz"
    bad.write_bytes(b"LASF" + b"\x00" * 50)
    with pytest.raises(InputError, match=r"cannot read .*bad\.laz"):
        pc.read(bad)
    (tmp_path / "zero.las").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        pc.read(tmp_path / "zero.las")
    with pytest.raises(InputError, match="no such file"):
        pc.read(tmp_path / "missing.las")


def test_checks(shared_data):
    pc = get("pointcloud")
    s = pc.read(shared_data / "pointcloud_lidar" / "simple.las", tile=2000)[0]
    spec = pc.default_spec([s])
    pc.check(s, spec)
    s.data["points"] = s.data["points"].copy()
    s.data["points"][0, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        pc.check(s, spec)
    s.data["points"] = np.zeros((0, 6), np.float32)
    with pytest.raises(InputError, match="empty"):
        pc.check(s, spec)
    s.data["points"] = np.zeros((5, 4), np.float32)
    with pytest.raises(InputError, match="expects 6 values per point"):
        pc.check(s, spec)


def cube_off(path, scale=1.0):
    v = [(x, y, z) for x in (0, scale) for y in (0, scale) for z in (0, scale)]
    f = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    lines = ["OFF", f"{len(v)} {len(f)} 0"] + [" ".join(map(str, p)) for p in v] + \
            [f"4 {' '.join(map(str, q))}" for q in f]
    path.write_text("\n".join(lines))
    return path


def test_object_point_sets(tmp_path):
    pc = get("pointcloud")
    for c in ("box", "rod"):
        (tmp_path / c).mkdir()
        for i in range(2):
            if c == "box":
                cube_off(tmp_path / c / f"{c}{i}.off", scale=1 + i)
            else:
                z = np.linspace(0, 10, 300)
                np.savetxt(tmp_path / c / f"{c}{i}.txt", np.stack([z * 0, z * 0 + i, z], 1), delimiter=",")
    ls = pc.read_labelled(tmp_path, points=256)
    assert ls.classes == ["box", "rod"] and ls.targets.tolist() == [0, 0, 1, 1]
    box = ls.samples[0]
    assert box.data["points"].shape == (256, 6)
    r = np.linalg.norm(box.data["points"][:, :3], axis=1)
    assert r.max() <= 1.0 + 1e-5 and r.max() > 0.5  # unit sphere
    spec = pc.default_spec(ls.samples)
    assert spec["encoder"]["dense"] is False and spec["input"]["xyz_scale"] == 1.0


def test_payload_path(shared_data):
    pc = get("pointcloud")
    s = pc.from_payload({}, {"path": str(shared_data / "pointcloud_lidar" / "simple.laz"), "tile": 2000})
    assert sum(x.meta["n_points"] for x in s) == 1065
    with pytest.raises(InputError, match="path"):
        pc.from_payload({}, {})


def test_pointbert_encoder(autzen):
    import torch

    pc = get("pointcloud")
    samples = autzen.samples[:3]
    spec = pc.default_spec(autzen.samples)
    assert spec["encoder"]["dense"] is True  # lidar tiles: per-point elements
    spec["input"]["points"] = 512
    spec["encoder"].update(dim=64, depth=2, heads=2, groups=16, group_size=16)
    st = pc.normalise_stats(autzen.samples, spec)
    x = pc.to_inputs(samples, spec, st)
    assert x["points"].shape == (3, 512, 6) and x["mask"].shape == (3, 512)
    assert x["mask"][0].sum() == min(512, len(samples[0].data["points"]))
    enc = pc.build_encoder(spec).eval()
    with torch.no_grad():
        tokens, elements = enc(**{k: torch.from_numpy(v) for k, v in x.items()})
    assert tuple(tokens.shape) == (3, 17, 64) and tuple(elements.shape) == (3, 512, 64)
    spec["encoder"]["dense"] = False
    with torch.no_grad():
        tok = pc.build_encoder(spec).eval()(**{k: torch.from_numpy(v) for k, v in x.items()})
    assert isinstance(tok, torch.Tensor) and tuple(tok.shape) == (3, 17, 64)


def test_batch_norms_fold_exactly_for_inference(autzen):
    """quantize.fold_batch_norms folds each BatchNorm into the Conv/Linear before it (point encoder's
    per-point layers, the SAR CNN): no BatchNorm left, the same outputs as the unfolded eval model."""
    import copy

    import torch

    from allspark.quantize import fold_batch_norms

    pc = get("pointcloud")
    spec = pc.default_spec(autzen.samples)
    spec["input"]["points"] = 256
    spec["encoder"].update(dim=32, depth=1, heads=2, groups=8, group_size=16)
    st = pc.normalise_stats(autzen.samples, spec)
    x = {k: torch.from_numpy(v) for k, v in pc.to_inputs(autzen.samples[:4], spec, st).items()}
    sar = get("sar").build_encoder({"input": {"size": 32}})
    img = {"image": torch.rand(4, 1, 32, 32) * 5, "mask": torch.ones(4, 1, 32, 32)}
    torch.manual_seed(0)
    for enc, inputs in ((pc.build_encoder(spec), x), (sar, img)):
        enc.train()
        with torch.no_grad():
            for _ in range(3):  # running statistics away from their initial (identity) values
                enc(**inputs)
        enc.eval()
        folded = fold_batch_norms(copy.deepcopy(enc))
        assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in folded.modules())
        with torch.no_grad():
            ref, out = enc(**inputs), folded(**inputs)
        for a, b in zip(ref if isinstance(ref, tuple) else (ref,), out if isinstance(out, tuple) else (out,)):
            assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()


def test_pyproj_finds_its_data_in_the_venv():
    """laspy parses LAS CRSs through pyproj; in the venv Debian's pyproj once warned that it had no PROJ
    data (it looks under sys.prefix) and EPSG lookups failed. setup.sh links it to Debian's."""
    import subprocess
    import sys

    code = "import pyproj; print(pyproj.CRS.from_epsg(32610).name)"
    out = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "UTM zone 10N" in out.stdout, out.stderr


def test_heights_of_a_full_autzen_tile_match_a_brute_force_search(shared_data):
    """The lowest-first search gives each point's height above the lowest point within r exactly, on the
    densest real tile (2,048 points) and whatever its chunk."""
    import numpy as np

    from allspark.modalities import get
    from allspark.modalities.pointcloud import heights_above_local_min

    tiles = get("pointcloud").read(str(shared_data / "pointcloud_lidar" / "autzen_west.laz"), tile=20.0, points=2048)
    p = max((t.data["points"] for t in tiles), key=len)[:2048].astype(np.float64)
    xy, z = p[:, :2], p[:, 2]
    radii = (1.0, 2.5, 5.0, 10.0)
    d2 = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    want = np.stack([z - np.where(d2 <= r * r, z[None, :], np.inf).min(1) for r in radii], 1)
    for chunk in (256, 7):
        np.testing.assert_array_equal(heights_above_local_min(xy, z, radii, chunk=chunk), want)
