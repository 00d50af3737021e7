"""Caret-separated list columns (``ad_click_list_v001``, ``communication_onlinerate``).

Every place that reads a list cell goes through the helpers here, so one rule
holds everywhere: a missing cell (None / NaN) has no list, an empty string is
the empty list, anything else is its items split at :data:`LIST_SEPARATOR`.

A list column stays available as raw text for generators that model lists; for
models it becomes features: its length, its number of distinct items, its most
frequent item and a multi-hot of the ``top_k`` items most common in the data
the featurizer was fitted on (so synthetic and real rows share one vocabulary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from clicksynth._frame import to_polars
from clicksynth.exceptions import DataError, NotFittedError
from clicksynth.schema import LIST_SEPARATOR

__all__ = ["ListFeaturizer", "explode_items", "item_counts", "list_lengths", "parse_list", "split_items", "split_text"]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def split_items(value: object) -> list[str] | None:
    """One cell's items: None when missing, [] for '', else the caret-separated items."""
    if _missing(value):
        return None
    text = str(value)
    return text.split(LIST_SEPARATOR) if text else []


def explode_items(s: pd.Series) -> pd.Series:
    """Every item of every row that has a list, indexed by the row's position
    (0 .. len(s) - 1); missing and empty cells contribute nothing."""
    text = s.to_numpy(dtype=object)
    present = np.flatnonzero([not _missing(v) and str(v) != "" for v in text])
    items = pd.Series([str(v) for v in text[present]], index=present, dtype=object).str.split(LIST_SEPARATOR).explode()
    return items


def list_lengths(s: pd.Series) -> pd.Series:
    """Items per row (NaN where the cell is missing)."""
    # Integer dtype where no cell is missing, as the lengths are counts.
    return pd.Series([np.nan if (v := split_items(x)) is None else len(v) for x in s.to_numpy(dtype=object)], index=s.index)


def split_text(text: pl.Expr | pl.Series, separator: str = LIST_SEPARATOR) -> pl.Expr:
    """Polars: a string expression as a list of items ('' -> empty list, null stays null)."""
    return pl.when(text.str.len_chars() == 0).then(pl.lit([], dtype=pl.List(pl.String))).otherwise(text.str.split(separator))


def parse_list(column: str, separator: str = LIST_SEPARATOR) -> pl.Expr:
    """Expression turning a caret-joined string column into a list of items ('' -> empty list)."""
    return split_text(pl.col(column).cast(pl.String), separator).alias(column)


def item_counts(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """Item frequencies of a list column, most common first (ties by item)."""
    return (
        frame.select(parse_list(column))
        .explode(column)
        .drop_nulls()
        .group_by(column)
        .len()
        .sort(["len", column], descending=[True, False])
        .rename({column: "item", "len": "count"})
    )


@dataclass
class ListFeaturizer:
    """Fit the top items per list column on one frame, derive features on any frame.

    Parameters
    ----------
    top_k
        Number of most frequent items per column that get a 0/1 indicator.
    keep_raw
        Keep the raw caret-joined column beside the features.
    """

    top_k: int = 10
    keep_raw: bool = True
    top_items_: dict[str, list[str]] = field(default_factory=dict, init=False)

    def fit(self, frame: Any, columns: Sequence[str]) -> ListFeaturizer:
        df = to_polars(frame)
        self.top_items_ = {}
        for c in columns:
            if c not in df.columns:
                raise DataError(f"list column {c!r} not in frame")
            counts = item_counts(df, c)
            self.top_items_[c] = [str(v) for v in counts["item"].head(self.top_k).to_list()]
        return self

    def transform(self, frame: Any) -> pl.DataFrame:
        if not self.top_items_ and self.top_k:
            raise NotFittedError("ListFeaturizer is not fitted; call fit(frame, columns) first")
        df = to_polars(frame)
        exprs: list[pl.Expr] = []
        for c, items in self.top_items_.items():
            lst = parse_list(c)
            exprs += [
                lst.list.len().cast(pl.Int32).alias(f"{c}__len"),
                lst.list.n_unique().cast(pl.Int32).alias(f"{c}__nunique"),
                # Most frequent item of the row; ties go to the smallest item so the
                # feature is deterministic.
                lst.list.eval(pl.element().mode().sort().first()).list.first().alias(f"{c}__top"),
            ]
            exprs += [lst.list.contains(item).cast(pl.Int8).alias(f"{c}__has_{item}") for item in items]
        out = df.with_columns(exprs)
        if not self.keep_raw:
            out = out.drop(list(self.top_items_))
        return out

    def fit_transform(self, frame: Any, columns: Sequence[str]) -> pl.DataFrame:
        return self.fit(frame, columns).transform(frame)

    def feature_kinds(self) -> dict[str, str]:
        """Schema kinds of the derived columns."""
        kinds: dict[str, str] = {}
        for c, items in self.top_items_.items():
            kinds[f"{c}__len"] = "numeric"
            kinds[f"{c}__nunique"] = "numeric"
            kinds[f"{c}__top"] = "categorical"
            kinds.update({f"{c}__has_{item}": "categorical" for item in items})
        return kinds
