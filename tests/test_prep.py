from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from clicksynth import ConfigError, DataError, Schema, load_dataset
from clicksynth.prep import (
    ListFeaturizer,
    aggregate_feeds,
    bucket_rare,
    downcast,
    merge_feeds,
    parse_datetimes,
    prepare,
    prune,
)
from clicksynth.prep.digix import RARE_CODE


def _feeds() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "u_userId": [1, 1, 1, 2, 2, 3],
            "u_refreshTimes": [2, 4, 6, 1, 1, 9],
            "i_cat": [10, 10, 20, 30, 30, 40],
            "i_dislikeTimes": [0, 1, 2, 0, 0, 5],
            "i_upTimes": [3, 0, 1, 2, 2, 0],
            "label": [1, -1, -1, -1, -1, 1],
        }
    )


def test_feeds_aggregation_by_hand():
    agg = aggregate_feeds(_feeds()).sort("u_userId")
    row = agg.row(0, named=True)
    assert row["feed_impressions"] == 3
    assert row["feed_clicks"] == 1
    assert row["feed_ctr"] == pytest.approx(1 / 3)
    assert row["feed_refresh_avg"] == pytest.approx(4.0)
    assert row["feed_dislikes"] == 3
    assert row["feed_upvotes"] == 4
    assert row["feed_n_categories"] == 2
    assert row["feed_top_category"] == 10
    # Categories 10, 10, 20 -> p = (2/3, 1/3).
    assert row["feed_category_entropy"] == pytest.approx(-(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3))
    two = agg.row(1, named=True)
    assert (two["feed_clicks"], two["feed_ctr"], two["feed_category_entropy"]) == (0, 0.0, 0.0)


def test_merge_gives_missing_not_zero_for_users_without_feeds():
    ads = pl.DataFrame({"user_id": [1, 5, 2, 1], "label": [0, 1, 0, 0]})
    merged = merge_feeds(ads, aggregate_feeds(_feeds()))
    assert merged["user_id"].to_list() == [1, 5, 2, 1]  # order kept
    assert merged["feed_impressions"].to_list() == [3, None, 2, 3]
    assert merged["feed_clicks"][1] is None


def test_merge_twice_is_refused():
    ads = pl.DataFrame({"user_id": [1], "label": [0]})
    merged = merge_feeds(ads, aggregate_feeds(_feeds()))
    with pytest.raises(DataError, match="merged twice"):
        merge_feeds(merged, aggregate_feeds(_feeds()))


def test_parse_datetimes():
    df = pl.DataFrame({"pt_d": [202206030326, 202206051459], "day": [1, 7]})
    out = parse_datetimes(df, {"pt_d": "%Y%m%d%H%M", "day": "day_index"})
    assert out["pt_d_hour"].to_list() == [3, 14]
    assert out["pt_d_dow"].to_list() == [4, 6]  # 2022-06-03 is a Friday, 06-05 a Sunday
    assert out["day_day"].to_list() == [1, 7]
    assert "pt_d" not in out.columns


def test_bad_datetime_value_named():
    df = pl.DataFrame({"pt_d": [202206030326, 202213991459]})
    with pytest.raises(DataError, match="202213991459"):
        parse_datetimes(df, {"pt_d": "%Y%m%d%H%M"})


def test_list_featurizer_exact():
    df = pl.DataFrame({"h": ["1^2^2", "2", "", None, "3^1"]})
    feat = ListFeaturizer(top_k=2).fit(df, ["h"])
    assert feat.top_items_ == {"h": ["2", "1"]}
    out = feat.transform(df)
    assert out["h__len"].to_list() == [3, 1, 0, None, 2]
    assert out["h__nunique"].to_list() == [2, 1, 0, None, 2]
    assert out["h__top"].to_list() == ["2", "2", None, None, "1"]
    assert out["h__has_2"].to_list() == [1, 1, 0, None, 0]
    assert out["h__has_1"].to_list() == [1, 0, 0, None, 1]
    assert "h" in out.columns
    # The vocabulary is the fitted one, also on other rows.
    assert feat.transform(pl.DataFrame({"h": ["9^1"]}))["h__has_1"].to_list() == [1]


def test_bucket_rare_and_downcast():
    df = pl.DataFrame({"c": [1, 1, 1, 2, 3, 3], "s": ["a", "a", "b", "b", "c", None]})
    out = bucket_rare(df, ["c", "s"], min_frequency=2)
    assert out["c"].to_list() == [1, 1, 1, RARE_CODE, 3, 3]
    assert out["s"].to_list() == ["a", "a", "b", "b", "__rare__", None]
    assert downcast(out).schema["c"] == pl.Int16
    with pytest.raises(ConfigError):
        bucket_rare(df, ["c"], min_frequency=0)


def test_prune_clickers_and_tasks():
    df = pl.DataFrame({"uid": [1, 1, 2, 2, 3], "task_id": [7, 8, 7, 7, 8], "label": [0, 1, 0, 0, 1]})
    assert prune(df, target="label", user_column="uid", clickers_only=True)["uid"].to_list() == [1, 1, 3]
    assert prune(df, target="label", tasks=[7])["uid"].to_list() == [1, 2, 2]
    with pytest.raises(DataError, match="no rows left"):
        prune(df, target="label", tasks=[99])


def test_prepare_digix2022_merges_and_derives():
    ds = load_dataset("digix2022")
    schema = Schema.infer(ds.frame, target="label")
    out, new, report = prepare(ds.frame, schema, feeds=ds.feeds, clickers_only=True, min_frequency=2)
    assert out.height < ds.frame.height
    assert {"pt_d_hour", "pt_d_dow", "feed_ctr", "ad_click_list_v001__len"} <= set(out.columns)
    assert "pt_d" not in out.columns
    assert new["feed_ctr"].kind == "numeric" and new["pt_d_hour"].kind == "categorical"
    assert new.user_column == "user_id"
    assert any("merged feeds" in s for s in report.steps)
    # The embedded heads share no users, so every feed aggregate is explicitly missing.
    assert out["feed_impressions"].null_count() == out.height


@pytest.mark.parametrize("dense", [True, False])
def test_list_decoding_fills_lengths_with_distinct_items(monkeypatch, dense):
    """Decoded lists: flagged top items, then tail items by frequency, distinct,
    numerically sorted, as long as asked (dense path) or at most that (sparse path)."""
    import numpy as np
    import pandas as pd

    from clicksynth.generators import _encoding as encoders

    if not dense:
        monkeypatch.setattr(encoders, "_DENSE_LIST_VOCAB", 0)
    rng = np.random.default_rng(0)
    # Items 0-2 are common (top); 10-19 are the tail, item 10 three times as common as the rest.
    rows = [
        "^".join(str(v) for v in sorted({*np.flatnonzero(rng.random(3) < 0.9), *rng.choice([10, 10, 10, *range(11, 20)], 2)}))
        for _ in range(400)
    ]
    X = pd.DataFrame({"h": rows})
    enc = encoders.TableEncoder(list_top_k=3).fit(X, Schema.infer(X))
    assert enc.columns_[0]["sort_numeric"]
    n = 4000
    top = [int(v) for v in enc.columns_[0]["top"]]
    assert sorted(top) == [0, 1, 2]
    flags = np.tile([int(v != 1) for v in top], (n, 1))  # items 0 and 2
    lengths = np.full(n, 5.0)
    out = enc.inverse_transform(lengths[:, None], flags, np.random.default_rng(1))["h"]
    lists = [[int(v) for v in s.split("^")] for s in out]
    for items in lists:
        assert items == sorted(set(items)) and {0, 2} <= set(items) and 1 not in items
        assert set(items) - {0, 2} <= set(range(10, 20))
        assert len(items) == 5 if dense else 3 <= len(items) <= 5
    tail = pd.Series([v for items in lists for v in items if v >= 10]).value_counts(normalize=True)
    assert tail.idxmax() == 10 and tail[10] > 1.5 * tail.drop(10).max()
    # Every real list has an item, so a length decoded as 0 still gives one.
    assert enc.columns_[0]["min_len"] >= 1
    out = enc.inverse_transform(np.full((n, 1), -0.4), np.zeros_like(flags), np.random.default_rng(2))["h"]
    assert (out.str.len() > 0).all()


def test_list_decoding_never_shorter_than_the_shortest_real_list():
    """A column whose items are all top items (no tail to fill from) still decodes to
    lists of at least the shortest real length when the model flags nothing: the
    missing items are drawn from the top items by their real counts."""
    import numpy as np
    import pandas as pd

    from clicksynth.generators import _encoding as encoders

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"h": rng.choice(["5", "7", "5^7", "9"], 600, p=[0.6, 0.2, 0.1, 0.1])})
    enc = encoders.TableEncoder(list_top_k=3).fit(X, Schema.infer(X))
    col = enc.columns_[0]
    assert not col["tail_values"] and col["min_len"] == 1
    n = 20_000
    out = enc.inverse_transform(np.zeros((n, 1)), np.zeros((n, 3), dtype=np.int64), np.random.default_rng(1))["h"]
    assert (out.str.len() > 0).all() and not out.str.contains("\\^").any()
    share = out.value_counts(normalize=True)
    assert share["5"] > share["7"] > share["9"] * 1.5  # real item counts 420 / 180 / 60


def test_categorical_decoding_keeps_number_types():
    """Integer and float categories decode to typed arrays (values, 'other' tail draws
    included); strings and columns with missing values stay object."""
    import numpy as np
    import pandas as pd

    from clicksynth.generators import _encoding as encoders

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "i": rng.choice([7, 8, 9, 100, 101, 102], 500, p=[0.4, 0.3, 0.2, 0.05, 0.03, 0.02]),
            "f": rng.choice([0.5, 1.5], 500),
            "s": rng.choice(["a", "b"], 500),
            "n": pd.array(rng.choice([1, 2, None], 500), dtype="Int64"),
        }
    )
    schema = Schema.infer(X, overrides={"columns": dict.fromkeys(X.columns, "categorical")})
    enc = encoders.TableEncoder(max_categories=4).fit(X, schema)
    assert enc.columns_[0]["tail_values"]  # 9/100/101/102 do not all fit: "other" is used
    atoms = enc.transform(X)
    back = enc.inverse_transform(atoms.continuous, atoms.discrete, np.random.default_rng(1))
    assert back["i"].dtype == np.int64 and back["f"].dtype == np.float64
    assert set(back["i"]) <= {7, 8, 9, 100, 101, 102} and {7, 8} <= set(back["i"])
    kept = enc.columns_[0]["values"]
    np.testing.assert_array_equal(back["i"][X["i"].isin(kept)], X["i"][X["i"].isin(kept)])
    assert back["s"].tolist()[:20] == X["s"].tolist()[:20]
    assert back["n"].isna().sum() == X["n"].isna().sum()


def test_caret_list_helpers_share_one_rule():
    """Missing cells (None and NaN alike) have no list, '' is the empty list, items
    keep their order and duplicates; exploded items carry their row's position."""
    import polars as pl

    from clicksynth.prep.lists import explode_items, list_lengths, split_items, split_text

    cells = pd.Series(["a^b^a", None, "", float("nan"), "c"], index=[10, 11, 12, 13, 14], dtype=object)
    assert [split_items(v) for v in cells] == [["a", "b", "a"], None, [], None, ["c"]]
    items = explode_items(cells)
    assert items.tolist() == ["a", "b", "a", "c"] and items.index.tolist() == [0, 0, 0, 4]
    lengths = list_lengths(cells)
    assert lengths.index.tolist() == [10, 11, 12, 13, 14]
    np.testing.assert_array_equal(lengths.to_numpy(), [3, np.nan, 0, np.nan, 1])
    assert list_lengths(pd.Series(["a", "b^c"])).dtype.kind == "i"
    got = pl.select(split_text(pl.Series(["a^b", "", None], dtype=pl.String)).alias("x"))["x"].to_list()
    assert got == [["a", "b"], [], None]


def test_decoded_numerics_stay_in_the_training_range_after_rounding():
    """Values are rounded to the column's decimals and then clipped: rounding the training
    maximum itself (15.7522299683) to 6 decimals would step outside the range."""
    from clicksynth.generators import _encoding as encoders

    X = pd.DataFrame({"x": [-0.9816577887613023, 3.25, 15.752229968313452]})
    enc = encoders.TableEncoder().fit(X, Schema.infer(X, overrides={"columns": {"x": "numeric"}}))
    out = enc.inverse_transform(
        np.array([[15.752229968313452], [99.0], [-5.0]]), np.zeros((3, 0), dtype=np.int64), np.random.default_rng(0)
    )
    assert out["x"].max() <= X["x"].max() and out["x"].min() >= X["x"].min()
    assert out["x"].tolist() == [X["x"].max(), X["x"].max(), X["x"].min()]


@pytest.mark.parametrize("fmt", ["%Y%m%d%H%M", "%Y%m%d", "native"])
def test_dates_encode_to_minutes_since_the_epoch_and_decode_back(fmt):
    """pandas may hold datetimes in microseconds: the minutes are computed by Timedelta
    arithmetic (the int64 view read them 1000x too small and decoded DIGIX 2022's pt_d
    as 1970), and a missing date is NaN, not the int64 minimum."""
    import numpy as np
    import pandas as pd

    from clicksynth.generators._encoding import _from_minutes, _minutes

    if fmt == "native":
        s = pd.Series(pd.to_datetime(["2022-06-03 03:26", None]))
    else:
        s = pd.Series([202206030326 if fmt == "%Y%m%d%H%M" else 20220603, None], dtype="Int64")
    minutes = _minutes(s, fmt)
    want = (pd.Timestamp("2022-06-03 03:26" if fmt != "%Y%m%d" else "2022-06-03") - pd.Timestamp(0)) / pd.Timedelta(minutes=1)
    assert minutes[0] == want and np.isnan(minutes[1])
    assert _from_minutes(minutes[:1], fmt).iloc[0] == s.iloc[0]
