from __future__ import annotations

import pytest

from clicksynth import DataError, list_datasets, load_dataset


def test_embedded_digix2020():
    ds = load_dataset("digix2020")
    assert 30_000 <= ds.frame.height <= 60_000
    assert ds.frame.width == 36
    assert abs(ds.frame["label"].mean() - 0.0345) < 0.002
    assert ds.user_column == "uid"


def test_embedded_digix2022_has_feeds():
    ds = load_dataset("digix2022")
    assert ds.frame.shape == (2999, 35)
    assert ds.feeds is not None and ds.feeds.shape == (2999, 28)
    assert int(ds.frame["label"].sum()) == 46


def test_listing_matches_files():
    rows = {d["name"]: d for d in list_datasets()}
    assert rows["digix2020"]["rows"] == load_dataset("digix2020").frame.height
    assert rows["digix2022"]["available"]
    assert "license not stated" in rows["digix2020"]["source"]


def test_unknown_dataset():
    with pytest.raises(DataError, match="did you mean 'digix2020'"):
        load_dataset("digx2020")
