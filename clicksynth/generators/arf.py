"""Adversarial random forests, one model per class.

Watson, Blesch, Kapar & Wright (2023), "Adversarial random forests for density
estimation and generative modeling", AISTATS (the ``arf`` R/Python packages).

Model -> code:

* Algorithm 1 (ARF): start from a table whose columns are drawn independently from
  their marginals; repeat: fit a random forest to tell real rows from the current
  synthetic ones, and if its out-of-bag accuracy is still above ``0.5 + delta``,
  draw a new synthetic table from the forest's leaves                  -> ``_fit_class``
* the leaves partition the space so that, within a leaf, the columns are close to
  independent (the forest can no longer separate the real rows from rows whose
  columns were drawn independently within leaves)
* FORDE (density of a leaf): coverage = the share of real rows in the leaf, one
  univariate distribution per column                                   -> ``_LeafDraw``
* FORGE (generation): pick a tree uniformly and a leaf by its coverage, then every
  column independently from the leaf's distribution                    -> ``_LeafDraw.draw``

Deviations: a leaf's column distribution is the empirical one of its real rows (each
column from its own donor row, drawn uniformly), for continuous atoms too where the
paper fits a truncated normal: every value is a real one, as in synthpop's CART, and
picking a leaf by coverage and then donors is picking an anchor row uniformly and
the leaf it falls in. Columns that determine one another (``dependence``, measured by
``generators/_dependence.py`` on the raw values) share a donor: the paper's independence
within a leaf holds for them only where the forest has split down to one value of each.
The forests see the reversible encoding of ``generators/_encoding.py`` (a list column is
its length plus item flags, a rare category its ``other`` code; categorical codes split as
ordered integers), but a sampled value is the donor's raw one: a rare ad id comes with its
own advertiser, a list is a real row's list (the paper's "exact categories"). The loop keeps the forest with the
lowest out-of-bag accuracy and stops when it no longer falls (the package's
``early_stop``).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clicksynth._progress import EpochProgress
from clicksynth.exceptions import ConfigError
from clicksynth.generators._dependence import check_threshold, dependence_groups, value_codes
from clicksynth.generators._encoding import TableEncoder
from clicksynth.generators.base import Generator, State
from clicksynth.seeding import int_seed

__all__ = ["AdversarialRandomForest"]

_DRAW_ROWS = 65_536  # rows drawn per block (bounds the (rows x atoms) donor matrix)


@dataclass
class _LeafDraw:
    """The real rows of one class and, per tree, the leaf each falls in, grouped by leaf."""

    atoms: np.ndarray  # (n, d) real rows, encoded
    leaves: np.ndarray  # (trees, n) leaf id of every real row in every tree (what a model file keeps)
    order: np.ndarray  # (trees, n) row ids sorted by leaf
    start: np.ndarray  # (trees, n) position in ``order`` of the first row of row i's leaf
    count: np.ndarray  # (trees, n) rows in row i's leaf
    groups: np.ndarray  # (d,) donor group of every atom: atoms of one group come from one donor

    @classmethod
    def from_leaves(cls, atoms: np.ndarray, leaves: np.ndarray, groups: np.ndarray) -> _LeafDraw:
        """``leaves`` (trees, n): the leaf id of every real row in every tree."""
        trees, n = leaves.shape
        order = np.argsort(leaves, axis=1, kind="stable")
        start, count = np.empty((trees, n), np.int64), np.empty((trees, n), np.int64)
        for t in range(trees):
            _, first, sizes = np.unique(leaves[t, order[t]], return_index=True, return_counts=True)
            group = np.repeat(np.arange(len(first)), sizes)  # group of each sorted position
            start[t, order[t]] = first[group]
            count[t, order[t]] = sizes[group]
        return cls(atoms, leaves, order, start, count, groups)

    def donors(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """(m, groups) real row ids: per row a tree and an anchor row (so a leaf by its
        coverage), then for each group of atoms a donor drawn uniformly among the leaf's rows."""
        trees, n = self.order.shape
        g = int(self.groups.max()) + 1 if len(self.groups) else 0
        out = np.empty((m, g), np.int64)
        for lo in range(0, m, _DRAW_ROWS):
            k = min(_DRAW_ROWS, m - lo)
            tree = rng.integers(trees, size=k)
            anchor = rng.integers(n, size=k)
            start, count = self.start[tree, anchor], self.count[tree, anchor]
            pos = start[:, None] + (rng.random((k, g)) * count[:, None]).astype(np.int64)
            out[lo : lo + k] = self.order[tree[:, None], np.minimum(pos, (start + count - 1)[:, None])]
        return out

    def draw(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """m encoded rows, each group of atoms from its donor (:meth:`donors`)."""
        d = self.atoms.shape[1]
        out = np.empty((m, d))
        for lo in range(0, m, _DRAW_ROWS):
            donors = self.donors(min(_DRAW_ROWS, m - lo), rng)
            out[lo : lo + len(donors)] = self.atoms[donors[:, self.groups], np.arange(d)]
        return out


class AdversarialRandomForest(Generator):
    """Adversarial random forests (Watson et al. 2023), one model per class (see module docstring).

    Parameters
    ----------
    n_trees
        Trees per forest.
    min_samples_leaf
        Real and synthetic rows a leaf holds at least. The privacy knob: a leaf's columns
        are drawn from its real rows, so smaller leaves keep more of a row's context and copy
        more rows whole (the default, above the paper's 5, from a sweep with donor groups).
    delta
        The loop stops once the forest's out-of-bag accuracy is at most ``0.5 + delta``.
    max_iters
        Adversarial rounds at most.
    early_stop
        Stop as soon as a round's out-of-bag accuracy does not fall below the best so far
        (and keep that best forest); otherwise run ``max_iters`` rounds and keep the best.
    max_categories
        Codes per categorical column; rarer values share an ``other`` code drawn back
        from their real frequencies when decoded.
    max_rows_per_class
        Training rows per class the forests see (a random subset above it).
    dependence
        Atoms that (nearly) determine one another, by Goodman & Kruskal's lambda of at least
        this (an ad id and its advertiser, a city and its rank), are drawn from one donor row of
        the leaf, as are the atoms of one list column; ``None``: every column from its own donor
        (the paper's independence within a leaf, which writes ads with another ad's attributes).
    max_time
        Seconds after which no further round starts (``None``: no limit). A wall-clock
        stop makes the model depend on the machine; leave it unset where a seed must
        reproduce.
    n_jobs
        Cores the forests are grown on (the model does not depend on it).
    """

    name = "arf"
    conditional = True

    def __init__(
        self,
        *,
        n_trees: int = 20,
        min_samples_leaf: int = 12,
        delta: float = 0.0,
        max_iters: int = 10,
        early_stop: bool = True,
        max_categories: int = 256,
        max_rows_per_class: int = 50_000,
        dependence: float | None = 0.8,
        max_time: float | None = None,
        n_jobs: int | None = -1,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_trees = n_trees
        self.min_samples_leaf = min_samples_leaf
        self.delta = delta
        self.max_iters = max_iters
        self.early_stop = early_stop
        self.max_categories = max_categories
        self.max_rows_per_class = max_rows_per_class
        self.dependence = dependence
        self.max_time = max_time
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        return [{"n_trees": 5, "max_iters": 3, "max_categories": 32, "n_jobs": 1}]

    def _check_params(self) -> None:
        for name in ("n_trees", "min_samples_leaf", "max_iters", "max_rows_per_class"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.delta < 0.5:
            raise ConfigError(f"delta must be in [0, 0.5), got {self.delta}")
        check_threshold(self.dependence)

    def _fit(self, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> None:
        self._check_params()
        self.encoder_ = TableEncoder(max_categories=self.max_categories).fit(X, self.schema_)
        enc = self.encoder_.transform(X)
        atoms = np.hstack([enc.continuous, enc.discrete.astype(np.float64)])
        # Dependences measured on the raw values: an ad id pooled into "other" determines nothing.
        by_column = dependence_groups(value_codes(X, list(X.columns)), list(X.columns), threshold=self.dependence, rng=rng)
        group_of = dict(zip(X.columns, by_column))
        self.groups_ = np.array([group_of[a.column] for a in self.encoder_.atoms], np.int64)
        self.rows_: dict[int, pd.DataFrame] | None = {}
        self.models_: dict[int, _LeafDraw] = {}
        self.oob_accuracy_: dict[int, list[float]] = {}
        deadline = None if self.max_time is None else time.monotonic() + self.max_time
        bar = EpochProgress(2 * self.max_iters, "arf", self.verbose)
        try:
            for label in (0, 1):
                rows = np.flatnonzero(y == label)
                if len(rows) > self.max_rows_per_class:
                    rows = np.sort(rng.choice(rows, self.max_rows_per_class, replace=False))
                self.models_[label], self.oob_accuracy_[label] = self._fit_class(atoms[rows], rng, deadline, bar)
                self.rows_[label] = X.iloc[rows].reset_index(drop=True)
        finally:
            bar.close()

    def _fit_class(
        self, real: np.ndarray, rng: np.random.Generator, deadline: float | None, bar: EpochProgress
    ) -> tuple[_LeafDraw, list[float]]:
        """Algorithm 1 on one class's rows: the leaves of the least separable forest, and the
        out-of-bag accuracy of every round."""
        from sklearn.ensemble import RandomForestClassifier

        n = len(real)
        # Round 0's synthetic table: every column drawn independently from its marginal.
        synth = np.column_stack([real[rng.permutation(n), j] for j in range(real.shape[1])]) if n else real
        target = np.r_[np.ones(n), np.zeros(n)]
        history: list[float] = []
        best: _LeafDraw | None = None
        # Fewer than two rows: nothing a forest could split; the rows themselves are the one leaf.
        for _ in range(self.max_iters if n >= 2 else 0):
            forest = RandomForestClassifier(
                n_estimators=self.n_trees,
                min_samples_leaf=self.min_samples_leaf,
                max_features="sqrt",
                oob_score=True,
                n_jobs=self.n_jobs,
                random_state=int_seed(rng),
            )
            with warnings.catch_warnings():
                # A few rows in-bag in every tree have no out-of-bag vote; the rest decide.
                warnings.filterwarnings("ignore", message="Some inputs do not have OOB scores", category=UserWarning)
                forest.fit(np.vstack([real, synth]).astype(np.float32), target)
            current = _LeafDraw.from_leaves(real, forest.apply(real.astype(np.float32)).T, self.groups_)
            accuracy = float(forest.oob_score_)
            bar.update(f"oob accuracy {accuracy:.3f}")
            improved = not history or accuracy < min(history)
            history.append(accuracy)
            if improved:
                best = current
            elif self.early_stop:  # no longer improving: keep the best forest
                break
            if accuracy <= 0.5 + self.delta or (deadline is not None and time.monotonic() > deadline):
                break
            synth = current.draw(n, rng)
        if best is None:
            best = _LeafDraw.from_leaves(real, np.zeros((1, n), np.int64), self.groups_)
        return best, history

    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        if self.rows_ is None:  # a file written before the real rows were kept: decode atoms
            A = self.models_[label].draw(n, rng)
            n_cont = len(self.encoder_.continuous_atoms)
            return self.encoder_.inverse_transform(A[:, :n_cont], A[:, n_cont:].astype(np.int64), rng)
        # Every value is its donor's own: exact categories and whole lists, no decoding.
        real, donors = self.rows_[label], self.models_[label].donors(n, rng)
        group_of = {a.column: int(g) for a, g in zip(self.encoder_.atoms, self.groups_)}
        return pd.DataFrame({c: real[c].iloc[donors[:, group_of[c]]].reset_index(drop=True) for c in real.columns})

    def _get_state(self) -> State:
        arrays = {"groups": self.groups_}
        for label, m in self.models_.items():
            arrays[f"c{label}_atoms"] = m.atoms
            arrays[f"c{label}_leaves"] = m.leaves.astype(np.int32)
        meta = {"encoder": self.encoder_.get_state(), "oob_accuracy": {str(k): v for k, v in self.oob_accuracy_.items()}}
        frames = {f"c{label}_rows": rows for label, rows in (self.rows_ or {}).items()}
        return State(meta=meta, arrays=arrays, frames=frames)

    def _set_state(self, state: State) -> None:
        self.encoder_ = TableEncoder.from_state(state.meta["encoder"])
        self.oob_accuracy_ = {int(k): list(v) for k, v in state.meta["oob_accuracy"].items()}
        a = state.arrays
        # files written before donor groups existed drew every atom from its own donor
        self.groups_ = np.asarray(a["groups"] if "groups" in a else np.arange(np.asarray(a["c0_atoms"]).shape[1]), np.int64)
        # ... and before the real rows were kept, decoded their atoms
        self.rows_ = {label: state.frames[f"c{label}_rows"] for label in (0, 1)} if "c0_rows" in state.frames else None
        self.models_ = {}
        for label in (0, 1):
            self.models_[label] = _LeafDraw.from_leaves(
                np.asarray(a[f"c{label}_atoms"]), np.asarray(a[f"c{label}_leaves"], np.int64), self.groups_
            )
