"""Categorical columns that determine one another, fused into one column of their value tuples.

A generator that models an ad id, its advertiser and its app category as separate columns has
to learn that each id has one advertiser; one that draws them independently (ARF within a
leaf) or through a smooth map (ForestFlow's regression trees on scaled codes) writes rows that
pair one ad with another's attributes. Fusing each group of dependent columns
(``generators/_dependence.py``) into one categorical column of the tuples seen in training
makes every generated tuple a real one: the generator models one column, the inverse splits it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from clicksynth.generators._dependence import dependence_groups, value_codes
from clicksynth.schema import Column, Schema

__all__ = ["JointColumns"]


@dataclass
class JointColumns:
    """The fused groups (column names, in table order) and each group's tuples (row i: code i)."""

    groups: list[list[str]] = field(default_factory=list)
    tables: list[pd.DataFrame] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # the fused columns' names
    order: list[str] = field(default_factory=list)  # the original columns, in order

    @classmethod
    def fit_transform(
        cls, X: pd.DataFrame, schema: Schema, *, threshold: float | None, rng: np.random.Generator | None = None
    ) -> tuple[JointColumns, pd.DataFrame, Schema]:
        """Find the groups among ``X``'s categorical columns and fuse them; ``threshold=None``
        fuses nothing (the identity)."""
        joint = cls(order=list(X.columns))
        cats = [c for c in schema.of_kind("categorical") if c in X.columns]
        if threshold is None or len(cats) < 2:
            return joint, X, schema
        codes = value_codes(X, cats)
        group_of = dependence_groups(codes, cats, threshold=threshold, rng=rng)
        out, taken = X, set(X.columns)
        for g in range(int(group_of.max()) + 1):
            cols = [c for c, k in zip(cats, group_of) if k == g]
            if len(cols) < 2:
                continue
            tuple_code, first = _tuples(X[cols])
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


def _tuples(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Code of every row's tuple (0.. in order of first appearance; missing values are values)
    and the first row of each tuple."""
    codes = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy(np.int64)
    _, first = np.unique(codes, return_index=True)
    return codes, first
