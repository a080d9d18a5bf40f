"""Each task's standard metrics, on numpy arrays."""

from __future__ import annotations

import numpy as np


def classification(y_true, y_pred, n_classes: int) -> dict:
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    keep = y_true >= 0
    y_true, y_pred = y_true[keep], y_pred[keep]
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    total = cm.sum()
    oa = np.trace(cm) / max(total, 1)
    support = cm.sum(1)
    present = support > 0
    recall = np.divide(np.diag(cm), support, out=np.zeros(n_classes), where=present)
    pred_count = cm.sum(0)
    precision = np.divide(np.diag(cm), pred_count, out=np.zeros(n_classes), where=pred_count > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n_classes), where=(precision + recall) > 0)
    iou_den = support + pred_count - np.diag(cm)
    iou = np.divide(np.diag(cm), iou_den, out=np.zeros(n_classes), where=iou_den > 0)
    pe = (support * pred_count).sum() / max(total, 1) ** 2
    kappa = (oa - pe) / (1 - pe) if pe < 1 else 0.0
    return {"accuracy": float(oa), "average_accuracy": float(recall[present].mean()) if present.any() else 0.0,
            "macro_f1": float(f1[present].mean()) if present.any() else 0.0, "kappa": float(kappa),
            "miou": float(iou[present].mean()) if present.any() else 0.0, "n": int(total),
            "f1_per_class": [round(float(v), 6) for v in f1], "iou_per_class": [round(float(v), 6) for v in iou],
            "confusion": cm.tolist()}


def regression(y_true, y_pred) -> dict:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    err = y_pred - y_true
    ss_res = (err ** 2).sum(0)
    ss_tot = ((y_true - y_true.mean(0)) ** 2).sum(0)
    r2 = 1 - ss_res / np.where(ss_tot > 0, ss_tot, np.nan)
    return {"rmse": float(np.sqrt((err ** 2).mean())), "mae": float(np.abs(err).mean()),
            "r2": float(np.nanmean(np.atleast_1d(r2))), "n": int(len(y_true))}


def trajectory(futures, paths, scores=None) -> dict:
    """futures (B, 12, 2), paths (B, K, 12, 2): best-of-K ADE / FDE, and ADE / FDE of the top-scored path."""
    futures, paths = np.asarray(futures, float), np.asarray(paths, float)
    dist = np.linalg.norm(paths - futures[:, None], axis=-1)  # (B, K, 12)
    ade, fde = dist.mean(-1), dist[..., -1]
    out = {"min_ade": float(ade.min(1).mean()), "min_fde": float(fde.min(1).mean()),
           "k": int(paths.shape[1]), "n": int(len(futures))}
    if scores is not None:
        top = np.asarray(scores).argmax(1)
        rows = np.arange(len(top))
        out["top1_ade"], out["top1_fde"] = float(ade[rows, top].mean()), float(fde[rows, top].mean())
    return out


def forecast(y_true, y_pred, horizons=(3, 6, 12), mape_floor: float = 1e-3) -> dict:
    """Spatio-temporal forecasts (N, K sensors, H steps), masked as the literature does: a missing target
    (NaN) is skipped; MAPE (in %) also skips true values within `mape_floor` of 0. MAE, RMSE and MAPE
    over all steps, and at each horizon h of `horizons` (step h: with 5-minute steps 3, 6, 12 are 15, 30
    and 60 minutes ahead) as mae_h3, rmse_h3, mape_h3, ..."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    y_true = y_true.reshape(len(y_true), -1, y_true.shape[-1])
    y_pred = y_pred.reshape(y_true.shape)

    def scores(t, p) -> tuple[float, float, float, int]:
        keep = np.isfinite(t)
        n = int(keep.sum())
        if n == 0:
            return float("nan"), float("nan"), float("nan"), 0
        err = p[keep] - t[keep]
        rel = np.abs(t[keep]) > mape_floor
        mape = float(np.mean(np.abs(err[rel]) / np.abs(t[keep][rel])) * 100) if rel.any() else float("nan")
        return float(np.abs(err).mean()), float(np.sqrt((err ** 2).mean())), mape, n

    mae, rmse, mape, n = scores(y_true, y_pred)
    out = {"mae": mae, "rmse": rmse, "mape": mape}
    for h in horizons:
        if h <= y_true.shape[-1]:
            out[f"mae_h{h}"], out[f"rmse_h{h}"], out[f"mape_h{h}"], _ = scores(y_true[..., h - 1], y_pred[..., h - 1])
    out["n"] = n
    out["samples"] = int(len(y_true))
    return out


MAIN_METRIC = {"classification": "accuracy", "regression": "rmse", "trajectory": "min_ade",
               # per-point ground / non-ground: mostly non-ground points, so accuracy rewards calling
               # everything non-ground; the figure users read (and model selection picks by) is mIoU
               "point_classification": "miou", "pixel_classification": "accuracy",
               "forecast": "mae"}  # masked MAE over every sensor and step (graph)
LOWER_IS_BETTER = {"rmse", "mae", "min_ade", "min_fde"}


def better(task: str, new: dict, old: dict | None) -> bool:
    if old is None:
        return True
    key = MAIN_METRIC[task]
    return new[key] < old[key] if key in LOWER_IS_BETTER else new[key] > old[key]


def precision_cost(task: str, reference: dict, other: dict) -> dict:
    """What `other` (int8) loses against `reference` (fp32) on the task's main metric, in its units:
    positive = worse, for higher-is-better (accuracy) and lower-is-better (RMSE, ADE) metrics alike."""
    key = MAIN_METRIC[task]
    lost = other[key] - reference[key] if key in LOWER_IS_BETTER else reference[key] - other[key]
    return {key: float(lost)}
