"""The SMOTE family's wiring: documented defaults, the imbalanced-learn samplers each member
configures, the fallback to plain SMOTE when a variant finds nothing to focus on, and the
cleaned variants' rounds of drawing and cleaning."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from clicksynth import get_generator
from clicksynth.generators.smote import SmoteEnn, _smote_rows

COMMON = {"max_categories": 32, "max_rows_per_class": 50_000, "random_state": None, "verbose": False}


def test_documented_defaults():
    assert get_generator("random_oversample").get_params() == {**COMMON, "shrinkage": None}
    for name in ("smote", "borderline_smote", "adasyn", "smote_tomek", "smote_enn"):
        assert get_generator(name).get_params() == {**COMMON, "k_neighbors": 5}, name
    assert get_generator("smotenc").get_params() == {**COMMON, "k_neighbors": 5, "max_categories": 256}
    for name in ("smoten", "svm_smote"):  # quadratic in the rows: a smaller cap
        assert get_generator(name).get_params() == {**COMMON, "k_neighbors": 5, "max_rows_per_class": 5000}, name
    # Values given reach the shared machinery (subclasses pass them on to it).
    given = {"max_categories": 7, "max_rows_per_class": 9, "verbose": True}
    for name in ("random_oversample", "smotenc", "smoten", "svm_smote"):
        assert {k: get_generator(name, **given).get_params()[k] for k in given} == given, name


@pytest.mark.parametrize(
    ("name", "neighbours"),
    [
        ("smote", {"k_neighbors": 4}),
        ("borderline_smote", {"k_neighbors": 4, "m_neighbors": 7}),
        ("svm_smote", {"k_neighbors": 4, "m_neighbors": 7}),
        ("adasyn", {"n_neighbors": 4}),
    ],
)
def test_each_sampler_gets_the_strategy_seed_and_neighbours(name, neighbours):
    """k neighbours plus the row itself (and 2k + 1 for the danger / support-vector test)."""
    sampler = get_generator(name)._sampler({1: 10, 0: 3}, 7, 3)
    params = sampler.get_params()
    assert params["sampling_strategy"] == {1: 10, 0: 3} and params["random_state"] == 7
    assert {key: params[key].n_neighbors for key in neighbours} == neighbours


def test_random_oversampling_and_cleaners_are_configured():
    ros = get_generator("random_oversample", shrinkage=0.3)._sampler({1: 10}, 7, 3).get_params()
    assert ros["sampling_strategy"] == {1: 10} and ros["shrinkage"] == 0.3 and ros["random_state"] == 7
    enn = get_generator("smote_enn")._cleaner(0).get_params()
    assert enn["sampling_strategy"] == "all" and enn["n_neighbors"].n_neighbors == 4  # 3 neighbours plus the row


def _separated(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (np.arange(n) < 80).astype(int)
    X = pd.DataFrame(
        {"a": np.where(y == 1, rng.normal(10, 1, n), rng.normal(0, 1, n)), "b": np.where(y == 1, rng.normal(10, 1, n), rng.normal(0, 1, n))}
    )
    return X, y


@pytest.mark.parametrize(("name", "what"), [("adasyn", "hard"), ("borderline_smote", "danger")])
def test_variants_fall_back_to_plain_smote_on_separated_classes_and_say_so(name, what, caplog):
    X, y = _separated()
    gen = get_generator(name, random_state=0, max_rows_per_class=60).fit(X, y)
    with caplog.at_level(logging.INFO, logger="clicksynth.generators.smote"):
        out = gen.sample({1: 200})
    lines = [r.getMessage() for r in caplog.records if r.name == "clicksynth.generators.smote"]
    assert lines == [f"{name} found no {what} rows for class 1; using SMOTE"]
    assert len(out) == 200 and (out["a"] > 5).all()  # interpolations between click rows only
    # ... among the 60 click rows the cap keeps (61-68 nearest click rows over seeds), not the dozen a
    # 60-row sample of both classes holds (23-38)
    clicks = X[y == 1][["a", "b"]].to_numpy()
    nearest = np.argmin(((out[["a", "b"]].to_numpy()[:, None] - clicks[None]) ** 2).sum(-1), axis=1)
    assert len(set(nearest)) > 50


class _Keep:
    """A cleaner keeping the real rows and the synthetic rows that ``keep`` selects."""

    calls = 0

    def __init__(self, keep) -> None:
        self.keep = keep

    def fit_resample(self, Z: np.ndarray, y: np.ndarray) -> None:
        _Keep.calls += 1
        idx = np.arange(len(Z))
        self.sample_indices_ = idx[self.keep(idx, len(Z))]


def _cleaned(keep) -> SmoteEnn:
    X, y = _separated()
    gen = SmoteEnn(random_state=0, k_neighbors=3, max_rows_per_class=60).fit(X, y)  # contexts of 60 + 60 rows
    gen._cleaner = lambda seed: _Keep(keep)  # type: ignore[method-assign]
    return gen


def test_cleaned_rounds_keep_survivors_in_order_and_fill_with_uncleaned_rows(caplog):
    caplog.set_level(logging.WARNING, logger="clicksynth.generators.smote")
    n_real = 120
    # Keeping every row: one round of ceil(1.5 n) + 2 SMOTE rows, the first n returned (the first included).
    gen = _cleaned(lambda idx, m: np.ones(m, bool))
    Z, y = gen._context(1, np.random.default_rng(1))
    got = gen._draw(1, 40, np.random.default_rng(1))
    rng = np.random.default_rng(1)
    gen._context(1, rng)
    np.testing.assert_array_equal(got, _smote_rows(Z, y, 1, 62, 3, rng)[:40])
    # Keeping every other synthetic row: survivors accumulate over rounds until n.
    gen = _cleaned(lambda idx, m: (idx < n_real) | (idx % 2 == 0))
    _Keep.calls = 0
    assert len(gen._draw(1, 40, np.random.default_rng(2))) == 40 and _Keep.calls == 3  # 31 of 62 survive, then 8 of 16, then 1 of 4
    assert not caplog.records  # enough survivors: no warning
    # Keeping one synthetic row a round: four rounds, then uncleaned rows and a warning.
    gen = _cleaned(lambda idx, m: idx <= n_real)
    _Keep.calls = 0
    with caplog.at_level(logging.WARNING, logger="clicksynth.generators.smote"):
        assert len(gen._draw(1, 40, np.random.default_rng(3))) == 40
    assert _Keep.calls == 4
    assert [r.getMessage() for r in caplog.records] == ["smote_enn: cleaning removed most rows; 36 of 40 rows are uncleaned SMOTE rows"]


def test_smoten_cuts_k_to_a_tiny_class():
    """Three click rows: SMOTE-N asks for two neighbours, not its default five."""
    X = pd.DataFrame({"c": ["a", "b", "a"] + ["z"] * 40, "d": ["x", "x", "y"] + ["w"] * 40})
    y = np.r_[np.ones(3, int), np.zeros(40, int)]
    out = get_generator("smoten", random_state=0).fit(X, y).sample({1: 50})
    assert len(out) == 50 and set(out["c"]) <= {"a", "b"} and set(out["d"]) <= {"x", "y"}


def test_smoten_draws_numbers_within_their_bins_on_any_scale():
    """SMOTE-N cuts standardised numbers into quantile bins and draws a value inside its bin:
    on a column of spread 1,000 the draws stay spread like the class's values, none piled on
    the range's edges (standardising by multiplying put the bins a million spreads out, and
    three draws in four were clipped to the training maximum)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(5000, 1000, 300), "c": rng.choice(list("ab"), 300)})
    y = np.r_[np.zeros(250, int), np.ones(50, int)]
    out = get_generator("smoten", random_state=0).fit(X, y).sample({1: 200})
    assert out["x"].between(X["x"].min(), X["x"].max()).all() and out["x"].value_counts().max() <= 2
    assert abs(out["x"].median() - X["x"][y == 1].median()) < 500


def test_smoten_cuts_each_number_into_ten_quantile_bins():
    """SMOTE-N reads a number as its bin among ten real-quantile bins: nine inner edges."""
    from clicksynth.generators.smote import _SMOTEN_BINS

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=300), "c": rng.choice(list("ab"), 300)})
    y = np.r_[np.zeros(250, int), np.ones(50, int)]
    edges = get_generator("smoten", random_state=0).fit(X, y).bin_edges_
    z = (X["x"] - X["x"].mean()) / X["x"].std(ddof=0)
    assert _SMOTEN_BINS == 10 and len(edges) == 1
    np.testing.assert_allclose(edges[0], np.quantile(z, np.linspace(0, 1, 11)[1:-1]))


def test_the_one_hot_search_space_is_single_precision():
    """SMOTE's one-hot design (a column per category, the widest) is float32: half the memory
    of the neighbour search; SMOTE-NC's codes and SMOTE-N's bins stay float64."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=60), "c": rng.choice(list("abc"), 60)})
    y = np.r_[np.zeros(45, int), np.ones(15, int)]
    dtypes = {name: get_generator(name, random_state=0).fit(X, y).design_.dtype for name in ("smote", "smotenc", "smoten")}
    assert dtypes == {"smote": np.float32, "smotenc": np.float64, "smoten": np.float64}


def test_a_class_of_one_row_is_repeated_not_interpolated():
    """One click row has no neighbour to interpolate towards: SMOTE and SMOTE-NC repeat it."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=60), "c": rng.choice(list("abc"), 60)})
    y = np.r_[np.zeros(59, int), [1]]
    for name in ("smote", "smotenc"):
        out = get_generator(name, random_state=0).fit(X, y).sample({1: 3})
        assert (out["c"] == X["c"].iloc[-1]).all() and np.allclose(out["x"], X["x"].iloc[-1], atol=1e-6), name


def test_smotenc_codes_keep_at_least_256_categories():
    """SMOTE-NC's codes do not widen the neighbour search, so a column keeps at least 256 codes
    (255 values and "other") whatever max_categories says; SMOTE's one-hot design keeps the cap."""
    X = pd.DataFrame({"x": np.random.default_rng(0).normal(size=600), "c": [f"v{i % 300}" for i in range(600)]})
    y = np.r_[np.zeros(450, int), np.ones(150, int)]
    cards = {
        (name, cap): get_generator(name, random_state=0, max_categories=cap).fit(X, y).encoder_.cardinalities
        for name, cap in (("smotenc", 8), ("smotenc", 300), ("smote", 8))
    }
    assert cards == {("smotenc", 8): [256], ("smotenc", 300): [300], ("smote", 8): [8]}


def _stub_draw(made, n: int, seed: int = 0, asks: list[int] | None = None):
    """``_draw`` of SMOTE with a stand-in sampler whose k-th call makes ``made[k](ask)`` new rows
    (numbered from 1000 on, so they are told apart from real rows); the asks are recorded."""
    gen = get_generator("smote", random_state=0, max_rows_per_class=60).fit(*_separated())
    asks = [] if asks is None else asks
    serial = iter(range(1000, 10**6))

    class Stub:
        def __init__(self, strategy: dict[int, int]) -> None:
            self.strategy = strategy

        def fit_resample(self, Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            asks.append(self.strategy[1] - int((y == 1).sum()))
            k = made[len(asks) - 1](asks[-1])
            new = np.array([[next(serial)] * Z.shape[1] for _ in range(k)], float).reshape(k, Z.shape[1])
            return np.vstack([Z, new]), np.r_[y, np.ones(k, int)]

    gen._sampler = lambda strategy, seed, k: Stub(strategy)  # type: ignore[method-assign]
    rows = gen._draw(1, n, np.random.default_rng(seed))
    return rows[:, 0], asks


def test_rounds_ask_for_what_is_missing_and_keep_a_uniform_draw_of_n():
    """A sampler may round its counts: the first round asks n, each later one 1.25 times what is
    missing plus 2; rows accumulate over rounds; a surplus is cut by a uniform draw of n rows
    (distinct, in their order); a round making nothing adds nothing; eight empty rounds fail."""
    rows, asks = _stub_draw([lambda a: a + 3], 20)
    assert asks == [20] and len(rows) == 20 and len(set(rows)) == 20 and (np.diff(rows) > 0).all()
    assert set(rows) < set(range(1000, 1023)) and not np.array_equal(rows, np.arange(1000, 1020))
    rows, asks = _stub_draw([lambda a: a - 5, lambda a: a], 20)
    assert asks == [20, 9] and len(rows) == 20 and len(set(rows)) == 20
    rows, asks = _stub_draw([lambda a: 0, lambda a: a], 20)
    assert asks == [20, 27] and len(rows) == 20 and (rows >= 1000).all()
    rows, asks = _stub_draw([lambda a: 1] * 6, 6)
    assert asks == [6, 9, 7, 6, 5, 4] and sorted(rows) == list(range(1000, 1006))
    asks = []
    with pytest.raises(RuntimeError, match=r"^smote produced 0 of 5 rows$"):
        _stub_draw([lambda a: 0] * 9, 5, asks=asks)
    assert len(asks) == 8
