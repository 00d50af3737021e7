"""Sequential trees: synthpop's CART synthesis, one class at a time.

Reiter (2005), "Using CART to generate partially synthetic public use microdata",
Journal of Official Statistics 21(3); the default method of synthpop (Nowok, Raab &
Dibben 2016, "synthpop: Bespoke Creation of Synthetic Data in R", JSS 74(11)).

Model -> code:

* p(row | label) = p(a_1 | label) * prod_j p(a_j | a_1..a_{j-1}, label)   -> one
  ``_ClassModel`` per label, atoms in the encoder's order
* p(a_1 | label): the empirical distribution                         -> ``_ClassModel.values[0]``
* p(a_j | a_<j, label): a CART tree on the earlier atoms; a new value
  is a donor drawn uniformly from the training rows of the leaf that
  the row's synthetic earlier atoms fall into (synthpop's ``cart``)  -> ``_fit_atom``, ``_draw``

Deviations: the row is the reversible encoding of ``generators/_encoding.py`` (a list
column is its length plus item flags, a rare category its ``other`` code, drawn back
from the real tail when decoded), so every value is a real one; categorical atoms
are split by their integer codes, not by category subsets as rpart does; trees are
stored as arrays and walked here, so a saved model needs no pickle.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clicksynth.exceptions import ConfigError
from clicksynth.generators._encoding import TableEncoder
from clicksynth.generators.base import Generator, State
from clicksynth.seeding import int_seed

__all__ = ["SequentialTrees"]

_TREE_ARRAYS = ("left", "right", "feature", "threshold", "starts", "counts", "values")


@dataclass
class _Tree:
    """A fitted CART partition and the training values of each leaf, grouped by leaf."""

    left: np.ndarray  # (nodes,) child ids, -1 at a leaf
    right: np.ndarray
    feature: np.ndarray  # (nodes,) earlier atom split on
    threshold: np.ndarray  # (nodes,) go left when value <= threshold
    starts: np.ndarray  # (nodes,) first position of the node's donors in ``values``
    counts: np.ndarray  # (nodes,) donors in the node (0 for internal nodes)
    values: np.ndarray  # (rows,) training values of the atom (float64, exact), grouped by leaf

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """Leaf id of every row of X (float32, as the tree was grown on)."""
        node = np.zeros(len(X), dtype=np.int64)
        todo = np.flatnonzero(self.left[node] >= 0)
        while len(todo):
            at = node[todo]
            go_left = X[todo, self.feature[at]] <= self.threshold[at]
            node[todo] = np.where(go_left, self.left[at], self.right[at])
            todo = todo[self.left[node[todo]] >= 0]
        return node

    def draw(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One donor value per row of X from the training values of its leaf."""
        leaf = self.leaves(X)
        pick = self.starts[leaf] + (rng.random(len(X)) * self.counts[leaf]).astype(np.int64)
        return self.values[np.minimum(pick, self.starts[leaf] + self.counts[leaf] - 1)]


def _fit_atom(X: np.ndarray, target: np.ndarray, *, discrete: bool, min_leaf: int, seed: int) -> _Tree:
    """CART of one atom on the earlier atoms; its leaves' training values kept as donors."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if X.shape[1] == 0 or len(np.unique(target)) < 2:
        tree = None  # a constant atom, or the first: one leaf holding every value
    else:
        model = DecisionTreeClassifier if discrete else DecisionTreeRegressor
        with warnings.catch_warnings():
            # Many categories among few rows (the click class) is still a classification.
            warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%", category=UserWarning)
            tree = model(min_samples_leaf=min_leaf, random_state=seed).fit(X, target).tree_
    left = tree.children_left.astype(np.int64) if tree else np.array([-1])
    right = tree.children_right.astype(np.int64) if tree else np.array([-1])
    feature = np.maximum(tree.feature.astype(np.int64), 0) if tree else np.array([0])
    threshold = tree.threshold.astype(np.float64) if tree else np.array([0.0])
    grown = _Tree(left, right, feature, threshold, np.zeros(len(left), np.int64), np.zeros(len(left), np.int64), target)
    # Leaves from our own walk (not sklearn's apply), so fitting and sampling agree exactly.
    leaf = grown.leaves(X) if tree else np.zeros(len(target), dtype=np.int64)
    order = np.argsort(leaf, kind="stable")
    counts = np.bincount(leaf, minlength=len(left))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return _Tree(left, right, feature, threshold, starts, counts, target[order])


class SequentialTrees(Generator):
    """Sequential CART synthesis (synthpop), one model per class (see module docstring).

    Parameters
    ----------
    min_samples_leaf
        Training rows a leaf keeps at least: the donors a value is drawn among. Smaller
        leaves copy more of a row's context. 20, not synthpop's ``minbucket`` of 5: in the
        sweep in ``benchmarks/RESULTS.md`` it kept the fidelity of 5 and put the rows no
        closer to the training rows than fresh rows are; 50 began to cost fidelity.
    max_categories
        Codes per categorical column; rarer values share an ``other`` code drawn back
        from their real frequencies when decoded.
    max_rows_per_class
        Training rows per class the trees see (a random subset above it).
    """

    name = "sequential"
    conditional = True

    def __init__(
        self,
        *,
        min_samples_leaf: int = 20,
        max_categories: int = 256,
        max_rows_per_class: int = 50_000,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.min_samples_leaf = min_samples_leaf
        self.max_categories = max_categories
        self.max_rows_per_class = max_rows_per_class
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        return [{"min_samples_leaf": 5, "max_categories": 32}]

    def _fit(self, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> None:
        if self.min_samples_leaf < 1:
            raise ConfigError(f"min_samples_leaf must be at least 1, got {self.min_samples_leaf}")
        if self.max_rows_per_class < 1:
            raise ConfigError(f"max_rows_per_class must be at least 1, got {self.max_rows_per_class}")
        self.encoder_ = TableEncoder(max_categories=self.max_categories).fit(X, self.schema_)
        enc = self.encoder_.transform(X)
        atoms = np.hstack([enc.continuous, enc.discrete.astype(np.float64)])
        grid = atoms.astype(np.float32)  # trees split float32 values, as scikit-learn grows them
        n_cont = enc.continuous.shape[1]
        self.trees_: dict[int, list[_Tree]] = {}
        for label in (0, 1):
            rows = np.flatnonzero(y == label)
            if len(rows) > self.max_rows_per_class:
                rows = np.sort(rng.choice(rows, self.max_rows_per_class, replace=False))
            A, G = atoms[rows], grid[rows]
            self.trees_[label] = [
                _fit_atom(G[:, :j], A[:, j], discrete=j >= n_cont, min_leaf=self.min_samples_leaf, seed=int_seed(rng))
                for j in range(A.shape[1])
            ]

    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        trees = self.trees_[label]
        A = np.zeros((n, len(trees)))  # donor values, exact
        G = np.zeros((n, len(trees)), dtype=np.float32)  # the same, as the trees compare them
        for j, tree in enumerate(trees):
            A[:, j] = tree.draw(G[:, :j], rng)
            G[:, j] = A[:, j]
        n_cont = len(self.encoder_.continuous_atoms)
        return self.encoder_.inverse_transform(A[:, :n_cont], A[:, n_cont:].astype(np.int64), rng)

    def _get_state(self) -> State:
        arrays = {
            f"c{label}_a{j}_{key}": getattr(tree, key)
            for label, trees in self.trees_.items()
            for j, tree in enumerate(trees)
            for key in _TREE_ARRAYS
        }
        return State(meta={"encoder": self.encoder_.get_state(), "atoms": len(self.trees_[0])}, arrays=arrays)

    def _set_state(self, state: State) -> None:
        self.encoder_ = TableEncoder.from_state(state.meta["encoder"])
        a = state.arrays
        self.trees_ = {
            label: [_Tree(*(np.asarray(a[f"c{label}_a{j}_{key}"]) for key in _TREE_ARRAYS)) for j in range(state.meta["atoms"])]
            for label in (0, 1)
        }
