"""The tree generators' own promises (the contract suite covers the shared ones):
adversarial random forests and ForestFlow; sequential trees' are in test_generators.py, exact
class counts through the CLI in test_cli.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clicksynth import ConfigError, get_generator
from clicksynth.generators.arf import _LeafDraw
from clicksynth.generators.forestflow import _Scaling
from clicksynth.schema import Schema


def _dependent_frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """b is a function of a, x follows a's level and the class."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, n)
    y = (rng.random(n) < 0.3).astype(int)
    return pd.DataFrame({"a": a, "b": (a * 7) % 5, "x": rng.normal(0, 0.3, n) + 2 * a + 5 * y}), y


def test_leaf_draw_takes_every_value_from_a_real_row_of_the_anchor_leaf():
    """FORGE: a leaf by its coverage, then each column from a real row of that leaf; two
    leaves with disjoint values are never mixed, and a leaf's share follows its size."""
    atoms = np.array([[0.0, 10.0]] * 30 + [[1.0, 11.0], [2.0, 12.0]] * 35)  # leaf 0: 30 rows, leaf 1: 70
    leaves = np.r_[np.zeros(30, np.int64), np.ones(70, np.int64)][None, :]
    draw = _LeafDraw.from_leaves(atoms, leaves, np.arange(2)).draw(20_000, np.random.default_rng(0))
    in_leaf0 = draw[:, 0] == 0
    assert (draw[in_leaf0, 1] == 10).all() and (draw[~in_leaf0, 1] >= 11).all()
    assert abs(in_leaf0.mean() - 0.3) < 0.02
    # Within leaf 1 the columns are drawn independently: all four pairs appear.
    pairs = set(map(tuple, draw[~in_leaf0]))
    assert pairs == {(1.0, 11.0), (1.0, 12.0), (2.0, 11.0), (2.0, 12.0)}
    # In one donor group they come from one row: only the real pairs.
    joint = _LeafDraw.from_leaves(atoms, leaves, np.zeros(2, np.int64)).draw(20_000, np.random.default_rng(0))
    assert set(map(tuple, joint)) == {(0.0, 10.0), (1.0, 11.0), (2.0, 12.0)}


def test_arf_rounds_make_the_forest_less_able_to_separate_and_keep_dependences():
    X, y = _dependent_frame(3000, 0)
    gen = get_generator("arf", random_state=0, n_jobs=1).fit(X, y)
    for history in gen.oob_accuracy_.values():
        assert history[0] > 0.6 and min(history[1:]) < history[0] - 0.1  # round 0: independent columns
    syn = gen.sample({0: 2000, 1: 2000})
    # b is a function of a: the two share a donor, so every row keeps it
    assert gen.groups_[0] != gen.groups_[2] and len(set(gen.groups_)) == 2
    assert ((syn["a"] * 7) % 5 == syn["b"]).all()
    assert syn.loc[syn.label == 1, "x"].mean() > syn.loc[syn.label == 0, "x"].mean() + 4
    # Each column from its own donor (the paper's independence within a leaf): independent columns
    # would agree 1 time in 5, the leaves keep most of the dependence.
    alone = get_generator("arf", random_state=0, n_jobs=1, dependence=None).fit(X, y)
    assert len(set(alone.groups_)) == 3
    assert ((alone.sample({0: 2000, 1: 2000}).pipe(lambda s: (s["a"] * 7) % 5 == s["b"])).mean()) > 0.8


def test_arf_rejects_bad_parameters():
    X, y = _dependent_frame(200, 1)
    for params in ({"n_trees": 0}, {"min_samples_leaf": 0}, {"delta": 0.5}, {"max_iters": 0}, {"dependence": 0.0}, {"dependence": 1.5}):
        with pytest.raises(ConfigError, match=next(iter(params))):
            get_generator("arf", **params).fit(X, y)


def test_scaling_round_trips_codes_and_values_and_never_decodes_an_unseen_code():
    rng = np.random.default_rng(0)
    cont = rng.normal(size=(500, 2))
    disc = np.column_stack([rng.choice(4, 500, p=[0.5, 0.3, 0.2, 0.0]), rng.integers(0, 2, 500)])
    s = _Scaling.fit(cont, disc, [5, 2])  # code 4 (and 3) never seen in this class
    x = s.encode(cont, disc)
    back_cont, back_disc = s.decode(x)
    np.testing.assert_allclose(back_cont, cont, atol=1e-5)
    np.testing.assert_array_equal(back_disc, disc)
    # The most frequent code gets the widest interval; the ends of [-1, 1] decode to seen codes.
    _, ends = s.decode(np.array([[0, 0, -1.0, -1.0], [0, 0, 1.0, 1.0], [0, 0, 5.0, 5.0]], np.float32))
    assert set(ends[:, 0]) <= {0, 1, 2} and ends[0, 0] == 0


def test_forestflow_follows_each_class_and_its_marginals():
    X, y = _dependent_frame(1500, 2)
    gen = get_generator("forestflow", random_state=0, n_t=10, duplicate_K=5, n_estimators=30, n_jobs=1).fit(X, y)
    syn = gen.sample({0: 1500, 1: 1500})
    assert syn.loc[syn.label == 1, "x"].mean() > syn.loc[syn.label == 0, "x"].mean() + 3
    real = X.loc[y == 0, "a"].value_counts(normalize=True)
    made = syn.loc[syn.label == 0, "a"].value_counts(normalize=True)
    assert 0.5 * real.subtract(made, fill_value=0).abs().sum() < 0.15  # total variation of a's marginal
    assert ((syn["a"] * 7) % 5 == syn["b"]).mean() > 0.3  # above the 1 in 5 of independent columns


def test_forestflow_fits_its_levels_on_a_dask_cluster_or_any_thread_count_to_the_same_model():
    from dask.distributed import LocalCluster

    X, y = _dependent_frame(400, 3)
    params = {"n_t": 3, "duplicate_K": 2, "n_estimators": 5, "random_state": 4}
    here = get_generator("forestflow", n_jobs=2, **params).fit(X, y)  # and on another thread count
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        there = get_generator("forestflow", scheduler=cluster.scheduler_address, n_jobs=1, **params).fit(X, y)
    assert there.levels_ == here.levels_
    pd.testing.assert_frame_equal(there.sample(300, random_state=1), here.sample(300, random_state=1))


def test_forestflow_rejects_bad_parameters():
    X, y = _dependent_frame(200, 1)
    for params in ({"n_t": 0}, {"duplicate_K": 0}, {"max_bin": 1}, {"learning_rate": 0.0}, {"n_jobs": -1}):
        with pytest.raises(ConfigError, match=next(iter(params))):
            get_generator("forestflow", **params).fit(X, y)


def test_arf_model_state_keeps_the_donor_groups_and_reads_files_written_before_them():
    X, y = _dependent_frame(400, 3)
    gen = get_generator("arf", random_state=0, n_jobs=1, n_trees=5, max_iters=2).fit(X, y)
    state, groups = gen._get_state(), gen.groups_.copy()
    gen._set_state(state)
    np.testing.assert_array_equal(gen.groups_, groups)
    pd.testing.assert_frame_equal(gen.rows_[1], X[y == 1].reset_index(drop=True))
    # before the real rows were kept: the atoms decoded, a's and b's still from one donor
    del state.frames["c0_rows"], state.frames["c1_rows"]
    gen._set_state(state)
    assert gen.rows_ is None
    syn = gen.sample({0: 200, 1: 200})
    assert len(syn) == 400 and ((syn["a"] * 7) % 5 == syn["b"]).all()
    # ... and before donor groups: every atom its own donor
    del state.arrays["groups"]
    gen._set_state(state)
    np.testing.assert_array_equal(gen.groups_, np.arange(len(groups)))
    assert len(gen.sample({0: 50, 1: 50})) == 100


def test_arf_writes_its_donors_values_the_rare_ones_and_whole_lists_included():
    """Dependences are measured on the raw values and every value is copied from its donor:
    an ad id beyond the encoder's ``max_categories`` (its "other" code) still comes with its own
    advertiser, and a list is one real row's list, not top items topped up from the tail."""
    rng = np.random.default_rng(5)
    n = 3000
    ad = rng.zipf(1.3, n) % 400  # a long tail: most ids beyond the 32 codes below
    items = [f"{i}" for i in range(40)]
    lists = ["^".join(sorted(rng.choice(items, rng.integers(1, 6), replace=False), key=int)) for _ in range(n)]
    y = (rng.random(n) < 0.2).astype(int)
    X = pd.DataFrame({"ad": ad.astype(str), "advertiser": (ad * 13 % 97).astype(str), "hist": lists, "x": rng.normal(size=n) + 3 * y})
    X["ad"], X["advertiser"] = X["ad"].astype("category"), X["advertiser"].astype("category")
    schema = Schema.infer(X.assign(label=y), target="label").with_kinds({"ad": "categorical", "advertiser": "categorical"})
    assert schema["hist"].kind == "list"
    gen = get_generator("arf", random_state=0, n_jobs=1, n_trees=5, max_iters=3, max_categories=32).fit(X, y, schema=schema)
    syn = gen.sample({0: 3000, 1: 3000})
    tail = ~syn["ad"].isin(X["ad"].value_counts().index[:31])
    assert tail.mean() > 0.2
    pairs = set(zip(X["ad"], X["advertiser"]))
    assert all(p in pairs for p in zip(syn["ad"], syn["advertiser"]))
    for label in (0, 1):
        assert set(syn.loc[syn.label == label, "hist"]) <= set(X.loc[y == label, "hist"])


def test_forestflow_models_dependent_columns_as_one_column_of_real_tuples():
    X, y = _dependent_frame(600, 4)
    X["a"], X["b"] = X["a"].astype("category"), X["b"].astype("category")
    gen = get_generator("forestflow", random_state=0, n_t=3, duplicate_K=2, n_estimators=5, n_jobs=1, dependence=0.8).fit(X, y)
    assert gen.joint_.groups == [["a", "b"]]
    syn = gen.sample({0: 300, 1: 300})
    assert list(syn.columns) == [*X.columns, "label"]
    assert ((syn["a"].astype(int) * 7) % 5 == syn["b"].astype(int)).all()
    loaded = get_generator("forestflow")
    loaded._set_state(gen._get_state())
    assert loaded.joint_.groups == [["a", "b"]] and loaded.joint_.names == gen.joint_.names
    assert get_generator("forestflow", dependence=None, n_t=2, n_estimators=2, n_jobs=1).fit(X, y).joint_.groups == []
    with pytest.raises(ConfigError, match="dependence"):
        get_generator("forestflow", dependence=1.5).fit(X, y)


def test_forestflow_draws_whole_training_lists_where_few_lists_cover_the_rows():
    rng = np.random.default_rng(5)
    n = 800
    start, length = rng.integers(0, 8, n), rng.integers(3, 10, n)
    X = pd.DataFrame({"hours": ["^".join(str(h) for h in range(s, s + k)) for s, k in zip(start, length)], "x": rng.normal(size=n)})
    y = (rng.random(n) < 0.3).astype(int)
    params = {"random_state": 0, "n_t": 3, "duplicate_K": 2, "n_estimators": 5, "n_jobs": 1}
    gen = get_generator("forestflow", **params).fit(X, y)
    assert gen.joint_.groups == [["hours"]]
    seen = set(X["hours"])
    assert set(gen.sample({0: 500, 1: 500})["hours"]) <= seen
    atoms = get_generator("forestflow", whole_lists=None, **params).fit(X, y)  # a length and item flags
    assert atoms.joint_.groups == [] and not set(atoms.sample({0: 500, 1: 500})["hours"]) <= seen
    with pytest.raises(ConfigError, match="whole_lists"):
        get_generator("forestflow", whole_lists=1.5).fit(X, y)
