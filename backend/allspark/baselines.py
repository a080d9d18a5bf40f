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
- sar, rgb: PCA of the flattened images + an RBF SVM (the classic MSTAR baseline) and a small CNN
  trained from scratch with the same augmentation as the bundle's encoder.
- point cloud (ground vs non-ground per point): a random forest on height-above-local-minimum
  features (each point's height above the lowest point within 1-10 m, local mean and spread, returns).
- trajectory: constant velocity, best of 20 futures with sampled speed and heading (their spreads
  chosen on the model-selection split).
- graph (forecast every sensor's next 12 steps): the last reading carried forward (the naive floor), the
  time-of-day average (per sensor, the training windows' mean at the same slot of the day: weekday and
  time of day together would need weeks of data), and per-sensor ridge regression from the last 12
  steps to each of the next 12 (alpha chosen on the model-selection split). Missing targets are skipped
  by the metrics; missing inputs are filled with the sensor's previous reading, else its training mean.
- text: TF-IDF of word 1-2-grams + logistic regression (C chosen on the model-selection split).
- infrared (re-identification): hand-made person descriptors ranked by Euclidean distance under the
  same SYSU-MM01 protocol: HOG-like gradient histograms of the grey image, and those with colour
  histograms per horizontal stripe (the model-selection split chooses whether to standardise them).
- code: TF-IDF (search by the words of code and docstring; the nearest training function's docstring as
  the written one), and the function's name (its words as the docstring; search by name and docstring).
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


def hsi_svm(ds: LabelledSet, train, select, test, n_classes: int, seed: int = 0, **_) -> dict:
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
            epochs: int = 120, **_) -> dict:
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
    rng = np.random.default_rng(seed)

    def batch(idx):  # a random quarter turn and mirror of the batch's patches
        xb = torch.rot90(x[idx], int(rng.integers(4)), dims=(2, 3))
        if rng.random() < 0.5:
            xb = torch.flip(xb, dims=(3,))
        return net(xb), y[idx]

    def predict(idx):
        net.eval()
        with torch.no_grad():
            return net(x[idx]).argmax(1).numpy()

    best_epoch = _fit_classifier(net, batch, predict, train, select, ds.targets, epochs, 64, 1e-3, 1e-3, rng)
    out = _classification(ds.targets[test], predict(test), n_classes)
    out["chosen"] = {"epoch": best_epoch, "components": int(comps.shape[0]), "patch": int(k)}
    return out


def _fit_classifier(net, batch, predict, train, select, targets, epochs: int, batch_size: int, lr: float,
                    weight_decay: float, rng) -> int:
    """AdamW with a cosine schedule over `epochs`; `batch(idx)` -> (logits, targets) of a training batch
    (augmented as its caller wants), `predict(idx)` -> labels. The model-selection split picks the epoch,
    whose weights `net` ends with; returns that epoch."""
    import torch
    from torch import nn

    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    best, best_state, best_epoch = -1.0, None, 0
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(train)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            logits, yb = batch(idx)
            loss = nn.functional.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        acc = float((predict(np.asarray(select)) == np.asarray(targets)[select]).mean())
        if acc > best:
            best, best_epoch = acc, epoch + 1
            best_state = {n: v.clone() for n, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    return best_epoch


# ---- images (SAR chips, RGB scenes) -----------------------------------------------------------------


def _image_arrays(ds: LabelledSet, train, manifest: dict):
    """The images as the bundle sees them: its size and crop / resize, its pre-processing (SAR's log
    amplitude), standardised by the training images' band statistics -> (image (N,C,S,S), mask)."""
    from .modalities import get as get_modality

    modality = get_modality(manifest["modality"])
    spec = {"input": manifest.get("input") or {}, "encoder": manifest.get("encoder") or {}}
    stats = modality.normalise_stats([ds.samples[i] for i in train], spec)
    inputs = modality.to_inputs(ds.samples, spec, stats)
    return modality, inputs["image"], inputs["mask"]


def image_pca_svm(ds: LabelledSet, train, select, test, n_classes: int, seed: int = 0, manifest=None, **_) -> dict:
    """PCA of the flattened chips (fitted on the training images) + an RBF SVM; the number of components,
    C and gamma chosen on the model-selection split (the classic MSTAR baseline)."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    _, image, _ = _image_arrays(ds, train, manifest)
    X = image.reshape(len(image), -1)
    y = ds.targets
    pca = PCA(n_components=min(100, len(train) - 1), random_state=seed).fit(X[train])
    Z = pca.transform(X)
    best, best_model, chosen = -1.0, None, None
    for n in (25, 50, 100):
        n = min(n, Z.shape[1])
        scaler = StandardScaler().fit(Z[train, :n])
        Zn = scaler.transform(Z[:, :n])
        for C in (1.0, 10.0, 100.0):
            for gamma in ("scale", 0.3 / n):
                model = SVC(C=C, gamma=gamma, random_state=seed).fit(Zn[train], y[train])
                acc = float((model.predict(Zn[select]) == y[select]).mean())
                if acc > best:
                    best, best_model, chosen = acc, (model, scaler, n), {"components": n, "C": C, "gamma": gamma}
    model, scaler, n = best_model
    out = _classification(y[test], model.predict(scaler.transform(Z[test, :n])), n_classes)
    out["chosen"] = chosen
    return out


def image_cnn(ds: LabelledSet, train, select, test, n_classes: int, seed: int = 0, manifest=None,
              epochs: int | None = None, **_) -> dict:
    """A small CNN trained from scratch on the same images (a stride-2 stem and three conv-BN-ReLU-pool
    blocks, 32 -> 256 channels, global pooling), with the bundle's own image augmentation (turns,
    mirrors, shifts, gain); the model-selection split picks the epoch. Epochs: 60, fewer where the
    training set is large (about 40,000 image passes, at least 20 epochs)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    if epochs is None:
        epochs = int(min(60, max(20, 40000 // max(1, len(train)))))
    modality, image, mask = _image_arrays(ds, train, manifest)
    x, m = torch.as_tensor(image), torch.as_tensor(mask)
    y = torch.as_tensor(ds.targets, dtype=torch.long)
    layers, c = [], x.shape[1] + 1
    for i, co in enumerate((32, 64, 128, 256)):
        layers += [nn.Conv2d(c, co, 3, stride=2 if i == 0 else 1, padding=1, bias=False), nn.BatchNorm2d(co),
                   nn.ReLU()] + ([] if i == 0 else [nn.MaxPool2d(2)])
        c = co
    net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(c, n_classes))
    gen = torch.Generator().manual_seed(seed)

    def batch(idx):  # the bundle's own augmentation (modality.augment)
        b, yb = modality.augment({"image": x[idx], "mask": m[idx]}, y[idx], gen)
        return net(torch.cat([b["image"] * b["mask"], b["mask"]], 1)), yb

    def predict(idx):
        net.eval()
        with torch.no_grad():
            return torch.cat([net(torch.cat([x[j] * m[j], m[j]], 1)).argmax(1)
                              for j in np.array_split(idx, max(1, len(idx) // 128))]).numpy()

    best_epoch = _fit_classifier(net, batch, predict, train, select, ds.targets, epochs, 32, 2e-3, 5e-4,
                                 np.random.default_rng(seed))
    out = _classification(ds.targets[test], predict(np.asarray(test)), n_classes)
    out["chosen"] = {"epoch": best_epoch, "of_epochs": epochs, "size": int(x.shape[-1])}
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


def table_gbt(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0, **_) -> dict:
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


def table_least_squares(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0, **_) -> dict:
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


def trajectory_constant_velocity(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0, **_) -> dict:
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


# ---- point clouds ------------------------------------------------------------------------------------


def point_features(points: np.ndarray, n: int) -> np.ndarray:
    """Per-point features of a lidar tile's first `n` points (x, y, z in metres relative to the tile,
    then intensity, return number, number of returns): the height above the lowest point within 1, 2.5,
    5 and 10 m (horizontally), the height above the local mean and the local spread at 2.5 m, the height
    above the tile's low percentile, and the point's own intensity and returns."""
    from scipy.spatial import cKDTree

    from .modalities.pointcloud import heights_above_local_min

    p = np.asarray(points[:n], np.float64)
    xy, z = p[:, :2], p[:, 2]
    near = cKDTree(xy).query_ball_point(xy, 2.5)
    cols = [heights_above_local_min(xy, z, (1.0, 2.5, 5.0, 10.0)),
            np.stack([z - np.array([z[i].mean() for i in near]), np.array([z[i].std() for i in near]),
                      z, p[:, 3], p[:, 4], p[:, 5]], 1)]
    return np.concatenate(cols, 1).astype(np.float32)


def pointcloud_random_forest(ds: LabelledSet, train, select, test, n_classes: int, seed: int = 0, **_) -> dict:
    """Random forest per point on height-above-local-minimum features (point_features), fitted on the
    training tiles' labelled points; tree depth chosen on the model-selection tiles."""
    from sklearn.ensemble import RandomForestClassifier

    feats, labels = [], []
    for s, t in zip(ds.samples, ds.targets):
        k = int((np.asarray(t) >= 0).sum())
        feats.append(point_features(s.data["points"], k))
        labels.append(np.asarray(t[:k]))

    def stack(idx):
        return np.concatenate([feats[i] for i in idx]), np.concatenate([labels[i] for i in idx])

    (Xt, yt), (Xs, ys), (Xv, yv) = stack(train), stack(select), stack(test)
    best, best_model, chosen = -1.0, None, None
    for depth in (8, 16, None):
        model = RandomForestClassifier(n_estimators=100, max_depth=depth, min_samples_leaf=2, n_jobs=-1,
                                       random_state=seed).fit(Xt, yt)
        miou = metrics.classification(ys, model.predict(Xs), n_classes)["miou"]
        if miou > best:
            best, best_model, chosen = miou, model, {"max_depth": depth, "trees": 100}
    out = _classification(yv, best_model.predict(Xv), n_classes)
    out["chosen"] = chosen
    return out


# ---- graphs (sensor networks) -------------------------------------------------------------------------


def _graph_arrays(ds: LabelledSet, train):
    """Readings (N, K, obs) with missing ones filled (the sensor's previous reading in the window, else its
    training mean), the sensors' training means (K,), targets (N, K, pred) NaN = missing."""
    x = np.stack([np.asarray(s.data["x"], np.float64) for s in ds.samples])
    y = np.asarray(ds.targets, np.float64)
    with np.errstate(all="ignore"):
        means = np.nanmean(np.concatenate([x[train], y[train]], 2), axis=(0, 2))
    means = np.where(np.isfinite(means), means, np.nanmean(x[train]))
    filled = x.copy()
    for t in range(filled.shape[2]):
        prev = filled[:, :, t - 1] if t else np.broadcast_to(means, filled.shape[:2])
        filled[:, :, t] = np.where(np.isfinite(filled[:, :, t]), filled[:, :, t], prev)
    return filled, means, y


def graph_last_value(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0, **_) -> dict:
    """Each sensor's last observed reading carried forward over the horizon (the naive floor)."""
    filled, _, y = _graph_arrays(ds, train)
    pred = np.repeat(filled[:, :, -1:], y.shape[2], axis=2)
    return metrics.forecast(y[test], pred[test])


def graph_time_of_day_average(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0, **_) -> dict:
    """Per sensor, the mean of the training windows' readings at the same slot of the day (5-minute slot for
    METR-LA); a slot the training windows never saw: the sensor's training mean."""
    x = np.stack([np.asarray(s.data["x"], np.float64) for s in ds.samples])
    tod = np.stack([np.asarray(s.data["tod"], np.int64) for s in ds.samples])  # (N, obs)
    y = np.asarray(ds.targets, np.float64)
    pred = y.shape[2]
    step = float(ds.samples[0].meta.get("step_minutes", 5.0))
    slots = max(1, int(round(1440.0 / step)))
    fut = (tod[:, -1:] + np.arange(1, pred + 1)) % slots  # (N, pred) slots of the targets
    K = x.shape[1]
    total, count = np.zeros((K, slots)), np.zeros((K, slots))
    for vals, sl in ((x[train], tod[train]), (y[train], fut[train])):
        v = vals.transpose(1, 0, 2).reshape(K, -1)  # (K, n * steps)
        idx = np.broadcast_to(sl[None], (K, *sl.shape)).reshape(K, -1)
        ok = np.isfinite(v)
        np.add.at(total, (np.nonzero(ok)[0], idx[ok]), v[ok])
        np.add.at(count, (np.nonzero(ok)[0], idx[ok]), 1)
    _, means, _ = _graph_arrays(ds, train)
    table = np.where(count > 0, total / np.maximum(count, 1), means[:, None])
    pred_v = table[:, fut[test]].transpose(1, 0, 2)  # (n, K, pred)
    out = metrics.forecast(y[test], pred_v)
    out["chosen"] = {"slots": slots, "slots_seen": int((count > 0).any(0).sum())}
    return out


def graph_ridge(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0, **_) -> dict:
    """Per sensor, ridge regression from its last 12 readings to each of its next 12 (sklearn Ridge, inputs
    as filled by _graph_arrays, windows with a missing target left out of the fit; fitted to the change from
    the last reading, so a large alpha tends to the last-value forecast); one alpha for every
    sensor, chosen on the model-selection split by the masked MAE."""
    from sklearn.linear_model import Ridge

    filled, _, y = _graph_arrays(ds, train)
    K = filled.shape[1]
    best, chosen, best_models = np.inf, None, None
    for alpha in (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5):
        models = []
        for k in range(K):
            X, Y = filled[train, k], y[train, k] - filled[train, k, -1:]  # the change from the last reading:
            keep = np.isfinite(Y).all(1)  # a strong alpha shrinks towards carrying the last reading forward
            models.append(Ridge(alpha=alpha).fit(X[keep], Y[keep]) if keep.sum() >= 2 else None)
        pred = _ridge_predict(models, filled, select, y.shape[2])
        mae = metrics.forecast(y[select], pred)["mae"]
        if mae < best:
            best, chosen, best_models = mae, {"alpha": alpha, "selection_mae": round(mae, 4)}, models
    out = metrics.forecast(y[test], _ridge_predict(best_models, filled, test, y.shape[2]))
    out["chosen"] = chosen
    return out


def _ridge_predict(models, filled, idx, pred: int) -> np.ndarray:
    out = np.repeat(filled[idx][:, :, -1:], pred, axis=2)  # a sensor without a model: its last reading
    for k, m in enumerate(models):
        if m is not None:
            out[:, k] = filled[idx, k, -1:] + m.predict(filled[idx, k])
    return out


# ---- text ---------------------------------------------------------------------------------------------


def text_tfidf_logistic(ds: LabelledSet, train, select, test, n_classes: int, seed: int = 0, **_) -> dict:
    """TF-IDF of word 1- and 2-grams (sublinear tf, fitted on the training texts) + logistic regression;
    C chosen on the model-selection split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = np.asarray([str(s.data["text"]) for s in ds.samples], dtype=object)
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True)
    x_train = vec.fit_transform(texts[train])
    best = None
    for c in (0.3, 1.0, 3.0, 10.0, 30.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(x_train, ds.targets[train])
        sel = _classification(ds.targets[select], model.predict(vec.transform(texts[select])), n_classes)
        if best is None or sel["accuracy"] > best[0]["accuracy"]:
            best = (sel, model, c)
    m = _classification(ds.targets[test], best[1].predict(vec.transform(texts[test])), n_classes)
    return {**m, "chosen": {"C": best[2]}}


# ---- code -------------------------------------------------------------------------------------------


def _code_words(text: str) -> str:
    """Identifiers split into words (camelCase, snake_case), lower case: what TF-IDF compares."""
    import re

    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(text))
    return " ".join(re.findall(r"[a-z]+|[0-9]+", text.lower()))


def _code_texts(ds: LabelledSet):
    codes = [_code_words(s.data["text"]) for s in ds.samples]
    names = [_code_words(s.meta.get("func_name", "").split(".")[-1]) for s in ds.samples]
    return codes, names, [str(t) for t in ds.targets]


def code_tfidf(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0, **_) -> dict:
    """TF-IDF (fitted on the training functions and docstrings): search ranks the functions by the cosine
    of their code's words and the docstring's; the written docstring is the training docstring of the most
    similar training function (retrieval as generation)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    codes, _, docs = _code_texts(ds)
    vec = TfidfVectorizer(sublinear_tf=True).fit([codes[i] for i in train] + [_code_words(docs[i]) for i in train])
    c_test = vec.transform([codes[i] for i in test])
    sim = (vec.transform([_code_words(docs[i]) for i in test]) @ c_test.T).toarray()
    nearest = (c_test @ vec.transform([codes[i] for i in train]).T).toarray().argmax(1)
    return metrics.docstring([docs[i] for i in test], [docs[train[j]] for j in nearest], sim)


def code_function_name(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0, **_) -> dict:
    """The function's name as its docstring ("process_url_params" -> "process url params"), and search by
    the TF-IDF cosine of the docstring and the name's words."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from .modalities.code import name_words

    _, names, docs = _code_texts(ds)
    vec = TfidfVectorizer().fit([names[i] for i in train] + [_code_words(docs[i]) for i in train])
    sim = (vec.transform([_code_words(docs[i]) for i in test]) @ vec.transform([names[i] for i in test]).T).toarray()
    written = [name_words(ds.samples[i].meta.get("func_name", "")) or "function" for i in test]
    return metrics.docstring([docs[i] for i in test], written, sim)


def _infrared_descriptor_baseline(ds: LabelledSet, train, select, test, manifest: dict, **descriptor) -> dict:
    """Hand-made person descriptors (modalities.infrared.handcrafted) ranked by Euclidean distance under the
    bundle's protocol (metrics.reid_protocol): the model-selection split chooses whether the descriptor's
    dimensions are standardised by the training images' mean / std first."""
    from .modalities.infrared import handcrafted, sample_images

    X = handcrafted(sample_images(ds.samples, (manifest.get("input") or {}).get("size")), **descriptor).astype(np.float64)
    mean, std = X[train].mean(0), X[train].std(0) + 1e-6
    settings = metrics.reid_settings(manifest)
    best, chosen = None, None
    for standardise in (False, True):
        F = (X - mean) / std if standardise else X
        m = metrics.reid_protocol(F[select], ds.targets[select], **settings)
        if best is None or m["map"] > best:
            best, chosen = m["map"], standardise
    F = (X - mean) / std if chosen else X
    out = metrics.reid_protocol(F[test], ds.targets[test], **settings)
    out["chosen"] = {"standardised": chosen}
    return out


def infrared_hog(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0, manifest=None, **_) -> dict:
    """HOG-like gradient-orientation histograms of the grey image (what survives the change of light)."""
    return _infrared_descriptor_baseline(ds, train, select, test, manifest, colour=False)


def infrared_colour_hog(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0, manifest=None,
                        **_) -> dict:
    """Colour histograms per horizontal stripe + the HOG-like histograms (the classic single-light descriptor)."""
    return _infrared_descriptor_baseline(ds, train, select, test, manifest)


BASELINES: dict[str, dict[str, Callable]] = {
    "trajectory": {"constant_velocity_sampled": trajectory_constant_velocity},
    "hsi": {"svm_spectrum_neighbourhood": hsi_svm, "cnn_pca_patches": hsi_cnn},
    "table": {"gradient_boosted_trees": table_gbt, "least_squares": table_least_squares},
    "sar": {"pca_rbf_svm": image_pca_svm, "cnn_from_scratch": image_cnn},
    "rgb": {"cnn_from_scratch": image_cnn, "pca_rbf_svm": image_pca_svm},
    "pointcloud": {"random_forest_height_features": pointcloud_random_forest},
    "graph": {"last_value": graph_last_value, "time_of_day_average": graph_time_of_day_average,
              "ridge_per_sensor": graph_ridge},
    "text": {"tfidf_logistic_regression": text_tfidf_logistic},
    "code": {"tfidf_retrieval": code_tfidf, "function_name": code_function_name},
}
BASELINES["infrared"] = {"hog_euclidean": infrared_hog, "colour_histogram_hog_euclidean": infrared_colour_hog}



def _oblique(name: str) -> Callable:
    """An oblique-photography alternative (modalities/oblique.py), imported when it runs."""
    def run(*args, **kwargs):
        from .modalities import oblique

        return getattr(oblique, name)(*args, **kwargs)
    run.__name__ = name
    return run


# oblique photography (a depth per reference pixel): plane sweep + absolute-difference cost + winner-take-all
# (no learning; box size chosen on the model-selection split), and the training split's mean depth everywhere
BASELINES["oblique"] = {"plane_sweep_wta": _oblique("baseline_plane_sweep"),
                        "constant_depth": _oblique("baseline_constant_depth")}


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
    opts = modality.baseline_options(dict(manifest.get("read_options") or {}))
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
        m = fn(ds, train, select, val, n_classes, seed=tr.get("seed", 0), manifest=manifest)
        m["seconds"] = round(time.perf_counter() - t0, 1)
        m["split"] = f"fitted on {len(train)} training samples, chosen on {len(select)}, scored on {len(val)} validation"
        out[key] = m
    return out
