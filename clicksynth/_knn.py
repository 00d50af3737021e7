"""Nearest-neighbour search shared by the privacy metrics and the SMOTE family.

faiss (exact flat index, or an inverted-file index on large bases) with a
scikit-learn fallback, and :class:`FastNeighbors`, a drop-in for the
``k_neighbors`` / ``m_neighbors`` objects imbalanced-learn accepts: its own
default, scikit-learn's float64 brute force, dominated SMOTE's time on the wide
one-hot DIGIX designs (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["IVF_MIN_ROWS", "PROJECT_DIM", "FastNeighbors", "FastTomekLinks", "search"]

#: Designs wider than this are searched in a random projection (see FastNeighbors).
PROJECT_DIM = 64


# Above this many base rows the candidate search uses an inverted-file index
# (IVF, 256 lists, 8 probed): nearly always the same nearest row for a fraction of
# the cost, and the exact re-ranking of its candidates absorbs most misses.
IVF_MIN_ROWS = 20_000
_IVF_LISTS = 256
_IVF_PROBES = 8


def search(base: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` nearest base rows per query row in the embedding (L2)."""
    try:
        import faiss
    except ImportError:  # pragma: no cover - scikit-learn fallback
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(base)
        return nn.kneighbors(query, return_distance=False)
    d = base.shape[1]
    index: Any
    if len(base) < IVF_MIN_ROWS:
        index = faiss.IndexFlatL2(d)
    else:
        quantizer = faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, _IVF_LISTS)
        # A fixed, evenly spaced training sample keeps the index (and so the
        # distances) reproducible.
        step = max(1, len(base) // (40 * _IVF_LISTS))
        index.train(np.ascontiguousarray(base[::step]))
        index.nprobe = _IVF_PROBES
    index.add(base)
    _, idx = index.search(query, k)
    # IVF may return fewer than k hits (-1): point them at the first hit, which the
    # exact re-ranking then scores like any other candidate.
    if (idx < 0).any():
        idx = np.where(idx < 0, idx[:, :1], idx)
        idx = np.where(idx < 0, 0, idx)
    return idx.astype(np.int64)


class FastNeighbors(BaseEstimator):
    """The subset of scikit-learn's ``NearestNeighbors`` that imbalanced-learn calls.

    Euclidean distance in float32. Exact (up to the order of ties) for at most
    :data:`PROJECT_DIM` columns and fewer than :data:`IVF_MIN_ROWS` rows;
    approximate above either (random projection, IVF index), which is what a
    generator needs: plausible neighbours, fast. Returned distances are the
    true ones between the rows found.
    """

    def __init__(self, n_neighbors: int = 5, n_jobs: int | None = None) -> None:
        self.n_neighbors = n_neighbors
        self.n_jobs = n_jobs  # accepted for imbalanced-learn (ENN sets it); faiss threads itself
        self._proj: np.ndarray | None = None

    def fit(self, X: Any, y: Any = None) -> FastNeighbors:
        self._fit_X = _dense(X)
        self._space = self._project(self._fit_X)
        self.n_samples_fit_ = len(self._fit_X)
        return self

    def kneighbors(self, X: Any = None, n_neighbors: int | None = None, return_distance: bool = True) -> Any:
        k = min(n_neighbors or self.n_neighbors, self.n_samples_fit_)
        query = self._fit_X if X is None else _dense(X)
        idx = search(self._space, self._space if X is None else self._project(query), k)
        if not return_distance:
            return idx
        diff = query[:, None, :] - self._fit_X[idx]
        return np.sqrt(np.einsum("nkd,nkd->nk", diff, diff)), idx

    def _project(self, X: np.ndarray) -> np.ndarray:
        # Wide one-hot designs are searched in a fixed Gaussian random projection to
        # PROJECT_DIM columns (Johnson-Lindenstrauss: squared distances kept within a
        # few per cent); IVF lists on raw 0/1 columns are badly balanced and slow.
        d = X.shape[1]
        if d <= PROJECT_DIM:
            return X
        if self._proj is None or self._proj.shape[0] != d:
            rng = np.random.default_rng(d)
            self._proj = (rng.normal(size=(d, PROJECT_DIM)) / np.sqrt(PROJECT_DIM)).astype(np.float32)
        return np.ascontiguousarray(X @ self._proj)

    def kneighbors_graph(self, X: Any = None, n_neighbors: int | None = None, mode: str = "connectivity") -> Any:
        from scipy import sparse

        idx = self.kneighbors(X, n_neighbors, return_distance=False)
        n, k = idx.shape
        return sparse.csr_matrix((np.ones(n * k), idx.ravel(), np.arange(0, n * k + 1, k)), shape=(n, self.n_samples_fit_))


def _dense(X: Any) -> np.ndarray:
    # SMOTE-NC hands over its one-hot block as a sparse matrix; faiss needs dense
    # float32 (the class subset imbalanced-learn sees is capped, so this stays small).
    if hasattr(X, "toarray"):
        X = X.toarray()
    return np.ascontiguousarray(np.asarray(X, dtype=np.float32))


class FastTomekLinks:
    """Tomek-link removal (Tomek 1976) with faiss neighbours, both classes cleaned.

    A Tomek link is a pair of rows of different classes that are each other's
    nearest neighbour; like imbalanced-learn's ``TomekLinks(sampling_strategy="all")``
    both rows of every link are dropped. imbalanced-learn searches with
    scikit-learn's float64 brute force, most of a SMOTE-Tomek cell's time on DIGIX.
    """

    def fit_resample(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        X = _dense(X)
        y = np.asarray(y)
        nearest = FastNeighbors(n_neighbors=2).fit(X).kneighbors(return_distance=False)
        # Column 0 is normally the row itself; with duplicates it may be a twin.
        rows = np.arange(len(X))
        other = np.where(nearest[:, 0] == rows, nearest[:, 1], nearest[:, 0])
        linked = (other[other] == rows) & (y[other] != y)
        self.sample_indices_ = np.flatnonzero(~linked)
        return X[self.sample_indices_], y[self.sample_indices_]
