from __future__ import annotations

import numpy as np
import pandas as pd
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
    default = split_frame(ads, target="label", user_column="uid")  # the default seed is 0
    assert all(x.equals(y) for x, y in zip(default, split_frame(ads, target="label", user_column="uid", random_state=0)))


@pytest.mark.parametrize("as_bool", [False, True])
def test_split_frame_stratifies_on_clicks_of_integer_or_boolean_labels(as_bool):
    """Row-level split of 100 clicks in 1,000 rows: each half holds 50 (the labels read as 0/1 or False/True)."""
    frame = pd.DataFrame({"x": np.arange(1000), "label": np.array([1] * 100 + [0] * 900)})
    if as_bool:
        frame["label"] = frame["label"].astype(bool)
    first, second = split_frame(frame, target="label", fractions=(0.5, 0.5), random_state=3)
    assert first["label"].sum() == second["label"].sum() == 50


def test_split_frame_shares_clicking_users_by_their_clicks():
    """20 users of 10 rows, four of them with one click each: every seed gives each half two."""
    frame = pd.DataFrame({"uid": np.repeat(np.arange(20), 10), "label": 0})
    frame.loc[[0, 10, 20, 30], "label"] = 1
    for seed in range(10):
        first, second = split_frame(frame, target="label", fractions=(0.5, 0.5), user_column="uid", random_state=seed)
        assert first["label"].sum() == second["label"].sum() == 2, seed


def test_a_lone_clicking_user_is_assigned_like_any_other():
    """One clicking group alone in its stratum: its midpoint (0.5) lies past the 0.4 boundary."""
    y = np.array([1, 0, 0, 0, 0, 0])
    parts = assign_splits(y, [0.4, 0.6], groups=np.array([7, 1, 2, 3, 4, 5]), random_state=0)
    assert parts[0] == 1


def test_a_missing_user_column_is_named_with_a_suggestion(ads):
    with pytest.raises(DataError, match=r"column 'uidd' not found.*did you mean 'uid'"):
        split_frame(ads, target="label", user_column="uidd")


def test_ungrouped_split_is_stratified_exactly_enough():
    y = np.array([1] * 100 + [0] * 900)
    parts = assign_splits(y, [0.5, 0.5], random_state=0)
    assert (parts == 0).sum() == 500
    assert y[parts == 0].sum() == 50
    np.testing.assert_array_equal(assign_splits(y, [0.5, 0.5]), parts)  # the default seed is 0
    assert parts.dtype == np.int64  # split numbers, usable as indices


def test_pandas_in_pandas_out(ads):
    parts = split_frame(ads, target="label", fractions=(0.7, 0.3), user_column="uid")
    assert all(type(p) is type(ads) for p in parts)
    assert set(parts[0]["uid"]).isdisjoint(parts[1]["uid"])


@pytest.mark.parametrize("fractions", [(0.5, 0.6), (0.0, 1.0), (1.2, -0.2), [[0.5, 0.5]], ()])
def test_bad_fractions(fractions, ads):
    with pytest.raises(ConfigError, match="fractions"):
        split_frame(ads, target="label", fractions=fractions)


def test_no_rows_give_no_assignments_and_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for groups in (None, np.array([], dtype=np.int64)):
            parts = assign_splits(np.array([], dtype=np.int64), [0.5, 0.5], groups=groups)
            assert parts.shape == (0,) and parts.dtype == np.int64


def test_a_single_fraction_keeps_every_row_in_one_part():
    np.testing.assert_array_equal(assign_splits(np.array([0, 1, 0, 0]), [1.0]), np.zeros(4, dtype=np.int64))


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


def test_a_heavy_group_goes_to_the_split_holding_its_midpoint():
    """Six one-row users and one six-row user, halves: the heavy user lands in the first half
    exactly when its rows' midpoint (the rows shuffled before it plus three) is below six; at six,
    on the boundary, it goes to the second half."""
    groups = np.array([0] * 6 + [1, 2, 3, 4, 5, 6])
    seen, befores = set(), set()
    for seed in range(30):
        parts = assign_splits(np.zeros(12), [0.5, 0.5], groups=groups, random_state=np.random.default_rng(seed))
        order = np.random.default_rng(seed).permutation(7)  # the groups' shuffled order (no clicking users)
        before = int(np.flatnonzero(order == 0)[0])  # one-row users shuffled before the heavy one
        assert parts[0] == (0 if before + 3 < 6 else 1), seed
        assert (parts[:6] == parts[0]).all()
        seen.add(int(parts[0]))
        befores.add(before)
    assert seen == {0, 1} and 3 in befores


def test_clicking_users_are_shared_by_clicks_and_the_others_by_rows():
    """100 users with one click each but 1-60 rows: the halves get 50 clicks each exactly (cut by
    clicks, not by rows); users without clicks are cut by rows."""
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.integers(1, 61, 100), rng.integers(1, 3, 400)])
    clicks = np.r_[np.ones(100, int), np.zeros(400, int)]
    groups = np.repeat(np.arange(500), rows)
    y = np.concatenate([np.r_[np.ones(c), np.zeros(r - c)] for r, c in zip(rows, clicks)])
    for seed in range(3):
        parts = assign_splits(y, [0.5, 0.5], groups=groups, random_state=seed)
        assert y[parts == 0].sum() == 50
        quiet = groups >= 100
        assert abs((parts[quiet] == 0).sum() - quiet.sum() / 2) <= 2  # a cut within one (1-2 row) user of half the rows


def test_split_frame_keeps_columns_and_a_fresh_index_and_names_users_when_short(ads):
    parts = split_frame(ads, target="label", fractions=(0.5, 0.5), user_column="uid")
    for part in parts:
        assert list(part.columns) == list(ads.columns) and part.index.equals(pd.RangeIndex(len(part)))
    with pytest.raises(DataError, match=r"too few users \(4 rows\)"):
        split_frame(
            pl.DataFrame({"uid": [1, 1, 2, 2], "label": [0, 1, 0, 1]}), target="label", user_column="uid", fractions=(0.6, 0.2, 0.2)
        )
    with pytest.raises(DataError, match=r"too few rows \(2 rows\)"):
        split_frame(pl.DataFrame({"label": [0, 1]}), target="label", fractions=(0.6, 0.2, 0.2))


def test_subsample_edges(ads):
    assert subsample(ads, len(ads), target="label") is ads and subsample(ads, 10 * len(ads), target="label") is ads
    for bad in (0, -5):
        with pytest.raises(ConfigError, match="n_rows must be positive"):
            subsample(ads, bad, target="label")
    sub = subsample(ads, len(ads) - 1, target="label", random_state=0)
    assert len(sub) < len(ads)
    assert len(subsample(ads, 1, target="label")) < 10  # one row asked for: a user or two, no error


def test_subsample_is_seeded():
    """Same seed, same rows; another seed, other rows; the default seed is 0."""
    ads = make_ads(600)
    rows = {seed: subsample(ads, 300, target="label", user_column="uid", random_state=seed).index.tolist() for seed in (0, 1)}
    assert subsample(ads, 300, target="label", user_column="uid", random_state=0).index.tolist() == rows[0]
    assert rows[0] != rows[1]
    assert subsample(ads, 300, target="label", user_column="uid").index.tolist() == rows[0]
