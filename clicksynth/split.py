"""Leakage-free splits: stratified by click, grouped by user.

If one user's impressions land in both train and test, a model (or a
memorising generator) is rewarded for recognising the user, and privacy
attacks that compare train with holdout lose their meaning. So when a user
column exists, whole users are assigned to a split.

Assignment is vectorised: within each stratum (users with at least one click,
users without) the groups are shuffled and cut where their cumulative weight
crosses the split fractions. Clicking users are weighted by clicks, the rest by
rows, so both the click rate and the row shares follow the requested fractions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import polars as pl

from clicksynth.exceptions import ConfigError, DataError
from clicksynth.schema import suggest, validate_target
from clicksynth.seeding import RandomState, make_rng

__all__ = ["assign_splits", "split_frame", "subsample"]

F = TypeVar("F", pd.DataFrame, pl.DataFrame)


def assign_splits(
    y: np.ndarray,
    fractions: Sequence[float],
    *,
    groups: np.ndarray | None = None,
    random_state: RandomState = 0,
) -> np.ndarray:
    """Split index (0..k-1) for every row.

    Parameters
    ----------
    y
        0/1 labels per row.
    fractions
        Share of rows per split; must be positive and sum to 1.
    groups
        Group key per row (a user id); rows of one group share a split.
    """
    fr = np.asarray(fractions, dtype=float)
    if fr.ndim != 1 or np.any(fr <= 0) or not np.isclose(fr.sum(), 1.0):  # () sums to 0
        raise ConfigError(f"split fractions must be positive and sum to 1, got {list(fractions)}")
    rng = make_rng(random_state)
    y = np.asarray(y).astype(np.int64)
    if groups is None:
        group_idx = np.arange(len(y))
    else:
        _, group_idx = np.unique(np.asarray(groups), return_inverse=True)
    rows = np.bincount(group_idx)  # np.unique's codes run 0..groups-1: one count per group
    pos = np.bincount(group_idx, weights=y)
    bounds = np.cumsum(fr)[:-1]
    group_split = np.empty(len(rows), dtype=np.int64)
    for stratum, weight in ((pos > 0, pos), (pos == 0, rows)):
        members = np.flatnonzero(stratum)
        if len(members) == 0:
            continue
        members = members[rng.permutation(len(members))]
        w = weight[members].astype(float)
        # The midpoint of each group's weight interval decides its split, so a
        # heavy group straddling a boundary goes where most of it belongs.
        centre = (np.cumsum(w) - w / 2) / w.sum()
        group_split[members] = np.searchsorted(bounds, centre, side="right")
    return group_split[group_idx]


def _take(frame: F, mask: np.ndarray) -> F:
    if isinstance(frame, pl.DataFrame):
        return frame.filter(pl.Series(mask))
    return frame.loc[mask].reset_index(drop=True)


def _column(frame: Any, name: str) -> np.ndarray:
    if name not in frame.columns:
        raise DataError(f"column {name!r} not found{suggest(name, list(frame.columns))}")
    col = frame[name]
    return col.to_numpy()


def split_frame(
    frame: F,
    *,
    target: str,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    user_column: str | None = None,
    random_state: RandomState = 0,
) -> list[F]:
    """Split a frame into ``len(fractions)`` parts (default train / holdout / test).

    Stratified on ``target``; when ``user_column`` is given no user appears in
    two parts. Returns frames of the input's type.
    """
    validate_target(frame, target)
    y = _column(frame, target)
    labels = (y == 1).astype(np.int64)  # a click is 1 (True == 1 too: boolean labels)
    groups = _column(frame, user_column) if user_column else None
    assignment = assign_splits(labels, fractions, groups=groups, random_state=random_state)
    parts = [_take(frame, assignment == k) for k in range(len(fractions))]
    for k, part in enumerate(parts):
        if len(part) == 0:
            raise DataError(
                f"split {k} of {list(fractions)} is empty: the data has too few "
                f"{'users' if user_column else 'rows'} ({len(frame)} rows); give more data or fewer splits"
            )
    return parts


def subsample(
    frame: F,
    n_rows: int,
    *,
    target: str,
    user_column: str | None = None,
    random_state: RandomState = 0,
) -> F:
    """About ``n_rows`` rows, keeping the click rate and whole users."""
    if n_rows <= 0:
        raise ConfigError(f"n_rows must be positive, got {n_rows}")
    if n_rows >= len(frame):
        return frame
    frac = n_rows / len(frame)
    return split_frame(frame, target=target, fractions=(frac, 1 - frac), user_column=user_column, random_state=random_state)[0]
