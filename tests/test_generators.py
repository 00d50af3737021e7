from __future__ import annotations

import itertools
import json
import zipfile
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold, cross_validate

from clicksynth import ConfigError, DataError, NotFittedError, Schema, get_generator, list_generators
from clicksynth.generators import Generator
from clicksynth.generators.base import counts_for
from clicksynth.rebalance import Rebalancer, synthetic_count
from clicksynth.testing import make_ad_frame


@pytest.fixture(scope="module")
def xy():
    df = make_ad_frame(600, seed=5).drop(columns=["uid"])
    return df.drop(columns=["label"]), df["label"]


def test_ratio_arithmetic_both_conventions():
    # minority / majority after resampling: 0.25 * 900 - 100 = 125
    assert synthetic_count(100, 900, ratio=0.25) == 125
    # majority share r: |X_syn| = |X_maj| (1/r - 1) - |X_min| = 900 * 0.25 - 100
    assert synthetic_count(100, 900, majority_share=0.8) == 125
    assert synthetic_count(100, 900, majority_share=0.5) == 800
    for kw in ({"ratio": 0}, {"ratio": 1.5}, {"majority_share": 0.4}, {"majority_share": 1.0}):
        with pytest.raises(ConfigError):
            synthetic_count(100, 900, **kw)
    with pytest.raises(ConfigError, match="already has"):
        synthetic_count(300, 900, ratio=0.2)
    with pytest.raises(ConfigError, match="exactly one"):
        synthetic_count(100, 900, ratio=0.2, majority_share=0.8)


def test_ratio_rounds_to_the_nearest_achievable_balance():
    # The synthetic count is the whole number that brings minority/majority closest to the ratio
    # (truncating or rounding up would miss it by more than half a row for some majority sizes).
    for n_majority in range(900, 1000):
        n = synthetic_count(100, n_majority, ratio=0.25)
        assert abs((100 + n) / n_majority - 0.25) <= 0.5 / n_majority + 1e-12, n_majority
        m = synthetic_count(100, n_majority, majority_share=0.8)  # minority rows: n_majority x (1/0.8 - 1)
        assert abs(100 + m - n_majority * 0.25) <= 0.5 + 1e-9, n_majority


def test_exact_counts_split_by_priors():
    assert counts_for(10, {0: 0.97, 1: 0.03}) == {0: 10, 1: 0}
    assert counts_for(101, {0: 0.5, 1: 0.5}) in ({0: 51, 1: 50}, {0: 50, 1: 51})
    assert sum(counts_for(12345, {0: 0.9655, 1: 0.0345}).values()) == 12345


@pytest.mark.parametrize("kw", [{"ratio": 0.5}, {"majority_share": 0.75}])
def test_rebalancer_reaches_target(xy, kw):
    X, y = xy
    Xr, yr = Rebalancer("smotenc", random_state=0, mark="synthetic", **kw).fit_resample(X, y)
    n_min, n_maj = (yr == 1).sum(), (yr == 0).sum()
    if "ratio" in kw:
        assert abs(n_min / n_maj - kw["ratio"]) < 2 / n_maj
    else:
        assert abs(n_maj / len(yr) - kw["majority_share"]) < 2 / len(yr)
    assert (Xr["synthetic"] == 1).sum() == len(yr) - len(y)
    pd.testing.assert_frame_equal(Xr.iloc[: len(X)].drop(columns=["synthetic"]), X.reset_index(drop=True))


def test_rebalancer_with_cleaning_removes_rows(xy):
    X, y = xy
    _, yr = Rebalancer("smote", ratio=0.6, clean="tomek", random_state=0).fit_resample(X, y)
    assert len(yr) < len(y) + synthetic_count(int((y == 1).sum()), int((y == 0).sum()), ratio=0.6)
    with pytest.raises(ConfigError, match="clean"):
        Rebalancer("smote", ratio=0.6, clean="bleach").fit_resample(X, y)


def test_synthetic_flags_follow_the_rows_through_cleaning(xy):
    """After Tomek cleaning removes rows of both kinds, the rows flagged real are real rows, in
    their order, and the rows flagged synthetic are generated clicks."""
    X, y = xy
    Xr, yr = Rebalancer("smote", ratio=0.6, clean="tomek", mark="synthetic", random_state=0).fit_resample(X, y)
    real_rows = Xr[Xr["synthetic"] == 0].drop(columns=["synthetic"])
    original = [tuple(r) for r in X.astype(str).to_numpy()]
    kept = [tuple(r) for r in real_rows.astype(str).to_numpy()]
    position = {row: i for i, row in enumerate(original)}
    assert all(row in position for row in kept) and [position[r] for r in kept] == sorted(position[r] for r in kept)
    assert len(kept) < len(X)  # cleaning removed real rows too
    assert (yr[Xr["synthetic"] == 1] == 1).all() and (Xr["synthetic"] == 1).sum() > 0


def test_rebalancer_accepts_generator_instance_and_other_labels(xy):
    X, y = xy
    labels = np.where(y == 1, "click", "skip")
    _, yr = Rebalancer(get_generator("bootstrap"), ratio=0.5, random_state=1).fit_resample(X, labels)
    assert set(yr) == {"click", "skip"}
    assert (yr == "click").sum() == round(0.5 * (labels == "skip").sum())


class _Recorder(ClassifierMixin, BaseEstimator):
    """Records how many rows it is fitted and scored on."""

    fitted: ClassVar[list[int]] = []
    scored: ClassVar[list[int]] = []

    def fit(self, X, y):
        _Recorder.fitted.append(len(X))
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        _Recorder.scored.append(len(X))
        return np.tile([0.5, 0.5], (len(X), 1))

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


def test_pipeline_keeps_synthetic_rows_out_of_validation(xy):
    X, y = xy
    _Recorder.fitted, _Recorder.scored = [], []
    pipe = Pipeline([("aug", Rebalancer("smote", ratio=1.0, random_state=0)), ("clf", _Recorder())])
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    cross_validate(pipe, X, y, cv=folds, scoring="roc_auc")
    fold_sizes = sorted(len(te) for _, te in folds)
    assert sorted(_Recorder.scored) == fold_sizes  # validation folds: real rows only
    for (tr, _), fitted in zip(folds, _Recorder.fitted):
        y_tr = y.iloc[tr]
        assert fitted == len(tr) + synthetic_count(int((y_tr == 1).sum()), int((y_tr == 0).sum()), ratio=1.0)


def test_one_class_and_unknown_names(xy):
    X, y = xy
    with pytest.raises(DataError, match="single class"):
        get_generator("smote").fit(X, np.zeros(len(X), dtype=int))
    with pytest.raises(DataError, match="single class"):
        Rebalancer("smote", ratio=0.5).fit_resample(X, np.ones(len(X), dtype=int))
    with pytest.raises(ConfigError, match="did you mean 'smotenc'"):
        get_generator("smotnc")
    with pytest.raises(ConfigError, match="k_neighbors"):
        get_generator("smote", k_neigbors=3)
    with pytest.raises(DataError, match="entirely missing"):
        get_generator("bootstrap").fit(X.assign(empty=np.nan), y)
    with pytest.raises(DataError, match="'price' has an infinite value at row 3"):
        get_generator("bootstrap").fit(X.assign(price=np.where(np.arange(len(X)) == 3, np.inf, X.price)), y)


def test_input_and_state_errors_say_exactly_what_is_wrong(xy):
    from clicksynth.generators.base import _cast

    X, y = xy
    with pytest.raises(DataError, match=r"^X has no columns$"):
        get_generator("bootstrap").fit(X.iloc[:, :0], y)
    with pytest.raises(DataError, match=r"^X has no rows$"):
        get_generator("bootstrap").fit(X.iloc[:0], y[:0])
    with pytest.raises(DataError, match=r"^fit needs labels: pass y \(array or Series\) or the name of the label column in X$"):
        get_generator("bootstrap").fit(X, None)
    with pytest.raises(NotFittedError, match=r"^SmoteNC is not fitted yet; call fit\(X, y\) before sample\(\)$"):
        get_generator("smotenc").sample(5)
    mixed = np.where(np.arange(len(X)) % 2 == 0, "a", None).astype(object)
    mixed[1] = 1.5  # a table read by pandas can hold this; inferring a schema cannot (given one, fit checks)
    with pytest.raises(DataError, match=r"^categorical column 'mixed' mixes value types \['float', 'str'\]; make them all strings$"):
        get_generator("bootstrap").fit(X.assign(mixed=mixed), y, schema=Schema.infer(X.assign(mixed="a")))
    for dtype in ("int64", "uint8"):  # restoring a column the generator left with gaps
        with pytest.raises(ValueError, match=r"^missing values in an integer column$"):
            _cast(pd.Series([1.0, np.nan]), dtype)


def test_labels_minus_one_and_one_and_numbers_given_as_text(xy):
    """-1/1 labels are clicks (1) and non-clicks (-1); any other value is refused; a numeric column
    held as text with gaps is numbers with gaps, not bad values."""
    X, y = xy
    out = get_generator("bootstrap", random_state=0).fit(X, np.where(y == 1, 1, -1)).sample({0: 5, 1: 3})
    assert out["label"].tolist() == [0] * 5 + [1] * 3 and out["label"].dtype == np.int64
    with pytest.raises(DataError, match=r"must be binary 0/1 \(or -1/1\), got values \['-2', '1'\]"):
        get_generator("bootstrap").fit(X, np.where(y == 1, 1, -2))
    text = X.assign(n=np.where(np.arange(len(X)) % 4 == 0, None, np.arange(len(X)).astype(str)).astype(object))
    gen = get_generator("bootstrap", random_state=0).fit(
        text, y, schema=Schema.infer(X.assign(n=1.0), overrides={"columns": {"n": "numeric"}})
    )
    assert gen.n_features_in_ == text.shape[1]


def test_draw_errors_name_the_generator_and_empty_draws_keep_integer_labels(xy):
    """A generator that returns the wrong number of rows is named in the error; a draw of no rows
    has an integer label column; the sampling seed spans 64 bits; a value at the range check's
    tolerance passes."""
    from clicksynth.exceptions import TrainingError

    X, y = xy
    bootstrap = type(get_generator("bootstrap"))

    class Short(bootstrap):
        def _sample(self, n, label, rng):
            return super()._sample(n - 1, label, rng)

    with pytest.raises(TrainingError, match=r"^Short produced 2 rows of class 1, not 3$"):
        Short(random_state=0).fit(X, y).sample({1: 3})
    gen = get_generator("bootstrap", random_state=0).fit(X, y)
    assert gen.sample({0: 0, 1: 0})["label"].dtype == np.int64
    seeds = [get_generator("bootstrap", random_state=k).fit(X, y).sample_seed_ for k in range(8)]
    assert max(seeds) >= 2**32 and len(set(seeds)) == 8
    c, (lo, hi) = next(iter(gen.ranges_.items()))
    edge = gen.sample({0: 2}).drop(columns="label").assign(**{c: [hi + 1e-9, lo - 1e-9]})
    gen._check_output(edge)
    with pytest.raises(TrainingError, match="outside the training range"):
        gen._check_output(edge.assign(**{c: [hi + 1e-6, lo]}))


def test_text_ids_are_fresh_numbered_strings_of_the_training_dtype(xy):
    """An id column of text is not modelled: each sampled row gets syn00000001, syn00000002, ...
    in the training column's dtype (numeric ids continue past the training maximum: test_bulk.py)."""
    X, y = xy
    X = X.assign(session=[f"s{i}" for i in range(len(X))])
    schema = Schema.infer(X, overrides={"columns": {"session": "id"}})
    out = get_generator("bootstrap", random_state=0).fit(X, y, schema=schema).sample({0: 3, 1: 2})
    assert list(out["session"]) == [f"syn{i:08d}" for i in range(1, 6)] and out["session"].dtype == X["session"].dtype


def test_kinds_a_generator_cannot_model_nullable_integers_and_feature_count(xy):
    """A generator refuses, by name, a column kind it does not support; a nullable integer
    column with gaps is numeric like any other; n_features_in_ counts the columns (scikit-learn)."""
    X, y = xy
    bootstrap = type(get_generator("bootstrap"))

    class NoLists(bootstrap):
        supported_kinds = ("numeric", "categorical", "datetime", "id")

    with pytest.raises(DataError, match=r"^NoLists cannot model column 'hours' of kind 'list'; drop it"):
        NoLists().fit(X, y)
    gappy = X.assign(n=pd.array(np.where(np.arange(len(X)) % 3 == 0, None, np.arange(len(X))), dtype="Int64"))
    gen = get_generator("bootstrap", random_state=0).fit(gappy, y, schema=Schema.infer(gappy, overrides={"columns": {"n": "numeric"}}))
    assert gen.n_features_in_ == gappy.shape[1] == len(gen.feature_names_in_)


def test_sample_argument_errors(xy):
    X, y = xy
    gen = get_generator("bootstrap", random_state=0)
    with pytest.raises(NotFittedError):
        gen.sample(5)
    gen.fit(X, y)
    for bad in (-1, 2.5, {1: -3}, {1: 1.5}):
        with pytest.raises(ConfigError):
            gen.sample(bad)


def test_successive_samples_differ_but_reproduce(xy):
    X, y = xy
    a = get_generator("smote", random_state=0).fit(X, y)
    b = get_generator("smote", random_state=0).fit(X, y)
    first, second = a.sample(30), a.sample(30)
    assert not first.equals(second)
    pd.testing.assert_frame_equal(first, b.sample(30))
    pd.testing.assert_frame_equal(a.sample(30, random_state=5), b.sample(30, random_state=5))


def test_model_file_holds_no_pickle(xy, tmp_path):
    X, y = xy
    path = get_generator("gaussian_copula", random_state=0).fit(X, y).save(tmp_path / "m.csm")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert set(names) == {"model.json", "arrays.npz"}
        header = json.loads(zf.read("model.json"))
    assert header["generator"] == "gaussian_copula" and header["format"] == "clicksynth-generator"
    with zipfile.ZipFile(tmp_path / "bad.csm", "w") as zf:
        zf.writestr("model.json", json.dumps({**header, "generator": "os:system"}))
        zf.writestr("arrays.npz", b"")
    with pytest.raises((ConfigError, DataError)):
        Generator.load(tmp_path / "bad.csm")


def test_high_cardinality_stays_bounded():
    rng = np.random.default_rng(0)
    n = 3000
    X = pd.DataFrame({"adv_id": rng.integers(0, 4000, n), "slot_id": rng.integers(0, 5, n)})
    y = pd.Series((rng.random(n) < 0.1).astype(int), name="label")
    gen = get_generator("smotenc", random_state=0).fit(X, y)
    assert gen.design_.shape[1] == 2  # codes, not one-hot
    out = gen.sample({1: 500})
    assert set(out.adv_id) <= set(X.adv_id)
    # Tail values come back in proportion to their real frequency, not as one "other" value.
    assert out.adv_id.nunique() > 200


def test_every_generator_listed():
    assert list_generators()[:2] == ["identity", "bootstrap"]
    assert {"smotenc", "gmm_smote", "gaussian_copula", "ctgan", "tvae"} <= set(list_generators())


def test_fast_neighbours_match_scikit_learn():
    from sklearn.neighbors import NearestNeighbors

    from clicksynth._knn import FastNeighbors

    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 12))
    ours = FastNeighbors(n_neighbors=6).fit(X).kneighbors(return_distance=False)
    ref = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(X, return_distance=False)
    assert np.mean([set(a) == set(b) for a, b in zip(ours, ref)]) > 0.99
    dist, _ = FastNeighbors(n_neighbors=3).fit(X).kneighbors(X[:5])
    assert np.allclose(dist[:, 0], 0, atol=1e-3)


def test_smote_nc_takes_the_neighbourhood_majority():
    from clicksynth.generators.smote import smote_nc_rows

    rng = np.random.default_rng(0)
    # Two well-separated clusters; each has its own categorical value.
    cont = np.r_[rng.normal(0, 0.1, (100, 2)), rng.normal(10, 0.1, (100, 2))]
    codes = np.r_[np.zeros((100, 1), np.int32), np.ones((100, 1), np.int32)]
    rows = smote_nc_rows(cont, codes, [2], 1000, 5, np.random.default_rng(1))
    assert rows.shape == (1000, 3)
    near_zero = rows[:, 0] < 5
    assert (rows[near_zero, 2] == 0).all() and (rows[~near_zero, 2] == 1).all()
    # Interpolation stays inside each cluster's hull.
    assert rows[near_zero, :2].max() < 1 and rows[~near_zero, :2].min() > 9


def test_smote_nc_interpolates_towards_one_of_the_k_nearest_other_rows():
    """Every synthetic row lies on a segment from a real row to one of its k nearest *other*
    rows, strictly inside it: never a copy of a row (a row is not its own neighbour), never
    towards a row outside the neighbourhood."""
    from sklearn.neighbors import NearestNeighbors

    from clicksynth.generators.smote import smote_nc_rows

    rng = np.random.default_rng(0)
    cont = rng.uniform(0, 10, (60, 2))
    codes = np.zeros((60, 1), np.int32)  # one category: distances are the continuous ones
    k = 3
    rows = smote_nc_rows(cont, codes, [1], 300, k, np.random.default_rng(1))[:, :2]
    nbrs = NearestNeighbors(n_neighbors=k + 1).fit(cont).kneighbors(cont, return_distance=False)[:, 1:]
    a = np.repeat(cont, k, axis=0)
    b = cont[nbrs.ravel()]
    d = b - a
    for s in rows:
        t = np.clip(((s - a) * d).sum(axis=1) / (d * d).sum(axis=1), 0, 1)
        off = np.linalg.norm(a + t[:, None] * d - s, axis=1)
        assert off.min() < 1e-9, "a synthetic row off every neighbourhood segment"
    assert np.min(np.linalg.norm(rows[:, None, :] - cont[None, :, :], axis=2)) > 1e-9  # no copies


def _off_segment(s: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Distance from point ``s`` to the segment from ``a`` to ``b``."""
    d = b - a
    t = np.clip((s - a) @ d / (d @ d), 0, 1)
    return float(np.linalg.norm(a + t * d - s))


@pytest.mark.parametrize("scale", [10.0, 0.3])
def test_smote_nc_neighbours_by_brute_force(scale):
    """SMOTE-NC's distance (Chawla et al. 2002, 6.1) computed by hand: squared continuous
    differences plus the median continuous standard deviation, squared, per categorical
    mismatch (one-hot, so exact up to 16 levels; the median is above 1 at one scale and below
    at the other). Each synthetic row lies on a segment from a row to one of its k nearest
    others and takes, per column, a most frequent value among those k; every row is a base."""
    from clicksynth.generators.smote import smote_nc_rows

    rng = np.random.default_rng(3)
    m, k = 40, 3
    cont = rng.normal(0, scale, (m, 2)) * [1.0, 3.0]
    codes = np.c_[rng.integers(0, 3, m), rng.integers(0, 16, m)].astype(np.int32)
    med = np.median(cont.std(axis=0))
    d2 = ((cont[:, None] - cont[None]) ** 2).sum(axis=2) + med**2 * (codes[:, None] != codes[None]).sum(axis=2)
    np.fill_diagonal(d2, np.inf)
    nn = np.argsort(d2, axis=1)[:, :k]
    assert len(np.unique(np.round(d2[np.isfinite(d2)], 9))) == m * (m - 1) // 2  # no ties to break
    rows = smote_nc_rows(cont, codes, [3, 16], 2000, k, np.random.default_rng(1))
    hood = codes[nn]  # (m, k, columns)
    counts = (hood[:, :, None, :] == hood[:, None, :, :]).sum(axis=1)  # per neighbour: how many share its value
    a = np.repeat(cont, k, axis=0)
    d = cont[nn.ravel()] - a
    bases = np.zeros(m, int)
    for s in rows:
        t = ((s[:2] - a) * d).sum(axis=1) / (d * d).sum(axis=1)
        on = (np.linalg.norm(a + t[:, None] * d - s[:2], axis=1) < 1e-9) & (t >= 0) & (t <= 1)
        ok = []
        for i in np.unique(np.flatnonzero(on) // k):
            majority = [set(hood[i, counts[i, :, c] == counts[i, :, c].max(), c]) for c in range(2)]
            if all(s[2 + c] in majority[c] for c in range(2)):
                ok.append(i)
        assert ok, "a synthetic row off every neighbourhood segment, or not its majority"
        bases[ok] += 1
    assert (bases > 0).all()


def test_smote_nc_draws_its_base_partner_gap_and_ties_per_row():
    """Small cases whose answers are known: with two rows, each is a base (its partner's
    category appears); with four, all six segments are used (a partner drawn per row, not
    one rank for all) at many positions (a gap per row); with three rows and k = 2 each base
    sees a tie, broken at random (every category appears); with no continuous spread the
    distance is the Hamming one (the identical row is the neighbour)."""
    from clicksynth.generators.smote import smote_nc_rows

    two = smote_nc_rows(np.array([[0.0], [1.0]]), np.array([[0], [1]], np.int32), [2], 200, 1, np.random.default_rng(0))
    assert set(two[:, 1]) == {0.0, 1.0} and len(np.unique(two[:, 0])) > 100
    cont = np.array([[0.0, 0.0], [4.0, 0.5], [1.0, 3.0], [5.0, 4.0]])
    four = smote_nc_rows(cont, np.zeros((4, 1), np.int32), [1], 600, 3, np.random.default_rng(0))[:, :2]
    used = {(i, j) for s in four for i, j in itertools.combinations(range(4), 2) if _off_segment(s, cont[i], cont[j]) < 1e-9}
    assert len(used) == 6
    three = smote_nc_rows(np.array([[0.0], [1.0], [3.0]]), np.array([[0], [1], [2]], np.int32), [3], 300, 2, np.random.default_rng(0))
    assert set(three[:, 1]) == {0.0, 1.0, 2.0}
    flat = smote_nc_rows(np.zeros((4, 1)), np.array([[0, 0], [0, 0], [1, 1], [1, 1]], np.int32), [2, 2], 400, 1, np.random.default_rng(0))
    assert 0.35 < (flat[:, 1] == 1).mean() < 0.65 and (flat[:, 1] == flat[:, 2]).all()


@pytest.mark.parametrize("name", ["smote", "smotenc", "smote_tomek"])
def test_smote_family_uses_every_neighbour_a_tiny_class_has(name):
    """k is cut to the rows a class has, no lower: three clicks give k = 2, so some rows lie
    between the two that are not each other's nearest (B and C below); two clicks give k = 1.
    Neither more neighbours than the class holds nor the other class's rows are asked for."""
    rng = np.random.default_rng(0)
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 5.0]])  # A, B, C: B's and C's nearest is A
    for clicks in (3, 2):
        X = pd.DataFrame(np.r_[corners[:clicks], rng.normal(100, 1, (200, 2))], columns=["u", "v"])
        y = np.r_[np.ones(clicks, int), np.zeros(200, int)]
        gen = get_generator(name, random_state=0, k_neighbors=5).fit(X, y)
        pts = gen.sample({1: 300})[["u", "v"]].to_numpy()
        segments = [(0, 1), (0, 2), (1, 2)][: 3 if clicks == 3 else 1]
        where = []
        for s in pts:
            offs = [_off_segment(s, corners[i], corners[j]) for i, j in segments]
            assert min(offs) < 0.01, (clicks, s)  # decoded to the data's three decimals
            where.append(int(np.argmin(offs)))
        if clicks == 3:
            assert np.mean(np.array(where) == 2) > 0.1  # on B-C, away from A


@pytest.mark.parametrize("name", ["smote", "smotenc", "borderline_smote"])
def test_smote_family_draws_a_class_only_from_its_own_rows(name):
    """Click rows are interpolated between clicks: with the classes apart, not one synthetic
    click lands in the non-clicks' region (neighbours from the other class would put some there)."""
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(80, int), np.zeros(400, int)]
    centre = np.where(y[:, None] == 1, 0.0, 10.0)
    X = pd.DataFrame(centre + rng.normal(0, 1.0, (len(y), 2)), columns=["a", "b"]).assign(slot=rng.choice(["p", "q"], len(y)))
    out = get_generator(name, random_state=0).fit(X, y).sample({1: 400})
    assert (out["label"] == 1).all() and out[["a", "b"]].to_numpy().max() < 5


def test_fast_tomek_links_match_imbalanced_learn():
    from imblearn.under_sampling import TomekLinks

    from clicksynth._knn import FastTomekLinks

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5))
    y = (X[:, 0] + 0.5 * rng.normal(size=600) > 0).astype(int)
    ref = TomekLinks(sampling_strategy="all")
    ref.fit_resample(X, y)
    ours = FastTomekLinks()
    ours.fit_resample(X, y)
    assert len(ours.sample_indices_) < len(X)  # there are links to remove
    assert set(ours.sample_indices_) == set(ref.sample_indices_)


def test_sequential_trees_keep_dependences_and_class_differences():
    """Each atom is drawn from a leaf of a tree on the atoms before it: a column that a
    categorical one determines stays determined, a numeric one follows its category's
    level, and each class keeps its own distribution (one model per class)."""
    rng = np.random.default_rng(0)
    n = 3000
    a = rng.integers(0, 6, n)
    y = (rng.random(n) < 0.3).astype(int)
    X = pd.DataFrame({"a": a, "b": (a * 7) % 5, "x": rng.normal(0, 0.3, n) + 2 * a + 5 * y})
    gen = get_generator("sequential", random_state=0).fit(X, y)
    syn = gen.sample({0: 2000, 1: 2000})
    assert ((syn["a"] * 7) % 5 == syn["b"]).all()
    level = (syn["x"] - 2 * syn["a"] - 5 * syn["label"]).abs()
    assert level.mean() < 0.5  # x drawn from donors of its own category and class
    assert set(syn["a"]) == set(range(6)) and syn.loc[syn.label == 1, "x"].mean() > syn.loc[syn.label == 0, "x"].mean() + 4


@pytest.mark.parametrize("name", ["bootstrap", "smotenc", "gaussian_copula", "sequential", "autoregressive"])
def test_missing_text_stays_missing_after_restore(name):
    """A text column's missing values come back missing (NaN), never as the strings
    'nan' or 'None' that a cast to str would write, and at about their real rate."""
    rng = np.random.default_rng(0)
    n = 600
    X = pd.DataFrame({"city": rng.choice(np.array(["a", "b", None], dtype=object), n), "x": rng.normal(size=n)})
    y = (rng.random(n) < 0.2).astype(int)
    params = {"epochs": 20, "batch_size": 64, "width": 16, "layers": 1, "heads": 2} if name == "autoregressive" else {}
    out = get_generator(name, random_state=0, **params).fit(X, y).sample(900)
    values = out["city"]
    assert set(values.dropna().unique()) <= {"a", "b"}
    assert 0.15 < values.isna().mean() < 0.5, values.isna().mean()


@pytest.mark.parametrize("marginals", ["empirical", "parametric"])
def test_copula_keeps_rank_dependence_and_its_sign_per_class(marginals):
    """The copula's one job: the joint rank dependence of each class. Two columns correlated +0.9
    in non-clicks and -0.9 in clicks, a third independent: the synthetic rows show the same, class
    by class (a copula with an identity correlation, or one pooled over classes, shows neither)."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    n = 4000
    y = (rng.random(n) < 0.3).astype(int)
    z = rng.normal(size=n)
    sign = np.where(y == 1, -1.0, 1.0)
    w = sign * 0.9 * z + np.sqrt(1 - 0.81) * rng.normal(size=n)
    X = pd.DataFrame({"u": np.exp(z), "v": w**3, "free": rng.gamma(2.0, size=n)})  # monotone transforms: ranks kept
    syn = get_generator("gaussian_copula", marginals=marginals, random_state=0).fit(X, y).sample({0: 3000, 1: 3000})
    for label, expected in ((0, 1.0), (1, -1.0)):
        part = syn[syn["label"] == label]
        real = X[y == label]
        rho = spearmanr(part["u"], part["v"]).statistic
        assert abs(rho - spearmanr(real["u"], real["v"]).statistic) < 0.05 and np.sign(rho) == expected
        assert abs(spearmanr(part["u"], part["free"]).statistic) < 0.06


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_smote_family_refuses_a_neighbour_count_below_one_at_fit(k, xy):
    """k_neighbors=0 used to fit and then crash in sample(); now fit says what is wrong."""
    X, y = xy
    with pytest.raises(ConfigError, match="k_neighbors must be a whole number >= 1"):
        get_generator("smotenc", k_neighbors=k).fit(X, y)
