"""Fusing dependent categorical columns into one column of their tuples, and splitting it back."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clicksynth.generators._joint import JointColumns, whole_list_columns
from clicksynth.schema import Schema


def _ads(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ad = rng.integers(0, 30, n)
    advertiser = np.where(ad == 3, np.nan, ad % 7)  # one ad without an advertiser: a missing value is a value
    return pd.DataFrame(
        {
            "age": rng.integers(1, 6, n),
            "ad": ad,
            "price": rng.gamma(2, 3, n).round(2),
            "advertiser": advertiser,
            "slot": rng.integers(0, 4, n),
            "label": (rng.random(n) < 0.2).astype(int),
        }
    )


def test_dependent_columns_become_one_column_of_their_tuples_and_come_back():
    X = _ads()
    schema = Schema.infer(X, target="label").with_kinds(
        {"age": "categorical", "ad": "categorical", "advertiser": "categorical", "slot": "categorical"}
    )
    joint, fused, fused_schema = JointColumns.fit_transform(X, schema, threshold=0.8)
    assert joint.groups == [["ad", "advertiser"]] and joint.names == ["ad+advertiser"]
    assert "ad" not in fused and "advertiser" not in fused and fused["ad+advertiser"].nunique() == 30
    assert fused_schema["ad+advertiser"].kind == "categorical" and fused_schema.target == "label"
    assert set(fused_schema.names) == set(fused.columns)
    back = joint.inverse_transform(fused)
    pd.testing.assert_frame_equal(back, X)  # order, values, missing values and dtypes
    # any code decodes to a tuple seen in training
    shuffled = fused.assign(**{"ad+advertiser": np.random.default_rng(1).permutation(fused["ad+advertiser"].to_numpy())})
    out = joint.inverse_transform(shuffled)
    assert set(map(tuple, out[["ad", "advertiser"]].astype(str).to_numpy())) <= set(
        map(tuple, X[["ad", "advertiser"]].astype(str).to_numpy())
    )
    # through the state: the same decoding
    again = JointColumns.from_state(joint.get_meta(), joint.get_frames())
    pd.testing.assert_frame_equal(again.inverse_transform(shuffled), out)


def test_no_threshold_or_no_dependence_is_the_identity():
    X = _ads().drop(columns=["advertiser"])
    schema = Schema.infer(X, target="label").with_kinds({"age": "categorical", "ad": "categorical", "slot": "categorical"})
    for threshold in (None, 0.8):
        joint, fused, fused_schema = JointColumns.fit_transform(X, schema, threshold=threshold)
        assert joint.groups == [] and fused is X and fused_schema is schema
        assert joint.inverse_transform(X) is X
    assert JointColumns.from_state(None, {}).groups == []


def _hours(n: int = 900, seed: int = 0) -> pd.DataFrame:
    """Online hours as caret lists: a contiguous run of hours, so item flags drawn apart make lists no row has."""
    rng = np.random.default_rng(seed)
    start, length = rng.integers(0, 6, n), rng.integers(2, 8, n)
    hours = ["^".join(str(h) for h in range(s, s + k)) for s, k in zip(start, length)]
    many = ["^".join(map(str, rng.choice(200, 3, replace=False))) for _ in range(n)]  # nearly every list its own
    return pd.DataFrame({"hours": hours, "many": many, "age": rng.integers(1, 6, n), "label": (rng.random(n) < 0.2).astype(int)})


def test_whole_list_columns_are_those_whose_commonest_lists_cover_the_rows():
    X = _hours()
    schema = Schema.infer(X, target="label")
    assert schema["hours"].kind == "list" and schema["many"].kind == "list"
    assert whole_list_columns(X, schema, 256, 0.9) == ["hours"]  # 36 distinct runs; "many" has ~900 lists
    assert whole_list_columns(X, schema, 20, 0.9) == []  # 20 of the 36 runs cover too few rows
    assert whole_list_columns(X, schema, 1000, 0.9) == ["hours", "many"]
    assert whole_list_columns(X, schema, 256, None) == []


def test_a_whole_list_column_is_one_categorical_of_its_lists_under_its_own_name():
    X = _hours()
    schema = Schema.infer(X, target="label")
    joint, fused, fused_schema = JointColumns.fit_transform(X, schema, threshold=None, whole=["hours"])
    assert joint.groups == [["hours"]] and joint.names == ["hours"]
    assert fused_schema["hours"].kind == "categorical" and fused["hours"].nunique() == X["hours"].nunique()
    assert fused_schema["many"].kind == "list"
    pd.testing.assert_frame_equal(joint.inverse_transform(fused), X)
    codes = np.random.default_rng(2).integers(0, fused["hours"].max() + 1, len(X))
    assert set(joint.inverse_transform(fused.assign(hours=codes))["hours"]) <= set(X["hours"])
