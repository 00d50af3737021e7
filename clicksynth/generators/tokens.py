"""Rows as token sequences, for sequence models (the tabular GPTs of the studies).

A row with label y becomes::

    <ROW> <y=1> <col:a> v_a <col:b> v_b <col:tags> <LIST> i_1 i_2 ... </LIST> ... </ROW>

* the label first, so a model conditions every column on it and ``sample({1: n})``
  only fixes the second token;
* a column token before every value (the studies' ``<COL>`` markers): the model
  always knows which column it is writing, even after lists of any length;
* a categorical value is one token per (column, value); values seen fewer than
  ``min_frequency`` times share the column's ``other`` token and are drawn back,
  as real values, from their training frequencies when decoded;
* a numeric (or datetime, in minutes) value is one of ``numeric_bins`` quantile-bin
  tokens of its column, decoded to a training value of that bin;
* a list is ``<LIST>``, one token per item in the row's order, ``</LIST>``; rare
  items share an ``other item`` token like rare categories;
* a missing value is the column's ``null`` token; ID columns are not tokenised
  (decoding issues fresh keys, as ``generators/_encoding.py`` does).

:meth:`RowTokenizer.grammar` gives, for each position kind, the tokens allowed
there, so a decoder can mask its logits and every sampled sequence parses.
The state is JSON and numeric arrays (no pickle), saved with the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clicksynth.exceptions import DataError, NotFittedError
from clicksynth.generators._encoding import _from_minutes, _minutes, _py, _split_lists
from clicksynth.schema import LIST_SEPARATOR, Schema

__all__ = ["SPECIALS", "ColumnTokens", "RowTokenizer"]

#: Token ids 0..4; the labels follow (5 = label 0, 6 = label 1), then the columns' tokens.
SPECIALS = ("<PAD>", "<ROW>", "</ROW>", "<LIST>", "</LIST>")
PAD, ROW, END, LIST, END_LIST = range(len(SPECIALS))
LABEL0 = len(SPECIALS)
_MAX_BIN_VALUES = 256  # training values kept per numeric bin for decoding


@dataclass
class ColumnTokens:
    """Where one column's tokens sit in the vocabulary."""

    name: str
    kind: str  # categorical | numeric | datetime | list
    marker: int  # the <col:name> token
    first: int  # first value (or item) token
    count: int  # value (or item) tokens, ``other`` and ``null`` included

    @property
    def values(self) -> range:
        return range(self.first, self.first + self.count)


class RowTokenizer:
    """Fit on real rows, then tokenise and detokenise rows of the same schema.

    Parameters
    ----------
    numeric_bins
        Quantile bins per numeric or datetime column.
    min_frequency
        Categories and list items seen fewer times share an ``other`` token.
    """

    def __init__(self, *, numeric_bins: int = 32, min_frequency: int = 1) -> None:
        if numeric_bins < 1 or min_frequency < 1:
            raise DataError(f"numeric_bins and min_frequency must be at least 1, got {numeric_bins} and {min_frequency}")
        self.numeric_bins = numeric_bins
        self.min_frequency = min_frequency
        self.columns_: list[dict[str, Any]] | None = None

    # -- fitting -----------------------------------------------------------------
    def fit(self, X: pd.DataFrame, schema: Schema, rng: np.random.Generator) -> RowTokenizer:
        cols: list[dict[str, Any]] = []
        for name in X.columns:
            kind = schema[name].kind if name in schema else "categorical"
            if kind == "id":
                num = pd.to_numeric(X[name], errors="coerce")
                cols.append({"name": name, "kind": "id", "start": int(num.max()) + 1 if num.notna().all() else None})
            elif kind in ("numeric", "datetime"):
                cols.append(self._fit_numeric(name, kind, X[name], schema[name].fmt if kind == "datetime" else None, rng))
            elif kind == "categorical":
                counts = X[name].value_counts(dropna=True)
                cols.append({"name": name, "kind": kind, **self._pool(counts), "has_null": bool(X[name].isna().any())})
            elif kind == "list":
                lists = _split_lists(X[name])
                counts = pd.Series([i for r in lists if r is not None for i in r], dtype=object).value_counts()
                cols.append({"name": name, "kind": kind, **self._pool(counts), "has_null": any(r is None for r in lists)})
            else:
                raise DataError(f"column {name!r} of kind {kind!r} cannot be tokenised; drop it from the features")
        self.columns_ = cols
        return self

    def _pool(self, counts: pd.Series) -> dict[str, Any]:
        keep = counts[counts >= self.min_frequency]
        tail = counts.drop(keep.index)
        return {"values": _py(keep.index), "tail_values": _py(tail.index), "tail_counts": _py(tail.to_numpy())}

    def _fit_numeric(self, name: str, kind: str, s: pd.Series, fmt: str | None, rng: np.random.Generator) -> dict[str, Any]:
        v = _minutes(s, fmt) if kind == "datetime" else pd.to_numeric(s, errors="coerce").to_numpy(float, na_value=np.nan)
        ok = np.sort(v[~np.isnan(v)])
        if len(ok) == 0:
            raise DataError(f"numeric column {name!r} has no values; drop it or mark it categorical")
        edges = np.unique(np.quantile(ok, np.linspace(0, 1, self.numeric_bins + 1)))
        inner = edges[1:-1]
        bins = np.searchsorted(inner, ok, side="right")
        # Each bin keeps up to _MAX_BIN_VALUES of its training values (evenly spread) to decode to.
        kept = []
        for b in range(len(inner) + 1):
            members = ok[bins == b]
            if len(members) > _MAX_BIN_VALUES:
                members = members[np.linspace(0, len(members) - 1, _MAX_BIN_VALUES).astype(np.int64)]
            kept.append(_py(members))
        return {"name": name, "kind": kind, "fmt": fmt, "inner_edges": _py(inner), "bin_values": kept, "has_null": bool(np.isnan(v).any())}

    # -- vocabulary --------------------------------------------------------------
    def _check(self) -> list[dict[str, Any]]:
        if self.columns_ is None:
            raise NotFittedError("RowTokenizer is not fitted")
        return self.columns_

    @property
    def layout(self) -> list[ColumnTokens]:
        """Token ranges of the modelled columns, in sequence order."""
        out, at = [], LABEL0 + 2
        for c in self._check():
            if c["kind"] == "id":
                continue
            # Bins, or values and ``other``; then ``null``.
            count = (len(c["inner_edges"]) + 1 if c["kind"] in ("numeric", "datetime") else len(c["values"]) + 1) + 1
            out.append(ColumnTokens(c["name"], c["kind"], at, at + 1, count))
            at += 1 + count
        return out

    @property
    def vocab_size(self) -> int:
        lay = self.layout
        return lay[-1].first + lay[-1].count if lay else LABEL0 + 2

    def grammar(self) -> list[tuple[int, ColumnTokens]]:
        """The sequence's fixed skeleton: ``(marker, column)`` per column, in order. After a
        marker comes one of the column's value tokens, or for a list ``<LIST>``, any number of
        its item tokens (``other`` included, ``null`` excluded) and ``</LIST>``, or ``null``."""
        return [(col.marker, col) for col in self.layout]

    # -- encode ------------------------------------------------------------------
    def transform(self, X: pd.DataFrame, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Token ids (rows x longest sequence, ``<PAD>``-filled) and each row's length."""
        cols = {c["name"]: c for c in self._check()}
        n = len(X)
        pieces: list[list[np.ndarray]] = [[np.full(n, ROW), LABEL0 + np.asarray(y, dtype=np.int64)]]
        list_parts: dict[int, list[list[int]]] = {}
        for col in self.layout:
            c = cols[col.name]
            pieces.append([np.full(n, col.marker)])
            null = col.first + col.count - 1
            if col.kind == "list":
                items = {v: col.first + i for i, v in enumerate(c["values"])}
                other = col.first + len(c["values"])
                rows = []
                for r in _split_lists(X[col.name]):
                    rows.append([null] if r is None else [LIST, *(items.get(i, other) for i in r), END_LIST])
                list_parts[len(pieces)] = rows
                pieces.append([])
            elif col.kind == "categorical":
                codes = {v: col.first + i for i, v in enumerate(c["values"])}
                other = col.first + len(c["values"])
                s = X[col.name]
                tok = np.array([codes.get(_key(v), other) for v in s.to_numpy(dtype=object)], dtype=np.int64)
                tok[s.isna().to_numpy()] = null
                pieces.append([tok])
            else:
                v = (
                    _minutes(X[col.name], c["fmt"])
                    if col.kind == "datetime"
                    else pd.to_numeric(X[col.name], errors="coerce").to_numpy(float)
                )
                tok = col.first + np.searchsorted(np.asarray(c["inner_edges"], float), v, side="right")
                tok[np.isnan(v)] = null
                pieces.append([tok])
        pieces.append([np.full(n, END)])
        seqs = []
        for i in range(n):
            row: list[int] = []
            for k, part in enumerate(pieces):
                if k in list_parts:
                    row += list_parts[k][i]
                else:
                    row += [int(p[i]) for p in part]
            seqs.append(row)
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        out = np.full((n, int(lengths.max(initial=0))), PAD, dtype=np.int64)
        for i, s in enumerate(seqs):
            out[i, : len(s)] = s
        return out, lengths

    # -- decode ------------------------------------------------------------------
    def inverse_transform(self, tokens: np.ndarray, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
        """Rows and labels from well-formed sequences (as :meth:`transform` writes them,
        or a grammar-constrained decoder samples them); a malformed one is a DataError."""
        cols = self._check()
        n = len(tokens)
        labels = tokens[:, 1] - LABEL0 if n else np.zeros(0, np.int64)
        if n and ((tokens[:, 0] != ROW).any() or ((labels != 0) & (labels != 1)).any()):
            raise DataError("token sequences must start with <ROW> and a label token")
        raw: dict[str, list[Any]] = {}
        pos = np.full(n, 2)
        rows = np.arange(n)
        for col in self.layout:
            if (tokens[rows, pos] != col.marker).any():
                raise DataError(f"token sequences lost their place before column {col.name!r}")
            pos += 1
            tok = tokens[rows, pos]
            if col.kind == "list":
                raw[col.name] = []
                for i in range(n):
                    p = pos[i]
                    if tokens[i, p] == LIST:
                        end = p + 1 + int(np.argmax(tokens[i, p + 1 :] == END_LIST))
                        if tokens[i, end] != END_LIST:
                            raise DataError(f"a list of column {col.name!r} is not closed")
                        items = tokens[i, p + 1 : end] - col.first
                        if ((items < 0) | (items >= col.count - 1)).any():  # null is no item
                            raise DataError(f"an item token of list column {col.name!r} is out of its range")
                        raw[col.name].append(items)
                        pos[i] = end + 1
                    else:
                        raw[col.name].append(None)
                        pos[i] = p + 1
            else:
                if ((tok < col.first) | (tok >= col.first + col.count)).any():
                    raise DataError(f"a value token of column {col.name!r} is out of its range")
                raw[col.name] = list(tok - col.first)
                pos += 1
        out: dict[str, Any] = {}
        for c in cols:
            if c["kind"] == "id":
                out[c["name"]] = np.arange(c["start"], c["start"] + n) if c["start"] is not None else [f"syn{i:08d}" for i in range(n)]
            elif c["kind"] == "list":
                out[c["name"]] = self._decode_lists(c, raw[c["name"]], rng)
            elif c["kind"] == "categorical":
                out[c["name"]] = self._decode_values(c, np.asarray(raw[c["name"]], np.int64), rng)
            else:
                out[c["name"]] = self._decode_numeric(c, np.asarray(raw[c["name"]], np.int64), rng)
        return pd.DataFrame(out, columns=[c["name"] for c in cols]), labels

    @staticmethod
    def _draw_tail(c: dict[str, Any], k: int, rng: np.random.Generator) -> np.ndarray:
        p = np.asarray(c["tail_counts"], float)
        return np.asarray(c["tail_values"], dtype=object)[rng.choice(len(p), size=k, p=p / p.sum())]

    def _decode_values(self, c: dict[str, Any], codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        known = len(c["values"])
        out = np.empty(len(codes), dtype=object)
        seen = codes < known
        out[seen] = np.asarray(c["values"], dtype=object)[codes[seen]]
        other = codes == known
        if other.any():
            out[other] = self._draw_tail(c, int(other.sum()), rng) if c["tail_values"] else None
        out[codes > known] = None
        return out

    def _decode_lists(self, c: dict[str, Any], rows: list[np.ndarray | None], rng: np.random.Generator) -> np.ndarray:
        out = np.empty(len(rows), dtype=object)
        for i, codes in enumerate(rows):
            if codes is None:
                out[i] = None
                continue
            codes = np.asarray(codes, np.int64)
            items = np.empty(len(codes), dtype=object)
            known = codes < len(c["values"])
            items[known] = np.asarray(c["values"], dtype=object)[codes[known]]
            rare = np.flatnonzero(~known)
            if len(rare):  # distinct real rare items, by frequency (none of them a frequent item)
                p = np.asarray(c["tail_counts"], float)
                k = min(len(rare), len(p))
                items[rare[:k]] = np.asarray(c["tail_values"], dtype=object)[rng.choice(len(p), size=k, replace=False, p=p / p.sum())]
                items = np.delete(items, rare[k:])
            out[i] = LIST_SEPARATOR.join(str(v) for v in items)
        return out

    def _decode_numeric(self, c: dict[str, Any], codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        bins = c["bin_values"]
        null = codes >= len(bins)
        values = np.full(len(codes), np.nan)
        for b in np.unique(codes[~null]):
            at = codes == b
            values[at] = np.asarray(bins[b], float)[rng.integers(len(bins[b]), size=int(at.sum()))]
        if c["kind"] == "datetime":
            s = _from_minutes(np.where(null, 0.0, values), c["fmt"]).astype(object)
            s[null] = None
            return s
        return pd.Series(values)

    # -- state -------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"numeric_bins": self.numeric_bins, "min_frequency": self.min_frequency, "columns": self._check()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RowTokenizer:
        tok = cls(numeric_bins=state["numeric_bins"], min_frequency=state["min_frequency"])
        tok.columns_ = state["columns"]
        return tok


def _key(value: Any) -> Any:
    """A cell as the plain Python value the vocabulary holds."""
    return value.item() if isinstance(value, np.generic) else value
