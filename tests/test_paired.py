"""Paired comparisons of two click models on the same test rows: the statistics, the verdicts,
the pooling of repeats, and the two scorecard metrics on a known gain and a known loss."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from clicksynth.exceptions import ConfigError
from clicksynth.metrics import evaluate
from clicksynth.metrics._stats import MARGIN, average_precision_ci, paired_ap_delta, paired_auc_delta, pool_deltas, verdict


def _scores(n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two correlated scorers (a shared noise term: what two models of one test set share)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.04).astype(int)
    shared = rng.normal(size=n)
    a = np.round(y * 1.0 + shared + 0.3 * rng.normal(size=n), 2)  # rounded: tied scores
    b = np.round(y * 0.9 + shared + 0.3 * rng.normal(size=n), 1)
    return y, a, b


def test_paired_ap_delta_is_sklearn_difference_with_ties():
    y, a, b = _scores()
    delta, (lo, hi) = paired_ap_delta(y, a, b, np.random.default_rng(0))
    assert delta == pytest.approx(average_precision_score(y, a) - average_precision_score(y, b), abs=1e-12)
    assert lo < delta < hi


def test_paired_interval_is_narrower_than_two_separate_intervals():
    # Correlated models: the paired interval of the difference drops the test set's shared
    # luck; resampling the two models' rows independently would not.
    y, a, b = _scores()
    _, (lo, hi) = paired_ap_delta(y, a, b, np.random.default_rng(1))
    halves = [(h - low) / 2 for low, h in (average_precision_ci(average_precision_score(y, s), int(y.sum())) for s in (a, b))]
    assert (hi - lo) / 2 < 0.6 * float(np.hypot(*halves))


def test_paired_ap_delta_of_a_model_with_itself_is_exactly_zero():
    y, a, _ = _scores()
    assert paired_ap_delta(y, a, a, np.random.default_rng(0)) == (0.0, (0.0, 0.0))


def test_paired_ap_delta_keeps_click_count_and_follows_seed():
    y, a, b = _scores()
    r1 = paired_ap_delta(y, a, b, np.random.default_rng(5), reps=200)
    r2 = paired_ap_delta(y, a, b, np.random.default_rng(5), reps=200)
    assert r1 == r2


def test_paired_auc_delta_is_roc_difference_and_covers_noise():
    y, a, b = _scores()
    delta, (lo, hi) = paired_auc_delta(y, a, b)
    assert delta == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-12)
    assert lo < delta < hi
    # Two scorers equal in law: the interval covers 0 in most seeds.
    covered = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        yy = (rng.random(3000) < 0.05).astype(int)
        s1, s2 = yy + rng.normal(size=3000), yy + rng.normal(size=3000)
        _, (low, high) = paired_auc_delta(yy, s1, s2)
        covered += low <= 0 <= high
    assert covered >= 17


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0.001, 0.02, "gain"),
        (-0.004, 0.02, "non-inferior"),
        (-0.004, -0.001, "non-inferior"),  # worse, but by less than the margin
        (-0.02, 0.01, "inconclusive"),
        (-0.03, -0.001, "loss"),
        (float("nan"), float("nan"), "inconclusive"),
    ],
)
def test_verdict(lo, hi, expected):
    assert verdict(lo, hi, 0.005) == expected


def test_pooling_repeats_shrinks_the_interval_like_a_mean():
    v, (lo, hi) = pool_deltas(np.array([0.01] * 4), np.array([-0.01] * 4), np.array([0.03] * 4))
    assert v == pytest.approx(0.01)
    assert (hi - lo) == pytest.approx(0.04 / 2)  # four repeats: half the width of one
    v, (lo, hi) = pool_deltas(np.array([0.0, 0.02]), np.array([-0.01, 0.01]), np.array([0.01, 0.03]))
    assert v == pytest.approx(0.01) and lo < 0.01 < hi
    assert np.isnan(pool_deltas(np.array([np.nan]), np.array([np.nan]), np.array([np.nan]))[0])
    # A repeat missing its value or either end of its interval is left out, not half-used.
    for v, lo, hi in (
        ([0.01, 0.5], [0.0, np.nan], [0.02, 0.6]),
        ([0.01, 0.5], [0.0, 0.4], [0.02, np.nan]),
        ([0.01, np.nan], [0.0, 0.4], [0.02, 0.6]),
    ):
        value, ci = pool_deltas(np.array(v), np.array(lo), np.array(hi))
        assert value == pytest.approx(0.01) and ci == pytest.approx((0.0, 0.02))


# -- the scorecard metrics on a table whose truth is known -----------------------------------------
def _table(n: int, rng: np.random.Generator) -> pd.DataFrame:
    X = rng.normal(size=(n, 4))
    slot = rng.integers(0, 8, size=n)
    logit = -5.2 + 1.6 * X[:, 0] - 1.2 * X[:, 1] + 0.9 * X[:, 0] * X[:, 2] + 1.5 * (slot == 3)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "d": X[:, 3], "slot": slot.astype(str), "label": y})


@pytest.fixture(scope="module")
def known():
    rng = np.random.default_rng(0)
    train, holdout, test, pool = _table(3000, rng), _table(3000, rng), _table(20000, rng), _table(40000, rng)
    fresh_clicks = pool[pool["label"] == 1].reset_index(drop=True)
    flipped = pool[pool["label"] == 0].head(1500).assign(label=1).reset_index(drop=True)  # non-clicks called clicks
    return train, holdout, test, fresh_clicks, flipped


def _delta(known, augment: pd.DataFrame, **kw) -> pd.Series:
    train, holdout, test, *_ = known
    scores = evaluate(
        train,
        augment,
        holdout=holdout,
        test=test,
        target="label",
        metrics=["augment_delta_pr_auc"],
        references=False,
        augment_share=4.0,
        **kw,
    )
    return scores.iloc[0]


def test_adding_fresh_real_clicks_is_detected_as_a_gain(known):
    row = _delta(known, known[3])
    details = json.loads(row["details"])
    assert row["ci_low"] > 0 and details["verdict"] == "gain"
    assert details["roc_auc_ci"][0] > 0 and details["test_clicks"] == int(known[2]["label"].sum())


def test_adding_label_flipped_rows_is_flagged_as_a_loss(known):
    row = _delta(known, known[4])
    details = json.loads(row["details"])
    assert row["ci_high"] < -0.005 and details["verdict"] == "loss"


def test_the_margin_decides_non_inferiority(known):
    row = _delta(known, known[4], margin=0.9)  # a margin wider than the loss
    assert json.loads(row["details"])["verdict"] == "non-inferior"
    with pytest.raises(ConfigError, match="margin"):
        _delta(known, known[4], margin=-0.1)


def test_the_delta_details_and_the_verdict_read_off_the_interval(known):
    row = _delta(known, known[4])
    details = json.loads(row["details"])
    assert details["margin"] == MARGIN and details["model"] == "xgboost"
    assert details["roc_auc_delta"] < 0 and details["roc_auc_ci"][1] < 0  # flipped labels hurt the ranking too
    # A margin between the interval's two (negative) ends: its lower end reaches past it, so a loss.
    margin = -(row["ci_low"] + row["ci_high"]) / 2
    assert json.loads(_delta(known, known[4], margin=margin)["details"])["verdict"] == "loss"
    assert json.loads(_delta(known, known[4], model="logistic")["details"])["model"] == "logistic"


@pytest.mark.parametrize(("metric", "model"), [("tstr_delta_pr_auc", "xgboost"), ("tstr_delta_pr_auc_logistic", "logistic")])
def test_tstr_delta_of_the_training_rows_themselves_is_zero(known, metric, model):
    """Both sides of the difference are the same click model (a logistic model against an XGBoost
    baseline would differ by far more than zero)."""
    train, holdout, test, *_ = known
    scores = evaluate(train, train, holdout=holdout, test=test, target="label", metrics=[metric], references=False)
    row = scores.iloc[0]
    details = json.loads(row["details"])
    assert row["value"] == 0.0 and details["verdict"] == "non-inferior" and details["model"] == model


def test_the_logistic_deltas_compare_logistic_models(known):
    train, holdout, test, fresh_clicks, _ = known
    metrics = ["augment_delta_pr_auc", "augment_delta_pr_auc_logistic"]
    scores = evaluate(train, fresh_clicks, holdout=holdout, test=test, target="label", metrics=metrics, references=False)
    details = {m: json.loads(scores.loc[scores["metric"] == m, "details"].iloc[0]) for m in metrics}
    assert details["augment_delta_pr_auc_logistic"]["model"] == "logistic"
    # the real-only baselines are two different models
    assert details["augment_delta_pr_auc_logistic"]["pr_auc_real_only"] != details["augment_delta_pr_auc"]["pr_auc_real_only"]


@pytest.mark.parametrize(
    "metric", ["augment_delta_pr_auc", "tstr_delta_pr_auc", "augment_delta_pr_auc_logistic", "tstr_delta_pr_auc_logistic", "utility_curve"]
)
def test_a_paired_delta_without_test_rows_names_itself(known, metric):
    from clicksynth.exceptions import DataError
    from clicksynth.metrics import utility
    from clicksynth.metrics._base import EvalContext
    from clicksynth.schema import Schema

    train = known[0]
    ctx = EvalContext(Schema.infer(train, target="label"), np.random.default_rng(0), holdout=known[1])
    with pytest.raises(DataError, match=rf"^metric '{metric}' needs test rows"):
        getattr(utility, metric)(train, train, ctx)


@pytest.mark.parametrize("seed", [0, 1])
def test_closed_form_intervals_are_as_wide_as_a_bootstrap(seed):
    """DeLong's ROC-AUC interval and the logit interval of average precision against a percentile
    bootstrap of the same rows: the same width up to the bootstrap's own noise (a wrong variance,
    a missing square root or a one-sigma z would be off by half or more)."""
    from clicksynth.metrics._stats import auc_with_ci

    rng = np.random.default_rng(seed)
    n = 4000
    y = (rng.random(n) < 0.05).astype(int)
    s = y + rng.normal(size=n)
    _, (lo, hi) = auc_with_ci(y, s)
    ap = average_precision_score(y, s)
    ap_lo, ap_hi = average_precision_ci(ap, int(y.sum()))
    draws = [rng.integers(0, n, n) for _ in range(600)]
    roc = np.quantile([roc_auc_score(y[i], s[i]) for i in draws], [0.025, 0.975])
    aps = np.quantile([average_precision_score(y[i], s[i]) for i in draws], [0.025, 0.975])
    assert 0.85 < (hi - lo) / (roc[1] - roc[0]) < 1.15
    assert 0.8 < (ap_hi - ap_lo) / (aps[1] - aps[0]) < 1.6


def test_average_precision_interval_by_hand_and_at_its_edges():
    """Logit interval: eta = logit(0.3), tau = 1 / sqrt(n x 0.3 x 0.7); none without positives or
    at AP 0 or 1 (the logit is infinite); one positive is enough."""
    eta, tau = np.log(0.3 / 0.7), 1 / np.sqrt(100 * 0.21)
    expected = (1 / (1 + np.exp(-(eta - 1.959964 * tau))), 1 / (1 + np.exp(-(eta + 1.959964 * tau))))
    assert average_precision_ci(0.3, 100) == pytest.approx(expected, rel=1e-5)
    assert all(np.isfinite(average_precision_ci(0.3, 1)))
    for ap, n in ((0.3, 0), (0.0, 10), (1.0, 10), (0.3, -1)):
        assert all(np.isnan(average_precision_ci(ap, n))), (ap, n)


def test_verdicts_at_their_boundaries():
    """An interval touching 0 from above is not a gain, touching -margin is not non-inferior, ending
    at 0 is not a loss; an interval with a missing end says nothing."""
    assert verdict(0.0, 0.02) == "non-inferior"
    assert verdict(-0.005, 0.01, margin=0.005) == "inconclusive"
    assert verdict(-0.02, 0.0) == "inconclusive"
    assert verdict(-0.02, -1e-9) == "loss"
    assert verdict(float("nan"), -0.01) == "inconclusive" and verdict(0.01, float("nan")) == "inconclusive"


def test_delong_difference_needs_two_rows_of_each_class():
    rng = np.random.default_rng(0)
    for m, n in ((1, 30), (30, 1)):
        y = np.r_[np.ones(m), np.zeros(n)]
        delta, (lo, hi) = paired_auc_delta(y, rng.random(m + n), rng.random(m + n))
        assert np.isnan(delta) and np.isnan(lo) and np.isnan(hi), (m, n)
    for m, n in ((2, 30), (30, 2)):
        y = np.r_[np.ones(m), np.zeros(n)]
        assert all(np.isfinite(x) for x in np.ravel(paired_auc_delta(y, rng.random(m + n), rng.random(m + n))[1])), (m, n)


def test_delong_interval_by_hand():
    """DeLong's variance from its definition: per positive the share of negatives it outranks (ties
    half), per negative the share of positives that outrank it; var(delta) = var of the positives'
    differences / m + var of the negatives' / n (ddof 1). Ties included."""
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(12), np.zeros(20)].astype(int)
    a, b = rng.integers(0, 6, 32).astype(float), rng.random(32)

    def components(s):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)

    (auc_a, pa, na), (auc_b, pb, nb) = components(a), components(b)
    var = np.var(pa - pb, ddof=1) / 12 + np.var(na - nb, ddof=1) / 20
    delta, (lo, hi) = paired_auc_delta(y, a, b)
    assert delta == pytest.approx(auc_a - auc_b, abs=1e-12)
    assert (hi - lo) / 2 == pytest.approx(1.959964 * np.sqrt(var), rel=1e-5)


def test_paired_ap_delta_is_sklearns_difference_with_a_click_scored_last():
    """The last threshold counts the lowest-scored row: here a click, whose recall step
    sklearn's average precision includes."""
    y = np.array([1, 0, 1, 0, 0, 1, 0, 1])
    a = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.1])  # a click ranked last
    b = np.array([0.2, 0.9, 0.8, 0.7, 0.1, 0.6, 0.5, 0.4])
    delta, _ = paired_ap_delta(y, a, b, np.random.default_rng(0), reps=20)
    assert delta == pytest.approx(average_precision_score(y, a) - average_precision_score(y, b), abs=1e-12)


def test_paired_ap_bootstrap_needs_two_of_each_class_and_varies_its_replicates():
    rng = np.random.default_rng(4)
    for n_pos, n_neg, defined in ((1, 30, False), (30, 1, False), (2, 2, True), (2, 30, True)):
        y = np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(int)
        a, b = rng.random(len(y)), rng.random(len(y))
        _, (lo, hi) = paired_ap_delta(y, a, b, np.random.default_rng(0), reps=40)
        assert np.isfinite(lo) == np.isfinite(hi) == defined, (n_pos, n_neg)
    y = np.r_[np.ones(20), np.zeros(80)].astype(int)
    _, (lo, hi) = paired_ap_delta(y, rng.random(100), rng.random(100), np.random.default_rng(0), reps=60, chunk=25)
    assert hi - lo > 0.01  # every replicate resamples both classes anew: the differences spread


def test_paired_ap_bootstrap_draws_reps_fresh_stratified_replicates(monkeypatch):
    """Seven replicates in chunks of three: every one resamples the clicks and the non-clicks anew,
    keeping each class's count (the weights both models are scored with)."""
    from clicksynth.metrics import _stats

    seen = []
    original = _stats._ap_sorted

    def record(y, ends, weights):
        seen.append(weights)
        return original(y, ends, weights)

    monkeypatch.setattr(_stats, "_ap_sorted", record)
    rng = np.random.default_rng(5)
    y = np.r_[np.ones(6), np.zeros(9)].astype(int)
    score = rng.random(15)
    _stats.paired_ap_delta(y, score, rng.random(15), np.random.default_rng(0), reps=7, chunk=3)
    order = np.argsort(-score, kind="mergesort")  # the new model's weights are in its ranking's order
    boot = np.concatenate(seen[2::2])  # after the two point estimates: new-model calls
    assert boot.shape == (7, 15)
    w = np.empty_like(boot)
    w[:, order] = boot
    assert (w[:, y == 1].sum(axis=1) == 6).all() and (w[:, y == 0].sum(axis=1) == 9).all()
    for part in (y == 1, y == 0):
        assert len({tuple(r) for r in w[:, part]}) == 7  # no two replicates share a class's draw
