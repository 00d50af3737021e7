"""ForestFlow: conditional flow matching whose vector field is gradient-boosted trees.

Jolicoeur-Martineau, Fatras & Kachman (2024), "Generating and Imputing Tabular Data
via Diffusion and Flow-based Gradient-Boosted Trees", AISTATS (``ForestDiffusion``).

Model -> code:

* x_1 a real row (scaled to [-1, 1]), x_0 ~ N(0, I), the straight path
  x_t = t x_1 + (1 - t) x_0 with velocity u = x_1 - x_0 (conditional flow matching
  with sigma = 0, the paper's flow variant)                               -> ``_fit_level``
* the vector field v(x, t) ~ E[u | x_t = x], regressed by XGBoost separately at each
  of ``n_t`` time levels t_k = k / n_t, on the rows duplicated ``duplicate_K`` times
  with fresh noise (the paper's data duplication)                         -> ``_fit_level``
* generation: Euler steps x_{k+1} = x_k + v_k(x_k) / n_t from x_0 ~ N(0, I),
  then clipped to the training range                                       -> ``_integrate``
* label conditioning: one set of regressors per class (the paper's conditional
  variant), so ``sample({1: n})`` integrates the click model only          -> ``models_``

Deviations: each level's model is one XGBoost booster growing a tree per column per
round (``one_output_per_tree``: the paper's per-column regressors in one call; multi-
output trees, one tree for all columns, were as slow here and fit the marginals
worse). The paper's 50 levels, but 5 noisy copies of each row instead of 100 and at
most 20,000 rows per class, to fit in minutes on a laptop; see the parameters. The reference one-hot encodes
categories and takes the argmax, infeasible for ID columns of thousands of levels;
here every atom of ``generators/_encoding.py`` is one dimension: a categorical code
(the top ``max_categories`` values, the rest an ``other`` code drawn back from the
real tail) is placed at the middle of its interval when the class's codes, most
frequent first, divide [-1, 1] by their frequencies, and decoded by the interval
the generated value falls in. The marginal of every code is then the flow's
marginal of one continuous variable, and a category costs no dimension. Categorical
columns that determine one another (an ad id and its advertiser, app and category) are
one column of their training tuples (``dependence``, ``generators/_joint.py``): a smooth
map of scaled codes cannot keep functional dependences, and one column has none to keep.
A list column of few distinct lists is likewise one categorical column of its whole lists
(``whole_lists``): as a length and item flags, each a smooth function of the noise, its
rows combined items into lists no real row has.
Level fits are independent, so they can run on a Dask cluster (``scheduler``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clicksynth._progress import EpochProgress
from clicksynth.exceptions import ConfigError
from clicksynth.generators._dependence import check_threshold
from clicksynth.generators._encoding import TableEncoder
from clicksynth.generators._joint import JointColumns, whole_list_columns
from clicksynth.generators.base import Generator, State
from clicksynth.seeding import int_seed

__all__ = ["ForestFlow"]


@dataclass
class _Scaling:
    """One class's map between atoms and [-1, 1]: continuous atoms min-max scaled,
    categorical codes at the middles of their frequency intervals (most frequent first)."""

    lo: np.ndarray  # (n_cont,)
    hi: np.ndarray  # (n_cont,)
    edges: np.ndarray  # (n_disc, max_card + 1) interval edges in code order, padded with 1.0
    order: np.ndarray  # (n_disc, max_card) code of each interval; a permutation (unused codes pad it)

    @classmethod
    def fit(cls, cont: np.ndarray, disc: np.ndarray, cards: list[int]) -> _Scaling:
        lo, hi = cont.min(axis=0, initial=np.inf), cont.max(axis=0, initial=-np.inf)
        width = max(cards, default=1)
        edges = np.ones((len(cards), width + 1))
        order = np.zeros((len(cards), width), np.int64)
        for j, card in enumerate(cards):
            counts = np.bincount(disc[:, j], minlength=card).astype(np.float64)
            codes = np.argsort(-counts, kind="stable")
            cum = np.cumsum(counts[codes]) / max(counts.sum(), 1.0)
            edges[j, : card + 1] = np.r_[-1.0, 2.0 * cum - 1.0]
            order[j] = np.r_[codes, np.arange(card, width)]  # padding sits on zero-width intervals at 1
        return cls(lo, hi, edges, order)

    def encode(self, cont: np.ndarray, disc: np.ndarray) -> np.ndarray:
        span = np.where(self.hi > self.lo, self.hi - self.lo, 1.0)
        scaled = 2.0 * (cont - self.lo) / span - 1.0
        mids = (self.edges[:, :-1] + self.edges[:, 1:]) / 2.0  # (n_disc, max_card), by interval
        rank = np.argsort(self.order, axis=1)  # interval of each code (the inverse permutation)
        coded = np.take_along_axis(mids, np.take_along_axis(rank, disc.T, axis=1), axis=1).T
        return np.hstack([scaled, coded]).astype(np.float32)

    def decode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_cont = len(self.lo)
        # Just below 1: the top edge is shared by the last code seen and, with zero width,
        # by codes this class never has; a value on it must land in the former.
        x = np.clip(x, -1.0, np.nextafter(np.float32(1.0), np.float32(0.0)))
        cont = self.lo + (x[:, :n_cont] + 1.0) / 2.0 * (self.hi - self.lo)
        disc = np.empty((len(x), len(self.edges)), np.int64)
        for j in range(len(self.edges)):
            inner = self.edges[j, 1:-1]  # a value on an edge goes to the interval above it
            disc[:, j] = self.order[j, np.searchsorted(inner, x[:, n_cont + j], side="right")]
        return cont, disc


def _fit_level(x1: np.ndarray, t: float, duplicate_k: int, seed: int, params: dict[str, Any], rounds: int) -> bytes:
    """The regressor of the velocity at level t, as XGBoost's UBJSON bytes (no pickle)."""
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    target = np.repeat(x1, duplicate_k, axis=0)
    noise = rng.standard_normal(target.shape, dtype=np.float32)
    xt = t * target + (1.0 - t) * noise
    target -= noise  # the velocity x_1 - x_0, in place
    data = xgb.QuantileDMatrix(xt, target, max_bin=params["max_bin"])
    booster = xgb.train({**params, "seed": seed % 2**31}, data, num_boost_round=rounds)
    return bytes(booster.save_raw("ubj"))


class ForestFlow(Generator):
    """Flow matching with XGBoost vector fields (Jolicoeur-Martineau et al. 2024); see the module docstring.

    Parameters
    ----------
    n_t
        Time levels: regressors per class, and Euler steps when sampling.
    duplicate_K
        Copies of every training row, each with its own noise, per level.
    n_estimators, max_depth, learning_rate, max_bin
        Each level's XGBoost model (squared error, no L2 penalty, as in the paper).
    max_categories
        Codes per categorical column; rarer values share an ``other`` code drawn back
        from their real frequencies when decoded.
    max_rows_per_class
        Training rows per class (a random subset above it): the fit's cost grows with
        ``rows x duplicate_K x n_t x columns``.
    dependence
        Categorical columns that (nearly) determine one another, by Goodman & Kruskal's
        lambda of at least this (an ad id and its advertiser), are modelled as one column of
        their training tuples (``generators/_joint.py``); ``None``: each column alone.
    whole_lists
        A list column whose ``max_categories`` commonest lists cover at least this share
        of the rows is one categorical column of its whole lists (every list drawn is a
        training list); others, and all with ``None``, are a length and item flags.
    n_jobs
        Threads per level fit and prediction (0: all cores); the trees do not depend on
        it (``tests/test_trees.py`` checks one thread against two).
    scheduler
        Address of a Dask scheduler to fit the levels on (``None``: in this process);
        the trees are the same either way.
    """

    name = "forestflow"
    conditional = True

    def __init__(
        self,
        *,
        n_t: int = 50,
        duplicate_K: int = 5,
        n_estimators: int = 50,
        max_depth: int = 6,
        learning_rate: float = 0.3,
        max_bin: int = 64,
        max_categories: int = 256,
        max_rows_per_class: int = 20_000,
        dependence: float | None = 0.8,
        whole_lists: float | None = 0.9,
        n_jobs: int = 0,
        scheduler: str | None = None,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_t = n_t
        self.duplicate_K = duplicate_K
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.max_bin = max_bin
        self.max_categories = max_categories
        self.max_rows_per_class = max_rows_per_class
        self.dependence = dependence
        self.whole_lists = whole_lists
        self.n_jobs = n_jobs
        self.scheduler = scheduler
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        return [{"n_t": 3, "duplicate_K": 2, "n_estimators": 5, "max_depth": 3, "max_categories": 32, "n_jobs": 1}]

    def _check_params(self) -> None:
        for name in ("n_t", "duplicate_K", "n_estimators", "max_depth", "max_rows_per_class"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_bin < 2:
            raise ConfigError(f"max_bin must be at least 2, got {self.max_bin}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.n_jobs < 0:
            raise ConfigError(f"n_jobs must be 0 (all cores) or more, got {self.n_jobs}")
        check_threshold(self.dependence)
        if self.whole_lists is not None and not 0.0 <= self.whole_lists <= 1.0:
            raise ConfigError(f"whole_lists must be in [0, 1] or None, got {self.whole_lists}")

    def _xgb_params(self) -> dict[str, Any]:
        return {
            "tree_method": "hist",
            "multi_strategy": "one_output_per_tree",
            "objective": "reg:squarederror",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "reg_lambda": 0.0,
            "max_bin": self.max_bin,
            "nthread": self.n_jobs,
            "verbosity": 0,
        }

    def _fit(self, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> None:
        self._check_params()
        whole = whole_list_columns(X, self.schema_, self.max_categories, self.whole_lists)
        self.joint_, X, schema = JointColumns.fit_transform(X, self.schema_, threshold=self.dependence, whole=whole, rng=rng)
        self.encoder_ = TableEncoder(max_categories=self.max_categories).fit(X, schema)
        enc = self.encoder_.transform(X)
        self.scalings_: dict[int, _Scaling] = {}
        rows_of: dict[int, np.ndarray] = {}  # each class's scaled rows
        jobs: list[tuple[int, int, int]] = []  # (label, level, seed)
        for label in (0, 1):
            rows = np.flatnonzero(y == label)
            if len(rows) > self.max_rows_per_class:
                rows = np.sort(rng.choice(rows, self.max_rows_per_class, replace=False))
            part = enc.take(rows)
            self.scalings_[label] = _Scaling.fit(part.continuous, part.discrete, self.encoder_.cardinalities)
            rows_of[label] = self.scalings_[label].encode(part.continuous, part.discrete)
            if len(rows):
                jobs += [(label, k, int_seed(rng)) for k in range(self.n_t)]
        raw = self._run_levels(rows_of, jobs)
        self.levels_: dict[int, list[bytes]] = {0: [], 1: []}
        for (label, _, _), model in zip(jobs, raw, strict=True):
            self.levels_[label].append(model)
        self._boosters: dict[int, list[Any]] = {}

    def _run_levels(self, rows_of: dict[int, np.ndarray], jobs: list[tuple[int, int, int]]) -> list[bytes]:
        """Every (class, level) fit, here or on the Dask scheduler, in job order."""
        params, rounds = self._xgb_params(), self.n_estimators
        bar = EpochProgress(len(jobs), "forestflow", self.verbose)
        try:
            if self.scheduler is None:
                out = []
                for label, k, seed in jobs:
                    out.append(_fit_level(rows_of[label], k / self.n_t, self.duplicate_K, seed, params, rounds))
                    bar.update(f"class {label} level {k + 1}/{self.n_t}")
                return out
            try:
                from dask.distributed import Client, as_completed
            except ImportError as exc:  # pragma: no cover
                raise ConfigError("fitting on Dask needs dask[distributed]: pip install 'clicksynth[dask]'") from exc
            with Client(self.scheduler, timeout=30) as client:
                data = {label: client.scatter(x1) for label, x1 in rows_of.items()}
                futures = [
                    client.submit(_fit_level, data[label], k / self.n_t, self.duplicate_K, seed, params, rounds, pure=False)
                    for label, k, seed in jobs
                ]
                for _ in as_completed(futures):
                    bar.update("levels on dask")
                return [f.result() for f in futures]
        finally:
            bar.close()

    def _booster_list(self, label: int) -> list[Any]:
        if label not in self._boosters:
            import xgboost as xgb

            boosters = []
            for raw in self.levels_[label]:
                b = xgb.Booster()
                b.load_model(bytearray(raw))
                b.set_param({"nthread": self.n_jobs})
                boosters.append(b)
            self._boosters[label] = boosters
        return self._boosters[label]

    def _integrate(self, n: int, label: int, rng: np.random.Generator) -> np.ndarray:
        boosters = self._booster_list(label)
        x = rng.standard_normal((n, len(self.encoder_.atoms)), dtype=np.float32)
        for booster in boosters:  # Euler steps from t = 0 to 1
            x += booster.inplace_predict(x).reshape(x.shape).astype(np.float32) / len(boosters)
        return x

    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        cont, disc = self.scalings_[label].decode(self._integrate(n, label, rng))
        return self.joint_.inverse_transform(self.encoder_.inverse_transform(cont, disc, rng))

    def _get_state(self) -> State:
        arrays: dict[str, np.ndarray] = {}
        for label, s in self.scalings_.items():
            arrays.update({f"c{label}_lo": s.lo, f"c{label}_hi": s.hi, f"c{label}_edges": s.edges, f"c{label}_order": s.order})
            for k, raw in enumerate(self.levels_[label]):
                arrays[f"c{label}_level{k}"] = np.frombuffer(raw, dtype=np.uint8)
        meta = {
            "encoder": self.encoder_.get_state(),
            "levels": {str(k): len(v) for k, v in self.levels_.items()},
            "joint": self.joint_.get_meta(),
        }
        return State(meta=meta, arrays=arrays, frames=self.joint_.get_frames())

    def _set_state(self, state: State) -> None:
        self.encoder_ = TableEncoder.from_state(state.meta["encoder"])
        self.joint_ = JointColumns.from_state(state.meta.get("joint"), state.frames)  # files before 2026-12-01: none fused
        a = state.arrays
        self.scalings_ = {
            label: _Scaling(*(np.asarray(a[f"c{label}_{key}"]) for key in ("lo", "hi", "edges", "order"))) for label in (0, 1)
        }
        self.levels_ = {
            int(label): [np.asarray(a[f"c{label}_level{k}"], dtype=np.uint8).tobytes() for k in range(int(count))]
            for label, count in state.meta["levels"].items()
        }
        self._boosters = {}
