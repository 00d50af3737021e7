"""Preparation of DIGIX-style ad logs, as the source studies did it.

* ``pt_d`` (YYYYMMDDHHMM, or a day index in DIGIX 2020) becomes hour / day-of-week.
* The 2022 news-feeds table is aggregated per user and left-joined to the ads
  table: users without feed activity get *missing* values, not zeros, so a
  model can tell "no feed history" from "no feed clicks".
* Optional pruning to users with at least one click, and to task subgroups.
* Dtype downcasting and rare-category bucketing with a ``min_frequency``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from clicksynth._frame import first_true, to_polars
from clicksynth.exceptions import ConfigError, DataError
from clicksynth.prep.lists import ListFeaturizer
from clicksynth.schema import Schema, suggest

__all__ = [
    "FEED_AGGREGATES",
    "RARE_CODE",
    "RARE_LABEL",
    "PrepareReport",
    "aggregate_feeds",
    "bucket_rare",
    "downcast",
    "merge_feeds",
    "parse_datetimes",
    "prepare",
    "prune",
]

log = logging.getLogger(__name__)

# Replacement for categories rarer than ``min_frequency``: an integer code no
# DIGIX column uses (they use -1 / -2 for "unknown"), or a label for strings.
RARE_CODE = -999
RARE_LABEL = "__rare__"

# Feed aggregates and their schema kinds.
FEED_AGGREGATES: dict[str, str] = {
    "feed_impressions": "numeric",
    "feed_clicks": "numeric",
    "feed_ctr": "numeric",
    "feed_refresh_avg": "numeric",
    "feed_dislikes": "numeric",
    "feed_upvotes": "numeric",
    "feed_n_categories": "numeric",
    "feed_top_category": "categorical",
    "feed_category_entropy": "numeric",
}


def _require(df: pl.DataFrame, columns: Iterable[str], what: str) -> None:
    for c in columns:
        if c not in df.columns:
            raise DataError(f"{what} lacks column {c!r}{suggest(c, df.columns)}")


def parse_datetimes(frame: Any, columns: dict[str, str | None], *, keep_raw: bool = False) -> pl.DataFrame:
    """Replace datetime columns by ``<col>_hour`` and ``<col>_dow`` (Monday = 0).

    Parameters
    ----------
    columns
        Column name -> format (``"%Y%m%d%H%M"``, ``"%Y%m%d"``, ``"day_index"`` or ``"native"``).
        A day index only yields ``<col>_day``: the weekday of day 1 is unknown.
    """
    df = to_polars(frame)
    exprs: list[pl.Expr] = []
    for name, fmt in columns.items():
        _require(df, [name], "frame")
        if fmt == "day_index":
            exprs.append(pl.col(name).cast(pl.Int16).alias(f"{name}_day"))
            continue
        if fmt == "native":
            ts = pl.col(name).cast(pl.Datetime)
        elif fmt in ("%Y%m%d%H%M", "%Y%m%d"):
            ts = pl.col(name).cast(pl.String).str.strptime(pl.Datetime, fmt, strict=False)
        else:
            raise ConfigError(f"datetime column {name!r}: unknown format {fmt!r}")
        if fmt != "%Y%m%d":
            exprs.append(ts.dt.hour().cast(pl.Int8).alias(f"{name}_hour"))
        exprs.append((ts.dt.weekday() - 1).cast(pl.Int8).alias(f"{name}_dow"))
    out = df.with_columns(exprs)
    bad = [f"{n}_dow" for n, f in columns.items() if f not in ("day_index",) and out[f"{n}_dow"].null_count() > df[n].null_count()]
    if bad:
        name = bad[0][: -len("_dow")]
        row = first_true(out[bad[0]].is_null() & df[name].is_not_null())
        raise DataError(f"datetime column {name!r}: value {df[name][row]!r} at row {row} does not match {columns[name]!r}")
    return out if keep_raw else out.drop(list(columns))


def aggregate_feeds(
    feeds: Any,
    *,
    user_column: str = "u_userId",
    label_column: str = "label",
    category_column: str = "i_cat",
) -> pl.DataFrame:
    """Per-user summary of the DIGIX 2022 news-feeds table.

    Returns one row per user with :data:`FEED_AGGREGATES`. A feed click is
    ``label == 1`` (the feeds table codes non-clicks as -1). Category diversity
    is the Shannon entropy (bits) of the user's category distribution.
    """
    df = to_polars(feeds, what="feeds table")
    _require(
        df,
        [user_column, label_column, category_column, "u_refreshTimes", "i_dislikeTimes", "i_upTimes"],
        "feeds table",
    )
    per_cat = df.group_by(user_column, category_column).len("n")
    entropy = (
        per_cat.with_columns(p=pl.col("n") / pl.col("n").sum().over(user_column))
        .group_by(user_column)
        .agg(
            feed_category_entropy=-(pl.col("p") * pl.col("p").log(2)).sum(),
            # Most common category; ties go to the smallest id so the result is stable.
            feed_top_category=pl.col(category_column).sort_by([pl.col("n"), pl.col(category_column)], descending=[True, False]).first(),
        )
    )
    agg = df.group_by(user_column).agg(
        feed_impressions=pl.len().cast(pl.Int32),
        feed_clicks=(pl.col(label_column) == 1).sum().cast(pl.Int32),
        feed_refresh_avg=pl.col("u_refreshTimes").cast(pl.Float64).mean(),
        feed_dislikes=pl.col("i_dislikeTimes").cast(pl.Int64).sum(),
        feed_upvotes=pl.col("i_upTimes").cast(pl.Int64).sum(),
        feed_n_categories=pl.col(category_column).n_unique().cast(pl.Int32),
    )
    out = agg.join(entropy, on=user_column, how="left").with_columns(feed_ctr=pl.col("feed_clicks") / pl.col("feed_impressions"))
    return out.select([user_column, *FEED_AGGREGATES]).sort(user_column)


def merge_feeds(
    ads: Any,
    feeds_summary: Any,
    *,
    ads_user: str = "user_id",
    feeds_user: str = "u_userId",
) -> pl.DataFrame:
    """Left-join per-user feed aggregates onto the ads table (row order kept)."""
    a = to_polars(ads, what="ads table")
    f = to_polars(feeds_summary, what="feeds summary")
    _require(a, [ads_user], "ads table")
    _require(f, [feeds_user], "feeds summary")
    clash = [c for c in f.columns if c != feeds_user and c in a.columns]
    if clash:
        raise DataError(f"ads table already has feed columns {clash}; was it merged twice?")
    f = f.with_columns(pl.col(feeds_user).cast(a.schema[ads_user]))
    return a.join(f, left_on=ads_user, right_on=feeds_user, how="left", maintain_order="left")


def prune(
    frame: Any,
    *,
    target: str,
    user_column: str | None = None,
    clickers_only: bool = False,
    tasks: Sequence[Any] | None = None,
    task_column: str = "task_id",
) -> pl.DataFrame:
    """Keep users with at least one click and/or rows of some tasks."""
    df = to_polars(frame)
    if tasks:
        _require(df, [task_column], "frame")
        df = df.filter(pl.col(task_column).is_in(list(tasks)))
        if df.height == 0:
            raise DataError(f"no rows left after keeping {task_column} in {list(tasks)[:5]}")
    if clickers_only:
        if user_column is None:
            raise ConfigError("clickers_only needs a user column")
        _require(df, [user_column, target], "frame")
        clickers = df.filter(pl.col(target) == 1)[user_column].unique()
        df = df.filter(pl.col(user_column).is_in(clickers.implode()))
    return df


def downcast(frame: Any) -> pl.DataFrame:
    """Shrink integer and float columns to the narrowest dtype holding their values."""
    df = to_polars(frame)
    return df.with_columns([df[c].shrink_dtype() for c, dt in df.schema.items() if dt.is_numeric()])


def bucket_rare(frame: Any, columns: Iterable[str], *, min_frequency: int) -> pl.DataFrame:
    """Replace categories seen fewer than ``min_frequency`` times by :data:`RARE_CODE` / :data:`RARE_LABEL`."""
    if min_frequency < 1:
        raise ConfigError(f"min_frequency must be at least 1, got {min_frequency}")
    df = to_polars(frame)
    exprs = []
    for c in columns:
        _require(df, [c], "frame")
        dtype = df.schema[c]
        rare = pl.col(c).count().over(c) < min_frequency
        fill = pl.lit(RARE_CODE, dtype=dtype) if dtype.is_integer() else pl.lit(RARE_LABEL)
        if dtype.is_integer() and dtype in (pl.Int8, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64):
            # -999 must fit: widen small or unsigned codes first.
            exprs.append(pl.when(rare).then(pl.lit(RARE_CODE, pl.Int32)).otherwise(pl.col(c).cast(pl.Int32)).alias(c))
            continue
        exprs.append(pl.when(rare & pl.col(c).is_not_null()).then(fill).otherwise(pl.col(c)).alias(c))
    return df.with_columns(exprs)


@dataclass
class PrepareReport:
    """What :func:`prepare` did, for logs and the CLI summary."""

    rows_in: int = 0
    rows_out: int = 0
    steps: list[str] = field(default_factory=list)


def prepare(
    frame: Any,
    schema: Schema,
    *,
    feeds: Any | None = None,
    feeds_user: str = "u_userId",
    parse_dates: bool = True,
    list_features: bool = True,
    top_k: int = 10,
    keep_raw_lists: bool = True,
    clickers_only: bool = False,
    tasks: Sequence[Any] | None = None,
    min_frequency: int | None = None,
    shrink: bool = True,
) -> tuple[pl.DataFrame, Schema, PrepareReport]:
    """Run the preparation steps in the studies' order and return the new schema.

    Rare-category bucketing applies to the categorical columns of ``schema``
    (not to derived columns).
    """
    df = to_polars(frame)
    report = PrepareReport(rows_in=df.height)
    if schema.target is None:
        raise ConfigError("prepare needs a schema with a target")
    derived: dict[str, str] = {}
    user = schema.user_column
    if clickers_only or tasks:
        df = prune(df, target=schema.target, user_column=user, clickers_only=clickers_only, tasks=tasks)
        report.steps.append(f"pruned to {df.height} rows" + (" of clicking users" if clickers_only else ""))
    if feeds is not None:
        if user is None:
            raise ConfigError("merging feeds needs a user id column in the ads table")
        summary = aggregate_feeds(feeds, user_column=feeds_user)
        df = merge_feeds(df, summary, ads_user=user, feeds_user=feeds_user)
        matched = df["feed_impressions"].is_not_null().sum()
        derived.update(FEED_AGGREGATES)
        report.steps.append(f"merged feeds of {summary.height} users ({matched} of {df.height} ad rows matched)")
    if min_frequency:
        cats = [c for c in schema.of_kind("categorical") if c in df.columns]
        df = bucket_rare(df, cats, min_frequency=min_frequency)
        report.steps.append(f"bucketed categories seen < {min_frequency} times in {len(cats)} columns")
    if parse_dates:
        dates = {c.name: c.fmt for c in schema if c.kind == "datetime"}
        if dates:
            df = parse_datetimes(df, dates)
            for name, fmt in dates.items():
                if fmt == "day_index":
                    derived[f"{name}_day"] = "categorical"
                else:
                    if fmt != "%Y%m%d":
                        derived[f"{name}_hour"] = "categorical"
                    derived[f"{name}_dow"] = "categorical"
            report.steps.append(f"parsed {', '.join(dates)} into hour / day of week")
    lists = [c for c in schema.of_kind("list") if c in df.columns]
    if list_features and lists:
        feat = ListFeaturizer(top_k=top_k, keep_raw=keep_raw_lists).fit(df, lists)
        df = feat.transform(df)
        derived.update(feat.feature_kinds())
        report.steps.append(f"derived length / distinct / top item / top-{top_k} flags from {len(lists)} list columns")
    if shrink:
        df = downcast(df)
        report.steps.append("downcast numeric dtypes")
    kinds = {c.name: c.kind for c in schema if c.name in df.columns and c.name != schema.target}
    kinds.update({k: v for k, v in derived.items() if k in df.columns})
    new_schema = Schema.infer(df, target=schema.target, overrides={"columns": kinds}, user_column=user if user in df.columns else None)
    report.rows_out = df.height
    return df, new_schema, report
