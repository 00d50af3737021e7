"""The metric contract, one named check per promise.

* values stay within the declared bounds,
* the same rng gives the same value,
* identical rows (fidelity, utility) or fresh real rows (privacy) score near the ideal,
* independent noise (fidelity, utility) or copied training rows (privacy) score clearly worse,
* a metric that needs a holdout raises DataError without one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from clicksynth.exceptions import DataError
from clicksynth.metrics import METRICS, EvalContext, MetricSpec
from clicksynth.testing.data import metric_fixture, noise_like

__all__ = ["METRIC_CHECKS", "MetricCase", "check_metric"]


class MetricCase:
    """One registered metric on the fixture, its good / bad / repeated values computed once."""

    def __init__(self, name: str, fixture: dict[str, Any] | None = None) -> None:
        self.name = name
        self.spec: MetricSpec = METRICS[name]
        self.fx = fixture or metric_fixture()

    def call(self, real: pd.DataFrame, synth: pd.DataFrame, *, seed: int = 0, holdout: Any = "fixture") -> float:
        hold = self.fx["holdout"] if isinstance(holdout, str) else holdout
        ctx = EvalContext(self.fx["schema"], np.random.default_rng(seed), holdout=hold, test=self.fx["test"])
        return float(self.spec.func(real, synth, ctx).value)

    @property
    def privacy(self) -> bool:
        return self.spec.family == "privacy"

    @cached_property
    def good(self) -> float:
        """Identical rows, or for privacy fresh real rows against a fresh control."""
        train = self.fx["train"]
        return self.call(train, self.fx["holdout"], holdout=self.fx["test"]) if self.privacy else self.call(train, train.copy())

    @cached_property
    def bad_rows(self) -> pd.DataFrame:
        return self.fx["train"] if self.privacy else noise_like(self.fx["train"], 1)

    @cached_property
    def bad(self) -> float:
        """Independent noise, or for privacy copies of the training rows."""
        return self.call(self.fx["train"], self.bad_rows)

    @property
    def undefined(self) -> bool:
        """NaN on the fixture (e.g. no column of the metric's kind): only bounds and NaN agreement apply."""
        return math.isnan(self.good)


def _in_bounds(spec: MetricSpec, value: float, case: str) -> None:
    lo, hi = spec.bounds
    assert math.isnan(value) or lo - 1e-9 <= value <= hi + 1e-9, f"{spec.name}: {case} value {value} outside {spec.bounds}"


def check_bounds(case: MetricCase) -> None:
    _in_bounds(case.spec, case.good, "good case")
    _in_bounds(case.spec, case.bad, "bad case")
    if case.undefined:
        assert math.isnan(case.bad), f"{case.name}: NaN only in one case"


def check_deterministic(case: MetricCase) -> None:
    again = case.call(case.fx["train"], case.bad_rows)
    assert again == case.bad or (math.isnan(again) and math.isnan(case.bad)), (
        f"{case.name}: not deterministic for a fixed rng ({case.bad} vs {again})"
    )


def check_good_near_ideal(case: MetricCase) -> None:
    spec, good = case.spec, case.good
    if case.undefined or case.name.startswith("trtr_") or case.name == "exact_match_holdout" or _bounds_only(case):
        return
    if spec.family == "utility":
        # Trained on identical rows with the same seed: exactly the real-trained model's value.
        reference = _real_twin(case)
        assert abs(good - reference) <= 1e-9, f"{case.name}: trained on identical rows {good}, on the real rows {reference}"
        return
    tol = _tolerance(spec)
    if spec.higher_is_better is True:
        assert good >= spec.ideal - tol, f"{case.name}: good case {good} not near ideal {spec.ideal}"
    elif spec.higher_is_better is False:
        assert good <= spec.ideal + tol, f"{case.name}: good case {good} not near ideal {spec.ideal}"
    else:
        assert abs(good - spec.ideal) <= tol, f"{case.name}: good case {good} not near ideal {spec.ideal}"


def check_bad_clearly_worse(case: MetricCase) -> None:
    spec, good, bad = case.spec, case.good, case.bad
    if case.undefined or _bounds_only(case):
        return
    if case.name.startswith("trtr_"):
        # Trained on real rows only: the synthetic rows must not matter.
        assert good == bad, f"{case.name}: depends on the synthetic rows ({good} vs {bad})"
        return
    if case.name == "exact_match_holdout":
        # Its "bad" case is a copy of the holdout itself.
        copied = case.call(case.fx["train"], case.fx["holdout"])
        assert copied > 0.95 and good < copied, f"{case.name}: copies of the holdout not flagged ({copied})"
        return
    if spec.higher_is_better is True:
        assert bad < good - _gap(spec), f"{case.name}: bad case {bad} not clearly worse than good case {good}"
    elif spec.higher_is_better is False:
        assert bad > good + _gap(spec), f"{case.name}: bad case {bad} not clearly worse than good case {good}"
    else:
        assert abs(bad - spec.ideal) > abs(good - spec.ideal), f"{case.name}: bad case {bad} not further from ideal than {good}"


def check_needs_holdout(case: MetricCase) -> None:
    if not case.spec.needs_holdout:
        return
    try:
        case.call(case.fx["train"], case.fx["train"], holdout=None)
    except DataError as err:
        assert case.name in str(err), f"{case.name}: the error does not name the metric ({err})"
        return
    raise AssertionError(f"{case.name}: no DataError without holdout rows")


def _bounds_only(case: MetricCase) -> bool:
    # Thresholded and augmentation numbers: bounds and determinism only.
    return case.spec.family == "utility" and not case.name.startswith("trtr_") and case.name not in _UTILITY_CONTRACT


# Tolerances of the "good" case: utility metrics of a model trained on the same rows are
# identical up to nothing; privacy references are sampling-noisy at this size.
_TOLERANCE = {
    "detection_logistic": 0.02,
    "detection_xgboost": 0.02,
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
_UTILITY_CONTRACT = {"tstr_roc_auc", "tstr_pr_auc", "tstr_log_loss", "tstr_delta_pr_auc", "tstr_delta_pr_auc_logistic"}


def _real_twin(case: MetricCase) -> float:
    """What a model trained on the real rows scores: trtr_<x> for tstr_<x>, 0 for a paired difference."""
    if "_delta_" in case.name:
        return 0.0
    return MetricCase("trtr_" + case.name.removeprefix("tstr_"), case.fx).good


def _tolerance(spec: Any) -> float:
    return _TOLERANCE.get(spec.name, 0.02)


def _gap(spec: Any) -> float:
    if spec.family == "utility":
        return 0.0
    return 0.02


#: Every promise of the metric contract, by name.
METRIC_CHECKS: dict[str, Callable[[MetricCase], None]] = {
    f.__name__: f for f in (check_bounds, check_deterministic, check_good_near_ideal, check_bad_clearly_worse, check_needs_holdout)
}


def check_metric(name: str, fixture: dict[str, Any] | None = None) -> None:
    """Run every check of the metric contract on one registered metric."""
    case = MetricCase(name, fixture)
    for check in METRIC_CHECKS.values():
        check(case)
