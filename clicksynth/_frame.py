"""Conversions between the two frame libraries the package speaks.

Polars does the heavy I/O and preparation; generators, metrics and models take
pandas (the lingua franca of scikit-learn). Public functions accept either.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from clicksynth.exceptions import DataError

FrameLike = pd.DataFrame | pl.DataFrame

__all__ = ["FrameLike", "as_float", "first_true", "int_bounds", "is_string_like", "to_pandas", "to_polars"]


def to_pandas(frame: Any, *, what: str = "data") -> pd.DataFrame:
    """Return ``frame`` as a pandas DataFrame (no copy when it already is one)."""
    if isinstance(frame, pd.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if isinstance(frame, pl.DataFrame):
        # Plain numpy-backed columns: Arrow-backed extension dtypes would leak
        # into every downstream numpy operation.
        return frame.to_pandas()
    raise DataError(f"{what} must be a pandas or polars DataFrame, got {type(frame).__name__}")


def to_polars(frame: Any, *, what: str = "data") -> pl.DataFrame:
    """Return ``frame`` as a polars DataFrame (no copy when it already is one)."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if isinstance(frame, pd.DataFrame):
        return pl.from_pandas(frame)
    raise DataError(f"{what} must be a pandas or polars DataFrame, got {type(frame).__name__}")


def is_string_like(series: pd.Series) -> bool:
    """True for object/str columns whose non-null values are strings."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return False
    if pd.api.types.is_string_dtype(series.dtype):
        return True
    if series.dtype == object:
        values = series.dropna()
        return len(values) > 0 and isinstance(values.iloc[0], str)
    return False


def as_float(values: Any) -> np.ndarray:
    """Float64 numpy array with NaN for missing values."""
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def first_true(mask: pl.Series) -> int:
    """Position of the first True in a boolean series that has one."""
    pos = mask.arg_max()
    assert pos is not None, "first_true needs a non-empty mask"
    return int(pos)


def int_bounds(col: pl.Series) -> tuple[int, int]:
    """(min, max) of a non-empty integer series without nulls."""
    lo, hi = col.min(), col.max()
    assert isinstance(lo, int) and isinstance(hi, int)
    return lo, hi
