"""The Rebalancer's edges, worked by hand: the ratio bounds and messages, which seed reaches the
generator, the output's index, dtypes and flags, the cleaning's columns and its log line."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from clicksynth import ConfigError, DataError, NotFittedError
from clicksynth.generators import get_generator
from clicksynth.rebalance import Rebalancer, synthetic_count


def test_ratio_bounds_are_inclusive_where_the_docs_say():
    assert synthetic_count(10, 100, ratio=1.0) == 90  # ratio 1: balanced, allowed
    assert synthetic_count(10, 100, majority_share=0.5) == 90
    assert synthetic_count(10, 100, ratio=0.1) == 0  # already there: nothing to add, no error
    with pytest.raises(ConfigError, match=r"ratio \(minority/majority after resampling\) must be in \(0, 1\], got 0"):
        synthetic_count(10, 100, ratio=0.0)
    with pytest.raises(ConfigError, match=r"majority_share must be in \[0.5, 1\), got 1"):
        synthetic_count(10, 100, majority_share=1.0)
    with pytest.raises(ConfigError, match=r"majority_share must be in \[0.5, 1\), got 1.5"):
        synthetic_count(10, 100, majority_share=1.5)
    with pytest.raises(ConfigError, match=r"^give exactly one of ratio \(minority/majority\) and majority_share$"):
        synthetic_count(10, 100)


def test_beyond_the_target_names_the_current_balance():
    # 30 / 100 = 0.3000; majority share 100 / 130 = 0.7692.
    with pytest.raises(ConfigError, match=r"ratio 0\.3000 \(majority share 0\.7692\), beyond the requested ratio 0\.2$"):
        synthetic_count(30, 100, ratio=0.2)
    with pytest.raises(ConfigError, match=r"beyond the requested majority share 0\.8$"):
        synthetic_count(30, 100, majority_share=0.8)
    assert synthetic_count(30, 100, ratio=0.305) == 0  # 0.5 row short: rounds to none, not an error


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    n = 200
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(list("xyz"), n)})
    y = pd.Series((rng.random(n) < 0.15).astype(int), name="click")
    return X, y


def test_the_default_generator_and_the_seed_it_gets():
    assert Rebalancer().generator == "smotenc"
    by_name = Rebalancer("smote", random_state=7, generator_params={"k_neighbors": 3})._make_generator()
    assert by_name.random_state == 7 and by_name.k_neighbors == 3
    own = Rebalancer("smote", random_state=7, generator_params={"random_state": 1})._make_generator()
    assert own.random_state == 1  # a seed given for the generator wins
    assert Rebalancer("smote")._make_generator().random_state is None
    template = get_generator("smote", k_neighbors=2)
    unseeded = Rebalancer(template, random_state=7, generator_params={"k_neighbors": 4})._make_generator()
    assert unseeded is not template and unseeded.random_state == 7 and unseeded.k_neighbors == 4
    assert template.k_neighbors == 2 and template.random_state is None  # cloned, not changed
    seeded = Rebalancer(get_generator("smote", random_state=3), random_state=7)._make_generator()
    assert seeded.random_state == 3
    assert Rebalancer(get_generator("smote", random_state=3))._make_generator().random_state == 3
    with pytest.raises(ConfigError, match="generator must be a registered name or a Generator, got int"):
        Rebalancer(5)._make_generator()  # type: ignore[arg-type]


def test_output_index_names_dtypes_and_flags(xy):
    X, y = xy
    Xr, yr = Rebalancer("smote", ratio=0.5, mark="synthetic", random_state=0).fit_resample(X, y)
    n_syn = synthetic_count(int(y.sum()), int((y == 0).sum()), ratio=0.5)
    assert list(Xr.index) == list(range(len(X) + n_syn)) and list(yr.index) == list(Xr.index)
    assert yr.name == "click" and yr.dtype == y.dtype
    assert Xr["synthetic"].dtype == np.int8 and Xr["synthetic"].tolist() == [0] * len(X) + [1] * n_syn
    assert (yr.iloc[len(X) :] == 1).all()
    # Labels as an array: the series is called "label".
    _, y_arr = Rebalancer("smote", ratio=0.5, random_state=0).fit_resample(X, y.to_numpy())
    assert y_arr.name == "label"


def test_nothing_to_add_returns_the_real_rows(xy):
    X, y = xy
    current = y.sum() / (y == 0).sum()
    Xr, _ = Rebalancer("smote", ratio=float(current), mark="synthetic", random_state=0).fit_resample(X, y)
    assert len(Xr) == len(X) and (Xr["synthetic"] == 0).all()
    pd.testing.assert_frame_equal(Xr.drop(columns=["synthetic"]), X)


def test_resample_before_fit_is_a_clear_error(xy):
    X, y = xy
    with pytest.raises(NotFittedError, match=r"^Rebalancer is not fitted$"):
        Rebalancer("smote", ratio=0.5)._resample(X, y)


def test_cleaning_ignores_id_columns_and_logs_what_it_kept(xy, caplog):
    """An id column must not enter the cleaner's distances: adding one changes nothing."""
    from clicksynth.schema import Schema

    X, y = xy
    ids = X.assign(row_id=np.arange(len(X)) * 1000)
    schema = Schema.infer(ids.assign(click=y), target="click", overrides={"columns": {"row_id": "id"}})
    for clean in ("tomek", "enn"):
        with caplog.at_level(logging.INFO, logger="clicksynth.rebalance"):
            caplog.clear()
            plain_X, plain_y = Rebalancer("smote", ratio=0.6, clean=clean, mark="s", random_state=0).fit_resample(X, y)
            with_ids, with_ids_y = Rebalancer("smote", ratio=0.6, clean=clean, mark="s", random_state=0).fit_resample(ids, y, schema=schema)
        pd.testing.assert_series_equal(with_ids_y, plain_y)
        pd.testing.assert_frame_equal(with_ids.drop(columns=["row_id"]), plain_X)
        total = len(X) + synthetic_count(int(y.sum()), int((y == 0).sum()), ratio=0.6)
        assert f"{clean} cleaning kept {len(plain_y)} of {total} rows" in caplog.messages
    # ENN removes rows of both classes ("all"), more than Tomek's links on these classes.
    _, tomek = Rebalancer("smote", ratio=0.6, clean="tomek", random_state=0).fit_resample(X, y)
    _, enn = Rebalancer("smote", ratio=0.6, clean="enn", random_state=0).fit_resample(X, y)
    assert len(enn) < len(tomek)


@pytest.mark.parametrize("clean", ["tomek", "enn"])
def test_cleaning_matches_imbalanced_learn_on_the_same_distances(xy, clean):
    """On numeric columns (whose embedding is exact) our fast cleaners keep the rows imbalanced-learn's
    TomekLinks / EditedNearestNeighbours (sampling_strategy="all", as SMOTETomek / SMOTEENN; 3 neighbours) keep."""
    from imblearn.under_sampling import EditedNearestNeighbours, TomekLinks

    from clicksynth.space import MixedSpace

    X, y = xy
    X = X[["a", "b"]]
    r = Rebalancer("smote", ratio=0.6, clean=clean, random_state=0).fit(X, y)
    got = r._clean(X, y)
    Z = MixedSpace(r.generator_.schema_, ["a", "b"]).fit(X).prepare(X).embedding
    reference = TomekLinks(sampling_strategy="all") if clean == "tomek" else EditedNearestNeighbours(sampling_strategy="all")
    reference.fit_resample(Z, y.to_numpy())
    assert got.tolist() == sorted(reference.sample_indices_.tolist())
    assert len(got) < len(X)


def test_cleaning_with_categories_is_reproducible(xy):
    """Categories enter the cleaner through seeded random codes: the same seed, the same rows."""
    X, y = xy
    runs = [Rebalancer("smote", ratio=0.6, clean="tomek", mark="s", random_state=3).fit_resample(X, y) for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0][0], runs[1][0])
    # Without a seed the generator draws fresh rows, but the cleaner's codes stay fixed: on the same
    # rows it keeps the same ones. Many-level categories, whose random codes move the Tomek links
    # (other code seeds keep 244-264 of these 300 rows).
    rng = np.random.default_rng(0)
    n = 300
    wide = pd.DataFrame(
        {"a": rng.normal(size=n), "c1": rng.choice([f"u{i}" for i in range(30)], n), "c2": rng.choice([f"v{i}" for i in range(30)], n)}
    )
    labels = pd.Series((rng.random(n) < 0.2).astype(int), name="click")
    r = Rebalancer("smote", ratio=0.6, clean="tomek").fit(wide, labels)
    kept = [r._clean(wide, labels).tolist() for _ in range(4)]
    assert all(k == kept[0] for k in kept)


def test_the_generator_models_the_minority_and_gets_the_schema_given():
    """Synthetic rows come from the minority class (here the only rows with a > 2), and a schema
    passed to fit_resample reaches the generator (a numeric column declared categorical stays so)."""
    from clicksynth.schema import Schema

    rng = np.random.default_rng(1)
    n = 300
    y = pd.Series((np.arange(n) < 40).astype(int), name="click")
    X = pd.DataFrame({"a": np.where(y == 1, rng.uniform(3, 4, n), rng.uniform(-4, -3, n)), "b": rng.integers(0, 5, n).astype(float)})
    Xr, _ = Rebalancer("smote", ratio=0.5, mark="s", random_state=0).fit_resample(X, y)
    assert (Xr.loc[Xr["s"] == 1, "a"] > 2).all()
    schema = Schema.infer(X.assign(click=y), target="click", overrides={"columns": {"b": "categorical"}})
    rb = Rebalancer("smote", ratio=0.5, random_state=0)
    rb.fit_resample(X, y, schema=schema)
    assert rb.generator_.schema_["b"].kind == "categorical"


def test_input_errors_and_the_minority_label_type(xy):
    X, y = xy
    with pytest.raises(DataError, match=r"^y holds a single class; there is no minority class to augment$"):
        Rebalancer("smote", ratio=0.5).fit(X, np.zeros(len(X), dtype=int))
    with pytest.raises(DataError, match=r"\bX\b"):
        Rebalancer("smote", ratio=0.5).fit_resample([[1, 2]], [0])
    with pytest.raises(DataError, match=r"\bX\b"):
        Rebalancer("smote", ratio=0.5).fit([[1, 2]], [0])
    r = Rebalancer("smote", ratio=0.5, random_state=0).fit(X, y.to_numpy())
    assert type(r.minority_) is int and r.minority_ == 1  # a Python value, as imbalanced-learn keeps labels
    assert r.generator_.target_name_ == "label"  # unnamed labels: the generator calls them "label"
    assert Rebalancer("smote", ratio=0.5, random_state=0).fit(X, y).generator_.target_name_ == "click"
