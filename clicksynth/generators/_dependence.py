"""Which encoded atoms (nearly) determine one another: groups a generator draws jointly.

Ad logs are full of functional dependences: an ad id fixes its advertiser, app and category,
a city its rank, a device model its size and price; a list column's length and item flags
describe one list. A generator that draws such atoms independently (ARF within a leaf) writes
rows no real log holds, which a detection model finds at once.

Dependence of B on A is Goodman & Kruskal's lambda (1954, "Measures of association for cross
classifications", JASA 49: 732-764): the share of the errors of guessing B's most frequent
value that knowing A removes, lambda = (sum_a max_b n_ab - max_b n_b) / (n - max_b n_b). It is
computed over the rows whose A value occurs at least ``min_count`` times, so that an id seen
once does not "determine" everything (each of its values is trivially its own mode).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from clicksynth.exceptions import ConfigError

__all__ = ["check_threshold", "dependence_groups", "goodman_kruskal_lambda", "value_codes"]

_MAX_ROWS = 50_000  # rows the dependences are measured on (a seeded subset above it)


def check_threshold(threshold: float | None) -> None:
    """A generator's ``dependence`` parameter: a lambda in (0, 1], or None (no groups)."""
    if threshold is not None and not 0.0 < threshold <= 1.0:
        raise ConfigError(f"dependence must be in (0, 1] or None, got {threshold}")


def value_codes(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """(n, len(columns)) codes of each column's raw values (a missing value is a value)."""
    if not len(columns):
        return np.empty((len(frame), 0), np.int64)
    return np.column_stack([pd.factorize(frame[c], use_na_sentinel=False)[0] for c in columns])


def goodman_kruskal_lambda(a: np.ndarray, b: np.ndarray, *, min_count: int = 5) -> float:
    """lambda(B | A) over the rows whose A value occurs at least ``min_count`` times; nan where
    those rows are fewer than half of all, or B is constant on them (nothing to predict)."""
    _, a_code, a_count = np.unique(a, return_inverse=True, return_counts=True)
    _, b_code = np.unique(b, return_inverse=True)
    return _lambda(a_code, a_count, b_code, min_count)


def _lambda(a_code: np.ndarray, a_count: np.ndarray, b_code: np.ndarray, min_count: int) -> float:
    """:func:`goodman_kruskal_lambda` of codes 0..k-1 (``a_count``: rows per A code)."""
    keep = a_count[a_code] >= min_count
    n = int(keep.sum())
    if n < len(a_code) / 2:
        return float("nan")
    a, b = a_code[keep], b_code[keep]
    width = int(b.max()) + 1
    key, pair_count = np.unique(a.astype(np.int64) * width + b, return_counts=True)
    # keys are sorted by A, then B: the largest count within each A value's run
    a_of_key = key // width
    starts = np.flatnonzero(np.r_[True, a_of_key[1:] != a_of_key[:-1]])
    within = int(np.maximum.reduceat(pair_count, starts).sum())
    mode = int(np.bincount(b).max())
    return float("nan") if mode == n else (within - mode) / (n - mode)


def dependence_groups(
    atoms: np.ndarray,
    columns: Sequence[str],
    *,
    threshold: float | None = 0.8,
    min_count: int = 5,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Group id (0..g-1) of every atom (a column of ``atoms``): the atoms of one source column
    (``columns[j]``) share a group, and so do A and B wherever lambda(B | A) >= ``threshold``
    (the connected components of both relations). ``threshold=None``: by column only."""
    d = atoms.shape[1]
    names = {c: i for i, c in enumerate(dict.fromkeys(columns))}
    edges = [(j, d + names[c]) for j, c in enumerate(columns)]  # atom -> its column's node
    if threshold is not None and d > 1:
        rows = atoms
        if len(rows) > _MAX_ROWS:
            rows = rows[(rng or np.random.default_rng(0)).choice(len(rows), _MAX_ROWS, replace=False)]
        codes = [np.unique(rows[:, j], return_inverse=True, return_counts=True)[1:] for j in range(d)]
        for i in range(d):
            for j in range(d):
                if i != j and columns[i] != columns[j] and _lambda(*codes[i], codes[j][0], min_count) >= threshold:
                    edges.append((i, j))
    src, dst = np.array(edges).T
    n_nodes = d + len(names)
    graph = coo_array((np.ones(len(edges)), (src, dst)), shape=(n_nodes, n_nodes))
    _, label = connected_components(graph, directed=False)
    _, group = np.unique(label[:d], return_inverse=True)
    return group
