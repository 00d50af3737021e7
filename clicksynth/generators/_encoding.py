"""Reversible encoding of a mixed ad-log table into model-ready *atoms*.

Every generator models the same atoms and decodes through the same inverse, so
category sets, ranges, list syntax and dtypes are handled once:

==============  ==========================================================
column kind     atoms
==============  ==========================================================
numeric         ``col`` continuous (+ ``col__null`` 0/1 when values are missing)
datetime        ``col`` continuous in minutes (+ ``col__null``)
categorical     ``col`` discrete: the ``max_categories - 1`` most frequent
                values, a ``null`` code when missing values exist, and an
                ``other`` code whose members are drawn back from the empirical
                tail at decode time
list            ``col__len`` continuous and ``col__has_<item>`` 0/1 for the
                ``list_top_k`` most common items (+ ``col__null``); decoding
                fills the length with items drawn from the tail frequencies
id              not modelled; decoding issues fresh keys (never real ones)
==============  ==========================================================

Frequency thresholding keeps high-cardinality IDs (DIGIX ``adv_id`` ~ 4k values)
from blowing networks up while still reproducing the tail: the ``other`` code
is a learned category, and its members are resampled in proportion to their
real frequencies.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clicksynth.exceptions import DataError, NotFittedError
from clicksynth.prep.lists import split_items
from clicksynth.schema import LIST_SEPARATOR, Schema

__all__ = ["Atom", "Encoded", "TableEncoder"]

_MAX_TAIL = 20_000  # tail values kept per column for resampling "other"
_DENSE_LIST_VOCAB = 256  # list vocabularies up to this size decode through a (rows x items) matrix


@dataclass(frozen=True)
class Atom:
    """One modelled variable derived from a column."""

    name: str
    column: str
    continuous: bool
    cardinality: int = 0  # discrete only


@dataclass
class Encoded:
    """Encoded rows: continuous atoms as float64, discrete atoms as int64 codes."""

    continuous: np.ndarray  # (n, n_continuous)
    discrete: np.ndarray  # (n, n_discrete)

    def __len__(self) -> int:
        return len(self.continuous) if self.continuous.size else len(self.discrete)

    def take(self, idx: np.ndarray) -> Encoded:
        return Encoded(self.continuous[idx], self.discrete[idx])


def _py(values: Any) -> list[Any]:
    """Plain Python scalars (JSON-able) from a numpy / pandas array."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _minutes(series: pd.Series, fmt: str | None) -> np.ndarray:
    if fmt in ("%Y%m%d%H%M", "%Y%m%d", "native"):
        text = series if fmt == "native" else series.astype("Int64").astype(str)
        ts = pd.to_datetime(text, format=None if fmt == "native" else fmt, errors="coerce")
        # Timedelta arithmetic, not the int64 view: pandas may store microseconds (pandas 3 did,
        # and the int64 view then read 1000x too small), and NaT must become NaN.
        return ((ts - pd.Timestamp(0)) / pd.Timedelta(minutes=1)).to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _from_minutes(values: np.ndarray, fmt: str | None) -> pd.Series:
    if fmt in ("%Y%m%d%H%M", "%Y%m%d"):
        ts = pd.to_datetime(np.round(values).astype("int64") * 60_000_000_000)
        return pd.Series(ts.strftime(fmt).astype("int64"))
    if fmt == "native":
        return pd.Series(pd.to_datetime(np.round(values).astype("int64") * 60_000_000_000))
    return pd.Series(values)


class TableEncoder:
    """Fit on real rows, then encode / decode any rows of the same schema.

    Parameters
    ----------
    max_categories
        Codes per categorical column, ``other`` included.
    min_frequency
        Categories seen fewer times go to ``other``.
    list_top_k
        Items per list column with their own 0/1 atom.
    """

    def __init__(self, *, max_categories: int = 64, min_frequency: int = 1, list_top_k: int = 16) -> None:
        if max_categories < 2:
            raise DataError(f"max_categories must be at least 2, got {max_categories}")
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.list_top_k = list_top_k
        self.columns_: list[dict[str, Any]] | None = None

    # -- fitting -----------------------------------------------------------------
    def fit(self, X: pd.DataFrame, schema: Schema) -> TableEncoder:
        cols: list[dict[str, Any]] = []
        for name in X.columns:
            kind = schema[name].kind if name in schema else "categorical"
            s = X[name]
            if kind in ("numeric", "datetime"):
                fmt = schema[name].fmt if kind == "datetime" else None
                v = _minutes(s, fmt) if kind == "datetime" else pd.to_numeric(s, errors="coerce").to_numpy(float, na_value=np.nan)
                ok = v[~np.isnan(v)]
                if len(ok) == 0:
                    raise DataError(f"numeric column {name!r} has no values; drop it or mark it categorical")
                integral = bool(np.all(np.equal(np.round(ok), ok)))
                cols.append(
                    {
                        "name": name,
                        "kind": kind,
                        "fmt": fmt,
                        "min": float(ok.min()),
                        "max": float(ok.max()),
                        "median": float(np.median(ok)),
                        "integer": integral,
                        "decimals": 0 if integral else _decimals(ok),
                        "has_null": bool(np.isnan(v).any()),
                    }
                )
            elif kind == "categorical":
                cols.append(self._fit_categorical(name, s))
            elif kind == "list":
                cols.append(self._fit_list(name, s))
            elif kind == "id":
                num = pd.to_numeric(s, errors="coerce")
                numeric = bool(num.notna().all())
                cols.append({"name": name, "kind": "id", "numeric": numeric, "start": int(num.max()) + 1 if numeric else 0})
            else:
                raise DataError(f"column {name!r} of kind {kind!r} cannot be encoded; drop it from the features")
        self.columns_ = cols
        return self

    def _fit_categorical(self, name: str, s: pd.Series) -> dict[str, Any]:
        counts = s.value_counts(dropna=True)
        keep = counts[counts >= self.min_frequency]
        has_null = bool(s.isna().any())
        room = self.max_categories - int(has_null)
        if len(counts) > room:  # an "other" code is needed
            room -= 1
        keep = keep.iloc[: max(room, 0)]
        tail = counts.drop(keep.index)
        if len(tail) > _MAX_TAIL:
            tail = tail.iloc[:_MAX_TAIL]
        return {
            "name": name,
            "kind": "categorical",
            "values": _py(keep.index),
            "has_null": has_null,
            "tail_values": _py(tail.index),
            "tail_counts": _py(tail.to_numpy()),
        }

    def _fit_list(self, name: str, s: pd.Series) -> dict[str, Any]:
        lists = _split_lists(s)
        items = pd.Series([i for row in lists if row is not None for i in row], dtype=object)
        counts = items.value_counts()
        top = counts.iloc[: self.list_top_k]
        tail = counts.iloc[self.list_top_k : self.list_top_k + _MAX_TAIL]
        lengths = np.array([len(r) for r in lists if r is not None] or [0])
        numeric_items = bool(len(counts)) and all(_is_int(v) for v in counts.index[:200])
        sorted_share = 0.0
        if numeric_items:
            rows = [r for r in lists if r]
            sorted_share = float(np.mean([all(int(a) <= int(b) for a, b in itertools.pairwise(r)) for r in rows[:2000]])) if rows else 0.0
        return {
            "name": name,
            "kind": "list",
            "top": _py(top.index),
            "top_counts": _py(top.to_numpy()),
            "tail_values": _py(tail.index),
            "tail_counts": _py(tail.to_numpy()),
            "min_len": int(lengths.min()),
            "max_len": int(lengths.max()),
            "has_null": bool(s.isna().any()),
            "sort_numeric": numeric_items and sorted_share >= 0.9,
        }

    # -- atoms -------------------------------------------------------------------
    def _check(self) -> list[dict[str, Any]]:
        if self.columns_ is None:
            raise NotFittedError("TableEncoder is not fitted")
        return self.columns_

    @property
    def atoms(self) -> list[Atom]:
        """All atoms in encoding order: continuous first, then discrete."""
        return self.continuous_atoms + self.discrete_atoms

    @property
    def continuous_atoms(self) -> list[Atom]:
        out = []
        for c in self._check():
            if c["kind"] in ("numeric", "datetime"):
                out.append(Atom(c["name"], c["name"], True))
            elif c["kind"] == "list":
                out.append(Atom(f"{c['name']}__len", c["name"], True))
        return out

    @property
    def discrete_atoms(self) -> list[Atom]:
        out = []
        for c in self._check():
            if c["kind"] in ("numeric", "datetime", "list") and c["has_null"]:
                out.append(Atom(f"{c['name']}__null", c["name"], False, 2))
            if c["kind"] == "categorical":
                card = len(c["values"]) + int(c["has_null"]) + int(bool(c["tail_values"]))
                out.append(Atom(c["name"], c["name"], False, max(card, 1)))
            elif c["kind"] == "list":
                out += [Atom(f"{c['name']}__has_{item}", c["name"], False, 2) for item in c["top"]]
        return out

    @property
    def cardinalities(self) -> list[int]:
        return [a.cardinality for a in self.discrete_atoms]

    # -- encode ----------------------------------------------------------------
    def transform(self, X: pd.DataFrame) -> Encoded:
        cols = self._check()
        n = len(X)
        cont: dict[str, np.ndarray] = {}
        disc: dict[str, np.ndarray] = {}
        for c in cols:
            name = c["name"]
            if name not in X.columns:
                raise DataError(f"column {name!r} missing from the rows to encode")
            s = X[name]
            if c["kind"] in ("numeric", "datetime"):
                v = _minutes(s, c["fmt"]) if c["kind"] == "datetime" else pd.to_numeric(s, errors="coerce").to_numpy(float, na_value=np.nan)
                miss = np.isnan(v)
                cont[name] = np.where(miss, c["median"], v)
                if c["has_null"]:
                    disc[f"{name}__null"] = miss.astype(np.int64)
            elif c["kind"] == "categorical":
                disc[name] = self._encode_categorical(c, s)
            elif c["kind"] == "list":
                lists = _split_lists(s)
                cont[f"{name}__len"] = np.array([len(r) if r is not None else 0 for r in lists], dtype=float)
                sets = [set(r) if r is not None else set() for r in lists]
                for item in c["top"]:
                    disc[f"{name}__has_{item}"] = np.fromiter((item in st for st in sets), dtype=np.int64, count=n)
                if c["has_null"]:
                    disc[f"{name}__null"] = np.array([r is None for r in lists], dtype=np.int64)
        continuous = np.column_stack([cont[a.name] for a in self.continuous_atoms]) if self.continuous_atoms else np.zeros((n, 0))
        discrete = np.column_stack([disc[a.name] for a in self.discrete_atoms]) if self.discrete_atoms else np.zeros((n, 0), dtype=np.int64)
        return Encoded(continuous.astype(np.float64), discrete.astype(np.int64))

    @staticmethod
    def _encode_categorical(c: dict[str, Any], s: pd.Series) -> np.ndarray:
        values = c["values"]
        k = len(values)
        lookup = pd.Index(values)
        codes = lookup.get_indexer(s.astype(object).where(s.notna(), None))
        miss = s.isna().to_numpy()
        null_code, other_code = k, k + int(c["has_null"])
        codes = np.where(codes >= 0, codes, other_code)
        if c["has_null"]:
            codes = np.where(miss, null_code, codes)
        # Unseen values (possible in rows that were not fitted on) go to "other",
        # or to the last code when the fit saw no tail.
        card = k + int(c["has_null"]) + int(bool(c["tail_values"]))
        return np.minimum(codes, max(card - 1, 0)).astype(np.int64)

    # -- decode ----------------------------------------------------------------
    def inverse_transform(self, continuous: np.ndarray, discrete: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Rows from atoms; continuous values are clipped, rounded and re-typed here."""
        cols = self._check()
        n = len(continuous) if continuous.size else len(discrete)
        ci = {a.name: i for i, a in enumerate(self.continuous_atoms)}
        di = {a.name: i for i, a in enumerate(self.discrete_atoms)}
        out: dict[str, Any] = {}
        for c in cols:
            name = c["name"]
            if c["kind"] in ("numeric", "datetime"):
                v = continuous[:, ci[name]]
                v = np.round(v) if c["integer"] else np.round(v, c["decimals"])
                # Clipped after rounding: rounding the training maximum (or minimum) to the
                # column's decimals could step outside the training range.
                v = np.clip(v, c["min"], c["max"])
                col = _from_minutes(v, c["fmt"]) if c["kind"] == "datetime" else pd.Series(v)
                if c["has_null"]:
                    col = col.astype(float) if c["kind"] == "numeric" else col.astype(object)
                    col[discrete[:, di[f"{name}__null"]] == 1] = np.nan
                out[name] = col.to_numpy()
            elif c["kind"] == "categorical":
                out[name] = self._decode_categorical(c, discrete[:, di[name]], rng)
            elif c["kind"] == "list":
                out[name] = self._decode_list(c, continuous[:, ci[f"{name}__len"]], discrete, di, rng)
            elif c["kind"] == "id":
                out[name] = (
                    np.arange(c["start"], c["start"] + n, dtype=np.int64)
                    if c["numeric"]
                    else np.array([f"syn{i:08d}" for i in range(n)], dtype=object)
                )
        # copy=False: every column is a fresh array; consolidating them into one block
        # (the default copy) would be a costly, needless pass.
        return pd.DataFrame(out, columns=[c["name"] for c in cols], copy=False)

    @staticmethod
    def _decode_categorical(c: dict[str, Any], codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        values = c["values"]
        k = len(values)
        codes = np.clip(codes.astype(np.int64), 0, None)
        typed = None if c["has_null"] or not k else _typed_array(values + c["tail_values"])
        if typed is not None:
            # Integer / float categories decode to a typed array: no object column for
            # the caller to cast back (that cast cost more than the decoding).
            out = typed[np.minimum(codes, k - 1)]
            tail = typed[k:]
        else:
            table = np.empty(k + 2, dtype=object)
            table[:k] = values
            table[k:] = None
            out = table[np.minimum(codes, k + 1)].astype(object) if k else np.full(len(codes), None, dtype=object)
            tail = np.empty(len(c["tail_values"]), dtype=object)
            tail[:] = c["tail_values"]
        other_code = k + int(c["has_null"])
        if c["tail_values"]:
            mask = codes >= other_code
            if mask.any():
                p = np.asarray(c["tail_counts"], dtype=float)
                draw = rng.choice(len(p), size=int(mask.sum()), p=p / p.sum())
                out[mask] = tail[draw]
        elif not c["has_null"] and k:
            out[codes >= k] = values[-1]
        if c["has_null"]:
            out[codes == k] = None
        return out

    @staticmethod
    def _decode_list(
        c: dict[str, Any], lengths: np.ndarray, discrete: np.ndarray, di: dict[str, int], rng: np.random.Generator
    ) -> np.ndarray:
        """Lists from their atoms, vectorised (no per-row Python loop).

        The flagged top items come first; tail items drawn by their real
        frequencies fill each row up to its decoded length.
        """
        n = len(lengths)
        top = [str(t) for t in c["top"]]
        tail = [str(t) for t in c["tail_values"]]
        flags = (
            np.column_stack([discrete[:, di[f"{c['name']}__has_{t}"]] for t in c["top"]]).astype(bool) if top else np.zeros((n, 0), bool)
        )
        # Within the real lengths: a column whose lists are never empty gets no empty
        # list from a length decoded near 0 (models saved before min_len: 0).
        want = np.clip(np.round(lengths), c.get("min_len", 0), c["max_len"]).astype(np.int64)
        null_col = di.get(f"{c['name']}__null")
        missing = discrete[:, null_col] == 1 if null_col is not None else np.zeros(n, bool)
        extra = np.maximum(want - flags.sum(axis=1), 0)
        extra[missing] = 0
        _top_up(flags, np.minimum(extra, len(tail)), c, missing, rng)
        vocab = [*top, *tail]
        if c["sort_numeric"]:
            order_key = np.array([int(v) if _is_int(v) else 2**62 for v in vocab], dtype=np.int64)
        else:
            order_key = np.arange(len(vocab), dtype=np.int64)
        tail_p = np.asarray(c["tail_counts"], dtype=float)
        if len(vocab) > _DENSE_LIST_VOCAB:
            out = _join_sparse(flags, extra, tail_p, vocab, order_key, rng)
        else:
            present = np.zeros((n, len(vocab)), bool)
            present[:, : len(top)] = flags
            rows = np.flatnonzero(extra)
            if len(tail) and len(rows):
                present[rows, len(top) :] = _distinct_draws(tail_p, extra[rows], rng)
            out = _join_dense(present, vocab, order_key)
        out[missing] = None
        return out

    # -- state -----------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {
            "max_categories": self.max_categories,
            "min_frequency": self.min_frequency,
            "list_top_k": self.list_top_k,
            "columns": self._check(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TableEncoder:
        enc = cls(max_categories=state["max_categories"], min_frequency=state["min_frequency"], list_top_k=state["list_top_k"])
        enc.columns_ = state["columns"]
        return enc


def _decimals(values: np.ndarray) -> int:
    for d in range(1, 7):
        if np.allclose(np.round(values[:5000], d), values[:5000]):
            return d
    return 6


def _is_int(value: Any) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True


def _typed_array(values: list[Any]) -> np.ndarray | None:
    """``values`` as an int64 or float64 array when they are all Python ints (bools
    excluded) or all floats; None otherwise (strings, mixed types, huge ints)."""
    kinds = {type(v) for v in values}
    if kinds == {int}:
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            return None
    if kinds == {float}:
        return np.array(values, dtype=np.float64)
    return None


def _top_up(flags: np.ndarray, tail_draws: np.ndarray, c: dict[str, Any], missing: np.ndarray, rng: np.random.Generator) -> None:
    """Switch on unflagged top items, in place, in rows whose flagged items plus the
    tail draws they can get fall short of the shortest real list (a column whose
    items are all top items has no tail to fill a row the model left empty). The
    added items are a draw without replacement weighted by the items' real counts
    (uniform for models saved before the counts were kept)."""
    min_len = c.get("min_len", 0)
    have = flags.sum(axis=1) + tail_draws
    rows = np.flatnonzero((have < min_len) & ~missing)
    if not len(rows) or not flags.shape[1]:
        return
    counts = np.asarray(c.get("top_counts") or np.ones(flags.shape[1]), dtype=float)
    flags[rows] |= _distinct_draws(counts, min_len - have[rows], rng, exclude=flags[rows])


def _distinct_draws(counts: np.ndarray, k: np.ndarray, rng: np.random.Generator, *, exclude: np.ndarray | None = None) -> np.ndarray:
    """(rows, items) mask of ``k[row]`` distinct items per row, drawn without
    replacement with weights ``counts``, never an ``exclude``d one (Gumbel-top-k: the
    k largest of log weight + Gumbel noise)."""
    keys = np.log(counts) + rng.gumbel(size=(len(k), len(counts)))
    if exclude is not None:
        keys[exclude] = -np.inf
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    return rank < k[:, None]


def _split_lists(s: pd.Series) -> list[list[str] | None]:
    return [split_items(v) for v in s.to_numpy(dtype=object)]


def _join_dense(present: np.ndarray, vocab: list[str], order_key: np.ndarray) -> np.ndarray:
    """Caret-joined strings from a (rows x vocabulary) presence matrix.

    Rows holding the same set of items share one string: the sets are packed
    into bytes and made unique, so Python joins once per distinct list (a few
    thousand on ad logs) rather than once per row.
    """
    if not vocab or not len(present):
        return np.full(len(present), "", dtype=object)
    order = np.argsort(order_key, kind="stable")
    words = np.array(vocab, dtype=object)[order]
    packed = np.ascontiguousarray(np.packbits(present[:, order], axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    uniq, inverse = np.unique(keys, return_inverse=True)
    bits = np.unpackbits(uniq.view(np.uint8).reshape(len(uniq), -1), axis=1, count=len(vocab)).astype(bool)
    strings = np.array([LIST_SEPARATOR.join(words[b]) for b in bits], dtype=object)
    return strings[inverse.ravel()]


def _join_sparse(
    flags: np.ndarray, extra: np.ndarray, tail_p: np.ndarray, vocab: list[str], order_key: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The long-vocabulary path: (row, item) pairs in polars, tail items drawn with
    replacement (twice as many as needed, duplicates dropped)."""
    import polars as pl

    n, n_top = flags.shape
    r_top, c_top = np.nonzero(flags)
    if len(tail_p) and extra.sum():
        r_tail = np.repeat(np.arange(n), 2 * extra)
        code_tail = n_top + rng.choice(len(tail_p), size=len(r_tail), p=tail_p / tail_p.sum())
    else:
        r_tail, code_tail = np.zeros(0, np.int64), np.zeros(0, np.int64)
    codes = np.concatenate([c_top, code_tail]).astype(np.int64)
    long = pl.DataFrame(
        {
            "row": np.concatenate([r_top, r_tail]).astype(np.int64),
            "code": codes,
            "is_tail": np.r_[np.zeros(len(r_top), bool), np.ones(len(r_tail), bool)],
            "key": order_key[codes] if len(codes) else np.zeros(0, np.int64),
            "pos": np.arange(len(codes)),
        }
    )
    long = long.unique(subset=["row", "code"], keep="first", maintain_order=True)
    long = long.with_columns(
        k=pl.col("is_tail").cast(pl.Int64).cum_sum().over("row"),
        budget=pl.Series(extra[long["row"].to_numpy()]),
    ).filter(~pl.col("is_tail") | (pl.col("k") <= pl.col("budget")))
    long = long.sort(["row", "key", "pos"]).with_columns(
        item=pl.col("code").replace_strict(list(range(len(vocab))), vocab, return_dtype=pl.String)
    )
    joined = long.group_by("row", maintain_order=True).agg(pl.col("item").str.join(LIST_SEPARATOR))
    out = np.full(n, "", dtype=object)
    out[joined["row"].to_numpy()] = np.array(joined["item"].to_list(), dtype=object)
    return out
