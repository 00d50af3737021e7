"""Utility: can a click model learn from the synthetic rows?

Three training sets, one real test set:

* ``trtr``     train on real rows (the reference a synthetic set is judged against)
* ``tstr``     train on synthetic rows only
* ``augment``  real rows plus synthetic *click* rows (``augment_share`` x the real
               click count; the studies' minority augmentation)

Each model is XGBoost by default (``params={"model": "lightgbm" | "catboost" |
"logistic"}``), early-stopped and thresholded on the **holdout** rows (real
rows neither the generator nor the model trained on), and scored on the test
rows: ROC-AUC, PR-AUC, log-loss, F1 / precision / recall at the tuned
threshold, recall at a fixed precision, and accuracy (reported, never used to
rank: under 97% non-clicks a model that never predicts a click scores 0.97).
``utility_curve`` tracks PR-AUC as synthetic click rows grow from 0 to 200% of
the real click count.

Two paired comparisons answer "does it help?" with the power the test set has:
``augment_delta_pr_auc`` (augmented minus real-only) and ``tstr_delta_pr_auc``
(synthetic-only minus real-only), each a PR-AUC difference of two models scored
on the *same* test rows with a paired bootstrap interval (DeLong for the ROC-AUC
difference in its details) and a superiority / non-inferiority verdict at a
margin (``params["margin"]``, default ``_stats.MARGIN``). Their ``*_logistic`` twins
ask the same of an L1-logistic click model, the weak model where augmentation is
expected to help most.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve

from clicksynth.exceptions import DataError
from clicksynth.metrics._base import INF, EvalCache, EvalContext, Metric, MetricFamily, MetricResult, cached
from clicksynth.metrics._stats import (
    MARGIN,
    auc_with_ci,
    average_precision_ci,
    mean_ci,
    paired_ap_delta,
    paired_auc_delta,
    verdict,
    wilson_ci,
)
from clicksynth.metrics.models import CTRFeaturizer, CTRModel
from clicksynth.schema import Schema

__all__ = [
    "MEASURES",
    "SCHEMES",
    "augment_delta_pr_auc",
    "augment_delta_pr_auc_logistic",
    "fitted_model",
    "make_utility_metric",
    "tstr_delta_pr_auc",
    "tstr_delta_pr_auc_logistic",
    "utility_curve",
]

SCHEMES = ("trtr", "tstr", "augment")
MEASURES = ("roc_auc", "pr_auc", "log_loss", "f1", "precision", "recall", "recall_at_precision", "accuracy")
CURVE_SHARES = (0.0, 0.25, 0.5, 1.0, 2.0)
UTILITY = MetricFamily("utility")


def _labels(frame: pd.DataFrame, schema: Schema) -> np.ndarray:
    assert schema.target is not None
    return (frame[schema.target] == schema.positive_label).to_numpy().astype(np.int64)


def _synthetic_clicks(real: pd.DataFrame, synth: pd.DataFrame, schema: Schema, share: float, params: Mapping[str, Any]) -> pd.DataFrame:
    """``share`` x the real click count of synthetic click rows (fewer if fewer exist)."""
    pool = params.get("augment_rows")
    if pool is None:
        pool = synth
    pool = pool[_labels(pool, schema) == 1]
    k = round(share * _labels(real, schema).sum())
    return pool.iloc[: min(k, len(pool))]


def _featurizer(real: pd.DataFrame, schema: Schema, cache: EvalCache | None) -> CTRFeaturizer:
    """One featurizer fitted on the real training rows for every model of an
    evaluation: identical columns and category sets whatever the training rows."""
    return cached(cache, ("featurizer", id(real)), lambda: CTRFeaturizer(schema).fit(real), shared=True)


def _features(frame: pd.DataFrame, feat: CTRFeaturizer, cache: EvalCache | None, *, shared: bool) -> pd.DataFrame:
    return cached(cache, ("features", id(frame)), lambda: feat.transform(frame), shared=shared)


def fitted_model(which: str, real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext, model: str | None = None) -> CTRModel:
    """The click model (``model``, default the evaluation's) trained on ``which`` rows
    ("real", "synthetic", "augment", "curve:<share>")."""
    schema, holdout, cache, params = ctx.schema, ctx.holdout, ctx.cache, ctx.params
    kind = model or params.get("model", "xgboost")
    seed = int(params.get("model_seed", 0))
    if which.startswith("curve:") and float(which.split(":", 1)[1]) == float(params.get("augment_share", 1.0)):
        which = "augment"  # the same training rows: reuse that model

    def compute() -> CTRModel:
        cols = [c for c in schema.names if c in real.columns]
        sch = schema.select(cols)
        feat = _featurizer(real, sch, cache)
        X_real = _features(real, feat, cache, shared=True)
        if which == "real":
            X, y = X_real, _labels(real, schema)
        elif which == "synthetic":
            X, y = _features(synth, feat, cache, shared=False), _labels(synth, schema)
        else:
            share = float(params.get("augment_share", 1.0)) if which == "augment" else float(which.split(":", 1)[1])
            extra = _synthetic_clicks(real, synth, schema, share, params)
            X = pd.concat([X_real, feat.transform(extra)], ignore_index=True) if len(extra) else X_real
            y = np.r_[_labels(real, schema), np.ones(len(extra), dtype=np.int64)]
        if len(np.unique(y)) < 2:
            raise DataError(f"the {which} training rows hold a single class; cannot fit a click model")
        clf = CTRModel(kind, schema=sch, random_state=seed)
        clf.featurizer = feat
        if holdout is not None:
            X_val, y_val = _features(holdout, feat, cache, shared=True), _labels(holdout, schema)
        else:  # no holdout: early-stop and threshold on a fifth of the training rows
            order = np.random.default_rng(seed).permutation(len(y))
            cut = int(0.8 * len(y))
            X_val, y_val = X.iloc[order[cut:]], y[order[cut:]]
            X, y = X.iloc[order[:cut]], y[order[:cut]]
        return clf.fit_features(X, y, X_val, y_val)

    # The real-rows model depends only on real data (and which holdout tunes it):
    # share it with the reference subjects of the same evaluation.
    shared = which == "real"
    key = ("model", which, kind, id(holdout) if shared else None)
    return cached(cache, key, compute, shared=shared)


def _predictions(
    which: str, real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext, metric: str, model: str | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Test labels, the ``which`` model's click probabilities on the test rows, its threshold."""
    test = ctx.require_test(metric)
    kind = model or ctx.params.get("model", "xgboost")
    clf = fitted_model(which, real, synth, ctx, kind)
    assert clf.featurizer is not None
    X_test = _features(test, clf.featurizer, ctx.cache, shared=True)
    key = ("predictions", which, kind, id(ctx.holdout) if which == "real" else None)
    p = cached(ctx.cache, key, lambda: clf.predict_proba_features(X_test), shared=which == "real")
    return _labels(test, ctx.schema), p, clf.threshold_


def _measure(
    measure: str, y: np.ndarray, p: np.ndarray, threshold: float, params: Mapping[str, Any], rng: np.random.Generator
) -> MetricResult:
    if measure == "roc_auc":
        auc, ci = auc_with_ci(y, p)
        return MetricResult(auc, ci)
    if measure == "pr_auc":
        ap = float(average_precision_score(y, p))
        prec, rec, _ = precision_recall_curve(y, p)
        keep = np.unique(np.linspace(0, len(prec) - 1, min(len(prec), 200)).astype(int))
        return MetricResult(
            ap,
            average_precision_ci(ap, int(y.sum())),
            details={"base_rate": float(y.mean()), "precision": prec[keep].round(5).tolist(), "recall": rec[keep].round(5).tolist()},
        )
    if measure == "log_loss":
        q = np.clip(p, 1e-7, 1 - 1e-7)
        losses = -(y * np.log(q) + (1 - y) * np.log(1 - q))
        return MetricResult(float(losses.mean()), mean_ci(losses))
    if measure == "recall_at_precision":
        floor = _precision_floor(y, params)
        prec, rec, _ = precision_recall_curve(y, p)
        ok = prec[:-1] >= floor
        r = float(rec[:-1][ok].max()) if ok.any() else 0.0
        return MetricResult(r, wilson_ci(r * y.sum(), int(y.sum())), details={"precision_floor": floor})
    pred = p >= threshold
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    tn = int((~pred & (y == 0)).sum())
    details = {"threshold": float(threshold), "tp": tp, "fp": fp, "fn": fn, "tn": tn}
    if measure == "precision":
        return MetricResult(tp / (tp + fp) if tp + fp else 0.0, wilson_ci(tp, tp + fp) if tp + fp else None, details)
    if measure == "recall":
        return MetricResult(tp / (tp + fn) if tp + fn else 0.0, wilson_ci(tp, tp + fn), details)
    if measure == "accuracy":
        return MetricResult((tp + tn) / len(y), wilson_ci(tp + tn, len(y)), details)
    # F1: resample the four confusion cells (a multinomial bootstrap of the test rows).
    n = len(y)
    cells = rng.multinomial(n, np.array([tp, fp, fn, tn]) / n, size=1000)
    f1s = 2 * cells[:, 0] / np.maximum(2 * cells[:, 0] + cells[:, 1] + cells[:, 2], 1)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return MetricResult(float(f1), (float(np.quantile(f1s, 0.025)), float(np.quantile(f1s, 0.975))), details)


def _precision_floor(y: np.ndarray, params: Mapping[str, Any]) -> float:
    """The precision floor: given, or three times the click rate (a model three times
    better than random targeting), capped at 0.5."""
    given = params.get("precision_floor")
    return float(given) if given is not None else float(min(0.5, 3 * y.mean()))


_WHICH = {"trtr": "real", "tstr": "synthetic", "augment": "augment"}


def make_utility_metric(scheme: str, measure: str) -> Metric:
    """The metric function ``<scheme>_<measure>``."""
    which = _WHICH[scheme]
    name = f"{scheme}_{measure}"

    def metric(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
        y, p, thr = _predictions(which, real, synth, ctx, name)
        return _measure(measure, y, p, thr, ctx.params, ctx.rng)

    metric.__name__ = name
    metric.__doc__ = f"{measure.replace('_', ' ')} on real test rows of a click model trained on {which} rows."
    return metric


#: Direction, bounds and ideal of each measure, shared by the three schemes.
_MEASURE_SPEC: dict[str, tuple[bool, tuple[float, float], float]] = {
    "roc_auc": (True, (0, 1), 1),
    "pr_auc": (True, (0, 1), 1),
    "log_loss": (False, (0, INF), 0),
    "f1": (True, (0, 1), 1),
    "precision": (True, (0, 1), 1),
    "recall": (True, (0, 1), 1),
    "recall_at_precision": (True, (0, 1), 1),
    "accuracy": (True, (0, 1), 1),
}
for _scheme in SCHEMES:
    for _m in MEASURES:
        _higher, _bounds, _ideal = _MEASURE_SPEC[_m]
        UTILITY.add(
            f"{_scheme}_{_m}", make_utility_metric(_scheme, _m), higher_is_better=_higher, bounds=_bounds, ideal=_ideal, needs_test=True
        )


def _paired_delta(
    which: str, real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext, metric: str, model: str | None = None
) -> MetricResult:
    """PR-AUC of the ``which`` model minus the real-rows model's, on the same test rows."""
    y, p_new, _ = _predictions(which, real, synth, ctx, metric, model)
    _, p_base, _ = _predictions("real", real, synth, ctx, metric, model)
    margin = float(ctx.params.get("margin", MARGIN))
    delta, ci = paired_ap_delta(y, p_new, p_base, ctx.rng)
    roc, roc_ci = paired_auc_delta(y, p_new, p_base)
    details = {
        "margin": margin,
        "verdict": verdict(ci[0], ci[1], margin),
        "test_clicks": int(y.sum()),
        "model": model or ctx.params.get("model", "xgboost"),
        "pr_auc_real_only": float(average_precision_score(y, p_base)),
        "roc_auc_delta": roc,
        "roc_auc_ci": list(roc_ci),
    }
    return MetricResult(delta, ci, details=details)


@UTILITY.metric(higher_is_better=True, bounds=(-1, 1), ideal=1, needs_test=True)
def augment_delta_pr_auc(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """PR-AUC gain from adding the synthetic clicks: augmented model minus real-only model on the
    same test rows, paired-bootstrap 95% interval, verdict gain / non-inferior / inconclusive / loss."""
    return _paired_delta("augment", real, synth, ctx, "augment_delta_pr_auc")


@UTILITY.metric(higher_is_better=True, bounds=(-1, 1), ideal=0, needs_test=True)
def tstr_delta_pr_auc(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """PR-AUC of a model trained on synthetic rows only minus one trained on the real rows, same
    test rows, paired-bootstrap 95% interval; non-inferior: the synthetic rows can stand in."""
    return _paired_delta("synthetic", real, synth, ctx, "tstr_delta_pr_auc")


@UTILITY.metric(higher_is_better=True, bounds=(-1, 1), ideal=1, needs_test=True)
def augment_delta_pr_auc_logistic(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """``augment_delta_pr_auc`` for an L1-logistic click model, the weak, calibrated model where
    augmentation is expected to help more than for gradient-boosted trees."""
    return _paired_delta("augment", real, synth, ctx, "augment_delta_pr_auc_logistic", "logistic")


@UTILITY.metric(higher_is_better=True, bounds=(-1, 1), ideal=0, needs_test=True)
def tstr_delta_pr_auc_logistic(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """``tstr_delta_pr_auc`` for an L1-logistic click model."""
    return _paired_delta("synthetic", real, synth, ctx, "tstr_delta_pr_auc_logistic", "logistic")


@UTILITY.metric(higher_is_better=True, bounds=(-1, 1), ideal=1, needs_test=True)
def utility_curve(real: pd.DataFrame, synth: pd.DataFrame, ctx: EvalContext) -> MetricResult:
    """PR-AUC as synthetic click rows are added to the real training rows (0-200% of the real
    click count). Value: PR-AUC gain at +100% over real rows alone (>0: augmentation helps)."""
    ctx.require_test("utility_curve")
    params = ctx.params
    shares = tuple(params.get("curve_shares", CURVE_SHARES))
    available = int(_labels(params.get("augment_rows", synth), ctx.schema).sum())
    n_pos = int(_labels(real, ctx.schema).sum())
    curve = []
    for share in shares:
        which = "real" if share == 0 else f"curve:{share}"
        if share > 0 and share * n_pos > available + 0.5:
            curve.append({"share": share, "pr_auc": None, "reason": f"only {available} synthetic click rows"})
            continue
        y, p, _ = _predictions(which, real, synth, ctx, "utility_curve")
        ap = float(average_precision_score(y, p))
        lo, hi = average_precision_ci(ap, int(y.sum()))
        curve.append({"share": share, "pr_auc": ap, "ci_low": lo, "ci_high": hi})
    by_share = {c["share"]: c["pr_auc"] for c in curve}
    base = by_share.get(0.0)
    reach = [s for s in shares if s > 0 and by_share.get(s) is not None and s <= 1.0]
    value = float(by_share[max(reach)] - base) if base is not None and reach else float("nan")
    breakdown = {f"+{round(100 * c['share'])}%": c["pr_auc"] for c in curve if c["pr_auc"] is not None}
    return MetricResult(value, None, details={"curve": curve, "real_clicks": n_pos}, breakdown=breakdown)
