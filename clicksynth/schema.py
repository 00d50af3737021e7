"""Column kinds: what each column of an ad log *means*, inferred and overridable.

Kinds
-----
numeric      floats and integer counts with many distinct values
categorical  strings, booleans and integer *codes* (``adv_id``, ``task_id``, ``city``)
list         caret-separated lists (``ad_click_list_v001``, ``communication_onlinerate``)
id           row and user keys (``log_id``, ``uid``, ``user_id``): never modelled
datetime     ``pt_d`` as YYYYMMDDHHMM / YYYYMMDD integers, or a small day index
target       the binary click label

Integer columns in ad logs are nearly always desensitised codes, so an integer
column is categorical when its name says so (``*_id``, ``*_cd``, ``city``...) or
when it has few distinct values; only wide-ranging unnamed integers are numeric.
Anything inferred wrongly is fixed with a TOML override file::

    target = "label"
    [columns]
    app_score = "numeric"
    uid = "id"
"""

from __future__ import annotations

import difflib
import tomllib
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl

from clicksynth._frame import first_true, int_bounds, to_pandas, to_polars
from clicksynth.column_names import is_categorical_name, is_datetime_name, is_id_name, is_list_name, is_user_name
from clicksynth.exceptions import ClicksynthWarning, ConfigError, DataError

Kind = Literal["numeric", "categorical", "list", "id", "datetime", "target"]
KINDS: tuple[str, ...] = ("numeric", "categorical", "list", "id", "datetime", "target")
LIST_SEPARATOR = "^"

__all__ = ["KINDS", "LIST_SEPARATOR", "Column", "Schema", "suggest", "validate_target"]

_OTHER_SEPARATORS = (",", "|", ";")
# Integer columns with at most this many distinct values are treated as codes.
MAX_CODE_CARDINALITY = 32
_PROBE_ROWS = 1_000_000


@dataclass(frozen=True)
class Column:
    """One column of a table and what it means.

    Parameters
    ----------
    name
        Column name as in the file.
    kind
        One of :data:`KINDS`.
    dtype
        The storage dtype seen at inference (polars dtype name), used to restore
        generated columns.
    n_unique
        Distinct non-null values at inference time (informative only).
    null_fraction
        Share of missing values at inference time.
    fmt
        For ``datetime``: ``"%Y%m%d%H%M"``, ``"%Y%m%d"``, ``"day_index"`` or ``"native"``.
    role
        For ``id``: ``"user"`` (groups rows, used for splits) or ``"row"``.
    """

    name: str
    kind: str
    dtype: str = ""
    n_unique: int = 0
    null_fraction: float = 0.0
    fmt: str | None = None
    role: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"column {self.name!r}: unknown kind {self.kind!r}; choose one of {', '.join(KINDS)}")


@dataclass(frozen=True)
class Schema:
    """An ordered set of :class:`Column` with at most one target.

    Build one with :meth:`Schema.infer`; serialise with :meth:`to_dict` /
    :meth:`from_dict`.
    """

    columns: tuple[Column, ...]
    target: str | None = None
    positive_label: Any = 1
    _index: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {c.name: c for c in self.columns}
        if len(index) != len(self.columns):
            raise DataError("duplicate column names in schema")
        object.__setattr__(self, "_index", index)
        if self.target is not None and self.target not in index:
            raise DataError(f"target {self.target!r} is not a column of the schema")

    # -- access ---------------------------------------------------------------
    def __getitem__(self, name: str) -> Column:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no column {name!r} in schema{suggest(name, self.names)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def of_kind(self, *kinds: str) -> list[str]:
        """Names of the columns whose kind is one of ``kinds``, in order."""
        return [c.name for c in self.columns if c.kind in kinds]

    @property
    def features(self) -> list[str]:
        """Columns a generator models: everything but ids and the target."""
        return self.of_kind("numeric", "categorical", "list", "datetime")

    @property
    def user_column(self) -> str | None:
        """The user key used for grouped splits, if any."""
        for c in self.columns:
            if c.kind == "id" and c.role == "user":
                return c.name
        return None

    def drop(self, names: Iterable[str]) -> Schema:
        gone = set(names)
        target = None if self.target in gone else self.target
        return replace(self, columns=tuple(c for c in self.columns if c.name not in gone), target=target)

    def select(self, names: Iterable[str]) -> Schema:
        keep = list(names)
        cols = tuple(self[n] for n in keep)
        target = self.target if self.target in keep else None
        return replace(self, columns=cols, target=target)

    def with_kinds(self, kinds: Mapping[str, str]) -> Schema:
        """A copy with some kinds changed (unknown names raise ConfigError)."""
        for name in kinds:
            if name not in self:
                raise ConfigError(f"override names unknown column {name!r}{suggest(name, self.names)}")
        cols = tuple(replace(c, kind=kinds[c.name]) if c.name in kinds else c for c in self.columns)
        return replace(self, columns=cols)

    # -- inference ------------------------------------------------------------
    @classmethod
    def infer(
        cls,
        frame: Any,
        target: str | None = None,
        *,
        overrides: str | Path | Mapping[str, Any] | None = None,
        user_column: str | None = None,
        source: str = "data",
    ) -> Schema:
        """Infer each column's kind.

        Parameters
        ----------
        frame
            pandas or polars DataFrame.
        target
            Name of the binary label column (validated: present, binary, no NaN,
            both classes present).
        overrides
            A TOML file path or a mapping ``{"target": ..., "user": ..., "columns": {name: kind}}``.
        user_column
            The user key (kind ``id``, used for grouped splits). Inferred from
            names such as ``uid`` / ``user_id`` when not given.
        source
            How to name the data in error messages (usually the file path).
        """
        df = to_polars(frame, what=source)
        if df.width == 0 or df.height == 0:
            raise DataError(f"{source} is empty ({df.height} rows, {df.width} columns); give a table with a header and rows")
        over = _load_overrides(overrides)
        target = over.get("target", target)
        user_column = over.get("user", user_column)
        kinds_over: dict[str, str] = dict(over.get("columns", {}))
        if user_column is not None:
            if user_column not in df.columns:
                raise ConfigError(f"user column {user_column!r} not found{suggest(user_column, df.columns)}")
            kinds_over[user_column] = "id"
        for name, kind in kinds_over.items():
            if name not in df.columns:
                raise ConfigError(f"override file names unknown column {name!r}{suggest(name, df.columns)}")
            if kind not in KINDS:
                raise ConfigError(f"override for {name!r}: unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
        positive: Any = 1
        if target is not None:
            positive = validate_target(df, target, source=source)
        n = df.height
        # Kinds depend only on small-cardinality thresholds and near-uniqueness,
        # which a strided sample decides as well as the whole column; on logs of
        # millions of rows this keeps inference well under a second.
        probe = df.gather_every(max(1, n // _PROBE_ROWS)) if n > 2 * _PROBE_ROWS else df
        scale = n / probe.height
        uniques = probe.select(pl.all().n_unique()).row(0, named=True)
        if probe is not df:
            uniques = {k: (v if v < 0.5 * probe.height else int(v * scale)) for k, v in uniques.items()}
        nulls = df.select(pl.all().null_count()).row(0, named=True)
        columns = []
        user_seen = False
        for name, dtype in df.schema.items():
            if name == target:
                kind, fmt, role = "target", None, None
            elif name in kinds_over:
                kind = kinds_over[name]
                fmt = _datetime_format(df[name]) if kind == "datetime" else None
                role = None
                if kind == "id":
                    role = "user" if name == user_column or (user_column is None and is_user_name(name)) else "row"
            else:
                kind, fmt, role = _infer_one(df[name], name, uniques[name], n)
                if role == "user" and user_column is not None:
                    role = "row"
            if kind == "list":
                _check_separators(df[name], name, source)
            if kind in ("categorical", "id") and name not in kinds_over and not is_id_name(name):
                _warn_stray_text(df[name], name, source)
            if role == "user":
                if user_seen:
                    role = "row"
                user_seen = True
            columns.append(
                Column(
                    name=name,
                    kind=kind,
                    dtype=str(dtype),
                    n_unique=int(uniques[name]),
                    null_fraction=round(nulls[name] / n, 6),
                    fmt=fmt,
                    role=role,
                )
            )
        return cls(columns=tuple(columns), target=target, positive_label=positive)

    # -- checks and splitting ---------------------------------------------------
    def validate(self, frame: Any, *, source: str = "data", require_target: bool = True) -> None:
        """Raise :class:`DataError` if ``frame`` lacks a column of this schema."""
        cols = list(frame.columns)
        needed = [c for c in self.names if c != self.target or require_target]
        missing = [c for c in needed if c not in cols]
        if missing:
            hint = suggest(missing[0], cols)
            raise DataError(f"{source} lacks column(s) {missing} expected by the schema{hint}")

    def split_xy(self, frame: Any) -> tuple[pd.DataFrame, pd.Series]:
        """Features and 0/1 target (as pandas) from a frame holding both."""
        if self.target is None:
            raise DataError("schema has no target column; pass target= when inferring it")
        df = to_pandas(frame)
        if self.target not in df.columns:
            raise DataError(f"frame lacks the target column {self.target!r}{suggest(self.target, list(df.columns))}")
        y = (df[self.target] == self.positive_label).astype(np.int8).rename(self.target)
        return df.drop(columns=[self.target]), y

    def join_xy(self, X: pd.DataFrame, y: Any) -> pd.DataFrame:
        """Inverse of :meth:`split_xy` with the target restored to its original position."""
        name = self.target or "label"
        out = X.copy()
        out[name] = np.asarray(y)
        order = [c for c in self.names if c in out.columns] + [c for c in out.columns if c not in self]
        return out[order]

    # -- serialisation ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "positive_label": _jsonable(self.positive_label),
            "columns": [asdict(c) for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        try:
            cols = tuple(Column(**c) for c in data["columns"])
            return cls(columns=cols, target=data.get("target"), positive_label=data.get("positive_label", 1))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"not a clicksynth schema: {exc}") from exc

    def summary_rows(self) -> list[dict[str, Any]]:
        """One dict per column, for tables in the CLI and the report."""
        return [
            {
                "column": c.name,
                "kind": c.kind,
                "dtype": c.dtype,
                "distinct": c.n_unique,
                "missing": f"{100 * c.null_fraction:.1f}%",
                "note": c.fmt or c.role or "",
            }
            for c in self.columns
        ]

    def __str__(self) -> str:
        rows = self.summary_rows()
        headers = list(rows[0]) if rows else ["column", "kind"]
        widths = {h: max(len(h), *(len(str(r[h])) for r in rows)) for h in headers}
        line = "  ".join(h.ljust(widths[h]) for h in headers)
        body = ["  ".join(str(r[h]).ljust(widths[h]) for h in headers) for r in rows]
        return "\n".join([line, "-" * len(line), *body])


# ----------------------------------------------------------------------------
def suggest(name: str, candidates: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` hint, or an empty string."""
    matches = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def validate_target(frame: Any, target: str, *, source: str = "data") -> Any:
    """Check a binary click label and return its positive value.

    Accepts {0, 1}, {-1, 1} (the DIGIX feeds convention) and booleans.
    """
    df = to_polars(frame, what=source)
    if target not in df.columns:
        raise DataError(
            f"target column {target!r} not found in {source}{suggest(target, df.columns)} "
            f"(columns: {', '.join(df.columns[:12])}{', ...' if df.width > 12 else ''})"
        )
    col = df[target]
    if col.null_count():
        row = first_true(col.is_null())
        raise DataError(
            f"target column {target!r} in {source} has {col.null_count()} missing value(s), first at row {row}; "
            "drop or fill those rows before fitting"
        )
    values = col.unique().sort().to_list()
    if len(values) > 2:
        shown = values[:6]
        raise DataError(
            f"target column {target!r} in {source} is not binary: {len(values)} distinct values {shown}"
            f"{' ...' if len(values) > 6 else ''}; give a 0/1 click label"
        )
    if len(values) < 2:
        raise DataError(
            f"target column {target!r} in {source} has a single class ({values[0]!r} in all {df.height} rows); "
            "a click model needs both clicks and non-clicks"
        )
    allowed = ({0, 1}, {-1, 1}, {False, True})
    if set(values) not in allowed:
        raise DataError(
            f"target column {target!r} in {source} has values {values}; expected 0/1, -1/1 or booleans (map your label to 0/1 first)"
        )
    return True if set(values) == {False, True} else 1


def _datetime_format(col: pl.Series) -> str | None:
    if col.dtype in (pl.Date, pl.Datetime):
        return "native"
    if not col.dtype.is_integer():
        return None
    s = col.drop_nulls()
    if s.len() == 0:
        return None
    lo, hi = int_bounds(s)
    if lo >= 190001010000 and hi <= 210012312359:
        return "%Y%m%d%H%M"
    if lo >= 19000101 and hi <= 21001231:
        return "%Y%m%d"
    if lo >= 0 and hi <= 400:
        return "day_index"
    return None


def _infer_one(col: pl.Series, name: str, n_unique: int, n_rows: int) -> tuple[str, str | None, str | None]:
    dtype = col.dtype
    if is_id_name(name):
        return "id", None, "user" if is_user_name(name) else "row"
    if dtype in (pl.Date, pl.Datetime):
        return "datetime", "native", None
    if dtype == pl.Boolean:
        return "categorical", None, None
    if dtype.is_integer():
        fmt = _datetime_format(col)
        if fmt in ("%Y%m%d%H%M", "%Y%m%d") or (fmt and is_datetime_name(name)):
            return "datetime", fmt, None
        if n_rows >= 100 and n_unique >= 0.99 * n_rows and not is_categorical_name(name):
            return "id", None, "row"
        if is_categorical_name(name) or n_unique <= MAX_CODE_CARDINALITY:
            return "categorical", None, None
        return "numeric", None, None
    if dtype.is_float():
        return "numeric", None, None
    if dtype in (pl.String, pl.Categorical, pl.Enum):
        s = col.cast(pl.String)
        if s.str.contains(LIST_SEPARATOR, literal=True).any() or is_list_name(name):
            return "list", None, None
        if n_rows >= 100 and n_unique >= 0.99 * n_rows:
            return "id", None, "row"
        return "categorical", None, None
    if isinstance(dtype, pl.List):
        return "list", None, None
    return "categorical", None, None


def _warn_stray_text(col: pl.Series, name: str, source: str) -> None:
    """Warn when a text column holds numbers in all but a few rows: one stray value (a typo, a
    placeholder such as 'n/a') silently turns a numeric column into categories."""
    if col.dtype != pl.String:
        return
    present = col.drop_nulls()
    if present.len() < 20:
        return
    numbers = present.str.strip_chars().cast(pl.Float64, strict=False)
    stray = present.filter(numbers.is_null())
    if 0 < stray.len() <= 0.01 * present.len():
        examples = ", ".join(repr(v) for v in stray.unique(maintain_order=True).head(3).to_list())
        message = (
            f"column {name!r} in {source} holds numbers in all but {stray.len()} of {present.len()} rows ({examples}), "
            "so it is read as text (categories, or an id if nearly every value differs); fix those rows or declare it numeric "
            "in an override file"
        )
        warnings.warn(message, ClicksynthWarning, stacklevel=4)


def _check_separators(col: pl.Series, name: str, source: str) -> None:
    """Refuse a list column whose rows use different separators."""
    if col.dtype != pl.String:
        return
    pattern = "[" + "".join("\\" + s for s in _OTHER_SEPARATORS) + "]"
    has_other = col.str.contains(pattern).fill_null(False)
    if not has_other.any():
        return
    row = first_true(has_other)
    example = col[row]
    sep = next(s for s in _OTHER_SEPARATORS if s in example)
    if col.str.contains(LIST_SEPARATOR, literal=True).any():
        raise DataError(
            f"list column {name!r} in {source} mixes separators: rows use {LIST_SEPARATOR!r} but row {row} "
            f"uses {sep!r} ({example!r}); rewrite that column with '^' between items"
        )
    raise DataError(
        f"list column {name!r} in {source} separates items with {sep!r} (row {row}); "
        "clicksynth reads caret-separated lists: replace the separator with '^' or declare the "
        "column categorical in an override file"
    )


def _load_overrides(overrides: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        data = dict(overrides)
        where = "overrides"
    else:
        path = Path(overrides)
        where = str(path)
        if not path.is_file():
            raise ConfigError(f"override file {path} does not exist")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"override file {path} is not valid TOML: {exc}") from exc
    unknown = set(data) - {"target", "user", "columns"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed are 'target', 'user' and a [columns] table")
    if "columns" in data and not isinstance(data["columns"], Mapping):
        raise ConfigError(f"{where}: 'columns' must be a table of column = kind")
    return data
