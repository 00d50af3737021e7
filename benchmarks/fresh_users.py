"""Real rows of users outside the embedded data, for the augmentation benchmarks (issue #15).

The main job's default split tests on 207 clicks, where one seed's paired interval on an
augmentation Δ spans ±0.03: too wide to see the issue's 0.005. The shared 669,274-row DIGIX 2020
sample holds many more users than the embedded 30,000 rows. Its other users, prepared as the main
job prepares its rows, are split in two halves by user (a fixed draw, the same for every run and
seed): one half is a large test set of rows no training, holdout or pool row shares a user with,
the other half's clicks are the pool fresh clicks are drawn from (what a perfect generator adds).
Needs ``../shared/data`` (or ``CLICKSYNTH_DATA_DIR``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import polars as pl

from clicksynth.datasets import load_dataset
from clicksynth.prep import prepare
from clicksynth.schema import Schema

#: The draw that splits the fresh users in halves (not a run's seed: every run tests on the same rows).
HALVES_SEED = 123


class FreshUsers(NamedTuple):
    test: pd.DataFrame  # every row of one half of the fresh users
    clicks: pd.DataFrame  # the click rows of the other half


def fresh_users(split: tuple[Any, ...]) -> FreshUsers:
    """Rows of the users absent from the embedded data, in the columns and dtypes of the
    split's training rows, as a test half and a click pool from the other half."""
    train, schema = split[0], split[3]
    embedded = load_dataset("digix2020").frame
    full = load_dataset("digix2020-full")
    user = full.user_column
    frame = full.frame.filter(~pl.col(user).is_in(embedded[user].unique().implode()))
    prepared, _, _ = prepare(frame, Schema.infer(frame, target=full.target, user_column=user), list_features=False)
    rows = prepared.to_pandas()
    missing = [c for c in train.columns if c not in rows.columns]
    if missing:
        raise SystemExit(f"the fresh rows lack {missing}")
    rows = rows[list(train.columns)]
    for c in train.columns:  # the split's dtypes (categories, integer widths) so the featuriser sees one table
        rows[c] = rows[c].astype(train[c].dtype)
    users = np.sort(rows[user].unique())
    test_users = np.random.default_rng(HALVES_SEED).permutation(users)[: len(users) // 2]
    in_test = rows[user].isin(test_users).to_numpy()
    clicks = ~in_test & (rows[schema.target] == 1).to_numpy()
    return FreshUsers(rows[in_test].reset_index(drop=True), rows[clicks].reset_index(drop=True))
