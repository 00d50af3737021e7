"""Every privacy metric against a brute-force reference on tables small enough to reason about.

The reference takes the scorecard's distance (``MixedSpace.pair_distance``, tested by hand in
test_metrics) over *all* pairs and applies each metric's definition directly: sorted neighbours,
Mann-Whitney counts with ties as halves, Yale et al.'s adversarial accuracy. The tables are
integer-valued, so distances tie often, and the three sets differ in size (asymmetric cases).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clicksynth import DataError, Schema
from clicksynth.metrics import EvalContext, privacy
from clicksynth.space import MixedSpace

RNG = lambda: np.random.default_rng(0)


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.integers(0, 6, n).astype(float),
            "y": rng.integers(0, 3, n).astype(float),
            "c": rng.choice(list("abc"), n),
            "label": rng.integers(0, 2, n),
        }
    )


COLS = ["x", "y", "c", "label"]


@pytest.fixture(scope="module")
def sets():
    train = _table(30, 1)
    hold = _table(24, 2)
    # Copies of training rows and fresh rows, fewer than either real set.
    synth = pd.concat([train.iloc[:8], _table(12, 3)], ignore_index=True)
    schema = Schema.infer(train, target="label", overrides={"columns": {"x": "numeric", "y": "numeric", "c": "categorical"}})
    return train, hold, synth, schema


def _distances(schema: Schema, fitted_on: pd.DataFrame):
    """All-pairs distance matrices in the space the metrics fit on their training rows."""
    space = MixedSpace(schema, COLS).fit(fitted_on[COLS])

    def dist(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
        pa, pb = space.prepare(a[COLS]), space.prepare(b[COLS])
        ia, ib = np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij")
        return space.pair_distance(pa, ia.ravel(), pb, ib.ravel()).reshape(len(a), len(b))

    return dist


def _ctx(schema, hold, **params):
    return EvalContext(schema, RNG(), holdout=hold, params=params)


def _mann_whitney(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(pos < neg) + P(tie) / 2 over all pairs: the probability a positive is nearer."""
    less = (pos[:, None] < neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(less + ties / 2)


def test_dcr_share_against_all_pairs(sets):
    train, hold, synth, schema = sets
    dist = _distances(schema, train)
    d_q, d_h = dist(synth, train).min(axis=1), dist(hold, train).min(axis=1)
    res = privacy.dcr_share(train, synth, _ctx(schema, hold))
    assert res.value == pytest.approx(_mann_whitney(d_q, d_h))
    assert res.ci[0] <= res.value <= res.ci[1]
    d = res.details
    assert d["rows"] == len(synth) and d["exact_copies"] == pytest.approx(np.mean(d_q == 0)) and d["exact_copies"] >= 8 / 20
    top = max(np.quantile(d_q, 0.99), np.quantile(d_h, 0.99))
    assert d["dcr_edges"] == pytest.approx(np.linspace(0, top, 31).round(5).tolist())
    assert d["dcr_synthetic"] == np.histogram(np.clip(d_q, 0, top), bins=np.linspace(0, top, 31))[0].tolist()
    assert sum(d["dcr_synthetic"]) == len(synth) and sum(d["dcr_holdout"]) == len(hold)


def test_dcr_median_ratio_against_all_pairs(sets):
    train, hold, synth, schema = sets
    dist = _distances(schema, train)
    synth = synth.iloc[8:]  # the fresh rows: a median above 0
    d_q, d_h = dist(synth, train).min(axis=1), dist(hold, train).min(axis=1)
    res = privacy.dcr_median_ratio(train, synth, _ctx(schema, hold))
    if np.median(d_h) > 0:
        stat, name = np.median, "median"
    else:
        stat, name = np.mean, "mean"
    assert res.details == pytest.approx({"statistic": name, "synthetic": stat(d_q), "holdout": stat(d_h)})
    assert res.value == pytest.approx(stat(d_q) / stat(d_h))
    assert res.value > 0 and res.ci is not None and res.ci[0] < res.value < res.ci[1]


def test_dcr_median_ratio_falls_back_to_means_then_to_nan():
    train = pd.DataFrame({"x": [0.0, 10.0, 20.0, 30.0, 40.0], "label": [0, 1, 0, 1, 0]})
    schema = Schema.infer(train, target="label", overrides={"columns": {"x": "numeric"}})
    synth = pd.DataFrame({"x": [1.0, 12.0, 20.0], "label": [0, 1, 0]})
    # Three of five holdout rows copy training rows: the median distance is 0, the mean is not.
    hold = pd.DataFrame({"x": [0.0, 10.0, 20.0, 34.0, 36.0], "label": [0, 1, 0, 1, 0]})
    res = privacy.dcr_median_ratio(train, synth, _ctx(schema, hold))
    assert res.details["statistic"] == "mean"
    assert res.value == pytest.approx((1 + 2 + 0) / 3 / ((4 + 4) / 5))
    # Every holdout row a copy: no scale to read the synthetic distances against.
    res = privacy.dcr_median_ratio(train, synth, _ctx(schema, train))
    assert np.isnan(res.value)


def test_nndr_against_all_pairs(sets):
    train, hold, synth, schema = sets
    dist = _distances(schema, train)

    def ratio(d: np.ndarray) -> float:
        d = np.sort(d, axis=1)[:, :2]
        return float(np.mean([a / b if b > 0 else 1.0 for a, b in d]))

    res = privacy.nndr(train, synth, _ctx(schema, hold))
    assert res.value == pytest.approx(ratio(dist(synth, train)))
    assert res.details["holdout"] == pytest.approx(ratio(dist(hold, train)))
    assert res.ci[0] <= res.value <= res.ci[1]


def test_nndr_by_hand():
    train = pd.DataFrame({"x": [0.0, 0.0, 10.0, 30.0], "label": [0, 0, 1, 1]})
    schema = Schema.infer(train, target="label", overrides={"columns": {"x": "numeric"}})
    # (0, 0) matches two training rows exactly: not singled out by one record, ratio 1;
    # (10, 1) copies a unique row: ratio 0.
    synth = pd.DataFrame({"x": [0.0, 10.0], "label": [0, 1]})
    res = privacy.nndr(train, synth, _ctx(schema, train.iloc[[3]]))
    assert res.value == pytest.approx(0.5)


def test_exact_matches_by_hand(sets):
    train, hold, synth, schema = sets
    res = privacy.exact_match_train(train, synth, _ctx(schema, hold))
    key = lambda f: set(map(tuple, f[["x", "y", "c", "label"]].astype(str).to_numpy()))
    rows = list(map(tuple, synth[["x", "y", "c", "label"]].astype(str).to_numpy()))
    assert res.value == pytest.approx(np.mean([r in key(train) for r in rows])) and res.value >= 8 / 20
    assert res.details == {"rows": len(synth)} and res.ci[0] <= res.value <= res.ci[1]
    res = privacy.exact_match_holdout(train, synth, _ctx(schema, hold))
    assert res.value == pytest.approx(np.mean([r in key(hold) for r in rows])) and res.details == {"rows": len(synth)}
    assert privacy.exact_match_holdout(train, hold, _ctx(schema, hold)).value == 1.0


def test_membership_attack_against_all_pairs(sets):
    train, hold, synth, schema = sets
    # Members and non-members: as many of each as the smaller real set holds, members drawn at random.
    res = privacy.mia_auc(train, synth, _ctx(schema, hold))
    assert res.details == {"members": len(hold), "non_members": len(hold)}
    # With as many training rows as holdout rows every row is a candidate, so the attack is exact:
    # a member is flagged when it lies nearer the synthetic rows than a non-member does.
    members, fresh = train.iloc[: len(hold)], synth.iloc[8:]
    dist = _distances(schema, members)
    res = privacy.mia_auc(members, fresh, _ctx(schema, hold))
    assert res.value == pytest.approx(_mann_whitney(dist(members, fresh).min(axis=1), dist(hold, fresh).min(axis=1)))
    assert res.ci[0] <= res.value <= res.ci[1]
    # Synthetic rows that copy the members reveal them.
    copies = privacy.mia_auc(members, members, _ctx(schema, hold)).value
    assert copies == pytest.approx(_mann_whitney(np.zeros(len(members)), dist(hold, members).min(axis=1))) and copies > 0.8


def _farther(across: np.ndarray, within: np.ndarray) -> np.ndarray:
    return (across > within) + 0.5 * (across == within)


def test_privacy_loss_against_all_pairs(sets):
    """Yale et al.'s AA_ES - AA_TS on equal-sized sets (so none is subsampled), ties counted half."""
    train, hold, synth, schema = sets
    n = len(synth)
    T, E, S = train.iloc[:n], hold.iloc[:n], synth
    dist = _distances(schema, T)

    def own(a: pd.DataFrame) -> np.ndarray:  # nearest other row of the same set
        d = dist(a, a)
        np.fill_diagonal(d, np.inf)
        return d.min(axis=1)

    def aa(x: pd.DataFrame) -> float:
        d = dist(x, S)
        return float((_farther(d.min(axis=1), own(x)).mean() + _farther(d.min(axis=0), own(S)).mean()) / 2)

    res = privacy.privacy_loss(T, S, _ctx(schema, E))
    assert res.details["rows"] == n
    assert res.details["aa_train"] == pytest.approx(aa(T)) and res.details["aa_holdout"] == pytest.approx(aa(E))
    assert res.value == pytest.approx(aa(E) - aa(T))
    assert res.value > 0  # eight of the twenty synthetic rows copy training rows
    # The interval resamples each set's rows (indicators kept): a long reference bootstrap agrees.
    d_ts, d_es = dist(T, S), dist(E, S)
    t_far, st_far = _farther(d_ts.min(axis=1), own(T)), _farther(d_ts.min(axis=0), own(S))
    e_far, se_far = _farther(d_es.min(axis=1), own(E)), _farther(d_es.min(axis=0), own(S))
    rng = np.random.default_rng(3)
    ref = []
    for _ in range(4000):
        it, i_s, ie = (rng.integers(0, n, n) for _ in range(3))
        ref.append((e_far[ie].mean() + se_far[i_s].mean()) / 2 - (t_far[it].mean() + st_far[i_s].mean()) / 2)
    lo, hi = np.quantile(ref, [0.025, 0.975])
    assert abs(res.ci[0] - lo) < 0.15 * (hi - lo) and abs(res.ci[1] - hi) < 0.15 * (hi - lo), (res.ci, (lo, hi))


def test_privacy_loss_draws_whole_users_and_keeps_the_columns():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"uid": np.repeat(np.arange(10), 3), "x": np.arange(30.0), "label": rng.integers(0, 2, 30)})
    drawn = privacy._whole_users(frame, 9, "uid", np.random.default_rng(1))
    assert list(drawn.columns) == list(frame.columns) and len(drawn) == 9
    assert drawn["uid"].value_counts().eq(3).all()  # three whole users
    assert drawn["x"].is_monotonic_increasing  # in table order
    assert list(drawn.index) == list(range(9))
    # Without a user column (or with one the table lacks) rows are drawn one by one.
    for user in (None, "missing"):
        by_rows = privacy._whole_users(frame, 9, user, np.random.default_rng(1))
        assert len(by_rows) == 9 and list(by_rows.columns) == list(frame.columns)
    assert len(privacy._whole_users(frame, 40, "uid", np.random.default_rng(1))) == 30


def test_farther_counts_ties_half():
    got = privacy._farther(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]))
    assert got.tolist() == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("name", ["dcr_share", "dcr_median_ratio", "nndr", "exact_match_holdout", "mia_auc", "privacy_loss"])
def test_each_holdout_metric_names_itself_when_the_holdout_is_missing(sets, name):
    train, _, synth, schema = sets
    with pytest.raises(DataError, match=f"'{name}'"):
        getattr(privacy, name)(train, synth, EvalContext(schema, RNG(), holdout=None))


def test_dcr_median_ratio_interval_is_a_bootstrap_of_both_sets(sets):
    """The interval resamples synthetic and holdout distances (each its own size) and takes the
    2.5 / 97.5 percentiles: it matches a long reference bootstrap of the same statistic."""
    train, hold, synth, schema = sets
    synth = synth.iloc[8:]
    dist = _distances(schema, train)
    d_q, d_h = dist(synth, train).min(axis=1), dist(hold, train).min(axis=1)
    rng = np.random.default_rng(1)
    with np.errstate(divide="ignore", invalid="ignore"):  # a resample may hold only copies of the holdout
        ref = [np.median(rng.choice(d_q, len(d_q))) / np.median(rng.choice(d_h, len(d_h))) for _ in range(4000)]
    ref = np.array([r for r in ref if np.isfinite(r)])
    lo, hi = np.quantile(ref, [0.025, 0.975])
    res = privacy.dcr_median_ratio(train, synth, _ctx(schema, hold))
    assert abs(res.ci[0] - lo) < 0.2 * (hi - lo) and abs(res.ci[1] - hi) < 0.2 * (hi - lo), (res.ci, (lo, hi))


def test_exact_matches_and_the_membership_attack_draw_at_most_the_attack_pool(sets, monkeypatch):
    train, hold, synth, schema = sets
    monkeypatch.setattr(privacy, "_ATTACK_POOL", 5)
    for f in (privacy.exact_match_train, privacy.exact_match_holdout):
        res = f(train, synth, _ctx(schema, hold))
        assert res.details == {"rows": 5} and res.value in {0, 0.2, 0.4, 0.6, 0.8, 1.0}
        assert res.ci is not None and res.ci[0] <= res.value <= res.ci[1]
    # the membership attack's pool is drawn the same way, by the context's generator
    first, again = (privacy.mia_auc(train, synth, _ctx(schema, hold)).value for _ in range(2))
    assert first == again and 0 <= first <= 1


def test_copies_show_only_when_their_originals_are_searched(sets, monkeypatch):
    """Copies of every training row are all at distance 0 when every training row is searched
    (DCR share: the chance a fresh row is farther, 0.85 on this tie-rich table); with half of them
    searched (a table above the pool), half the copies lose their original and the share falls —
    which the details say."""
    train, hold, _, schema = sets
    full = privacy.dcr_share(train, train.copy(), _ctx(schema, hold))
    d_h = _distances(schema, train)(hold, train).min(axis=1)
    assert full.value == pytest.approx(_mann_whitney(np.zeros(len(train)), d_h)) and full.details["exact_copies"] == 1.0
    assert full.details["training_share_searched"] == 1.0
    monkeypatch.setattr(privacy, "_TRAIN_POOL", len(train) // 2)
    half = privacy.dcr_share(train, train.copy(), _ctx(schema, hold))
    assert half.details["training_share_searched"] == 0.5 and half.value < full.value - 0.1


def test_distance_metrics_compare_at_most_max_rows_of_each_side(sets):
    """max_rows caps the synthetic and the holdout rows whose distances are compared."""
    train, hold, synth, schema = sets
    res = privacy.dcr_share(train, synth, _ctx(schema, hold, max_rows=10))
    assert len(synth) > 10 and len(hold) > 10
    assert res.details["rows"] == 10 and sum(res.details["dcr_synthetic"]) == 10 and sum(res.details["dcr_holdout"]) == 10


def test_privacy_loss_sizes_and_columns():
    """Sets of equal size: the smallest table's, capped at max_rows; id columns (the user) are
    not compared; a real table smaller than the others sets the size."""
    rng = np.random.default_rng(0)

    def table(n: int, start: int) -> pd.DataFrame:
        return pd.DataFrame(
            {"uid": np.arange(start, start + n) // 2, "x": rng.integers(0, 9, n).astype(float), "label": rng.integers(0, 2, n)}
        )

    real, synth, hold = table(12, 0), table(30, 100), table(40, 200)
    schema = Schema.infer(real, target="label", user_column="uid", overrides={"columns": {"x": "numeric"}})
    assert schema["uid"].kind == "id"
    assert privacy.privacy_loss(real, synth, _ctx(schema, hold)).details["rows"] == 12
    assert privacy.privacy_loss(synth, hold, _ctx(schema, hold, max_rows=8)).details["rows"] == 8


def test_privacy_metrics_compare_only_the_columns_every_table_has(sets):
    """A synthetic table without one of the columns is compared on the others (the distance space
    is fitted on the compared columns, not on the schema's)."""
    train, hold, synth, schema = sets
    fewer = synth.drop(columns=["y"])
    for f in (privacy.privacy_loss, privacy.dcr_share, privacy.nndr):
        value = f(train, fewer, _ctx(schema, hold)).value
        assert np.isfinite(value)
    same = privacy.dcr_share(train.drop(columns=["y"]), fewer, _ctx(schema, hold.drop(columns=["y"]))).value
    assert privacy.dcr_share(train, fewer, _ctx(schema, hold)).value == pytest.approx(same)
