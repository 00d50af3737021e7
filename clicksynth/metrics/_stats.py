"""Confidence intervals that cost next to nothing.

Every interval here is closed-form or resamples a handful of counts, never
the rows of a model fit: an evaluation with intervals costs what one without
them does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

__all__ = [
    "Z95",
    "auc_with_ci",
    "average_precision_ci",
    "bootstrap_ci",
    "mean_ci",
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
    return (float(1 / (1 + np.exp(-lo))), float(1 / (1 + np.exp(-hi))))


def bootstrap_ci(statistic: Callable[[np.ndarray], float], n: int, rng: np.random.Generator, *, reps: int = 200) -> tuple[float, float]:
    """Percentile interval of ``statistic(indices)`` over ``reps`` resamples of ``range(n)``."""
    if n < 2:
        return (float("nan"), float("nan"))
    values = np.array([statistic(rng.integers(0, n, size=n)) for _ in range(reps)])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return (float("nan"), float("nan"))
    return (float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975)))
