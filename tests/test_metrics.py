from __future__ import annotations

import contextlib
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from clicksynth import ConfigError, DataError, Schema, load_dataset, split_frame
from clicksynth.metrics import METRICS, EvalContext, evaluate, fidelity, list_metrics, privacy, scores_summary, utility
from clicksynth.metrics._base import EvalCache
from clicksynth.metrics._stats import Z95, auc_with_ci, average_precision_ci, mean_ci, wilson_ci
from clicksynth.metrics.utility import _measure
from clicksynth.space import MixedSpace
from clicksynth.testing import make_ad_frame

RNG = lambda: np.random.default_rng(0)


@contextlib.contextmanager
def _no_warnings():
    """Any warning raised inside fails the test (a 0 / 0 or an empty mean on the way)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


#: Seven test rows scored so that at threshold 0.5 tp = fp = fn = 1 and tn = 4.
Y7 = np.array([0, 1, 0, 0, 1, 0, 0])
P7 = np.array([0.9, 0.8, 0.3, 0.2, 0.1, 0.05, 0.0])


def _schema(frame, target="label"):
    return Schema.infer(frame, target=target)


# -- fidelity by hand and against scipy -----------------------------------------------------
def test_categorical_distances_by_hand():
    real = pd.DataFrame({"c": list("aabb"), "label": [0, 1, 0, 1]})
    synth = pd.DataFrame({"c": list("aaab"), "label": [0, 1, 0, 1]})
    s = _schema(real)
    p, q = np.array([0.5, 0.5]), np.array([0.75, 0.25])
    tv = fidelity.tv_complement(real, synth, EvalContext(s, RNG()))
    assert tv.breakdown["c"] == pytest.approx(1 - 0.25)
    assert tv.breakdown["label"] == pytest.approx(1.0)
    js = fidelity.js_distance(real, synth, EvalContext(s, RNG()))
    assert js.breakdown["c"] == pytest.approx(jensenshannon(p, q, base=2))
    with _no_warnings():  # a value the synthetic rows never take: 0 log 0 read as 0, silently
        gone = fidelity.js_distance(real, synth.assign(c="a"), EvalContext(s, RNG()))
    assert gone.breakdown["c"] == pytest.approx(jensenshannon(p, [1.0, 0.0], base=2))
    hel = fidelity.hellinger(real, synth, EvalContext(s, RNG()))
    assert hel.breakdown["c"] == pytest.approx(np.sqrt(1 - (np.sqrt(0.5 * 0.75) + np.sqrt(0.5 * 0.25))))
    kl = fidelity.kl_divergence(real, synth, EvalContext(s, RNG()))
    ps, qs = np.array([2.5, 2.5]) / 5, np.array([3.5, 1.5]) / 5  # half-count smoothing
    assert kl.breakdown["c"] == pytest.approx(np.sum(ps * np.log(ps / qs)))


def test_numeric_against_scipy():
    rng = np.random.default_rng(1)
    real = pd.DataFrame({"x": rng.normal(0, 2, 3000), "label": rng.integers(0, 2, 3000)})
    synth = pd.DataFrame({"x": rng.normal(0.5, 2.5, 2000), "label": rng.integers(0, 2, 2000)})
    s = _schema(real)
    ks = fidelity.ks_complement(real, synth, EvalContext(s, RNG()))
    assert ks.breakdown["x"] == pytest.approx(1 - stats.ks_2samp(real.x, synth.x).statistic)
    w = fidelity.wasserstein(real, synth, EvalContext(s, RNG()))
    assert w.breakdown["x"] == pytest.approx(stats.wasserstein_distance(real.x, synth.x) / real.x.std(ddof=0))
    assert w.ci[0] <= w.value <= w.ci[1]


def test_correlation_and_contingency_by_hand():
    real = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "b": [2.0, 4, 6, 8, 10, 12], "label": [0, 1] * 3})
    synth = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "b": [12.0, 10, 8, 6, 4, 2], "label": [0, 1] * 3})
    s = Schema.infer(real, target="label", overrides={"columns": {"a": "numeric", "b": "numeric"}})
    corr = fidelity.correlation_similarity(real, synth, EvalContext(s, RNG()))
    assert corr.breakdown == {"a | b": pytest.approx(0.0)}  # r = 1 vs r = -1
    cat = pd.DataFrame({"u": list("xxyy"), "v": list("pqpq"), "label": [0, 1, 0, 1]})
    syn = pd.DataFrame({"u": list("xxyy"), "v": list("ppqq"), "label": [0, 1, 0, 1]})
    cont = fidelity.contingency_similarity(cat, syn, EvalContext(_schema(cat), RNG()))
    # Real joint (u, v): xp xq yp yq each 1/4; synthetic: xp, xp, yq, yq -> TV = 1/2.
    assert cont.breakdown["u | v"] == pytest.approx(0.5)


def test_contingency_similarity_bins_numeric_columns_in_deciles():
    """Numbers a little off every real value stay in the real deciles (a perfect joint), where as
    categories they would all be new values."""
    x = np.arange(40.0)
    real = pd.DataFrame({"x": x, "u": ["a", "b"] * 20, "label": [0, 1] * 20})
    s = Schema.infer(real, target="label", overrides={"columns": {"x": "numeric", "u": "categorical"}})
    got = fidelity.contingency_similarity(real, real.assign(x=x + 0.05), EvalContext(s, RNG()))
    assert got.breakdown["x | u"] == 1.0 and got.value == 1.0


def test_numeric_distances_read_quantile_bins_not_exact_values():
    """Numbers a hair off every real value fall in the same real-quantile bins: no distance, where
    as exact values the two histograms would not overlap at all."""
    x = np.arange(100.0)
    real = pd.DataFrame({"x": x})
    s = Schema.infer(real, overrides={"columns": {"x": "numeric"}})
    for metric in (fidelity.js_distance, fidelity.hellinger, fidelity.kl_divergence):
        assert metric(real, real.assign(x=x + 0.01), EvalContext(s, RNG())).breakdown["x"] == pytest.approx(0.0, abs=1e-12)
    # 50 real-quantile bins of two real values each; the lower half, each value twice, fills 25 of them
    half = fidelity.js_distance(real, real.assign(x=np.repeat(x[:50], 2)), EvalContext(s, RNG())).breakdown["x"]
    assert half == pytest.approx(jensenshannon(np.r_[np.ones(50), 0], np.r_[np.ones(25), np.zeros(26)], base=2))
    # a real column with no present value: every synthetic number falls outside its one (missing) cell
    gone = pd.DataFrame({"x": np.full(4, np.nan)})
    assert fidelity.js_distance(gone, pd.DataFrame({"x": [1.0, 2, 3, 4]}), EvalContext(s, RNG())).breakdown["x"] == pytest.approx(1.0)


def test_list_metrics_by_hand():
    real = pd.DataFrame({"h": ["1^2", "3", "1^2^3", ""], "label": [0, 1, 0, 1]})
    synth = pd.DataFrame({"h": ["2^1", "4", "3^1", "5"], "label": [0, 1, 0, 1]})
    s = _schema(real)
    lengths = fidelity.list_length_similarity(real, synth, EvalContext(s, RNG()))
    # real lengths {2, 1, 3, 0}, synthetic {2, 1, 2, 1}: TV = 1/2 (no whole list in common: it reads lengths).
    assert lengths.breakdown["h"] == pytest.approx(0.5)
    items = fidelity.list_item_similarity(real, synth, EvalContext(s, RNG()))
    # real items 1:2/6 2:2/6 3:2/6; synthetic 1:2/6 2, 3, 4, 5: 1/6 each -> TV = 1/3.
    assert items.breakdown["h"] == pytest.approx(1 - 1 / 3)


def test_histogram_memo_keeps_each_column_apart():
    """The shared memo of histograms is keyed by column: with it, each column reads its own."""
    real = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["p", "p", "q", "q"], "label": [0, 1, 0, 1]})
    synth = pd.DataFrame({"a": ["x", "x", "x", "y"], "b": ["q", "q", "q", "q"], "label": [0, 1, 0, 1]})
    s = _schema(real)
    memo = fidelity.tv_complement(real, synth, EvalContext(s, RNG(), cache=EvalCache()))
    assert memo.breakdown == pytest.approx({"a": 0.75, "b": 0.5, "label": 1.0})
    assert memo.breakdown == fidelity.tv_complement(real, synth, EvalContext(s, RNG())).breakdown


def test_histogram_metrics_have_a_bootstrap_interval_around_their_value():
    real = make_ad_frame(400, seed=1)
    s = Schema.infer(real, target="label")
    for metric in (fidelity.tv_complement, fidelity.js_distance, fidelity.hellinger):
        got = metric(real, make_ad_frame(400, seed=2), EvalContext(s, RNG()))
        assert got.ci is not None and got.ci[0] < got.value < got.ci[1], metric.__name__


def test_fidelity_subsamples_and_detection_folds_follow_the_context_seed(monkeypatch):
    """Tables above MAX_FIDELITY_ROWS are subsampled by the context's generator, and the
    detection folds are drawn by it: another seed, other rows and other folds; the same, the same."""
    from clicksynth.metrics.fidelity import _detection_folds

    real = make_ad_frame(600, seed=1)
    s = Schema.infer(real, target="label")
    monkeypatch.setattr(fidelity, "MAX_FIDELITY_ROWS", 200)
    values = [fidelity.ks_complement(real, make_ad_frame(600, seed=2), EvalContext(s, np.random.default_rng(k))).value for k in (0, 0, 1)]
    assert values[0] == values[1] != values[2]
    cols = [c for c in real.columns if c != "label"]
    synth = make_ad_frame(100, seed=3)
    folds = [_detection_folds(real, synth, cols, s, np.random.default_rng(k)) for k in (0, 0, 1)]
    assert (folds[0] == folds[1]).all() and (folds[0][:600] != folds[2][:600]).any()


def test_histogram_metrics_when_a_side_has_no_value():
    """Synthetic lists with no item share nothing with real items (similarity 0, distances 1), a
    side's lack of items is not half-similar; two sides with no item have nothing to compare."""
    real = pd.DataFrame({"h": ["1^2", "3", "", "2"], "label": [0, 1, 0, 1]})
    s = _schema(real)
    none = real.assign(h=["", "", "", ""])
    for a, b in ((real, none), (none, real)):
        got = fidelity.list_item_similarity(a, b, EvalContext(s, RNG()))
        assert got.breakdown["h"] == 0.0 and got.value == 0.0
    both = fidelity.list_item_similarity(none, none, EvalContext(s, RNG()))
    assert np.isnan(both.value) and both.details["reason"] == "no value on either side of any column"
    p, q, z = np.array([1.0, 3.0]), np.array([2.0, 2.0]), np.zeros(2)
    for dist in (fidelity._tv, fidelity._js, fidelity._hellinger):
        assert dist(p, z) == 1.0 and dist(z, q) == 1.0 and np.isnan(dist(z, z))
        assert 0 < dist(p, q) < 1
    # KL's half-count smoothing reads an empty side as uniform: KL([1, 3] + 1/2 || uniform), finite
    assert fidelity._kl(p, z) == pytest.approx(0.3 * np.log(0.6) + 0.7 * np.log(1.4)) and np.isnan(fidelity._kl(z, z))


def test_fidelity_with_constant_and_missing_values_by_hand():
    """Missing text is a category of its own; numeric distances read the present values; a
    constant column agrees with itself perfectly and its pairs reduce to the other column."""
    real = pd.DataFrame({"c": ["a", "a", None, "b"], "x": [1.0, 2.0, np.nan, 4.0], "k": [7.0] * 4, "label": [0, 1, 0, 1]})
    syn = pd.DataFrame({"c": ["a", "a", "a", "b"], "x": [1.0, 2.0, 3.0, 4.0], "k": [7.0] * 4, "label": [0, 1, 0, 1]})
    s = Schema.infer(real, target="label", overrides={"columns": {"c": "categorical", "x": "numeric", "k": "numeric"}})
    ctx = lambda: EvalContext(s, RNG())
    # c: real a 1/2, missing 1/4, b 1/4; synthetic a 3/4, b 1/4 -> TV 1/4.
    assert fidelity.tv_complement(real, syn, ctx()).breakdown["c"] == pytest.approx(0.75)
    # x over present values {1, 2, 4} vs {1, 2, 3, 4}: KS 2/3 - 1/2 at 2; W1 1/12 + 1/6 + 1/12 over
    # the real standard deviation sqrt(14/9).
    ks = fidelity.ks_complement(real, syn, ctx()).breakdown
    assert ks["x"] == pytest.approx(1 - 1 / 6) and ks["k"] == 1.0
    w = fidelity.wasserstein(real, syn, ctx()).breakdown
    assert w["x"] == pytest.approx((1 / 3) / np.sqrt(14 / 9)) and w["k"] == 0.0
    # a constant real column has no spread to scale by: the raw distance, 7 -> 7.5 on average
    assert fidelity.wasserstein(real, syn.assign(k=[7.0, 8.0] * 2), ctx()).breakdown["k"] == pytest.approx(0.5)
    for metric in (fidelity.js_distance, fidelity.hellinger, fidelity.kl_divergence):
        assert metric(real, syn, ctx()).breakdown["k"] == 0.0
    pairs = fidelity.contingency_similarity(real, syn, ctx()).breakdown
    assert pairs["c | k"] == pytest.approx(0.75) and pairs["k | label"] == 1.0


def test_prdc_against_a_brute_force_reference():
    """Precision, recall, density and coverage (Kynkaanniemi et al. 2019; Naeem et al. 2020) on one
    numeric column, against the definitions computed pair by pair: each row's radius is the
    distance to its k-th nearest *other* row of its own set."""
    from clicksynth.metrics.fidelity import PRDC_K as k

    rng = np.random.default_rng(4)
    r = rng.normal(0, 1, 120)
    q = np.r_[rng.normal(0.5, 1.3, 70), rng.normal(6, 0.2, 10)]  # shifted, wider, and a far cluster
    real, syn = pd.DataFrame({"x": r}), pd.DataFrame({"x": q})
    s = Schema.infer(real, overrides={"columns": {"x": "numeric"}})

    def radius(v):
        d = np.abs(v[:, None] - v[None, :])
        return np.sort(d, axis=1)[:, k]  # column 0 is the row itself

    d_qr = np.abs(q[:, None] - r[None, :])
    rad_r, rad_q = radius(r), radius(q)
    expected = {
        "prdc_precision": (d_qr <= rad_r[None, :]).any(axis=1).mean(),
        "prdc_density": ((d_qr <= rad_r[None, :]).sum(axis=1) / k).mean(),
        "prdc_recall": (rad_q[None, :] >= d_qr.T).any(axis=1).mean(),
        "prdc_coverage": (d_qr.min(axis=0) <= rad_r).mean(),
    }
    for name, want in expected.items():
        got = getattr(fidelity, name)(real, syn, EvalContext(s, RNG(), params={"max_rows": 1000})).value
        assert got == pytest.approx(want), name
    assert expected["prdc_precision"] < 1 and expected["prdc_coverage"] < 1  # the case discriminates


def test_prdc_row_caps_shared_columns_and_neighbour_cap(monkeypatch):
    """Both sides are subsampled to the PRDC row cap (or the evaluation's smaller one); the space
    holds the columns both tables have; neighbours are searched among the 32 nearest rows."""
    x = np.arange(100.0)
    real = pd.DataFrame({"x": x, "z": x % 7})
    s = Schema.infer(real, overrides={"columns": {"x": "numeric", "z": "numeric"}})
    monkeypatch.setattr(fidelity, "PRDC_ROWS", 40)
    ctx = lambda rows=1000: EvalContext(s, RNG(), params={"max_rows": rows})
    syn = pd.DataFrame({"x": x[:60] + 0.5})  # no z: compared on x alone
    assert fidelity.prdc_precision(real, syn, ctx()).details["n"] == 40  # synthetic rows kept
    assert fidelity.prdc_recall(real, syn, ctx()).details["n"] == 40  # real rows kept
    assert fidelity.prdc_recall(real, syn, ctx(rows=30)).details["n"] == 30
    # every synthetic x lies within a real row's 5-neighbour ball on x: all inside
    assert fidelity.prdc_precision(real, syn, ctx()).value == 1.0
    again = fidelity.prdc_density(real, syn, ctx()).value
    assert fidelity.prdc_density(real, syn, ctx()).value == again  # the same seed draws the same rows
    # 40 copies of one real point: a synthetic row there lies in 40 balls of radius 0, counted up to 32
    dup = pd.DataFrame({"x": np.r_[np.zeros(40), np.arange(1.0, 11.0) * 100]})
    s1 = Schema.infer(dup, overrides={"columns": {"x": "numeric"}})
    dense = fidelity.prdc_density(dup, pd.DataFrame({"x": np.zeros(6)}), EvalContext(s1, RNG(), params={"max_rows": 1000}))
    assert dense.value == pytest.approx(32 / fidelity.PRDC_K)
    # k rows on a side have no k-th other neighbour: no radius, no value, for every PRDC metric
    for name in ("prdc_precision", "prdc_recall", "prdc_density", "prdc_coverage"):
        few = getattr(fidelity, name)(dup, pd.DataFrame({"x": np.zeros(fidelity.PRDC_K)}), EvalContext(s1, RNG()))
        assert np.isnan(few.value) and few.details["reason"] == f"fewer than {fidelity.PRDC_K + 1} rows on a side: no k-th neighbour", name
    # recall looks in the balls of a real row's 32 nearest synthetic rows only: 32 copies 8 away
    # (radius 0) hide a 33rd row 16 away whose ball (radius 24) holds the real rows at 0
    real = pd.DataFrame({"x": [0.0] * 6 + [64.0] * 2})  # distances in units of 64, the real 1-99% range
    hidden = pd.DataFrame({"x": [8.0] * 32 + [-16.0]})
    s2 = Schema.infer(real, overrides={"columns": {"x": "numeric"}})
    assert fidelity.prdc_recall(real, hidden, EvalContext(s2, RNG())).value == 0.0
    assert fidelity.prdc_recall(real, hidden.iloc[1:], EvalContext(s2, RNG())).value == 0.75  # 31 copies: it is found
    ok = fidelity.prdc_recall(dup.head(fidelity.PRDC_K + 1), pd.DataFrame({"x": np.zeros(fidelity.PRDC_K + 1)}), EvalContext(s1, RNG()))
    assert ok.value == 1.0  # k + 1 rows are enough


def test_prdc_balls_are_closed_and_one_subsample_serves_all_four(monkeypatch):
    """A row exactly at a ball's radius is inside it (<=, as the papers define the ball); the four
    metrics of one evaluation read the same subsample."""
    k = fidelity.PRDC_K
    # distances in units of the real 1-99% range, 64 here: exact in floats. Radii (5th other row):
    # 0 -> 16 away, 16 -> 16 (the zeros), 64 -> 0 (its copies); 32 is 16 from 16, on its sphere.
    edge = pd.DataFrame({"x": [0.0] * k + [16.0] + [64.0] * (k + 1)})
    mid = pd.DataFrame({"x": [32.0] * (k + 1)})
    s = Schema.infer(edge, overrides={"columns": {"x": "numeric"}})
    ctx = lambda: EvalContext(s, RNG())
    assert fidelity.prdc_precision(edge, mid, ctx()).value == 1.0
    assert fidelity.prdc_density(edge, mid, ctx()).value == pytest.approx(1 / k)
    assert fidelity.prdc_coverage(edge, mid, ctx()).value == pytest.approx(1 / len(edge))
    # roles swapped (real rows spanning 0-64 again): 32 on the sphere of 16, 64 on its copies' (radius 0)
    real = pd.DataFrame({"x": [0.0, 0.0] + [32.0] * (k + 1) + [64.0, 64.0]})
    assert fidelity.prdc_recall(real, edge, ctx()).value == 1.0
    monkeypatch.setattr(fidelity, "PRDC_ROWS", 40)
    x = np.arange(100.0)
    real, syn = pd.DataFrame({"x": x}), pd.DataFrame({"x": x[:60] + 0.5})
    sx = Schema.infer(real, overrides={"columns": {"x": "numeric"}})
    shared = EvalContext(sx, RNG(), cache=EvalCache())  # as evaluate() gives
    fidelity.prdc_precision(real, syn, shared)
    alone = fidelity.prdc_recall(real, syn, EvalContext(sx, RNG())).value
    assert fidelity.prdc_recall(real, syn, shared).value == alone and 0 < alone < 1


# -- utility by hand ----------------------------------------------------------------------
def test_utility_measures_by_hand():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    assert _measure("roc_auc", y, p, 0.5, {}, RNG()).value == pytest.approx(0.75)
    assert _measure("pr_auc", y, p, 0.5, {}, RNG()).value == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    f1 = _measure("f1", y, p, 0.35, {}, RNG())
    assert f1.value == pytest.approx(0.8) and f1.details["tp"] == 2 and f1.details["fp"] == 1
    assert _measure("precision", y, p, 0.35, {}, RNG()).value == pytest.approx(2 / 3)
    assert _measure("recall", y, p, 0.35, {}, RNG()).value == pytest.approx(1.0)
    assert _measure("accuracy", y, p, 0.35, {}, RNG()).value == pytest.approx(0.75)
    assert _measure("recall_at_precision", y, p, 0.5, {"precision_floor": 0.9}, RNG()).value == pytest.approx(0.5)
    ll = _measure("log_loss", y, p, 0.5, {}, RNG()).value
    assert ll == pytest.approx(-np.mean(np.log([0.9, 0.6, 0.35, 0.8])))


def test_utility_measures_intervals_details_and_edges():
    """Each measure's interval and details, against the formulas they name, on an asymmetric
    case (1 click in 3 above the threshold, tp == fp and tp == fn), and the measures' edges."""
    y, p = Y7, P7
    auc = _measure("roc_auc", y, p, 0.5, {}, RNG())
    assert (auc.value, auc.ci) == auc_with_ci(y, p)
    pr = _measure("pr_auc", y, p, 0.5, {}, RNG())
    prec, rec, _ = precision_recall_curve(y, p)
    assert pr.ci == average_precision_ci(pr.value, 2) and pr.details["base_rate"] == pytest.approx(2 / 7)
    assert pr.details["precision"] == prec.round(5).tolist() and pr.details["recall"] == rec.round(5).tolist()
    assert any(round(v, 5) != round(v, 6) for v in prec)  # the rounding is seen
    cells = {"threshold": 0.5, "tp": 1, "fp": 1, "fn": 1, "tn": 4}
    precision = _measure("precision", y, p, 0.5, {}, RNG())
    assert (precision.value, precision.ci, precision.details) == (0.5, wilson_ci(1, 2), cells)
    recall = _measure("recall", y, p, 0.5, {}, RNG())
    assert (recall.value, recall.ci, recall.details) == (0.5, wilson_ci(1, 2), cells)
    accuracy = _measure("accuracy", y, p, 0.5, {}, RNG())
    assert (accuracy.value, accuracy.ci, accuracy.details) == (5 / 7, wilson_ci(5, 7), cells)
    f1 = _measure("f1", y, p, 0.5, {}, RNG())
    boot = RNG().multinomial(7, np.array([1, 1, 1, 4]) / 7, size=1000)
    f1s = 2 * boot[:, 0] / np.maximum(2 * boot[:, 0] + boot[:, 1] + boot[:, 2], 1)
    assert f1.value == 0.5 and f1.details == cells
    assert f1.ci == (float(np.quantile(f1s, 0.025)), float(np.quantile(f1s, 0.975)))
    # Recall at a precision floor reached exactly (2/3 at the third row) counts; one never reached gives 0.
    q = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.05, 0.0])
    y3 = np.array([1, 0, 1, 0, 0, 0, 1])
    at = _measure("recall_at_precision", y3, q, 0.5, {"precision_floor": 2 / 3}, RNG())
    assert (at.value, at.ci, at.details) == (pytest.approx(2 / 3), wilson_ci(2, 3), {"precision_floor": 2 / 3})
    assert _measure("recall_at_precision", y3, q, 0.5, {"precision_floor": 0.99}, RNG()).value == 1 / 3
    assert _measure("recall_at_precision", y, p, 0.5, {"precision_floor": 0.99}, RNG()).value == 0.0
    # Log loss: scores of exactly 0 and 1 on the wrong side cost -log(1e-7), not infinity.
    ll = _measure("log_loss", np.array([0, 1, 1, 0]), np.array([1.0, 0.0, 0.5, 0.5]), 0.5, {}, RNG())
    losses = np.array([-np.log(1e-7)] * 2 + [np.log(2)] * 2)
    assert ll.value == pytest.approx(losses.mean()) and ll.ci == pytest.approx(mean_ci(losses))
    # Nothing predicted positive: precision 0 without an interval; no clicks at all: recall 0.
    none = _measure("precision", y, p, 0.95, {}, RNG())
    assert (none.value, none.ci) == (0.0, None)
    assert _measure("recall", np.zeros(4, int), p[:4], 0.5, {}, RNG()).value == 0.0


def test_make_utility_metric_passes_scheme_name_params_and_rng(monkeypatch):
    """The factory's metric, built here (the registered ones are built at import): its name and
    doc, the rows it asks a model for, the metric name it gives, the params and rng it passes on."""
    y, p = Y7, P7
    asked = []

    def fake(which, real, synth, ctx, metric, model=None):
        asked.append((which, metric, model, real, synth, ctx))
        return y, p, 0.5

    monkeypatch.setattr(utility, "_predictions", fake)
    schema = Schema.infer(make_ad_frame(50, seed=1), target="label")
    for scheme, which in (("trtr", "real"), ("tstr", "synthetic"), ("augment", "augment")):
        for measure, params in (("recall_at_precision", {"precision_floor": 0.99}), ("f1", {})):
            f = utility.make_utility_metric(scheme, measure)
            assert f.__name__ == f"{scheme}_{measure}"
            assert f.__doc__ == f"{measure.replace('_', ' ')} on real test rows of a click model trained on {which} rows."
            real, synth, ctx = (
                make_ad_frame(5, seed=2),
                make_ad_frame(5, seed=3),
                EvalContext(schema, np.random.default_rng(7), params=params),
            )
            got = f(real, synth, ctx)
            want = _measure(measure, y, p, 0.5, params, np.random.default_rng(7))
            assert (got.value, got.ci, got.details) == (want.value, want.ci, want.details)
            assert asked[-1][:3] == (which, f"{scheme}_{measure}", None)
            assert asked[-1][3] is real and asked[-1][4] is synth and asked[-1][5] is ctx
    assert _measure("recall_at_precision", y, p, 0.5, {}, RNG()).value == 0.5  # the floor given matters


def test_f1_interval_and_edges_on_a_larger_asymmetric_table():
    """F1's multinomial bootstrap (1,000 replicates of the four cells, fp != fn), F1 with no click
    and nothing predicted, and recall values that the curve's rounding to five places shows."""
    y = np.r_[np.ones(55), np.zeros(945)].astype(int)
    p = np.r_[np.full(30, 0.9), np.full(25, 0.1), np.full(20, 0.8), np.full(925, 0.1)]  # tp 30, fn 25, fp 20, tn 925
    f1 = _measure("f1", y, p, 0.5, {}, RNG())
    boot = RNG().multinomial(1000, np.array([30, 20, 25, 925]) / 1000, size=1000)
    f1s = 2 * boot[:, 0] / np.maximum(2 * boot[:, 0] + boot[:, 1] + boot[:, 2], 1)
    assert f1.value == pytest.approx(60 / 105) and f1.ci == (float(np.quantile(f1s, 0.025)), float(np.quantile(f1s, 0.975)))
    assert _measure("f1", np.zeros(4, int), np.full(4, 0.1), 0.5, {}, RNG()).value == 0.0
    q = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.05, 0.0])
    y3 = np.array([1, 0, 1, 0, 0, 0, 1])  # recall in thirds
    _, rec, _ = precision_recall_curve(y3, q)
    assert _measure("pr_auc", y3, q, 0.5, {}, RNG()).details["recall"] == rec.round(5).tolist()
    assert any(round(v, 5) != round(v, 6) for v in rec)


def test_paired_delta_names_the_default_model(monkeypatch):
    y, p = Y7, P7
    monkeypatch.setattr(utility, "_predictions", lambda which, *a: (y, p if which == "augment" else p[::-1], 0.5))
    schema = Schema.infer(make_ad_frame(50, seed=1), target="label")
    res = utility._paired_delta("augment", None, None, EvalContext(schema, RNG(), params={}), "augment_delta_pr_auc")
    assert res.details["model"] == "xgboost" and res.details["margin"] == 0.005


def test_utility_curve_reads_a_point_half_a_click_short(monkeypatch):
    """+50% of 5 clicks is 2.5 rows: 2 synthetic clicks are within half a click, so the point is read."""
    real = make_ad_frame(60, seed=3).assign(label=0)
    real.loc[real.index[:5], "label"] = 1
    pool = make_ad_frame(60, seed=4).assign(label=0)
    pool.loc[pool.index[:2], "label"] = 1
    y = np.r_[np.ones(10), np.zeros(90)].astype(int)
    monkeypatch.setattr(utility, "_predictions", lambda which, *a, **k: (y, np.linspace(1, 0, 100), 0.5))
    schema = Schema.infer(real, target="label")
    res = utility.utility_curve(real, pool, EvalContext(schema, RNG(), test=real, params={"curve_shares": (0.0, 0.5)}))
    assert [c["pr_auc"] is not None for c in res.details["curve"]] == [True, True]


def test_pr_auc_curve_thinned_to_200_points_with_both_ends():
    rng = np.random.default_rng(5)
    y, p = rng.integers(0, 2, 1000), rng.random(1000)
    prec, rec, _ = precision_recall_curve(y, p)
    d = _measure("pr_auc", y, p, 0.5, {}, RNG()).details
    assert len(d["precision"]) == len(d["recall"]) == 200
    assert (d["precision"][0], d["recall"][0]) == (round(prec[0], 5), round(rec[0], 5))
    assert (d["precision"][-1], d["recall"][-1]) == (round(prec[-1], 5), round(rec[-1], 5))


def test_delong_matches_sklearn_and_brackets():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    p = y * 0.3 + rng.random(500)
    auc, (lo, hi) = auc_with_ci(y, p)
    assert auc == pytest.approx(roc_auc_score(y, p))
    assert lo < auc < hi and hi - lo < 0.15
    assert average_precision_score(y, p) > 0


def test_delong_interval_by_hand_with_ties_and_its_upper_end_at_one():
    """DeLong's variance from the placement values, by brute force (a tie counts half), on a
    small asymmetric case with ties across the classes; an AUC near 1 whose interval would
    pass 1 ends at 1."""

    def by_hand(y, s):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        var = psi.mean(axis=1).var(ddof=1) / len(pos) + psi.mean(axis=0).var(ddof=1) / len(neg)
        return psi.mean(), Z95 * np.sqrt(var)

    rng = np.random.default_rng(1)
    y = np.r_[np.ones(12, int), np.zeros(18, int)]
    s = rng.integers(0, 6, 30) + y  # ties within and across the classes
    auc, half = by_hand(y, s)
    got, (lo, hi) = auc_with_ci(y, s)
    assert got == pytest.approx(auc) and lo == pytest.approx(auc - half) and hi == pytest.approx(auc + half) and lo > 0 and hi < 1
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.3, 0.4, 0.2, 0.1, 0.1, 0.05, 0.0])
    auc, half = by_hand(y, s)
    got, (lo, hi) = auc_with_ci(y, s)
    assert auc + half > 1 and got == pytest.approx(auc) and lo == pytest.approx(auc - half) and hi == 1.0


def test_delong_with_one_row_of_a_class_and_with_one_class_only():

    auc, (lo, hi) = auc_with_ci([1, 0, 0], [0.9, 0.1, 0.5])  # one click is enough for an AUC
    assert auc == 1.0 and hi == 1.0
    with _no_warnings():  # no 0/0 on the way: a single class is no AUC, said at once
        for y in ([1, 1, 1], [0, 0]):
            auc, (lo, hi) = auc_with_ci(y, [0.2] * len(y))
            assert np.isnan(auc) and np.isnan(lo) and np.isnan(hi)


def test_delong_with_one_and_two_rows_of_the_negative_class_by_hand():
    """A class of one row has no variance term (one placement value); from two rows on it has."""
    y = np.array([1, 1, 1, 0])
    s = np.array([0.9, 0.2, 0.5, 0.4])  # positives above the one negative: 2 of 3
    auc, (lo, hi) = auc_with_ci(y, s)
    v01 = np.array([1.0, 0.0, 1.0])  # each positive's share of negatives below it
    assert auc == pytest.approx(2 / 3) and lo == pytest.approx(auc - Z95 * np.sqrt(v01.var(ddof=1) / 3)) and hi == 1.0
    y = np.array([1, 1, 1, 0, 0])
    s = np.array([0.9, 0.2, 0.5, 0.4, 0.1])
    auc, (lo, hi) = auc_with_ci(y, s)
    v01, v10 = np.array([1.0, 0.5, 1.0]), np.array([2 / 3, 1.0])  # v10: each negative's share of positives above it
    assert auc == pytest.approx(5 / 6)
    assert (lo, hi) == pytest.approx((auc - Z95 * np.sqrt(v01.var(ddof=1) / 3 + v10.var(ddof=1) / 2), 1.0))


def test_mean_interval_by_hand():
    from clicksynth.metrics._stats import mean_ci

    # mean 2.5, sd (ddof 1) 1.2910, half-width 1.959964 x 1.2910 / 2
    lo, hi = mean_ci(np.array([1.0, 2.0, np.nan, 3.0, 4.0, np.inf]))
    assert (lo + hi) / 2 == pytest.approx(2.5) and (hi - lo) / 2 == pytest.approx(1.959964 * np.std([1, 2, 3, 4], ddof=1) / 2, rel=1e-5)
    assert all(np.isnan(mean_ci(np.array([1.0]))))  # one value: no interval
    lo, hi = mean_ci(np.array([1.0, 2.0]))  # two values are enough: 1.5 -+ 1.96 x 0.7071 / 1.4142
    assert lo == pytest.approx(1.5 - 0.979982) and hi == pytest.approx(1.5 + 0.979982)
    assert mean_ci([1, None, 2]) == pytest.approx((lo, hi))  # a list with a missing value: dropped like NaN


def test_wilson_by_hand():
    lo, hi = wilson_ci(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert all(np.isnan(wilson_ci(0, 0)))  # no trials: no interval
    lo, hi = wilson_ci(1, 1)  # one trial is enough: (1 + z^2/2) / (1 + z^2) -+ its half-width
    assert lo == pytest.approx(0.2065, abs=1e-4) and hi == 1.0
    # All successes: the upper end is 1 exactly, though the formula rounds to 1 + 2e-16 at n = 16.
    assert wilson_ci(16, 16)[1] == 1.0 and wilson_ci(0, 16)[0] == 0.0


# -- privacy by hand ----------------------------------------------------------------------
def test_mixed_distance_by_hand():
    real = pd.DataFrame({"x": np.linspace(0, 100, 101), "c": ["a"] * 101, "l": ["1^2"] * 101, "label": [0, 1] * 50 + [0]})
    s = _schema(real)
    space = MixedSpace(s, ["x", "c", "l"]).fit(real)
    a = space.prepare(pd.DataFrame({"x": [10.0], "c": ["a"], "l": ["1^2"]}))
    b = space.prepare(pd.DataFrame({"x": [59.0], "c": ["b"], "l": ["2^3"]}))
    # spread = q99 - q01 = 98: (49 / 98)^2 + 1 (category) + (1 - 1/3) (Jaccard of {1,2} and {2,3})
    expected = np.sqrt(0.25 + 1 + 2 / 3)
    assert space.pair_distance(a, np.array([0]), b, np.array([0]))[0] == pytest.approx(expected)


def test_dcr_share_by_hand():
    # Training rows at 0 and 5; holdout rows at 0 (a duplicate of a training row: distance 0)
    # and 6 (distance 1). Synthetic rows at 0 (a copy: ties the duplicate, beats the other),
    # 0.5 (beats only the 1) and 6.5 (1.5 away: beats neither): (1.5 + 1 + 0) / 6 pairs.
    real = pd.DataFrame({"x": [0.0, 5.0], "label": [0, 1]})
    hold = pd.DataFrame({"x": [0.0, 6.0], "label": [0, 1]})
    synth = pd.DataFrame({"x": [0.0, 0.5, 6.5], "label": [0, 0, 1]})
    s = Schema.infer(real, target="label", overrides={"columns": {"x": "numeric"}})
    res = privacy.dcr_share(real, synth, EvalContext(s, RNG(), holdout=hold))
    assert res.value == pytest.approx(2.5 / 6)
    assert res.details["exact_copies"] == pytest.approx(1 / 3)
    # Moving the last row to 5.5 (0.5 away) wins it one pair.
    closer = synth.assign(x=[0.0, 0.5, 5.5])
    assert privacy.dcr_share(real, closer, EvalContext(s, RNG(), holdout=hold)).value == pytest.approx(3.5 / 6)
    assert privacy.exact_match_train(real, real, EvalContext(s, RNG())).value == 1.0


def test_privacy_needs_holdout():
    fx = make_ad_frame(200)
    s = Schema.infer(fx, target="label", user_column="uid")
    with pytest.raises(DataError, match="holdout"):
        privacy.mia_auc(fx, fx, EvalContext(s, RNG(), holdout=None))


# -- evaluate ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digix_parts():
    ds = load_dataset("digix2020")
    frame = ds.frame.head(12_000)
    schema = Schema.infer(frame, target="label", user_column="uid")
    train, hold, test = (p.to_pandas() for p in split_frame(frame, target="label", user_column="uid", random_state=0))
    return train, hold, test, schema


def test_reference_subjects_behave(digix_parts):
    train, hold, test, schema = digix_parts
    names = ["dcr_share", "mia_auc", "exact_match_train", "nndr", "tv_complement", "tstr_pr_auc"]
    scores = evaluate(train, train, holdout=hold, test=test, schema=schema, metrics=names, max_rows=3000)
    head = scores[scores.column == ""].pivot_table(index="metric", columns="subject", values="value")
    # Holdout treated as synthetic: the privacy ideal.
    assert abs(head.loc["dcr_share", "holdout"] - 0.5) < 0.06
    assert abs(head.loc["mia_auc", "holdout"] - 0.5) < 0.06
    # Training rows treated as synthetic: flagged.
    assert head.loc["exact_match_train", "synthetic"] == 1.0
    assert head.loc["mia_auc", "synthetic"] > 0.9
    assert head.loc["exact_match_train", "bootstrap"] == 1.0
    assert set(scores.subject) == {"synthetic", "holdout", "bootstrap"}


def test_evaluate_table_shape_and_determinism(digix_parts):
    train, hold, test, schema = digix_parts
    names = ["tv_complement", "trtr_roc_auc", "tstr_roc_auc", "dcr_share"]
    a = evaluate(train, hold, holdout=hold, test=test, schema=schema, metrics=names, references=False, max_rows=2000)
    b = evaluate(train, hold, holdout=hold, test=test, schema=schema, metrics=names, references=False, max_rows=2000)
    cols = ["subject", "metric", "family", "column", "value", "ci_low", "ci_high", "higher_is_better"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert set(a[a.column == ""].metric) == set(names)
    assert (a[a.metric == "trtr_roc_auc"].subject == "real").all()
    dcr = a[(a.metric == "dcr_share") & (a.column == "")].iloc[0]
    assert dcr.ci_low <= dcr.value <= dcr.ci_high
    assert "dcr_synthetic" in json.loads(dcr.details)
    assert "tv_complement" in scores_summary(a)


def test_evaluate_errors(digix_parts):
    train, hold, _, schema = digix_parts
    with pytest.raises(DataError, match="lack column"):
        evaluate(train, hold.drop(columns=["age"]), schema=schema)
    with pytest.raises(ConfigError, match="unknown metric"):
        evaluate(train, hold, schema=schema, metrics=["dcr_shar"])
    with pytest.raises(ConfigError, match="unknown model"):
        evaluate(train, hold, schema=schema, metrics=["tv_complement"], model="svm")


def test_registry_is_described():
    table = list_metrics()
    assert len(table) == len(METRICS)
    assert table.description.str.len().min() > 20
    assert set(table.family) == {"fidelity", "utility", "privacy"}


def test_lasso_agreement_ignores_the_global_numpy_rng():
    """liblinear shuffles with numpy's global RNG unless given a seed, which matters
    where it stops before converging (as on these CTGAN rows at global seed 4): the
    metric must not depend on what other code drew from that RNG."""
    from clicksynth.generators import get_generator

    real = load_dataset("digix2020").frame.head(3000).to_pandas()
    s = Schema.infer(real, target="label")
    params = get_generator("ctgan").get_test_params()[0]
    gen = get_generator("ctgan", random_state=2, **params).fit(real.drop(columns=["label"]), real["label"])
    synth = gen.sample({0: 700, 1: 100}, random_state=1)
    values = set()
    for global_seed in range(6):
        np.random.seed(global_seed)
        values.add(fidelity.lasso_agreement(real, synth, EvalContext(s, RNG(), params={"max_rows": 800})).value)
    assert len(values) == 1


@pytest.mark.parametrize(("rows", "splits"), [(4000, 3), (12000, 1)])
def test_detection_scores_fresh_rows_and_copies_at_chance(rows, splits):
    """Fresh real rows of unseen users score 0.5 +- 0.05 and copies of the training
    rows no lower than 0.45, with either detector. Folds that split a user's rows
    scored fresh rows 0.67-0.78 and copies 0.08-0.38 here (the classifier learned users)."""
    from clicksynth.bench.cell import load_split

    fresh = {"xgboost": [], "logistic": []}
    for seed in range(splits):
        train, hold, _, schema = load_split("digix2020", None, None, rows, (0.6, 0.2, 0.2), 100 + seed)
        copies = train.drop(columns=[schema.user_column])  # as a generator returns them: no user column
        for kind in fresh:
            detect = getattr(fidelity, f"detection_{kind}")
            ctx = lambda: EvalContext(schema, np.random.default_rng(seed), params={"max_rows": 5000})  # noqa: B023
            fresh[kind].append(detect(train, hold, ctx()).value)
            copied = detect(train, copies, ctx()).value
            assert 0.45 <= copied <= 0.55, f"{kind}: copies score {copied}"
    for kind, values in fresh.items():
        assert abs(np.mean(values) - 0.5) <= 0.05 and min(values) > 0.4 and max(values) < 0.6, f"{kind}: fresh rows score {values}"


@pytest.fixture(scope="module")
def privacy_cases():
    """Fresh real rows of unseen users, copies of every training row, and half of each."""
    from clicksynth.testing import metric_fixture

    fx = metric_fixture()
    train, test = fx["train"], fx["test"]
    k = min(len(train) // 2, len(test))
    half = pd.concat([train.sample(n=k, random_state=1), test.sample(n=k, random_state=2)], ignore_index=True)
    return fx, {"fresh": test, "half": half, "copies": train}


# (fresh rows within this of the ideal, copies at least this far from it); the half-copied
# set must lie strictly between the two, at least a fifth of the way from each (the
# median ratio: strictly between only, as a median reaches 0 once half the rows are copies).
_PRIVACY_POINTS = {
    "dcr_share": (0.05, 0.45),
    "dcr_median_ratio": (0.1, 0.95),
    "nndr": (0.05, 0.85),
    "exact_match_train": (0.01, 0.95),
    "mia_auc": (0.05, 0.4),
    # Copies score about 0.5 x (n / training rows): the fixture's equal-sized sets hold a third of the training rows.
    "privacy_loss": (0.05, 0.08),
}


@pytest.mark.parametrize("metric", sorted(_PRIVACY_POINTS))
def test_privacy_reference_points(metric, privacy_cases):
    """Each privacy metric reads as its docstring says: fresh rows at the ideal (NNDR:
    at the holdout's own ratio), copies of the training rows at the worst value, a
    half-copied set in between."""
    fx, cases = privacy_cases
    f = getattr(privacy, metric)
    ctx = lambda: EvalContext(fx["schema"], RNG(), holdout=fx["holdout"])
    got = {name: f(fx["train"], synth, ctx()) for name, synth in cases.items()}
    ideal = got["fresh"].details["holdout"] if metric == "nndr" else METRICS[metric].ideal
    near, far = _PRIVACY_POINTS[metric]
    fresh, half, copies = (got[k].value for k in ("fresh", "half", "copies"))
    assert abs(fresh - ideal) <= near, f"fresh rows {fresh} vs ideal {ideal}"
    assert abs(copies - ideal) >= far, f"copies {copies} too close to the ideal {ideal}"
    lo, hi = sorted((fresh, copies))
    # Strictly between only: a median reaches 0 once half the rows are copies; the privacy loss draws
    # a third of the rows by whole users, so its half-copied set moves with the users drawn.
    margin = 0.0 if metric in ("dcr_median_ratio", "privacy_loss") else (hi - lo) / 5
    assert lo + margin < half < hi - margin, f"half-copied {half} not between {fresh} and {copies}"


def test_adversarial_accuracy_of_fresh_rows_is_a_coin_flip(privacy_cases):
    """Yale et al.'s adversarial accuracy: fresh real rows are as near the training rows as the
    training rows are to one another (AA about 0.5 against both sets); copies sit on their originals."""
    fx, cases = privacy_cases
    ctx = lambda: EvalContext(fx["schema"], RNG(), holdout=fx["holdout"])
    fresh = privacy.privacy_loss(fx["train"], cases["fresh"], ctx()).details
    assert abs(fresh["aa_train"] - 0.5) < 0.06 and abs(fresh["aa_holdout"] - 0.5) < 0.06
    copies = privacy.privacy_loss(fx["train"], cases["copies"], ctx()).details
    assert copies["aa_train"] < 0.4 and abs(copies["aa_holdout"] - 0.5) < 0.06


def test_privacy_loss_of_fresh_rows_is_zero_when_users_have_several_rows(digix_parts):
    """Ad logs hold several rows per user, which resemble one another: training and holdout rows
    must be drawn alike (by whole users) or fresh rows show a loss (drawn by rows: 0.03 here, 0.04-0.07
    on the main job's split, each interval above 0)."""
    from clicksynth.metrics import holdout_halves

    train, hold, _, schema = digix_parts
    values = []
    for seed in range(3):
        fresh, other = holdout_halves(hold, schema, seed)
        res = privacy.privacy_loss(train, fresh, EvalContext(schema, np.random.default_rng(seed), holdout=other))
        assert res.ci[0] < 0 < res.ci[1], (seed, res.value, res.ci)
        values.append(res.value)
    assert abs(np.mean(values)) < 0.025


def test_exact_match_holdout_reference_points(privacy_cases):
    """Chance coincidences with the holdout are the control: fresh rows of other users hit
    none, copies of holdout rows all, half of them half."""
    fx, cases = privacy_cases
    hold = fx["holdout"]
    half = pd.concat([hold.iloc[: len(hold) // 2], cases["fresh"].iloc[: len(hold) // 2]], ignore_index=True)
    value = lambda synth: privacy.exact_match_holdout(fx["train"], synth, EvalContext(fx["schema"], RNG(), holdout=hold)).value
    assert value(cases["fresh"]) <= 0.01 and value(hold) == 1.0 and 0.4 < value(half) < 0.6


def test_holdout_halves_keep_users_whole_and_clicks_balanced():
    """The holdout reference plays fresh data only if no user sits in both halves (a user's
    other rows would make it look closer than fresh data); each half keeps the click rate."""
    from clicksynth.metrics import holdout_halves

    frame = load_dataset("digix2020").frame.head(8000).to_pandas()
    schema = Schema.infer(frame, target="label", user_column="uid")
    a, b = holdout_halves(frame, schema, 3)
    assert len(a) + len(b) == len(frame)
    assert not set(a["uid"]) & set(b["uid"])
    assert frame["uid"].value_counts().max() > 1  # users with several rows: the split is tested
    assert abs(len(a) - len(b)) < 0.1 * len(frame)
    for seed in range(3, 8):  # clicks split evenly (a random split of whole users differs by ~10)
        a_, b_ = holdout_halves(frame, schema, seed)
        assert abs(int(a_["label"].sum()) - int(b_["label"].sum())) <= 2, seed
    again, _ = holdout_halves(frame, schema, 3)
    pd.testing.assert_frame_equal(a, again)
    other, _ = holdout_halves(frame, schema, 4)
    assert set(other["uid"]) != set(a["uid"])


def test_augmentation_adds_share_times_the_real_clicks_of_synthetic_clicks_only():
    """The augmented model's extra rows: ``augment_share`` x the real click count, click
    rows only, taken from ``augment_rows`` when given (else the synthetic table)."""
    from clicksynth.metrics.utility import _synthetic_clicks

    real = make_ad_frame(600, seed=1)
    schema = Schema.infer(real, target="label")
    n_clicks = int((real["label"] == 1).sum())
    pool = make_ad_frame(2000, seed=2)
    for share in (0.5, 1.0, 1.7):
        extra = _synthetic_clicks(real, pool, schema, share, {})
        assert len(extra) == round(share * n_clicks) and (extra["label"] == 1).all()
    rows = pool[pool["label"] == 1].iloc[:5]
    extra = _synthetic_clicks(real, pool, schema, 1.0, {"augment_rows": rows})
    pd.testing.assert_frame_equal(extra, rows)  # fewer exist: all of them, from the pool given


def test_pair_codes_by_hand():
    """contingency_similarity's codes: numerics in deciles of the real values (NaN its own last
    code), categoricals as the real top 20 by count plus "other", lists by length up to 10."""
    real = pd.Series(np.r_[np.repeat(np.arange(0.0, 11.0), 10), np.nan])  # deciles 1..9 exactly: the inner edges
    synth = pd.Series([1.0, 0.5, 9.0, 9.5, 100.0, -5.0, np.nan])
    rc, sc, k = fidelity._codes_for_pairs(real, synth, "numeric")
    assert k == 11 and list(rc) == [*np.repeat([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9], 10), 10]  # a value on an edge goes above it
    assert list(sc) == [1, 0, 9, 9, 9, 0, 10]
    # interpolated deciles of [3, 3, 7]: 3 (six times), 3.8, 4.6, 5.4, 6.2, 7; the inner distinct ones are edges
    rc, sc, k = fidelity._codes_for_pairs(pd.Series([3.0, 3.0, 7.0]), pd.Series([np.nan, 5.0]), "numeric")
    assert k == 6 and list(rc) == [0, 0, 4] and list(sc) == [5, 2]
    rc, sc, k = fidelity._codes_for_pairs(pd.Series([np.nan, np.nan]), pd.Series([1.0]), "numeric")
    assert k == 2 and list(rc) == [1, 1] and list(sc) == [0]
    # categoricals: value v occurs 30 - v times, a missing value 40 times (a value like the others)
    values = [v for v in range(25) for _ in range(30 - v)] + [None] * 40
    real = pd.Series(values, dtype=object)
    rc, sc, k = fidelity._codes_for_pairs(real, pd.Series([0, 19, 20, None, "new"], dtype=object), "categorical")
    assert k == 21  # 20 most frequent and "other"
    assert rc[-1] == 0 and rc[0] == 1  # missing first (40 rows), then value 0 (30 rows)
    assert list(sc) == [1, 20, 20, 0, 20]  # value 19 is the 21st most frequent: other
    assert (rc[real.isin(range(19, 25)).to_numpy()] == 20).all() and set(rc) == set(range(21))
    # lists: by length, capped at 10
    n11, n12, n13 = ("^".join("x" * m) for m in (11, 12, 13))
    real = pd.Series(["a", n11, "a^b^c", n12, "a^b^c", "a^b^c", n11, "a"])
    rc, sc, k = fidelity._codes_for_pairs(real, pd.Series(["a^b", "c", n13]), "list")
    # lengths 11 and 12 are both 10 (three rows, the most), then 3 (three rows), 1 (two); 2 unseen
    assert k == 4 and list(rc) == [2, 0, 1, 0, 1, 1, 0, 2] and list(sc) == [3, 2, 0]


def test_correlation_similarity_pairs_value_interval_and_details_by_hand():
    from clicksynth.metrics._stats import mean_ci

    a = np.arange(1.0, 9.0)
    real = pd.DataFrame({"a": a, "b": a**2, "c": [3.0, 1, 4, 1, 5, 9, 2, 6], "d": 5.0, "label": [0, 1] * 4})
    synth = pd.DataFrame({"a": a, "b": a[::-1] ** 2, "c": 3.0, "d": a, "label": [0, 1] * 4})
    s = Schema.infer(real, target="label", overrides={"columns": dict.fromkeys("abcd", "numeric")})
    got = fidelity.correlation_similarity(real, synth, EvalContext(s, RNG()))
    r = np.corrcoef(real[["a", "b", "c"]].to_numpy().T)
    r_ab_synth = np.corrcoef(synth.a, synth.b)[0, 1]
    # d is constant in the real rows: left out; c is constant in the synthetic rows: its correlations count as 0
    want = {"a | b": 1 - abs(r[0, 1] - r_ab_synth) / 2, "a | c": 1 - abs(r[0, 2]) / 2, "b | c": 1 - abs(r[1, 2]) / 2}
    assert got.breakdown == pytest.approx(want)
    assert got.value == pytest.approx(np.mean(list(want.values())))
    assert got.ci == pytest.approx(mean_ci(np.array(list(want.values()))))
    assert got.details["columns"] == ["a", "b", "c"]
    assert got.details["real"] == np.round(r, 4).tolist()
    assert got.details["synthetic"][0][2] == 0.0 and got.details["synthetic"][0][1] == pytest.approx(round(r_ab_synth, 4))
    one = fidelity.correlation_similarity(
        real[["a", "d", "label"]], synth[["a", "d", "label"]], EvalContext(s.select(["a", "d", "label"]), RNG())
    )
    assert np.isnan(one.value) and one.details["reason"] == "fewer than two numeric columns"


def test_correlation_similarity_binary_columns_and_pairs_that_never_meet():
    """A two-valued numeric column has a correlation; a real pair whose values never share a row
    has none (NaN in the breakdown, left out of the mean); two finite pairs give no interval."""
    real = pd.DataFrame({"x": [1.0, 2, np.nan, np.nan], "y": [np.nan, np.nan, 3.0, 4], "z": [0.0, 1, 0, 1], "label": [0, 1] * 2})
    s = Schema.infer(real, target="label", overrides={"columns": dict.fromkeys("xyz", "numeric")})
    with _no_warnings():  # no mean of an empty selection on the way
        pair = fidelity.correlation_similarity(
            real[["x", "y", "label"]], real[["x", "y", "label"]], EvalContext(s.select(["x", "y", "label"]), RNG())
        )
    assert list(pair.breakdown) == ["x | y"] and np.isnan(pair.breakdown["x | y"]) and np.isnan(pair.value)
    three = fidelity.correlation_similarity(real, real.assign(z=[1.0, 0, 1, 0]), EvalContext(s, RNG()))
    # x | z: real r = 1 over rows 0-1, synthetic -1; y | z: real r = -1 over rows 2-3, synthetic 1
    assert three.breakdown == pytest.approx({"x | z": 0.0, "y | z": 0.0, "x | y": np.nan}, nan_ok=True)
    assert three.value == 0.0 and three.ci is None


def test_lasso_agreement_selects_few_features_and_reads_agreement_and_its_reverse():
    rng = np.random.default_rng(3)
    n = 3000
    X = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(6)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.0 + 1.5 * X["x0"] - 1.0 * X["x1"])))).astype(int)
    real = X.assign(label=y)
    s = Schema.infer(real, target="label")
    same = fidelity.lasso_agreement(real, real.copy(), EvalContext(s, RNG()))
    assert same.value == pytest.approx(1.0) and same.ci[0] < same.ci[1] == same.value  # the interval holds rho = 1
    assert same.details["jaccard_selected"] == 1.0 and same.details["sign_agreement"] == 1.0
    assert same.details["rows"] == [n, n]
    capped = fidelity.lasso_agreement(real, real.head(2000), EvalContext(s, RNG(), params={"max_rows": 1000}))
    assert capped.details["rows"] == [1000, 1000]
    # the L1 penalty keeps the two informative columns' features and drops most of the noise ones' (12 in all)
    assert 2 <= same.details["selected_real"] <= 4 and same.details["selected_real"] == same.details["selected_synthetic"]
    flipped = fidelity.lasso_agreement(real, real.assign(label=1 - y), EvalContext(s, RNG()))
    assert flipped.value < 0 and flipped.details["sign_agreement"] == 0.0
    assert flipped.ci[0] <= flipped.value <= flipped.ci[1]
    one = fidelity.lasso_agreement(real, real.assign(label=0), EvalContext(s, RNG()))
    assert np.isnan(one.value) and one.details["reason"] == "synthetic rows hold a single class"
    none = fidelity.lasso_agreement(X, X, EvalContext(Schema.infer(X), RNG()))
    assert np.isnan(none.value) and none.details["reason"] == "no target"


def test_lasso_agreement_fits_the_real_side_once_for_every_subject():
    """The embedding space and the real coefficients come from the real rows alone: fitted once in
    the evaluation's shared memo, so the reference subjects' coefficients are compared in the space
    the real coefficients were fitted in (a space per subject would compare them across spaces)."""
    from clicksynth.metrics._base import MAX_ROWS

    real = make_ad_frame(600, seed=1)
    s = Schema.infer(real, target="label")
    shared: dict = {}
    first = fidelity.lasso_agreement(real, real.sample(frac=1.0, random_state=0), EvalContext(s, RNG(), cache=EvalCache(shared)))
    space = shared[("lasso:space", MAX_ROWS)]
    assert ("lasso:real", MAX_ROWS) in shared and first.details["rows"] == [600, 600]
    other = EvalCache(shared)
    fidelity.lasso_agreement(real, make_ad_frame(600, seed=2), EvalContext(s, RNG(), cache=other))
    assert shared[("lasso:space", MAX_ROWS)] is space and not other.local


def test_lasso_agreement_against_scikit_learn_on_the_standardised_embedding():
    """The definition: L1 logistic regressions (C = 0.05) on the shared embedding, each column
    standardised by the real rows' mean and standard deviation; Spearman's rho of the coefficients."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(9)
    n = 3000  # a rare, telling category: its one-hot column spreads far less than the others
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.lognormal(0, 1.5, n), "c": rng.choice(list("pqr"), n, p=[0.01, 0.19, 0.8])})
    logit = lambda w: 1 / (1 + np.exp(-(-1.5 + w[0] * X["a"] + w[1] * np.log(X["b"]) + w[2] * (X["c"] == "p"))))
    real = X.assign(label=(rng.random(n) < logit([1.0, -0.8, 4.0])).astype(int))
    synth = X.assign(label=(rng.random(n) < logit([0.3, -1.2, 3.0])).astype(int))
    s = Schema.infer(real, target="label")
    got = fidelity.lasso_agreement(real, synth, EvalContext(s, RNG()))
    space = MixedSpace(s, ["a", "b", "c"]).fit(real)
    Xr, Xs = space.prepare(real).embedding, space.prepare(synth).embedding
    mu, sd = Xr.mean(axis=0), Xr.std(axis=0) + 1e-6
    fit = lambda Z, y: LogisticRegression(l1_ratio=1.0, solver="liblinear", C=0.05).fit((Z - mu) / sd, y).coef_.ravel()
    cr, cs = fit(Xr, real.label), fit(Xs, synth.label)
    assert got.value == pytest.approx(stats.spearmanr(cr, cs).statistic)
    assert got.details["selected_real"] == (cr != 0).sum() and got.details["selected_synthetic"] == (cs != 0).sum()
    assert (cr != 0).sum() < len(cr)  # L1 drops some (one spread for all columns, or C = 1, would select 4)


def test_coefficient_agreement_and_spearman_interval_by_hand():
    from clicksynth.metrics.fidelity import _coefficient_agreement, _spearman_ci

    cr, cs = np.array([1.0, 0, -2, 0.5, 3]), np.array([2.0, 0.3, 0, -1, 1])
    rho, d = _coefficient_agreement(cr, cs)
    assert rho == pytest.approx(stats.spearmanr(cr, cs).statistic)
    # selected {0, 2, 3, 4} and {0, 1, 3, 4}: 3 shared of 5; signs agree on entries 0 and 4, not on 3
    assert d == {"jaccard_selected": 0.6, "sign_agreement": pytest.approx(2 / 3), "selected_real": 4, "selected_synthetic": 4}
    with _no_warnings():  # no 0 / 0, no mean of nothing, no correlation of a constant
        rho, d = _coefficient_agreement(np.zeros(3), np.zeros(3))
        assert rho == 0.0 and d["jaccard_selected"] == 1.0 and np.isnan(d["sign_agreement"])
        rho, d = _coefficient_agreement(np.array([1.0, 0, 0]), np.array([0.0, 1, 2]))
        assert rho == pytest.approx(stats.spearmanr([1, 0, 0], [0, 1, 2]).statistic) and np.isnan(d["sign_agreement"])
        assert d["jaccard_selected"] == 0.0
        assert _coefficient_agreement(np.zeros(3), np.array([0.0, 1, 2]))[0] == 0.0
        assert _coefficient_agreement(np.array([0.0, 1, 2]), np.zeros(3))[0] == 0.0
    # Fisher's z interval needs n > 3 and a finite rho
    assert _spearman_ci(0.5, 3) is None and _spearman_ci(float("nan"), 10) is None
    z, half = np.arctanh(0.5), Z95 / np.sqrt(4 - 3)
    assert _spearman_ci(0.5, 4) == pytest.approx((np.tanh(z - half), np.tanh(z + half)))
    with _no_warnings():  # rho = -1 is clipped before arctanh, which is infinite there
        lo, hi = _spearman_ci(-1.0, 10)
    z, half = np.arctanh(-0.999999), Z95 / np.sqrt(7)
    assert lo == -1.0 and hi == pytest.approx(np.tanh(z + half), rel=1e-9) and hi > -1 + 1e-6


def test_contingency_similarity_samples_distinct_pairs_up_to_max_pairs():
    from clicksynth.metrics._stats import mean_ci

    rng = np.random.default_rng(4)
    wide = pd.DataFrame({f"c{i:02d}": rng.choice(list("abc"), 60) for i in range(29)})  # 406 pairs
    s = Schema.infer(wide)
    got = fidelity.contingency_similarity(wide, wide.sample(frac=1, random_state=0), EvalContext(s, RNG()))
    assert got.details == {"pairs": 400} and len(got.breakdown) == 400  # 400 distinct pairs of the 406
    values = np.array(list(got.breakdown.values()))
    assert got.value == pytest.approx(values.mean()) and got.ci == pytest.approx(mean_ci(values))
    few = fidelity.contingency_similarity(wide, wide, EvalContext(s, RNG(), params={"max_pairs": 3}))
    assert few.details == {"pairs": 3} and len(few.breakdown) == 3 and few.value == 1.0
    narrow = wide.iloc[:, :2]
    both = fidelity.contingency_similarity(narrow, narrow, EvalContext(s.select(narrow.columns), RNG(), params={"max_pairs": 1}))
    assert list(both.breakdown) == ["c00 | c01"] and both.details == {"pairs": 1}
    one = fidelity.contingency_similarity(wide.iloc[:, :1], wide.iloc[:, :1], EvalContext(s.select(["c00"]), RNG()))
    assert np.isnan(one.value) and one.details == {"reason": "fewer than two columns"}


def test_detectors_the_linear_one_misses_what_trees_see_and_the_trees_by_hand():
    """Real rows whose two signs agree, synthetic rows whose signs differ, the same
    marginals: a linear detector cannot tell them apart (at most chance) and trees can (~1). The
    XGBoost scores are those of the documented classifier (150 trees of depth 5, one-hot
    up to 4 levels) fitted on the protocol's folds, computed here by hand."""
    from xgboost import XGBClassifier

    from clicksynth.metrics.models import CTRFeaturizer
    from clicksynth.seeding import int_seed

    rng = np.random.default_rng(3)
    x, z = rng.uniform(-1, 1, (2, 600))
    c = rng.choice(list("abcdef"), 600)
    real = pd.DataFrame({"x": x[:300], "z": np.abs(z[:300]) * np.sign(x[:300]), "c": c[:300]})
    synth = pd.DataFrame({"x": x[300:], "z": -np.abs(z[300:]) * np.sign(x[300:]), "c": c[300:]})
    s = Schema.infer(real)
    linear = fidelity.detection_logistic(real, synth, EvalContext(s, RNG())).value
    got = fidelity.detection_xgboost(real, synth, EvalContext(s, RNG()))
    trees = got.value
    assert linear < 0.6 and trees > 0.9, (linear, trees)
    assert got.details == {"rows_per_class": 300, "folds": fidelity.DETECTION_FOLDS, "folds_grouped_by": "row"}  # no user column
    ctx = EvalContext(s, RNG())
    both, y, folds, cols = fidelity._detection_sets(real, synth, ctx)
    want = np.zeros(len(y))
    for k in range(fidelity.DETECTION_FOLDS):
        tr, te = folds != k, folds == k
        feat = CTRFeaturizer(s.select(cols)).fit(both[tr])
        model = XGBClassifier(
            n_estimators=150,
            max_depth=5,
            learning_rate=0.1,
            tree_method="hist",
            enable_categorical=True,
            max_cat_to_onehot=4,
            random_state=int_seed(ctx.rng),
            verbosity=0,
        )
        want[te] = model.fit(feat.transform(both[tr]), y[tr]).predict_proba(feat.transform(both[te]))[:, 1]
    got_y, got = fidelity._detection_scores("xgboost", real, synth, EvalContext(s, RNG()))
    np.testing.assert_array_equal(got_y, y)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # the logistic detector: scikit-learn's on each fold's mixed-space embedding, C = 1
    from sklearn.linear_model import LogisticRegression

    want = np.zeros(len(y))
    for k in range(fidelity.DETECTION_FOLDS):
        tr, te = folds != k, folds == k
        space = MixedSpace(s.select(cols), cols).fit(both[tr])
        model = LogisticRegression(max_iter=300, C=1.0).fit(space.prepare(both[tr]).embedding, y[tr])
        want[te] = model.predict_proba(space.prepare(both[te]).embedding)[:, 1]
    np.testing.assert_allclose(fidelity._detection_scores("logistic", real, synth, EvalContext(s, RNG()))[1], want, rtol=1e-6)


def test_detection_sees_the_label_and_distribution_metrics_see_dates_and_missing_values():
    """The label is a feature of the detectors (synthetic rows that are all clicks, beside
    real rows half clicks: the non-click half gives them away, AUC 0.75); a date column is
    numeric to the distribution metrics; a metric with no column of its kinds says which;
    a missing category is a cell of its own."""
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, 1600)
    real = pd.DataFrame({"x": x[:800], "label": rng.integers(0, 2, 800)})
    synth = pd.DataFrame({"x": x[800:], "label": np.ones(800, int)})
    s = Schema.infer(real, target="label")
    for kind in ("logistic", "xgboost"):
        got = getattr(fidelity, f"detection_{kind}")(real, synth, EvalContext(s, RNG())).value
        assert got == pytest.approx(0.75, abs=0.04), kind
    days = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 30, 400), unit="D")
    real = pd.DataFrame({"d": days[:200]})
    synth = pd.DataFrame({"d": days[200:] + pd.Timedelta(days=10)})
    got = fidelity.wasserstein(real, synth, EvalContext(Schema.infer(real), RNG()))
    assert list(got.breakdown) == ["d"] and got.value > 0
    lists = pd.DataFrame({"l": ["a^b", "b", ""]})
    got = fidelity.js_distance(lists, lists, EvalContext(Schema.infer(lists), RNG()))
    assert np.isnan(got.value) and got.details == {"reason": "no numeric/categorical columns"}
    # a missing category is one cell, on both sides: equal columns are at distance 0, and
    # missing values against none differ by the missing share
    cats = pd.DataFrame({"c": ["a", None, "b", "a", None, "a", "b", "b"]})
    ctx = lambda: EvalContext(Schema.infer(cats), RNG())
    assert fidelity.tv_complement(cats, cats.copy(), ctx()).value == 1.0
    assert fidelity.tv_complement(cats, cats.fillna("a"), ctx()).value == pytest.approx(1 - 0.25)


def test_prdc_by_definition_and_pmse_from_the_detection_scores():
    """Precision, recall, density and coverage (Naeem et al. 2020, k = 5) from the full distance
    matrices in the metrics' own space; on 30 + 30 rows the candidate search sees every row."""
    from clicksynth.metrics._stats import mean_ci

    rng = np.random.default_rng(5)
    real = pd.DataFrame({"x": rng.normal(0, 1, 30), "z": rng.normal(0, 1, 30), "c": rng.choice(list("ab"), 30)})
    synth = pd.DataFrame({"x": rng.normal(2.0, 1.5, 30), "z": rng.normal(0, 1, 30), "c": rng.choice(list("abb"), 30)})
    s = Schema.infer(real)
    space = MixedSpace(s, list(real.columns)).fit(real)
    pr, ps = space.prepare(real), space.prepare(synth)

    def dist(a, b):
        ia, ib = np.repeat(np.arange(len(a.embedding)), len(b.embedding)), np.tile(np.arange(len(b.embedding)), len(a.embedding))
        return space.pair_distance(a, ia, b, ib).reshape(len(a.embedding), len(b.embedding))

    k = fidelity.PRDC_K
    rad_r, rad_s = np.sort(dist(pr, pr), axis=1)[:, k], np.sort(dist(ps, ps), axis=1)[:, k]  # k-th neighbour, self at 0
    d_sr = dist(ps, pr)  # (synthetic, real)
    inside = d_sr <= rad_r[None, :]
    want = {
        "prdc_precision": inside.any(axis=1),
        "prdc_recall": (rad_s[None, :] >= d_sr.T).any(axis=1),
        "prdc_coverage": d_sr.min(axis=0) <= rad_r,
    }
    ctx = EvalContext(s, RNG())
    for name, x in want.items():
        got = getattr(fidelity, name)(real, synth, ctx)
        assert got.value == pytest.approx(x.mean()), name
        assert got.ci == pytest.approx(wilson_ci(float(x.sum()), len(x))) and got.details == {"n": 30, "k": k}
    density = inside.sum(axis=1) / k
    got = fidelity.prdc_density(real, synth, ctx)
    assert got.value == pytest.approx(density.mean()) and got.ci == pytest.approx(mean_ci(density)) and got.details == {"k": k}
    assert 0 < want["prdc_precision"].mean() < 1 and 0 < want["prdc_coverage"].mean() < 1  # a case that tells
    # ties count as inside (the balls are closed): ten copies of a value are each other's 5th neighbours at 0
    twins = pd.DataFrame({"c": list("a" * 10 + "b" * 10)})
    ctx2 = EvalContext(Schema.infer(twins), RNG())
    assert fidelity.prdc_precision(twins, twins.iloc[:10], ctx2).value == 1.0
    assert fidelity.prdc_coverage(twins, twins.iloc[:10], ctx2).value == 0.5
    # pMSE: mean squared distance of the logistic discriminator's out-of-fold scores from the synthetic share
    got = fidelity.pmse(real, synth, EvalContext(s, RNG()))
    y, oof = fidelity._detection_scores("logistic", real, synth, EvalContext(s, RNG()))  # the same seed: the same folds
    c = y.mean()
    assert got.value == pytest.approx(np.mean((oof - c) ** 2)) and got.details == {"c": pytest.approx(c)}
    assert got.ci == pytest.approx(mean_ci((oof - c) ** 2))


def test_importance_agreement_compares_the_two_models_importances_by_hand():
    from clicksynth.metrics.utility import fitted_model

    rng = np.random.default_rng(6)
    n = 1500
    X = pd.DataFrame({f"x{i:02d}": rng.normal(size=n) for i in range(12)})
    logit = -1.5 + 2.0 * X["x00"] - 1.5 * X["x01"] + 1.0 * X["x02"] + 0.5 * X["x03"]
    real = X.assign(label=(rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int))
    synth = real.assign(x00=rng.permutation(real["x00"].to_numpy()))  # the strongest column's signal destroyed
    s = Schema.infer(real, target="label")
    got = fidelity.importance_agreement(real, synth, EvalContext(s, RNG()))
    va = fitted_model("real", real, synth, EvalContext(s, RNG())).feature_importances()
    vb = fitted_model("synthetic", real, synth, EvalContext(s, RNG())).feature_importances()
    assert sorted(va.index) == sorted(vb.index) == sorted(X.columns)
    rho = stats.spearmanr(va[X.columns], vb[X.columns]).statistic
    assert got.value == pytest.approx(rho) and got.ci == pytest.approx(fidelity._spearman_ci(rho, 12))
    assert got.breakdown == pytest.approx({c: vb[c] - va[c] for c in X.columns}) and got.breakdown["x00"] < 0
    # the click model's seed is the evaluation's model_seed, 0 unless given
    assert fitted_model("real", real, synth, EvalContext(s, RNG())).random_state == 0
    assert fitted_model("real", real, synth, EvalContext(s, RNG(), params={"model_seed": 7})).random_state == 7
    assert got.details["columns"] == 12 and list(got.details["real"]) == list(va.sort_values(ascending=False).index[:10])
    assert got.details["real"] == pytest.approx(va.sort_values(ascending=False).head(10).round(4).to_dict())
    assert got.details["synthetic"] == pytest.approx(vb.sort_values(ascending=False).head(10).round(4).to_dict())
    # a rank correlation needs three columns; with two it is not computed
    three = fidelity.importance_agreement(
        real[["x00", "x01", "x02", "label"]],
        synth[["x00", "x01", "x02", "label"]],
        EvalContext(s.select(["x00", "x01", "x02", "label"]), RNG()),
    )
    assert np.isfinite(three.value)
    two = fidelity.importance_agreement(
        real[["x00", "x01", "label"]], synth[["x00", "x01", "label"]], EvalContext(s.select(["x00", "x01", "label"]), RNG())
    )
    assert np.isnan(two.value) and two.ci is None


def test_utility_curve_reads_the_largest_share_up_to_100_percent_and_skips_what_the_pool_lacks(monkeypatch):
    """The curve asks for one model per share (the real-rows one at 0), skips shares the synthetic
    clicks cannot fill, and its value is the gain at the largest share reached up to +100%."""
    from clicksynth.metrics._stats import average_precision_ci

    real = make_ad_frame(400, seed=3)
    schema = Schema.infer(real, target="label")
    n_pos = int((real["label"] == 1).sum())
    y = np.r_[np.ones(20), np.zeros(180)].astype(int)
    asked = []

    def fake(which, real_, synth_, ctx, metric, model=None):
        asked.append(which)
        share = 0.0 if which == "real" else float(which.split(":")[1])
        noise = np.random.default_rng(int(share * 100)).random(200)
        return y, 0.3 * y * share + noise, 0.5  # more synthetic clicks: better scores, by construction

    monkeypatch.setattr(utility, "_predictions", fake)
    pool = make_ad_frame(4000, seed=4)
    clicks = pool[pool["label"] == 1].iloc[: n_pos - 1]  # one short of +100%: +25% and +50% only
    ctx = EvalContext(schema, RNG(), test=real, params={"augment_rows": clicks})
    res = utility.utility_curve(real, pool, ctx)
    assert asked == ["real", "curve:0.25", "curve:0.5"]
    curve = {c["share"]: c for c in res.details["curve"]}
    assert curve[1.0]["pr_auc"] is None and curve[2.0]["pr_auc"] is None and str(len(clicks)) in curve[1.0]["reason"]
    ap = {s: average_precision_score(y, 0.3 * y * s + np.random.default_rng(int(s * 100)).random(200)) for s in (0.0, 0.25, 0.5, 1.0, 2.0)}
    assert res.value == pytest.approx(ap[0.5] - ap[0.0]) and res.details["real_clicks"] == n_pos
    assert set(res.breakdown) == {"+0%", "+25%", "+50%"}
    # every share filled: the value is read at +100%, not +200%
    asked.clear()
    res = utility.utility_curve(real, pool, EvalContext(schema, RNG(), test=real, params={}))
    assert asked == ["real", "curve:0.25", "curve:0.5", "curve:1.0", "curve:2.0"]
    assert res.value == pytest.approx(ap[1.0] - ap[0.0]) and ap[1.0] != ap[2.0]
    assert set(res.breakdown) == {"+0%", "+25%", "+50%", "+100%", "+200%"}
    for c in res.details["curve"]:  # each point's interval is that of its own PR-AUC
        assert (c["ci_low"], c["ci_high"]) == average_precision_ci(c["pr_auc"], int(y.sum()))
    # exactly as many synthetic clicks as +100% needs: read there
    enough = pool[pool["label"] == 1].iloc[:n_pos]
    res = utility.utility_curve(real, pool, EvalContext(schema, RNG(), test=real, params={"augment_rows": enough}))
    assert res.value == pytest.approx(ap[1.0] - ap[0.0])
    # the shares asked for, in their order; no synthetic clicks at all: nothing to read
    asked.clear()
    none = pool[pool["label"] == 0]
    res = utility.utility_curve(
        real, pool, EvalContext(schema, RNG(), test=real, params={"curve_shares": (0.5, 0.0), "augment_rows": none})
    )
    assert asked == ["real"] and np.isnan(res.value)
    asked.clear()
    utility.utility_curve(real, pool, EvalContext(schema, RNG(), test=real, params={"curve_shares": (0.5, 0.0)}))
    assert asked == ["curve:0.5", "real"]


def test_precision_floor_and_threshold_measures_at_their_edges():
    from clicksynth.metrics.utility import _precision_floor

    y = np.r_[np.ones(5), np.zeros(95)].astype(int)
    assert _precision_floor(y, {}) == pytest.approx(0.15)  # three times the click rate
    assert _precision_floor(np.r_[np.ones(30), np.zeros(70)], {}) == 0.5  # capped at one half
    assert _precision_floor(y, {"precision_floor": 0.3}) == 0.3
    p = np.linspace(0, 1, 100)
    none = _measure("precision", y, p, 2.0, {}, RNG())  # nothing predicted a click
    assert none.value == 0.0 and none.ci is None and none.details["tp"] == 0 and none.details["fn"] == 5
    f1 = _measure("f1", y, p, 2.0, {}, RNG())
    assert f1.value == 0.0 and f1.ci == (0.0, 0.0)
    pr = _measure("pr_auc", y, p, 0.5, {}, RNG())
    assert pr.details["base_rate"] == pytest.approx(0.05) and len(pr.details["precision"]) == len(pr.details["recall"])
    # F1's interval: a bootstrap of the confusion cells around the point value
    y2 = np.r_[np.ones(50), np.zeros(50)].astype(int)
    f1 = _measure("f1", y2, np.r_[np.full(40, 0.9), np.full(10, 0.1), np.full(10, 0.9), np.full(40, 0.1)], 0.5, {}, RNG())
    assert f1.value == pytest.approx(0.8) and f1.ci[0] < 0.8 < f1.ci[1] and f1.ci[1] - f1.ci[0] < 0.25
