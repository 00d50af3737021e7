"""Contract suites: ``check_metric`` and ``check_generator``.

``tests/test_common.py`` runs them over every registry entry, so a new metric
or generator is tested the moment it is registered. They raise
``AssertionError`` with a message naming the broken promise.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clicksynth.exceptions import ConfigError, DataError, NotFittedError
from clicksynth.schema import Schema

__all__ = ["check_generator", "check_metric", "make_ad_frame", "metric_fixture"]


def make_ad_frame(n: int = 1200, seed: int = 0, click_rate: float = 0.12) -> pd.DataFrame:
    """A small ad log with every column kind and a learnable click signal.

    Columns: ``uid`` (user id), ``age`` / ``slot_id`` (small categorical codes),
    ``adv_id`` (a 120-value id), ``price`` (numeric with missing values),
    ``dwell`` (numeric), ``hours`` (caret list) and ``label``.
    """
    rng = np.random.default_rng(seed)
    users = rng.integers(10_000, 10_000 + max(n // 3, 4), size=n)
    age = rng.integers(1, 6, size=n)
    slot = rng.choice([11, 12, 13, 14], size=n, p=[0.4, 0.3, 0.2, 0.1])
    adv = rng.choice(np.arange(5000, 5120), size=n)
    price = np.round(rng.gamma(2.0, 20.0, size=n), 2)
    dwell = np.round(rng.normal(14 + 0.4 * price + 5 * (slot == 11), 5, size=n), 1)
    hours = ["^".join(str(h) for h in sorted(rng.choice(24, size=rng.integers(1, 6), replace=False))) for _ in range(n)]
    logit = -2.8 + 1.6 * (slot == 11) + 0.8 * (age >= 4) + 0.02 * (price - 40) + 0.05 * (dwell - 30)
    p = 1 / (1 + np.exp(-logit))
    p = np.clip(p * click_rate / p.mean(), 0, 1)
    label = (rng.random(n) < p).astype(np.int64)
    label[:2] = 1
    label[2:4] = 0
    price_with_missing = price.copy()
    price_with_missing[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "uid": users,
            "age": age,
            "slot_id": slot,
            "adv_id": adv,
            "price": price_with_missing,
            "dwell": dwell,
            "hours": hours,
            "label": label,
        }
    )


def metric_fixture(seed: int = 0, n: int = 1500) -> dict[str, Any]:
    """Train / holdout / test / schema for metric checks, from :func:`make_ad_frame`."""
    from clicksynth.split import split_frame

    frame = make_ad_frame(n=n * 5 // 3, seed=seed)
    schema = Schema.infer(frame, target="label", user_column="uid")
    train, holdout, test = split_frame(frame, target="label", user_column="uid", random_state=seed)
    return {"train": train, "holdout": holdout, "test": test, "schema": schema}


def _noise(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every column drawn independently and uniformly from its observed range / values."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for c in frame.columns:
        s = frame[c]
        if c == "label":
            out[c] = rng.permutation(s.to_numpy())
        elif pd.api.types.is_float_dtype(s):
            out[c] = np.round(rng.uniform(s.min(), s.max(), size=len(s)), 2)
        else:
            values = pd.unique(s.dropna())
            out[c] = rng.choice(values, size=len(s))
    return out


def _call(spec: Any, real: pd.DataFrame, synth: pd.DataFrame, fx: dict[str, Any], seed: int = 0, **kw: Any) -> float:
    from clicksynth.metrics import EvalContext

    ctx = EvalContext(
        fx["schema"], np.random.default_rng(seed), holdout=kw.get("holdout", fx["holdout"]), test=fx["test"], params=kw.get("params") or {}
    )
    res = spec.func(real, synth, ctx)
    return float(res.value)


def _in_bounds(spec: Any, value: float, case: str) -> None:
    lo, hi = spec.bounds
    assert math.isnan(value) or lo - 1e-9 <= value <= hi + 1e-9, f"{spec.name}: {case} value {value} outside {spec.bounds}"


def check_metric(name: str, fixture: dict[str, Any] | None = None) -> None:
    """Run the metric contract on one registered metric.

    * identical rows (fidelity, utility) or fresh real rows (privacy) score near the ideal,
    * independent noise (fidelity, utility) or copied training rows (privacy) score clearly worse,
    * values stay within the declared bounds,
    * the same rng gives the same value,
    * a metric that needs a holdout raises DataError without one.
    """
    from clicksynth.metrics import METRICS

    spec = METRICS[name]
    fx = fixture or metric_fixture()
    train, holdout = fx["train"], fx["holdout"]
    if spec.family == "privacy":
        good = _call(spec, train, holdout, {**fx, "holdout": fx["test"]}, holdout=fx["test"])
        bad = _call(spec, train, train, fx)
    else:
        good = _call(spec, train, train.copy(), fx)
        bad = _call(spec, train, _noise(train, 1), fx)
    _in_bounds(spec, good, "good case")
    _in_bounds(spec, bad, "bad case")
    if math.isnan(good):
        assert math.isnan(bad), f"{name}: NaN only in one case"
        return
    again = _call(spec, train, _noise(train, 1) if spec.family != "privacy" else train, fx)
    assert again == bad or (math.isnan(again) and math.isnan(bad)), f"{name}: not deterministic for a fixed rng ({bad} vs {again})"
    if name.startswith("trtr_"):
        # Trained on real rows only: the synthetic rows must not matter.
        assert good == bad, f"{name}: depends on the synthetic rows ({good} vs {bad})"
        return
    if name == "exact_match_holdout":
        # Its "bad" case is a copy of the holdout itself.
        copied = _call(spec, train, holdout, fx)
        assert copied > 0.95 and good < copied, f"{name}: copies of the holdout not flagged ({copied})"
        return
    if spec.family == "utility" and name not in _UTILITY_CONTRACT:
        return  # thresholded and augmentation numbers: bounds and determinism only
    tol = _tolerance(spec)
    if spec.higher_is_better is True:
        assert good >= spec.ideal - tol, f"{name}: good case {good} not near ideal {spec.ideal}"
        assert bad < good - _gap(spec), f"{name}: bad case {bad} not clearly worse than good case {good}"
    elif spec.higher_is_better is False:
        assert good <= spec.ideal + tol, f"{name}: good case {good} not near ideal {spec.ideal}"
        assert bad > good + _gap(spec), f"{name}: bad case {bad} not clearly worse than good case {good}"
    else:
        assert abs(good - spec.ideal) <= tol, f"{name}: good case {good} not near ideal {spec.ideal}"
        assert abs(bad - spec.ideal) > abs(good - spec.ideal), f"{name}: bad case {bad} not further from ideal than {good}"
    if spec.needs_holdout:
        try:
            _call(spec, train, train, fx, holdout=None)
        except DataError:
            pass
        else:
            raise AssertionError(f"{name}: no DataError without holdout rows")


# Tolerances of the "good" case: utility metrics of a model trained on the same rows are
# identical up to nothing; privacy references are sampling-noisy at this size.
_TOLERANCE = {
    "detection_logistic": 0.06,
    "detection_xgboost": 0.06,
    "pmse": 0.01,
    "prdc_density": 0.35,
    "dcr_share": 0.08,
    "mia_auc": 0.08,
    "nndr": 0.2,
    "dcr_median_ratio": 0.35,
    "exact_match_holdout": 0.02,
    "exact_match_train": 0.02,
    "prdc_precision": 0.1,
    "prdc_recall": 0.1,
    "prdc_coverage": 0.1,
    "lasso_agreement": 0.05,
    "importance_agreement": 0.05,
}


# Utility metrics whose value must fall when a model learns from noise. Recall,
# precision and F1 at a tuned threshold can rise by predicting "click" for
# everything, and augmentation keeps the real rows: neither can be promised.
_UTILITY_CONTRACT = {"tstr_roc_auc", "tstr_pr_auc", "tstr_log_loss"}


def _tolerance(spec: Any) -> float:
    if spec.family == "utility":
        # Trained on identical rows with the same seed: equal to the real-trained model,
        # whose own value is far from 1; "near ideal" means "as good as real" here.
        return 1.0 if spec.higher_is_better else math.inf
    return _TOLERANCE.get(spec.name, 0.02)


def _gap(spec: Any) -> float:
    if spec.family == "utility":
        return 0.0
    return 0.02


# -----------------------------------------------------------------------------------------
def check_generator(name: str, params: dict[str, Any] | None = None, *, frame: pd.DataFrame | None = None) -> None:
    """Run the generator contract on one registered generator (with its test params)."""
    from clicksynth.generators import Generator, generator_class, get_generator

    cls = generator_class(name)
    params = dict(params if params is not None else cls.get_test_params()[0])
    data = frame if frame is not None else make_ad_frame(n=400, seed=3).drop(columns=["uid"])
    X, y = data.drop(columns=["label"]), data["label"].rename("label")
    X_before, y_before = X.copy(), y.copy()

    gen = get_generator(name, random_state=7, **params)
    stored = gen.get_params(deep=False)
    for key, value in params.items():
        assert stored[key] == value, f"{name}: parameter {key} not stored verbatim"
    try:
        gen.sample(3)
    except NotFittedError:
        pass
    else:
        raise AssertionError(f"{name}: sample before fit did not raise NotFittedError")
    assert gen.fit(X, y) is gen, f"{name}: fit does not return self"
    pd.testing.assert_frame_equal(X, X_before, obj=f"{name}: X mutated by fit")
    pd.testing.assert_series_equal(y, y_before, obj=f"{name}: y mutated by fit")

    out = gen.sample({1: 37, 0: 11})
    assert list(out.columns) == [*X.columns, "label"], f"{name}: wrong columns {list(out.columns)}"
    assert (out["label"] == 1).sum() == 37 and (out["label"] == 0).sum() == 11, f"{name}: wrong class counts"
    for c in X.columns:
        assert out[c].dtype == X[c].dtype, f"{name}: column {c} dtype {out[c].dtype} != {X[c].dtype}"
    for c in ("age", "slot_id", "adv_id"):
        extra = set(out[c].dropna()) - set(X[c].dropna())
        assert not extra, f"{name}: unseen categories {sorted(extra)[:5]} in {c}"
    for c in ("price", "dwell"):
        assert out[c].min() >= X[c].min() - 1e-9 and out[c].max() <= X[c].max() + 1e-9, f"{name}: {c} outside training range"
    items = {i for v in X["hours"] for i in v.split("^") if v}
    for v in out["hours"]:
        assert isinstance(v, str), f"{name}: list column value {v!r} is not a string"
        assert {i for i in v.split("^") if v} <= items, f"{name}: list items outside the training items"
    only_pos = gen.sample({1: 5})
    assert len(only_pos) == 5 and (only_pos["label"] == 1).all(), f"{name}: sample({{1: 5}}) wrong"
    assert len(gen.sample(20)) == 20, f"{name}: sample(20) did not give 20 rows"

    a = get_generator(name, random_state=7, **params).fit(X, y).sample(50)
    b = get_generator(name, random_state=7, **params).fit(X, y).sample(50)
    pd.testing.assert_frame_equal(a, b, obj=f"{name}: same seed, different rows")

    fitted = get_generator(name, random_state=7, **params).fit(X, y)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.csm"
        fitted.save(path)
        loaded = Generator.load(path)
    pd.testing.assert_frame_equal(fitted.sample(40), loaded.sample(40), obj=f"{name}: save/load changed the rows")

    bad = X.copy()
    bad["price"] = bad["price"].astype(object)
    bad.loc[bad.index[5], "price"] = "n/a"
    try:
        get_generator(name, **params).fit(bad, y, schema=Schema.infer(X))
    except DataError as exc:
        assert "price" in str(exc), f"{name}: DataError does not name the column: {exc}"
    else:
        raise AssertionError(f"{name}: bad input did not raise DataError")
    try:
        gen.sample({2: 3})
    except ConfigError:
        pass
    else:
        raise AssertionError(f"{name}: unknown class did not raise ConfigError")
