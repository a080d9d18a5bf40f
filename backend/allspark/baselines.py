"""The alternatives a GIS analyst would use instead of a bundle, measured on the bundle's own splits.

`allspark eval --baseline` re-creates the bundle's training run (its sample subset and its three
splits: training, model selection, validation), fits each alternative on the training split, lets
the model-selection split choose its settings, and scores it on the split the bundle is scored on.
scikit-learn does the classical ones. Each modality names its alternatives in `BASELINES`.

- hsi: an RBF SVM on the pixel's spectrum + its neighbourhood's mean spectrum; a small CNN on k x k
  patches of the first principal components (trained from scratch, the model-selection split picks
  the epoch).
- table: gradient-boosted trees (HistGradientBoosting, the model-selection split picks the number of
  trees and the settings) and least squares (numbers standardised, categories one-hot).
- trajectory: constant velocity, best of 20 futures with sampled speed and heading (their spreads
  chosen on the model-selection split).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from . import metrics
from .errors import InputError
from .modalities import LabelledSet


def _classification(y_true, y_pred, n_classes) -> dict:
    return {k: v for k, v in metrics.classification(y_true, y_pred, n_classes).items() if k != "confusion"}


# ---- hyperspectral -----------------------------------------------------------------------------------


def _hsi_data(ds: LabelledSet, k: int):
    """The pixels' k x k neighbourhoods (N, C, k, k), as read."""
    if "patch" not in ds.samples[0].data or ds.samples[0].data["patch"].shape[-1] != k:
        raise InputError(f"hyperspectral baselines need each pixel read with its {k} x {k} neighbourhood")
    patches = np.stack([s.data["patch"] for s in ds.samples]).astype(np.float32)
    return patches


def hsi_svm(ds: LabelledSet, train, select, test, n_classes: int, seed: int = 0) -> dict:
    """RBF SVM on [centre spectrum, 5 x 5 neighbourhood mean] (standardised); C and gamma chosen on the
    model-selection split."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    patches = _hsi_data(ds, ds.samples[0].data["patch"].shape[-1])
    k = patches.shape[-1]
    c, r = k // 2, min(2, k // 2)
    centre = patches[:, :, c, c]
    around = np.nanmean(patches[:, :, c - r:c + r + 1, c - r:c + r + 1], axis=(2, 3))
    X = np.nan_to_num(np.concatenate([centre, around], 1))
    scaler = StandardScaler().fit(X[train])
    X = scaler.transform(X)
    y = ds.targets
    best, best_model, chosen = -1.0, None, None
    for C in (1.0, 10.0, 100.0):
        for gamma in ("scale", 0.3 / X.shape[1]):
            model = SVC(C=C, gamma=gamma, class_weight="balanced", random_state=seed).fit(X[train], y[train])
            acc = float((model.predict(X[select]) == y[select]).mean())
            if acc > best:
                best, best_model, chosen = acc, model, {"C": C, "gamma": gamma}
    out = _classification(y[test], best_model.predict(X[test]), n_classes)
    out["chosen"] = chosen
    return out


def hsi_cnn(ds: LabelledSet, train, select, test, n_classes: int, seed: int = 0, components: int = 30,
            epochs: int = 120) -> dict:
    """A small CNN from scratch on k x k patches of the first principal components (fitted on the
    training pixels), flips/turns as augmentation; the model-selection split picks the epoch."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    patches = _hsi_data(ds, ds.samples[0].data["patch"].shape[-1])
    N, C, k, _ = patches.shape
    px = patches[train].transpose(0, 2, 3, 1).reshape(-1, C)
    px = px[np.isfinite(px).all(1)]
    mean, std = px.mean(0), px.std(0) + 1e-6
    z = (px - mean) / std
    _, _, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
    comps = vt[:components].astype(np.float32)
    x = np.einsum("pc,nchw->nphw", comps, np.nan_to_num((patches - mean[:, None, None]) / std[:, None, None]))
    x = torch.as_tensor(x, dtype=torch.float32)
    y = torch.as_tensor(ds.targets, dtype=torch.long)
    net = nn.Sequential(nn.Conv2d(comps.shape[0], 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(128, n_classes))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    rng = np.random.default_rng(seed)
    best, best_state, best_epoch = -1.0, None, 0
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(train)
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            if len(idx) < 2:
                continue
            xb = torch.rot90(x[idx], int(rng.integers(4)), dims=(2, 3))
            if rng.random() < 0.5:
                xb = torch.flip(xb, dims=(3,))
            loss = nn.functional.cross_entropy(net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        net.eval()
        with torch.no_grad():
            acc = float((net(x[select]).argmax(1) == y[select]).float().mean())
        if acc > best:
            best, best_epoch = acc, epoch + 1
            best_state = {n: v.clone() for n, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
    with torch.no_grad():
        pred = net(x[test]).argmax(1).numpy()
    out = _classification(ds.targets[test], pred, n_classes)
    out["chosen"] = {"epoch": best_epoch, "components": int(comps.shape[0]), "patch": int(k)}
    return out


# ---- tables --------------------------------------------------------------------------------------------


def _table_matrix(ds: LabelledSet, train):
    """Numbers (NaN kept) and category codes (fitted on the training rows; -1 unknown / missing)."""
    num = np.stack([np.asarray(s.data["num"], np.float64) for s in ds.samples])
    cat = np.stack([np.asarray(s.data["cat"], object) for s in ds.samples]) if len(ds.samples[0].data["cat"]) else \
        np.zeros((len(ds.samples), 0), object)
    codes = np.full(cat.shape, -1, np.int64)
    for j in range(cat.shape[1]):
        vocab = {v: i for i, v in enumerate(sorted({v for v in cat[train, j] if v is not None}))}
        codes[:, j] = [vocab.get(v, -1) for v in cat[:, j]]
    return num, codes


def table_gbt(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0) -> dict:
    """HistGradientBoosting on the same columns (categories native); the model-selection split chooses
    the number of trees."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    num, codes = _table_matrix(ds, train)
    X = np.concatenate([num, np.where(codes < 0, np.nan, codes)], 1)
    cat_mask = np.r_[np.zeros(num.shape[1], bool), np.ones(codes.shape[1], bool)]
    y = ds.targets.reshape(len(ds.targets), -1)[:, 0].astype(np.float64)
    best, best_model, chosen = np.inf, None, None
    for lr in (0.05, 0.1):
        for leaves in (31, 63):
            model = HistGradientBoostingRegressor(learning_rate=lr, max_leaf_nodes=leaves, max_iter=600,
                                                  categorical_features=cat_mask, random_state=seed,
                                                  early_stopping=False).fit(X[train], y[train])
            errs = [float(np.sqrt(np.mean((p - y[select]) ** 2))) for p in model.staged_predict(X[select])]
            n = int(np.argmin(errs)) + 1
            if errs[n - 1] < best:
                best, best_model, chosen = errs[n - 1], model, {"learning_rate": lr, "max_leaf_nodes": leaves, "trees": n}
    pred = list(best_model.staged_predict(X[test]))[chosen["trees"] - 1]
    out = metrics.regression(y[test][:, None], pred[:, None])
    out["chosen"] = chosen
    return out


def table_least_squares(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0) -> dict:
    """Ordinary least squares: numbers standardised (missing -> the training mean), categories one-hot."""
    num, codes = _table_matrix(ds, train)
    mean = np.nanmean(num[train], 0)
    std = np.nanstd(num[train], 0) + 1e-9
    Z = np.where(np.isfinite(num), (num - mean) / std, 0.0)
    onehots = [(codes[:, j:j + 1] == np.arange(codes[train, j].max() + 1)).astype(float)
               for j in range(codes.shape[1]) if (codes[train, j] >= 0).any()]
    X = np.concatenate([np.ones((len(Z), 1)), Z, *onehots], 1)
    y = ds.targets.reshape(len(ds.targets), -1)[:, 0].astype(np.float64)
    coef, *_ = np.linalg.lstsq(X[train], y[train], rcond=None)
    return metrics.regression(y[test][:, None], (X[test] @ coef)[:, None])


# ---- trajectories ------------------------------------------------------------------------------------


def constant_velocity_paths(xy: np.ndarray, horizon: int, k: int, speed_sd: float, heading_sd: float,
                            seed: int = 0) -> np.ndarray:
    """(B, obs, 2) observed positions -> (B, K, horizon, 2) futures as offsets from the last position:
    the last step's velocity, each of the K samples with its speed scaled by N(1, speed_sd) and its
    heading turned by N(0, heading_sd) radians (the first sample keeps the velocity as it is)."""
    rng = np.random.default_rng(seed)
    v = xy[:, -1] - xy[:, -2]  # (B, 2) metres per step
    b = len(xy)
    scale = np.clip(rng.normal(1.0, speed_sd, (b, k)), 0.0, None)
    turn = rng.normal(0.0, heading_sd, (b, k))
    scale[:, 0], turn[:, 0] = 1.0, 0.0
    c, s = np.cos(turn), np.sin(turn)
    vk = np.stack([c * v[:, None, 0] - s * v[:, None, 1], s * v[:, None, 0] + c * v[:, None, 1]], -1)
    vk = vk * scale[..., None]  # (B, K, 2)
    steps = np.arange(1, horizon + 1)[None, None, :, None]
    return vk[:, :, None, :] * steps


def trajectory_constant_velocity(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0) -> dict:
    """Best of 20 constant-velocity futures with sampled speed and heading; the spreads are chosen on the
    model-selection split."""
    xy = np.stack([np.asarray(s.data["xy"], np.float64) for s in ds.samples])
    fut = np.asarray(ds.targets, np.float64)
    horizon = fut.shape[1]
    best, chosen = np.inf, None
    for speed_sd in (0.0, 0.1, 0.2, 0.3):
        for heading_sd in (0.0, 0.1, 0.2, 0.35, 0.5):
            m = metrics.trajectory(fut[select], constant_velocity_paths(xy[select], horizon, 20, speed_sd,
                                                                         heading_sd, seed))
            if m["min_ade"] < best:
                best, chosen = m["min_ade"], {"speed_sd": speed_sd, "heading_sd": heading_sd}
    out = metrics.trajectory(fut[test], constant_velocity_paths(xy[test], horizon, 20, chosen["speed_sd"],
                                                                chosen["heading_sd"], seed))
    out["chosen"] = chosen
    return out


BASELINES: dict[str, dict[str, Callable]] = {
    "trajectory": {"constant_velocity_sampled": trajectory_constant_velocity},
    "hsi": {"svm_spectrum_neighbourhood": hsi_svm, "cnn_pca_patches": hsi_cnn},
    "table": {"gradient_boosted_trees": table_gbt, "least_squares": table_least_squares},
}

# what each modality's alternatives need read differently from a spectrum-only bundle
READ_FOR_BASELINES = {"hsi": {"patch": 9}}


def run_baselines(manifest: dict, data: str, labels: str | None = None, max_samples: int | None = None,
                  progress=None) -> dict:
    """Every alternative of the bundle's modality, fitted on its training split, its settings chosen on
    the model-selection split, scored on the validation split (at most `max_samples` of it, the same
    ones `allspark eval --split validation --max-samples` scores the bundle on)."""
    from .modalities import get as get_modality
    from .train import capped, sample_subset, three_way_split

    name = manifest["modality"]
    if name not in BASELINES:
        raise InputError(f"no baselines are defined for the {name} modality")
    modality = get_modality(name)
    opts = dict(manifest.get("read_options") or {})
    for k, v in READ_FOR_BASELINES.get(name, {}).items():
        if int(opts.get(k) or 1) <= 1:
            opts[k] = v
    if labels:
        opts["labels"] = labels
    ds = modality.read_labelled(data, **opts)
    tr = manifest.get("training") or {}
    ds = sample_subset(ds, tr.get("max_samples"), tr.get("seed", 0))
    train, select, val = three_way_split(ds, tr.get("val_fraction", 0.15), tr.get("select_fraction", 0.15),
                                         tr.get("seed", 0))
    val = capped(val, max_samples)
    n_classes = len(manifest["classes"]) if manifest.get("classes") else None
    out = {}
    for key, fn in BASELINES[name].items():
        if progress is not None:
            progress(0.0, f"baseline {key}")
        t0 = time.perf_counter()
        m = fn(ds, train, select, val, n_classes, seed=tr.get("seed", 0))
        m["seconds"] = round(time.perf_counter() - t0, 1)
        m["split"] = f"fitted on {len(train)} training samples, chosen on {len(select)}, scored on {len(val)} validation"
        out[key] = m
    return out
