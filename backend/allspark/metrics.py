"""Each task's standard metrics, on numpy arrays."""

from __future__ import annotations

import math
import re
import sys

import numpy as np

from .errors import InputError


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


def depth(y_true, y_pred, thresholds=(0.2, 0.4, 0.6, 1.0)) -> dict:
    """Depth maps (N, pixels) against ground truth (NaN = invalid pixel: skipped): MAE and RMSE over the
    valid pixels (the data's units, metres for WHU-OMVS), and PAG, the percentage of accurate grids: the
    share (in %) of valid pixels whose absolute error is below each threshold, pag2 / pag4 / pag6 / pag10
    for 0.2 / 0.4 / 0.6 / 1.0 m (Ada-MVS's DSM metrics count |error| < 0.2, 0.4, 0.6 m; PAG6 / PAG10 of
    the AllSpark paper's WHU-OMVS row: < 0.6 m and < 1.0 m). Pixels of every map pooled."""
    y_true = np.asarray(y_true, np.float64).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, np.float64).reshape(y_true.shape)
    keep = np.isfinite(y_true)
    n = int(keep.sum())
    out: dict = {"mae": float("nan"), "rmse": float("nan")}
    if n:
        err = np.abs(y_pred[keep] - y_true[keep])
        out["mae"], out["rmse"] = float(err.mean()), float(np.sqrt((err ** 2).mean()))
    for t in thresholds:
        out[f"pag{int(round(t * 10))}"] = float((err < t).mean() * 100) if n else float("nan")
    out["n"] = n
    out["samples"] = int(len(y_true))
    return out


def reid(distmat, q_pids, g_pids, q_cams, g_cams, max_rank: int = 20, exclude=((3, 2),),
         ranks=(1, 5, 10, 20)) -> dict:
    """Cross-modality re-identification as SYSU-MM01's evaluation code computes it (DDAG / AGW `eval_sysu`):
    each query's gallery sorted by distance (ascending, stable), gallery images of a camera pair in
    `exclude` ([query camera, gallery camera]: SYSU's camera 3 vs 2) removed; the CMC over the distinct
    persons of the ranking (each person counted at its first place), averaged over the queries whose
    person is in the gallery (a ranking shorter than `max_rank` keeps its last value); AP over every
    correct gallery image; mINP (the rank of the hardest correct match). rank1 ... in [0, 1]."""
    d = np.asarray(distmat, np.float64)
    q_pids, g_pids = np.asarray(q_pids).ravel(), np.asarray(g_pids).ravel()
    q_cams, g_cams = np.asarray(q_cams).ravel(), np.asarray(g_cams).ravel()
    num_q, num_g = d.shape
    max_rank = min(max_rank, num_g)
    indices = np.argsort(d, axis=1, kind="stable")
    pred = g_pids[indices]
    matches = (pred == q_pids[:, None]).astype(np.int32)
    cmc_sum = np.zeros(max_rank)
    aps, inps, valid = [], [], 0
    for i in range(num_q):
        remove = np.zeros(num_g, bool)
        for qc, gc in exclude or ():
            if q_cams[i] == qc:
                remove |= g_cams[indices[i]] == gc
        keep = ~remove
        ranked = pred[i][keep]
        first = np.sort(np.unique(ranked, return_index=True)[1])
        new_cmc = (ranked[first] == q_pids[i]).astype(np.int32).cumsum()[:max_rank]
        if len(new_cmc) < max_rank:  # fewer distinct persons than max_rank: the last value carries on
            new_cmc = np.concatenate([new_cmc, np.full(max_rank - len(new_cmc), new_cmc[-1] if len(new_cmc) else 0)])
        cmc_sum += new_cmc
        orig = matches[i][keep]
        if not orig.any():
            continue
        valid += 1
        cum = orig.cumsum()
        last = int(np.flatnonzero(orig)[-1])
        inps.append(cum[last] / (last + 1.0))
        aps.append(float((cum / np.arange(1, len(orig) + 1) * orig).sum() / orig.sum()))
    if valid == 0:
        raise InputError("no query person appears in the gallery: re-identification cannot be scored")
    cmc = cmc_sum / valid
    out = {f"rank{r}": float(cmc[min(r, max_rank) - 1]) for r in ranks}
    out.update({"map": float(np.mean(aps)), "minp": float(np.mean(inps)), "queries": int(valid),
                "gallery": int(num_g)})
    return out


def reid_protocol(embeddings, targets, trials: int = 10, seed: int = 0, gallery_cameras=None, exclude=((3, 2),),
                  max_rank: int = 20) -> dict:
    """SYSU-MM01's all-search protocol on a labelled set's embeddings (N, D) and targets (N, 4) = [training
    index, person, camera, spectrum]: queries = every infrared image (spectrum 1); gallery = one visible
    image (spectrum 0) per person and camera (`gallery_cameras`: only those cameras; indoor-search 1, 2),
    drawn at random `trials` times (seeds seed, seed + 1, ...); Euclidean distance of the L2-normalised
    embeddings (the cosine's ranking); `reid` per trial, the figures averaged over the trials."""
    emb = np.asarray(embeddings, np.float64)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    t = np.asarray(targets).reshape(len(emb), -1)
    pids, cams, spec = t[:, 1], t[:, 2], t[:, 3]
    q = np.flatnonzero(spec == 1)
    cand = spec == 0
    if gallery_cameras:
        cand &= np.isin(cams, [int(c) for c in gallery_cameras])
    cand = np.flatnonzero(cand)
    if len(q) == 0 or len(cand) == 0:
        raise InputError(f"re-identification needs infrared queries and visible gallery images: the set has "
                         f"{len(q)} infrared and {len(cand)} visible images")
    keys = pids[cand] * 1000 + cams[cand]
    groups = [cand[keys == k] for k in np.unique(keys)]
    runs = []
    for trial in range(int(trials)):
        rng = np.random.default_rng(int(seed) + trial)
        g = np.array([grp[rng.integers(len(grp))] for grp in groups])
        dist = np.sqrt(np.maximum(2.0 - 2.0 * emb[q] @ emb[g].T, 0.0))
        runs.append(reid(dist, pids[q], pids[g], cams[q], cams[g], max_rank, exclude))
    out = {k: float(np.mean([r[k] for r in runs])) for k in runs[0] if k not in ("queries", "gallery")}
    out.update({"queries": runs[0]["queries"], "gallery": runs[0]["gallery"], "trials": int(trials), "n": int(len(emb))})
    return out


def reid_settings(manifest: dict) -> dict:
    """A re-identification bundle's protocol (its `input`: mode all / indoor, trials, excluded camera pairs)
    as reid_protocol's keyword arguments."""
    inp = manifest.get("input") or {}
    return {"trials": int(inp.get("trials") or 10), "gallery_cameras": (1, 2) if inp.get("mode") == "indoor" else None,
            "exclude": [tuple(p) for p in inp.get("exclude", [[3, 2]])]}


MAIN_METRIC = {"classification": "accuracy", "regression": "rmse", "trajectory": "min_ade",
               # per-point ground / non-ground: mostly non-ground points, so accuracy rewards calling
               # everything non-ground; the figure users read (and model selection picks by) is mIoU
               "point_classification": "miou", "pixel_classification": "accuracy",
               "forecast": "mae"}  # masked MAE over every sensor and step (graph)
MAIN_METRIC["docstring"] = "mrr"  # code: the search's MRR picks the epoch (BLEU-4 needs the LLM to write)
MAIN_METRIC["depth"] = "mae"  # oblique photography: depth MAE over the valid pixels
MAIN_METRIC["reid"] = "map"  # infrared re-identification: mAP (smoother than Rank-1 to choose epochs by)
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


# ---- code: CodeXGLUE's code-to-text BLEU and code search's MRR ------------------------------------

_BLEU_NORM1 = [(re.compile(p), r) for p, r in ((r"<skipped>", ""), (r"-\n", ""), (r"\n", " "))]
_BLEU_NORM2 = [(re.compile(p), r) for p, r in (
    (r"([\{-\~\[-\` -\&\(-\+\:-\@\/])", r" \1 "),  # punctuation (the apostrophe stays in its word)
    (r"([^0-9])([\.,])", r"\1 \2 "),  # period and comma unless inside a number
    (r"([\.,])([^0-9])", r" \1 \2"),
    (r"([0-9])(-)", r"\1 \2 "))]  # a dash after a number


def _bleu_words(text: str) -> list[str]:
    """CodeXGLUE's evaluator: words and punctuation apart (splitPuncts), lower case, then MOSES' normalisation."""
    import xml.sax.saxutils

    s = " ".join(re.findall(r"[\w]+|[^\s\w]", text.strip().lower()))
    for pattern, repl in _BLEU_NORM1:
        s = pattern.sub(repl, s)
    s = xml.sax.saxutils.unescape(s, {"&quot;": '"'})
    s = f" {s} ".lower()
    for pattern, repl in _BLEU_NORM2:
        s = pattern.sub(repl, s)
    return s.split()


def _sentence_bleu4(ref: list[str], hyp: list[str]) -> float:
    """One sentence's smoothed BLEU-4 (Lin & Och 2004, as CodeXGLUE's smooth_bleu.py: +1 on the n-gram
    counts of orders 2-4, brevity penalty min(0, 1 - (ref + 1) / (hyp + 1)))."""
    from collections import Counter

    log_bleu = 0.0
    for k in range(4):
        grams_h = Counter(tuple(hyp[i:i + k + 1]) for i in range(len(hyp) - k))
        grams_r = Counter(tuple(ref[i:i + k + 1]) for i in range(len(ref) - k))
        correct = sum(min(c, grams_r[g]) for g, c in grams_h.items())
        guess = max(len(hyp) - k, 0)
        smooth = 1 if k > 0 else 0
        log_bleu += math.log(correct + smooth + sys.float_info.min) - math.log(guess + smooth + sys.float_info.min)
    log_bleu /= 4
    log_bleu += min(0.0, 1 - (len(ref) + 1) / (len(hyp) + 1))
    return math.exp(log_bleu)


def smoothed_bleu4(references, hypotheses) -> float:
    """CodeXGLUE code-to-text's figure: the mean of each docstring's smoothed BLEU-4, in % (0-100)."""
    refs, hyps = list(references), list(hypotheses)
    if len(refs) != len(hyps) or not refs:
        raise ValueError(f"{len(refs)} references for {len(hyps)} hypotheses")
    return 100.0 * float(np.mean([_sentence_bleu4(_bleu_words(r), _bleu_words(h)) for r, h in zip(refs, hyps)]))


def mrr(similarity) -> float:
    """Mean reciprocal rank of the right candidate (the diagonal) in each query's row, most similar first
    (ties counted against the right one, as a strict ranking would)."""
    s = np.asarray(similarity, np.float64)
    right = np.diag(s)[:, None]
    ranks = (s >= right).sum(1)
    return float(np.mean(1.0 / ranks))


def docstring(references, hypotheses=None, similarity=None) -> dict:
    """Code's figures: smoothed BLEU-4 of the written docstrings (when given) and the search's MRR (each
    reference docstring ranking every function, when the similarity matrix is given)."""
    out: dict = {"n": int(len(references))}
    if similarity is not None:
        out["mrr"] = mrr(similarity)
    if hypotheses is not None:
        out["bleu4"] = smoothed_bleu4(references, hypotheses)
    return out
