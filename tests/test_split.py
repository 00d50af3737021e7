from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from clicksynth import ConfigError, DataError, load_dataset, split_frame, subsample
from clicksynth.split import assign_splits
from tests.conftest import make_ads


def test_grouped_split_keeps_users_apart():
    ds = load_dataset("digix2020")
    train, holdout, test = split_frame(ds.frame, target="label", user_column="uid", random_state=3)
    users = [set(p["uid"].to_list()) for p in (train, holdout, test)]
    assert not users[0] & users[1] and not users[0] & users[2] and not users[1] & users[2]
    assert train.height + holdout.height + test.height == ds.frame.height
    n = ds.frame.height
    assert abs(train.height / n - 0.6) < 0.02 and abs(test.height / n - 0.2) < 0.02
    rate = ds.frame["label"].mean()
    for part in (train, holdout, test):
        assert abs(part["label"].mean() - rate) < 0.004


def test_split_is_seeded():
    ads = make_ads(n=900)
    a = split_frame(ads, target="label", user_column="uid", random_state=1)
    b = split_frame(ads, target="label", user_column="uid", random_state=1)
    c = split_frame(ads, target="label", user_column="uid", random_state=2)
    assert all(x.equals(y) for x, y in zip(a, b))
    assert not a[0].equals(c[0])


def test_ungrouped_split_is_stratified_exactly_enough():
    y = np.array([1] * 100 + [0] * 900)
    parts = assign_splits(y, [0.5, 0.5], random_state=0)
    assert (parts == 0).sum() == 500
    assert y[parts == 0].sum() == 50


def test_pandas_in_pandas_out(ads):
    parts = split_frame(ads, target="label", fractions=(0.7, 0.3), user_column="uid")
    assert all(type(p) is type(ads) for p in parts)
    assert set(parts[0]["uid"]).isdisjoint(parts[1]["uid"])


@pytest.mark.parametrize("fractions", [(0.5, 0.6), (0.0, 1.0), (1.2, -0.2)])
def test_bad_fractions(fractions, ads):
    with pytest.raises(ConfigError, match="fractions"):
        split_frame(ads, target="label", fractions=fractions)


def test_too_few_users_is_an_error():
    df = pl.DataFrame({"uid": [1, 1, 2, 2], "label": [0, 1, 0, 1]})
    with pytest.raises(DataError, match="empty"):
        split_frame(df, target="label", user_column="uid", fractions=(0.6, 0.2, 0.2))


def test_subsample_keeps_rate_and_users():
    ds = load_dataset("digix2020")
    sub = subsample(ds.frame, 8000, target="label", user_column="uid", random_state=0)
    assert abs(sub.height - 8000) < 200
    assert abs(sub["label"].mean() - ds.frame["label"].mean()) < 0.005
    full_counts = ds.frame.filter(pl.col("uid").is_in(sub["uid"].implode())).height
    assert full_counts == sub.height  # whole users only
