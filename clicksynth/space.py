"""Distances between mixed-type rows, and nearest neighbours without an n x m matrix.

The distance between two rows is a Gower-style sum over columns, each term in
[0, 1], square-rooted:

* numeric    ``min(|a - b| / spread, 1) ** 2`` with spread = q99 - q01 of the
             real column (robust to outliers; a missing value against a
             present one counts 1, two missing values 0)
* categorical ``[a != b]`` (missing is a value of its own)
* list       ``1 - Jaccard(a, b)`` over item sets (64-bit item signatures)

Neighbour search is two-stage. A float32 embedding in which squared Euclidean
distance approximates the sum above (scaled numerics; one-hot / sqrt(2) for
small categoricals so a mismatch costs exactly 1; random codes with
E||u - v||^2 = 1 for high-cardinality ones; unit item signatures / sqrt(2) for
lists) feeds an exact faiss (or scikit-learn) search for ``candidates``
neighbours per query; the candidates are then re-ranked with the exact
distance. Exact matches are always found (distance 0 in both stages).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clicksynth._knn import search as _search
from clicksynth.prep.lists import explode_items
from clicksynth.schema import Schema

__all__ = ["MixedSpace", "Prepared", "canonical", "row_hashes"]

_ONEHOT_MAX = 16
_CODE_DIM = 8
_CODE_TABLE = 1 << 14
_LIST_BITS = 64


def canonical(frame: pd.DataFrame, schema: Schema, columns: list[str]) -> pd.DataFrame:
    """One representation per value whatever the producer's dtypes (1, 1.0 and '1' for an integer code agree)."""
    out = {}
    for c in columns:
        s = frame[c]
        kind = schema[c].kind
        if kind in ("numeric", "datetime"):
            out[c] = pd.to_numeric(s, errors="coerce").astype("float64")
        elif kind in ("categorical", "target"):
            num = pd.to_numeric(s, errors="coerce")
            if num.notna().sum() == s.notna().sum():  # all present values numeric: compare as numbers
                out[c] = num.astype("float64")
            else:
                out[c] = s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else str(v))
        else:  # list
            out[c] = s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else str(v))
    return pd.DataFrame(out, index=frame.index)


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """64-bit hash per row of a canonical frame (for exact-match counting)."""
    return pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)


def _hash_values(s: pd.Series) -> np.ndarray:
    return pd.util.hash_pandas_object(s, index=False).to_numpy(dtype=np.uint64)


def _list_signatures(s: pd.Series) -> np.ndarray:
    """64-bit item-set signature per row (bit = hash(item) mod 64)."""
    sig = np.zeros(len(s), dtype=np.uint64)
    exploded = explode_items(s)
    if not len(exploded):
        return sig
    rows = exploded.index.to_numpy()
    bits = (pd.util.hash_pandas_object(exploded.astype(str), index=False).to_numpy(dtype=np.uint64) % _LIST_BITS).astype(np.uint64)
    np.bitwise_or.at(sig, rows, np.left_shift(np.uint64(1), bits))
    return sig


@dataclass
class Prepared:
    """Rows ready for distance computations."""

    numeric: np.ndarray  # (n, p) float64, scaled to [0, 1]-ish, NaN kept
    codes: np.ndarray  # (n, q) uint64 value hashes
    lists: np.ndarray  # (n, r) uint64 item signatures
    embedding: np.ndarray  # (n, d) float32

    def __len__(self) -> int:
        return len(self.embedding)

    def take(self, idx: np.ndarray) -> Prepared:
        return Prepared(self.numeric[idx], self.codes[idx], self.lists[idx], self.embedding[idx])


class MixedSpace:
    """Per-column scales and codes fitted on real rows; distances on any rows.

    Parameters
    ----------
    schema
        Column kinds.
    columns
        The columns compared (default: every non-id column, the target included).
    random_state
        Seed of the random codes of high-cardinality categoricals.
    """

    def __init__(self, schema: Schema, columns: list[str] | None = None, *, random_state: int = 0) -> None:
        self.schema = schema
        self.columns = columns if columns is not None else [c.name for c in schema if c.kind != "id"]
        self.random_state = random_state

    def fit(self, real: pd.DataFrame) -> MixedSpace:
        canon = canonical(real, self.schema, self.columns)
        self.numeric_ = [c for c in self.columns if self.schema[c].kind in ("numeric", "datetime")]
        self.categorical_ = [c for c in self.columns if self.schema[c].kind in ("categorical", "target")]
        self.list_ = [c for c in self.columns if self.schema[c].kind == "list"]
        self.low_: dict[str, np.ndarray] = {}
        for c in self.categorical_:
            values = np.unique(_hash_values(canon[c]))
            if len(values) <= _ONEHOT_MAX:
                self.low_[c] = values
        lo, hi = {}, {}
        for c in self.numeric_:
            v = canon[c].dropna().to_numpy()
            lo[c] = float(np.quantile(v, 0.01)) if len(v) else 0.0
            hi[c] = float(np.quantile(v, 0.99)) if len(v) else 1.0
        self.offset_ = np.array([lo[c] for c in self.numeric_])
        spread = np.array([hi[c] - lo[c] for c in self.numeric_])
        self.spread_ = np.where(spread > 0, spread, 1.0)
        rng = np.random.default_rng(self.random_state)
        self.code_table_ = (rng.standard_normal((_CODE_TABLE, _CODE_DIM)) / np.sqrt(2 * _CODE_DIM)).astype(np.float32)
        return self

    def prepare(self, frame: pd.DataFrame) -> Prepared:
        canon = canonical(frame, self.schema, self.columns)
        n = len(canon)
        num = np.column_stack([canon[c].to_numpy() for c in self.numeric_]) if self.numeric_ else np.zeros((n, 0))
        num = (num - self.offset_) / self.spread_
        codes = np.column_stack([_hash_values(canon[c]) for c in self.categorical_]) if self.categorical_ else np.zeros((n, 0), np.uint64)
        lists = np.column_stack([_list_signatures(canon[c]) for c in self.list_]) if self.list_ else np.zeros((n, 0), np.uint64)
        parts: list[np.ndarray] = []
        if num.shape[1]:
            # Missing-value indicators are always present so every frame embeds
            # into the same dimensions.
            missing = np.isnan(num)
            parts.append(np.where(missing, 0.0, np.clip(num, -0.5, 1.5)))
            parts.append(missing.astype(float))
        for j, c in enumerate(self.categorical_):
            h = codes[:, j]
            if c in self.low_:
                onehot = (h[:, None] == self.low_[c][None, :]).astype(np.float32) / np.sqrt(2)
                parts.append(onehot)
            else:
                parts.append(self.code_table_[(h % np.uint64(_CODE_TABLE)).astype(np.int64)])
        for j in range(lists.shape[1]):
            bits = ((lists[:, j][:, None] >> np.arange(_LIST_BITS, dtype=np.uint64)) & np.uint64(1)).astype(np.float32)
            norm = np.sqrt(2 * np.maximum(bits.sum(axis=1, keepdims=True), 1))
            parts.append(bits / norm)
        emb = np.hstack(parts).astype(np.float32) if parts else np.zeros((n, 1), np.float32)
        return Prepared(num, codes, lists, np.ascontiguousarray(emb))

    # -- exact distances ---------------------------------------------------------------
    @staticmethod
    def pair_distance(a: Prepared, ia: np.ndarray, b: Prepared, ib: np.ndarray) -> np.ndarray:
        """Exact distance between rows ``a[ia[t]]`` and ``b[ib[t]]`` for every t."""
        d2 = np.zeros(len(ia), dtype=np.float64)
        if a.numeric.shape[1]:
            x, y = a.numeric[ia], b.numeric[ib]
            diff = np.minimum(np.abs(x - y), 1.0) ** 2
            nx, ny = np.isnan(x), np.isnan(y)
            diff = np.where(nx & ny, 0.0, np.where(nx | ny, 1.0, diff))
            d2 += diff.sum(axis=1)
        if a.codes.shape[1]:
            d2 += (a.codes[ia] != b.codes[ib]).sum(axis=1)
        if a.lists.shape[1]:
            x, y = a.lists[ia], b.lists[ib]
            inter = np.bitwise_count(x & y).astype(float)
            union = np.bitwise_count(x | y).astype(float)
            jac = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
            d2 += (1 - jac).sum(axis=1)
        return np.sqrt(d2)

    def knn(self, query: Prepared, base: Prepared, k: int = 1, *, candidates: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """Exact-distance ``k`` nearest rows of ``base`` for each row of ``query``.

        Returns (distances, indices), both (n_query, k), sorted by distance.
        """
        c = int(min(max(candidates, k), len(base)))
        cand = _search(base.embedding, query.embedding, c)
        n = len(query)
        ia = np.repeat(np.arange(n), c)
        exact = self.pair_distance(query, ia, base, cand.ravel()).reshape(n, c)
        order = np.argsort(exact, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(exact, order, axis=1), np.take_along_axis(cand, order, axis=1)
