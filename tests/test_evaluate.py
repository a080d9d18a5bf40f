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
