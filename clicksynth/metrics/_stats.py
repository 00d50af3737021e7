"""Confidence intervals that cost next to nothing.

Every interval here is closed-form or resamples a handful of counts, never
the rows of a model fit: an evaluation with intervals costs what one without
them does.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

__all__ = [
    "MARGIN",
    "VERDICTS",
    "Z95",
    "auc_with_ci",
    "average_precision_ci",
    "mean_ci",
    "paired_ap_delta",
    "paired_auc_delta",
    "pool_deltas",
    "verdict",
    "wilson_ci",
]

Z95 = float(stats.norm.ppf(0.975))


def wilson_ci(successes: float, n: int) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * np.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def mean_ci(values: np.ndarray) -> tuple[float, float]:
    """Normal interval of a mean."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return (float("nan"), float("nan"))
    half = Z95 * v.std(ddof=1) / np.sqrt(len(v))
    m = float(v.mean())
    return (m - half, m + half)


def _midranks(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, method="average")


def auc_with_ci(y: np.ndarray, score: np.ndarray) -> tuple[float, tuple[float, float]]:
    """ROC-AUC with DeLong's variance (Sun & Xu 2014 fast algorithm), clipped to [0, 1]."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=float)
    pos, neg = score[y], score[~y]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return float("nan"), (float("nan"), float("nan"))
    tx, ty, tz = _midranks(pos), _midranks(neg), _midranks(np.concatenate([pos, neg]))
    auc = float((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
    v01 = (tz[:m] - tx) / n  # structural components of positives
    v10 = 1.0 - (tz[m:] - ty) / m  # ... and of negatives
    var = (np.var(v01, ddof=1) / m if m > 1 else 0.0) + (np.var(v10, ddof=1) / n if n > 1 else 0.0)
    half = Z95 * np.sqrt(max(var, 0.0))
    return auc, (max(0.0, auc - half), min(1.0, auc + half))


def average_precision_ci(ap: float, n_pos: int) -> tuple[float, float]:
    """Logit interval of average precision (Boyd, Eng & Page 2013)."""
    if n_pos <= 0 or not (0 < ap < 1):
        return (float("nan"), float("nan"))
    eta = np.log(ap / (1 - ap))
    tau = 1 / np.sqrt(n_pos * ap * (1 - ap))
    lo, hi = eta - Z95 * tau, eta + Z95 * tau
    return (float(special.expit(lo)), float(special.expit(hi)))  # expit: no overflow at a tiny share


# -- paired comparisons of two click models on the same test rows ---------------------------
#: Default non-inferiority margin of a paired PR-AUC difference.
MARGIN = 0.005
VERDICTS = ("gain", "non-inferior", "inconclusive", "loss")


def _ap_sorted(y: np.ndarray, ends: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision of rows already sorted by falling score, for each row of ``weights``
    (resample counts); ``ends`` marks the last row of each group of tied scores (sklearn's
    thresholds): AP = sum over thresholds of (recall step) x precision."""
    tp = np.cumsum(weights * y, axis=1)[:, ends]
    seen = np.cumsum(weights, axis=1)[:, ends]
    precision = tp / np.maximum(seen, 1e-12)
    recall_step = np.diff(tp, axis=1, prepend=0.0) / np.maximum(tp[:, -1:], 1e-12)
    return np.asarray((recall_step * precision).sum(axis=1))


def _ranking(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(-score, kind="mergesort")
    s = score[order]
    ends = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    return order, y[order].astype(float), ends


def paired_ap_delta(
    y: np.ndarray, score_new: np.ndarray, score_base: np.ndarray, rng: np.random.Generator, *, reps: int = 1000, chunk: int = 50
) -> tuple[float, tuple[float, float]]:
    """AP(new) - AP(base) on the same rows, with a paired, class-stratified bootstrap interval.

    Each replicate resamples the test rows once (clicks and non-clicks separately, so every
    replicate keeps the click count) and scores *both* models on it: the interval of the
    difference excludes the test set's own luck, which two separate intervals both carry.
    """
    y = np.asarray(y).astype(int)
    new, base = _ranking(y, np.asarray(score_new, float)), _ranking(y, np.asarray(score_base, float))
    delta = float(_ap_sorted(new[1], new[2], np.ones((1, len(y))))[0] - _ap_sorted(base[1], base[2], np.ones((1, len(y))))[0])
    pos, neg = np.nonzero(y == 1)[0], np.nonzero(y == 0)[0]
    if len(pos) < 2 or len(neg) < 2:
        return delta, (float("nan"), float("nan"))
    out = []
    for start in range(0, reps, chunk):
        k = min(chunk, reps - start)
        w = np.zeros((k, len(y)))
        w[:, pos] = rng.multinomial(len(pos), np.full(len(pos), 1 / len(pos)), size=k)
        w[:, neg] = rng.multinomial(len(neg), np.full(len(neg), 1 / len(neg)), size=k)
        out.append(_ap_sorted(new[1], new[2], w[:, new[0]]) - _ap_sorted(base[1], base[2], w[:, base[0]]))
    d = np.concatenate(out)
    return delta, (float(np.quantile(d, 0.025)), float(np.quantile(d, 0.975)))


def paired_auc_delta(y: np.ndarray, score_new: np.ndarray, score_base: np.ndarray) -> tuple[float, tuple[float, float]]:
    """ROC-AUC(new) - ROC-AUC(base) on the same rows with DeLong's paired variance
    (DeLong, DeLong & Clarke-Pearson 1988): the two AUCs' structural components covary."""
    y = np.asarray(y).astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        return float("nan"), (float("nan"), float("nan"))
    comps = []
    for score in (np.asarray(score_new, float), np.asarray(score_base, float)):
        pos, neg = score[y], score[~y]
        tz = _midranks(np.concatenate([pos, neg]))
        v01 = (tz[:m] - _midranks(pos)) / n
        v10 = 1.0 - (tz[m:] - _midranks(neg)) / m
        comps.append((float(v01.mean()), v01, v10))
    delta = comps[0][0] - comps[1][0]
    var = np.var(comps[0][1] - comps[1][1], ddof=1) / m + np.var(comps[0][2] - comps[1][2], ddof=1) / n
    half = Z95 * float(np.sqrt(max(var, 0.0)))
    return float(delta), (float(delta - half), float(delta + half))


def verdict(ci_low: float, ci_high: float, margin: float = MARGIN) -> str:
    """Superiority and non-inferiority read off a 95% interval of new - base: ``gain``
    (the interval lies above 0), ``non-inferior`` (above -margin), ``loss`` (below 0 and
    reaching past -margin), ``inconclusive`` (it spans both -margin and 0)."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return "inconclusive"
    if ci_low > 0:
        return "gain"
    if ci_low > -margin:
        return "non-inferior"
    if ci_high < 0:
        return "loss"
    return "inconclusive"


def pool_deltas(values: np.ndarray, ci_lows: np.ndarray, ci_highs: np.ndarray) -> tuple[float, tuple[float, float]]:
    """One estimate from independent repeats (other splits, other seeds): the mean difference,
    its standard error from each repeat's interval (half-width / 1.96), combined as for a mean."""
    v, lo, hi = (np.asarray(a, float) for a in (values, ci_lows, ci_highs))
    ok = np.isfinite(v) & np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return float("nan"), (float("nan"), float("nan"))
    v, se = v[ok], (hi[ok] - lo[ok]) / (2 * Z95)
    mean, pooled_se = float(v.mean()), float(np.sqrt((se**2).sum()) / len(v))
    return mean, (mean - Z95 * pooled_se, mean + Z95 * pooled_se)
