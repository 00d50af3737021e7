"""Gaussian copula, one per class (our own implementation; the ``copulas`` package is BSL).

For the rows of one class, every atom of the reversible encoding gets a
marginal distribution and a normal score:

* continuous atoms: empirical quantile function (``marginals="empirical"``),
  or the best by Kolmogorov-Smirnov of normal, log-normal, gamma, beta and
  uniform fits (``marginals="parametric"``); score z = Phi^-1(F(x)) with
  mid-ranks for ties
* categorical atoms: categories ordered by frequency split [0, 1) into
  intervals of their probabilities; a row's score is Phi^-1 of a uniform draw
  inside its category's interval (Sklar's theorem for discrete margins, the
  approach of the SDV paper, Patki et al. 2016)

The scores' correlation matrix (shrunk slightly towards the identity so it is
positive definite) is the copula. Sampling draws z ~ N(0, R), maps u = Phi(z)
through each inverse marginal and decodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from clicksynth.exceptions import ConfigError
from clicksynth.generators._encoding import TableEncoder
from clicksynth.generators.base import Generator, State

__all__ = ["GaussianCopula"]

_LEVELS = 512
_PARAMETRIC = ("norm", "lognorm", "gamma", "beta", "uniform")


class GaussianCopula(Generator):
    """Class-conditional Gaussian copula.

    Parameters
    ----------
    marginals
        ``"empirical"`` (quantile function) or ``"parametric"`` (best-fitting of
        normal, log-normal, gamma, beta, uniform).
    shrinkage
        Weight of the identity in the correlation matrix.
    max_categories
        Codes per categorical column (rarer values share an ``other`` code
        resampled from the empirical tail).
    """

    name = "gaussian_copula"
    conditional = True

    def __init__(
        self,
        *,
        marginals: str = "empirical",
        shrinkage: float = 0.01,
        max_categories: int = 256,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.marginals = marginals
        self.shrinkage = shrinkage
        self.max_categories = max_categories
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        return [{"marginals": "empirical", "max_categories": 32}, {"marginals": "parametric"}]

    # -- fitting --------------------------------------------------------------------------
    def _fit(self, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> None:
        if self.marginals not in ("empirical", "parametric"):
            raise ConfigError(f"marginals must be 'empirical' or 'parametric', got {self.marginals!r}")
        if not 0 <= self.shrinkage < 1:
            raise ConfigError(f"shrinkage must be in [0, 1), got {self.shrinkage}")
        self.encoder_ = TableEncoder(max_categories=self.max_categories).fit(X, self.schema_)
        enc = self.encoder_.transform(X)
        self.models_: dict[int, dict[str, Any]] = {}
        for label in (0, 1):
            mask = y == label
            self.models_[label] = self._fit_class(enc.continuous[mask], enc.discrete[mask], rng)

    def _fit_class(self, cont: np.ndarray, disc: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        n = len(cont) if cont.size else len(disc)
        scores = []
        quantiles, params = [], []
        for j in range(cont.shape[1]):
            x = cont[:, j]
            u = (stats.rankdata(x) - 0.5) / n
            scores.append(stats.norm.ppf(u))
            quantiles.append(np.quantile(x, np.linspace(0, 1, _LEVELS)))
            params.append(_best_parametric(x) if self.marginals == "parametric" else None)
        cum = []
        for j, card in enumerate(self.encoder_.cardinalities):
            counts = np.bincount(disc[:, j], minlength=card).astype(float)
            order = np.argsort(-counts, kind="stable")
            p = counts[order] / max(counts.sum(), 1)
            upper = np.cumsum(p)
            lower = upper - p
            rank = np.empty(card, dtype=int)
            rank[order] = np.arange(card)
            r = rank[disc[:, j]]
            u = lower[r] + rng.random(n) * p[r]
            scores.append(stats.norm.ppf(np.clip(u, 1e-6, 1 - 1e-6)))
            cum.append((order, upper))
        S = np.column_stack(scores) if scores else np.zeros((n, 0))
        d = S.shape[1]
        if n > 2 and d:
            R = np.corrcoef(S, rowvar=False) if d > 1 else np.ones((1, 1))
            R = np.nan_to_num(R, nan=0.0)
            np.fill_diagonal(R, 1.0)
        else:
            R = np.eye(d)
        R = (1 - self.shrinkage) * R + self.shrinkage * np.eye(d)
        # Clip eigenvalues so the Cholesky factor exists even for near-duplicate columns.
        w, V = np.linalg.eigh(R) if d else (np.zeros(0), np.zeros((0, 0)))
        R = (V * np.maximum(w, 1e-6)) @ V.T if d else R
        return {"corr": R, "quantiles": quantiles, "params": params, "cum": cum}

    # -- sampling -------------------------------------------------------------------------
    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        m = self.models_[label]
        d = m["corr"].shape[0]
        L = np.linalg.cholesky(m["corr"] + 1e-9 * np.eye(d)) if d else np.zeros((0, 0))
        z = rng.standard_normal((n, d)) @ L.T
        u = np.clip(stats.norm.cdf(z), 1e-9, 1 - 1e-9)
        p = len(m["quantiles"])
        cont = np.empty((n, p))
        for j in range(p):
            param = m["params"][j]
            if param is not None:
                dist = getattr(stats, param["dist"])
                cont[:, j] = dist.ppf(u[:, j], *param["args"])
            else:
                q = m["quantiles"][j]
                cont[:, j] = np.interp(u[:, j], np.linspace(0, 1, len(q)), q)
        disc = np.empty((n, len(m["cum"])), dtype=np.int64)
        for j, (order, upper) in enumerate(m["cum"]):
            r = np.minimum(np.searchsorted(upper, u[:, p + j], side="right"), len(order) - 1)
            disc[:, j] = order[r]
        return self.encoder_.inverse_transform(cont, disc, rng)

    # -- state ----------------------------------------------------------------------------
    def _get_state(self) -> State:
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {"encoder": self.encoder_.get_state(), "params": {}}
        for label, m in self.models_.items():
            arrays[f"corr{label}"] = m["corr"]
            arrays[f"quantiles{label}"] = np.array(m["quantiles"]) if m["quantiles"] else np.zeros((0, _LEVELS))
            for j, (order, upper) in enumerate(m["cum"]):
                arrays[f"order{label}_{j}"] = order
                arrays[f"upper{label}_{j}"] = upper
            meta["params"][str(label)] = m["params"]
        return State(meta=meta, arrays=arrays)

    def _set_state(self, state: State) -> None:
        self.encoder_ = TableEncoder.from_state(state.meta["encoder"])
        a = state.arrays
        n_disc = len(self.encoder_.discrete_atoms)
        self.models_ = {}
        for label in (0, 1):
            q = a[f"quantiles{label}"]
            self.models_[label] = {
                "corr": a[f"corr{label}"],
                "quantiles": [q[j] for j in range(q.shape[0])],
                "params": state.meta["params"][str(label)],
                "cum": [(a[f"order{label}_{j}"], a[f"upper{label}_{j}"]) for j in range(n_disc)],
            }


def _best_parametric(x: np.ndarray) -> dict[str, Any]:
    """The candidate distribution with the smallest KS statistic (fitted on at most 5k values)."""
    sample = x if len(x) <= 5000 else x[np.linspace(0, len(x) - 1, 5000).astype(int)]
    lo, hi = float(sample.min()), float(sample.max())
    best: tuple[float, dict[str, Any]] = (np.inf, {"dist": "uniform", "args": [lo, max(hi - lo, 1e-9)]})
    if hi - lo < 1e-12:
        return {"dist": "uniform", "args": [lo, 1e-9]}
    for name in _PARAMETRIC:
        dist = getattr(stats, name)
        try:
            if name == "beta":
                args = dist.fit(sample, floc=lo - 1e-9, fscale=hi - lo + 2e-9)
            elif name in ("lognorm", "gamma"):
                if lo <= 0:
                    continue
                args = dist.fit(sample, floc=0)
            else:
                args = dist.fit(sample)
        except (ValueError, RuntimeError, FloatingPointError):
            continue
        ks = stats.kstest(sample, name, args=args).statistic
        if np.isfinite(ks) and ks < best[0]:
            best = (ks, {"dist": name, "args": [float(a) for a in args]})
    return best[1]
