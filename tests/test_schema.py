from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

from clicksynth import ConfigError, DataError, Schema
from tests.conftest import make_ads


def test_infers_every_kind():
    df = pl.DataFrame(
        {
            "log_id": list(range(200)),
            "uid": [i // 2 for i in range(200)],
            "adv_id": [1000 + (i * 7) % 150 for i in range(200)],
            "age": [i % 5 for i in range(200)],
            "price": [float(i) / 3 for i in range(200)],
            "count": [i * 13 % 97 for i in range(200)],
            "city_name": ["a", "b", "c", "d"] * 50,
            "clicks": ["1^2", "3", "", "4^5^6"] * 50,
            "pt_d": [202206031215 + i for i in range(200)],
            "label": [0, 1] * 100,
        }
    )
    s = Schema.infer(df, target="label")
    kinds = {c.name: c.kind for c in s}
    assert kinds == {
        "log_id": "id",
        "uid": "id",
        "adv_id": "categorical",
        "age": "categorical",
        "price": "numeric",
        "count": "numeric",
        "city_name": "categorical",
        "clicks": "list",
        "pt_d": "datetime",
        "label": "target",
    }
    assert s.user_column == "uid"
    assert s["log_id"].role == "row"
    assert s["pt_d"].fmt == "%Y%m%d%H%M"
    assert s.features == ["adv_id", "age", "price", "count", "city_name", "clicks", "pt_d"]


def test_day_index_datetime_and_high_cardinality_ids_are_categorical():
    df = pl.DataFrame({"pt_d": [1, 2, 3, 4, 5, 6, 7] * 20, "task_id": list(range(140)), "label": [0, 1] * 70})
    s = Schema.infer(df, target="label")
    assert s["pt_d"].kind == "datetime" and s["pt_d"].fmt == "day_index"
    # 140 distinct ids in 140 rows: the name says it is a code, not a row key.
    assert s["task_id"].kind == "categorical"


def test_overrides_from_toml(tmp_path):
    path = tmp_path / "kinds.toml"
    path.write_text('target = "label"\n[columns]\nage = "numeric"\nslot_id = "categorical"\n')
    s = Schema.infer(make_ads(), overrides=path)
    assert s.target == "label"
    assert s["age"].kind == "numeric"


def test_override_unknown_column_names_it(tmp_path):
    path = tmp_path / "kinds.toml"
    path.write_text('[columns]\nagee = "numeric"\n')
    with pytest.raises(ConfigError, match=r"'agee'.*did you mean 'age'"):
        Schema.infer(make_ads(), target="label", overrides=path)


def test_override_unknown_kind_and_key():
    with pytest.raises(ConfigError, match="unknown kind 'number'"):
        Schema.infer(make_ads(), target="label", overrides={"columns": {"age": "number"}})
    with pytest.raises(ConfigError, match="unknown key"):
        Schema.infer(make_ads(), target="label", overrides={"colums": {}})


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 1, 2, 1], "not binary"),
        ([1, 1, 1, 1], "single class"),
        ([0.0, 1.0, None, 1.0], "missing value.*row 2"),
        ([5, 7, 5, 7], "expected 0/1"),
    ],
)
def test_bad_targets(labels, message):
    df = pl.DataFrame({"x": [1, 2, 3, 4], "label": labels})
    with pytest.raises(DataError, match=message):
        Schema.infer(df, target="label")


def test_misspelled_target_suggests():
    with pytest.raises(DataError, match=r"'lable' not found.*did you mean 'label'"):
        Schema.infer(make_ads(), target="lable")


def test_minus_one_one_target_accepted():
    s = Schema.infer(pl.DataFrame({"x": [1, 2, 3], "label": [-1, 1, -1]}), target="label")
    _, y = s.split_xy(pl.DataFrame({"x": [1, 2, 3], "label": [-1, 1, -1]}))
    assert y.tolist() == [0, 1, 0]


def test_mixed_list_separators_name_row():
    df = pl.DataFrame({"hist_list": ["1^2", "3^4", "5,6", "7"], "label": [0, 1, 0, 1]})
    with pytest.raises(DataError, match=r"'hist_list'.*row 2.*','"):
        Schema.infer(df, target="label")


def test_empty_frame():
    with pytest.raises(DataError, match="empty"):
        Schema.infer(pl.DataFrame({"a": []}), target=None)


def test_round_trip_and_split_join():
    ads = make_ads()
    s = Schema.infer(ads, target="label")
    assert Schema.from_dict(s.to_dict()) == s
    X, y = s.split_xy(ads)
    assert "label" not in X and y.isin([0, 1]).all()
    back = s.join_xy(X, y)
    pd.testing.assert_frame_equal(back, ads, check_dtype=False)


def test_validate_names_missing_column():
    s = Schema.infer(make_ads(), target="label")
    with pytest.raises(DataError, match="price"):
        s.validate(make_ads().drop(columns=["price"]))


def test_str_renders_table():
    text = str(Schema.infer(make_ads(), target="label"))
    assert "onlinerate" in text and "list" in text and text.count("\n") == 8


def test_pandas_input_with_numpy_ints():
    df = pd.DataFrame({"a": np.arange(50) % 3, "label": np.arange(50) % 2})
    assert Schema.infer(df, target="label")["a"].kind == "categorical"


def test_a_stray_string_in_a_numeric_column_is_warned_about():
    """One 'n/a' among numbers makes the whole column text; the user is told which column and value."""
    import polars as pl

    from clicksynth.exceptions import ClicksynthWarning

    values = [str((i % 40) * 1.5) for i in range(199)] + ["n/a"]
    frame = pl.DataFrame({"price": values, "label": [0, 1] * 100})
    with pytest.warns(ClicksynthWarning, match=r"'price' .* all but 1 of 200 rows \('n/a'\)"):
        schema = Schema.infer(frame, target="label")
    assert schema["price"].kind == "categorical"
    distinct = pl.DataFrame({"price": [str(i * 1.5) for i in range(199)] + ["?"], "label": [0, 1] * 100})
    with pytest.warns(ClicksynthWarning, match=r"'price'.*\('\?'\)"):  # nearly all distinct: read as an id, dropped
        Schema.infer(distinct, target="label")
    clean = pl.DataFrame({"city": [f"c{i % 30}" for i in range(200)], "label": [0, 1] * 100})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Schema.infer(clean, target="label")  # real text: no warning
