"""Categorical columns that determine one another, fused into one column of their value tuples.

A generator that models an ad id, its advertiser and its app category as separate columns has
to learn that each id has one advertiser; one that draws them independently (ARF within a
leaf) or through a smooth map (ForestFlow's regression trees on scaled codes) writes rows that
pair one ad with another's attributes. Fusing each group of dependent columns
(``generators/_dependence.py``) into one categorical column of the tuples seen in training
makes every generated tuple a real one: the generator models one column, the inverse splits it.
A list column of few distinct lists (online hours as ``2^3^...^23``) can likewise be one
categorical column of its whole lists (a group of one): every generated list is then a real one,
where item flags drawn through a smooth map combine into lists no row has.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from clicksynth.generators._dependence import dependence_groups, value_codes
from clicksynth.schema import Column, Schema

__all__ = ["WHOLE_LIST_VALUES", "JointColumns", "whole_list_columns"]

WHOLE_LIST_VALUES = 256  # commonest lists that must cover the share asked for, for a column of whole lists (sequence models)


def whole_list_columns(X: pd.DataFrame, schema: Schema, max_values: int, coverage: float | None) -> list[str]:
    """The list columns whose ``max_values`` commonest lists cover at least ``coverage`` of the
    rows (a missing list is a value); ``coverage=None``: none."""
    if coverage is None:
        return []
    out = []
    for c in schema.of_kind("list"):
        if c in X.columns and len(X):
            counts = X[c].value_counts(dropna=False, sort=True).to_numpy()
            if counts[:max_values].sum() >= coverage * len(X):
                out.append(c)
    return out


@dataclass
class JointColumns:
    """The fused groups (column names, in table order) and each group's tuples (row i: code i)."""

    groups: list[list[str]] = field(default_factory=list)
    tables: list[pd.DataFrame] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # the fused columns' names
    order: list[str] = field(default_factory=list)  # the original columns, in order

    @classmethod
    def fit_transform(
        cls,
        X: pd.DataFrame,
        schema: Schema,
        *,
        threshold: float | None,
        whole: list[str] | None = None,
        rng: np.random.Generator | None = None,
    ) -> tuple[JointColumns, pd.DataFrame, Schema]:
        """Find the groups among ``X``'s categorical columns and fuse them, and make each column
        of ``whole`` (list columns) one categorical of its whole values; ``threshold=None`` and
        no ``whole`` fuse nothing (the identity)."""
        joint = cls(order=list(X.columns))
        cats = [c for c in schema.of_kind("categorical") if c in X.columns]
        groups: list[list[str]] = []
        if threshold is not None and len(cats) >= 2:
            group_of = dependence_groups(value_codes(X, cats), cats, threshold=threshold, rng=rng)
            groups = [[c for c, k in zip(cats, group_of) if k == g] for g in range(int(group_of.max()) + 1)]
            groups = [cols for cols in groups if len(cols) >= 2]
        groups += [[c] for c in whole or [] if c in X.columns]
        out, taken = X, set(X.columns)
        for cols in groups:
            tuple_code, first = _tuples(X[cols])
            taken -= set(cols)  # a whole-list column keeps its name
            name = "+".join(cols)
            while name in taken:
                name += "_"
            taken.add(name)
            joint.groups.append(cols)
            joint.tables.append(X[cols].iloc[first].reset_index(drop=True))
            joint.names.append(name)
            out = out.drop(columns=cols).assign(**{name: tuple_code})
        if not joint.groups:
            return joint, X, schema
        gone = {c for g in joint.groups for c in g}
        fused = [Column(name, "categorical", dtype="Int64", n_unique=len(t)) for name, t in zip(joint.names, joint.tables)]
        return joint, out, replace(schema, columns=tuple(c for c in schema.columns if c.name not in gone) + tuple(fused))

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Rows of the original columns -> the fused columns' codes (a tuple not seen in
        training: missing), the other columns as they are."""
        if not self.groups:
            return X
        out = X
        for cols, name, table in zip(self.groups, self.names, self.tables):
            codes = pd.Index(_keys(table)).get_indexer(_keys(X[cols]))
            out = out.drop(columns=cols).assign(**{name: pd.array(np.where(codes >= 0, codes, -1), dtype="Int64")})
            out.loc[codes < 0, name] = pd.NA
        return out

    def inverse_transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """The original columns back, in their original order; every fused tuple a training one."""
        if not self.groups:
            return X
        parts = {c: X[c] for c in X.columns if c not in self.names}
        for name, table in zip(self.names, self.tables):
            rows = table.iloc[X[name].to_numpy(np.int64)].reset_index(drop=True)
            rows.index = X.index
            parts.update({c: rows[c] for c in table.columns})
        return pd.DataFrame({c: parts[c] for c in self.order if c in parts}, index=X.index)

    def get_meta(self) -> dict[str, Any]:
        """JSON part of the state (the tuples go in :meth:`get_frames`)."""
        return {"groups": self.groups, "names": self.names, "order": self.order}

    def get_frames(self) -> dict[str, pd.DataFrame]:
        return {f"joint{i}": t for i, t in enumerate(self.tables)}

    @classmethod
    def from_state(cls, meta: dict[str, Any] | None, frames: dict[str, pd.DataFrame]) -> JointColumns:
        if not meta:
            return cls()
        tables = [frames[f"joint{i}"] for i in range(len(meta["groups"]))]
        return cls([list(g) for g in meta["groups"]], tables, list(meta["names"]), list(meta["order"]))


def _keys(frame: pd.DataFrame) -> np.ndarray:
    """One string per row of its values (a missing value spelled apart from any string)."""
    parts = [frame[c].astype(object).map(lambda v: "\x00" if pd.isna(v) else str(v)) for c in frame.columns]
    return np.asarray(parts[0].str.cat(parts[1:], sep="\x1f") if len(parts) > 1 else parts[0], dtype=object)


def _tuples(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Code of every row's tuple (0.. in order of first appearance; missing values are values)
    and the first row of each tuple."""
    codes = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy(np.int64)
    _, first = np.unique(codes, return_index=True)
    return codes, first
