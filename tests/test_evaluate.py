"""`allspark eval` on a user's own image + label raster, and the alternatives it measures (--baseline)."""

from __future__ import annotations

import numpy as np
import pytest

from allspark.errors import InputError


def test_label_values_map_to_the_bundles_classes(tiny_bundle, tiny_gguf, shared_data, tmp_path):
    """`eval --data Indian_pines_corrected.npy --labels L.npy` once scored 0.0 on n = 0 samples: label
    values became names ('class 3') that matched none of the bundle's classes, so nothing was counted.
    Label value v is the bundle's class v (0 = unlabelled)."""
    from allspark.evaluate import evaluate

    gt = np.load(shared_data / "hsi_indian_pines" / "Indian_pines_gt_train.npy")
    labels = np.zeros_like(gt)
    labels[:40] = gt[:40]  # the labelled pixels of the top 40 rows
    np.save(tmp_path / "L.npy", labels)
    report = evaluate(str(tiny_bundle), str(shared_data / "hsi_indian_pines" / "Indian_pines_corrected.npy"),
                      labels=str(tmp_path / "L.npy"), llm=str(tiny_gguf), precisions=("fp32",))
    m = report["results"]["fp32"]
    assert report["samples"] == int((labels > 0).sum()) > 50
    assert m["n"] == report["samples"]  # every labelled pixel was scored


def test_an_evaluation_that_scores_nothing_is_an_error():
    from allspark.evaluate import score
    from allspark.modalities import LabelledSet, Sample

    ds = LabelledSet([Sample({"spectrum": np.zeros(3)})] * 2, np.array([0, 1]), classes=["class 1", "class 2"])
    manifest = {"classes": ["Corn", "Woods"]}
    with pytest.raises(InputError, match="match none of the bundle's"):
        score("classification", manifest, ds, {"probabilities": np.full((2, 2), 0.5)})


def test_baselines_are_fitted_on_the_bundles_own_training_split(shared_data):
    """The alternatives use the bundle's run: its sample subset and its three splits."""
    from allspark.baselines import run_baselines

    manifest = {"modality": "table", "classes": None, "read_options": {},
                "training": {"seed": 0, "val_fraction": 0.2, "select_fraction": 0.2, "max_samples": 1500}}
    out = run_baselines(manifest, str(shared_data / "table_prsa_beijing"))
    gbt, ls = out["gradient_boosted_trees"], out["least_squares"]
    from allspark.modalities import get
    from allspark.train import sample_subset, split_indices

    ds = sample_subset(get("table").read_labelled(str(shared_data / "table_prsa_beijing")), 1500, 0)
    _, val = split_indices(ds, 0.2, 0)  # the bundle's validation split: whole months, the latest ones
    assert gbt["n"] == ls["n"] == len(val) >= 300
    # PM2.5 from the other pollutants and the weather: both far better than the mean (R2 0), trees best
    assert ls["r2"] > 0.5 and gbt["r2"] > ls["r2"] - 0.05
    assert gbt["chosen"]["trees"] >= 1


def _mstar_subset(shared_data, per_class):
    from allspark.modalities import get
    from allspark.train import three_way_split

    ds = get("sar").read_labelled(str(shared_data / "sar_mstar10" / "train_17deg"), per_class=per_class)
    train, select, val = three_way_split(ds, 0.25, 0.25, 0)
    manifest = {"modality": "sar", "classes": ds.classes, "input": {"size": 48}, "encoder": {}}
    return ds, train, select, val, manifest


def test_pca_svm_on_mstar_chips_beats_chance_by_far(shared_data):
    """The classic MSTAR alternative, on the chips as the bundle sees them (48 px centre crop, log
    amplitude): ten vehicle classes from 20 training chips each are told apart far above chance (0.1;
    0.71 measured)."""
    from allspark.baselines import image_pca_svm

    ds, train, select, val, manifest = _mstar_subset(shared_data, per_class=40)
    out = image_pca_svm(ds, train, select, val, len(ds.classes), manifest=manifest)
    assert out["n"] == len(val) >= 90
    assert out["accuracy"] > 0.5
    assert out["chosen"]["components"] <= len(train) - 1


def test_cnn_from_scratch_trains_on_augmented_chips_and_picks_its_epoch_on_the_selection_split(shared_data):
    from allspark.baselines import image_cnn

    ds, train, select, val, manifest = _mstar_subset(shared_data, per_class=8)
    out = image_cnn(ds, train, select, val, len(ds.classes), manifest=manifest, epochs=2)
    assert out["n"] == len(val)
    assert 1 <= out["chosen"]["epoch"] <= 2 and out["chosen"]["size"] == 48


def test_image_augmentation_moves_image_and_mask_together():
    """Turns, mirrors and shifts apply to the image and its nodata mask alike; what shifts in is nodata,
    and a batch keeps its shape and its targets. A marked pixel (image 1, mask 0) lands on the same
    place in both, wherever the augmentation puts it."""
    import torch

    from allspark.modalities import get

    gen = torch.Generator().manual_seed(3)
    x = torch.zeros(16, 1, 32, 32)
    x[:, 0, 12, 9] = 1.0  # 3 pixels or more from every edge: a shift of size/16 = 2 keeps it inside
    m = 1 - x
    y = torch.arange(16)
    out, yo = get("rgb").augment({"image": x, "mask": m}, y, gen)
    assert out["image"].shape == x.shape and out["mask"].shape == x.shape and torch.equal(yo, y)
    marked = out["image"] != 0
    assert torch.equal(marked.sum((1, 2, 3)), torch.ones(16, dtype=torch.long))
    assert torch.all(out["mask"][marked] == 0)  # the mask moved with the image
    places = {tuple(torch.nonzero(marked[i, 0])[0].tolist()) for i in range(16)}
    assert len(places) > 4  # the augmentation moves things (16 draws of turn, mirror and shift)
    nodata = (out["mask"] == 0).sum((1, 2, 3)) - 1
    assert torch.all(nodata <= 2 * 2 * 32)  # only the shifted-in border beyond the marked pixel
    # SAR: shifts only (a turned or mirrored chip would cast its radar shadow the wrong way)
    out, _ = get("sar").augment({"image": x, "mask": m}, y, gen)
    for i in range(16):
        r, c = torch.nonzero(out["image"][i, 0] != 0)[0].tolist()
        assert abs(r - 12) <= 2 and abs(c - 9) <= 2


def test_random_forest_on_height_features_separates_ground_on_autzen(shared_data):
    """The point cloud alternative: per point, the height above the lowest point nearby (1-10 m) and
    the returns; on Autzen's validation tiles it finds the (partially labelled) ground far better than
    calling every point non-ground (ground F1 0, mIoU ~0.4)."""
    from allspark.baselines import pointcloud_random_forest
    from allspark.modalities import get
    from allspark.train import three_way_split

    ds = get("pointcloud").read_labelled(str(shared_data / "pointcloud_lidar" / "autzen_west.laz"))
    train, select, val = three_way_split(ds, 0.15, 0.15, 0)  # whole tiles: a tile's points stay together
    assert not set(ds.groups[train]) & set(ds.groups[val])
    out = pointcloud_random_forest(ds, train, select, val, 2)
    assert out["n"] == int((ds.targets[val] >= 0).sum()) > 5000
    assert out["miou"] > 0.55 and out["f1_per_class"][1] > 0.5


def test_point_augmentation_turns_the_horizontal_only():
    """A turn about the vertical, a mirror and a horizontal scale: heights, features, labels and the
    padding mask stay; horizontal distances between points change by the one scale factor only."""
    import torch

    from allspark.modalities import get

    gen = torch.Generator().manual_seed(0)
    pts = torch.randn(4, 64, 6)
    mask = torch.ones(4, 64)
    y = torch.randint(0, 2, (4, 64))
    out, yo = get("pointcloud").augment({"points": pts, "mask": mask}, y, gen)
    p = out["points"]
    assert torch.equal(p[..., 2:], pts[..., 2:]) and torch.equal(out["mask"], mask) and torch.equal(yo, y)
    assert not torch.allclose(p[..., :2], pts[..., :2])
    before = torch.cdist(pts[..., :2], pts[..., :2])
    after = torch.cdist(p[..., :2], p[..., :2])
    ratio = after[before > 0.1] / before[before > 0.1]
    for b in range(4):
        r = (after[b][before[b] > 0.1] / before[b][before[b] > 0.1])
        assert 0.9 - 1e-4 <= float(r.min()) and float(r.max()) <= 1.1 + 1e-4 and float(r.std()) < 1e-4
    assert ratio.numel() > 0


def test_heights_above_local_minimum_match_a_brute_force_search():
    from allspark.modalities.pointcloud import heights_above_local_min

    rng = np.random.default_rng(4)
    xy, z = rng.uniform(0, 20, (400, 2)), rng.normal(0, 3, 400)
    got = heights_above_local_min(xy, z, (1.0, 2.5, 10.0))
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    for j, r in enumerate((1.0, 2.5, 10.0)):
        want = z - np.where(d <= r, z[None, :], np.inf).min(1)
        np.testing.assert_allclose(got[:, j], want)
    assert (got >= 0).all() and heights_above_local_min(xy[:0], z[:0], (1.0,)).shape == (0, 1)
