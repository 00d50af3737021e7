"""The scorecard: fidelity, utility and privacy metrics, and :func:`evaluate`.

``METRICS`` is an explicit registry of :class:`MetricSpec` (function, family,
direction, bounds, ideal value, what it needs). ``evaluate`` runs a selection of
them on the synthetic rows and, for reference, on

* ``holdout``   half of the holdout treated as if it were synthetic (scored
                against the other half): what "as good as fresh real data" looks like
* ``bootstrap`` training rows resampled with replacement: what memorisation looks like

and returns one tidy table.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from clicksynth._frame import to_pandas
from clicksynth.exceptions import ClicksynthError, ConfigError, DataError
from clicksynth.metrics import fidelity, privacy, utility
from clicksynth.metrics._base import MAX_ROWS, EvalCache, MetricResult, MetricSpec
from clicksynth.schema import Schema, suggest
from clicksynth.seeding import derive_seed
from clicksynth.split import assign_splits

__all__ = ["FAMILIES", "METRICS", "SUBJECTS", "EvalCache", "MetricResult", "MetricSpec", "evaluate", "list_metrics"]

log = logging.getLogger(__name__)

FAMILIES = ("fidelity", "utility", "privacy")
SUBJECTS = ("synthetic", "holdout", "bootstrap", "real")
INF = math.inf


def _spec(name: str, func: Callable[..., MetricResult], family: str, higher: bool | None, bounds: tuple[float, float],
          ideal: float, *, holdout: bool = False, test: bool = False) -> MetricSpec:
    doc = (func.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    return MetricSpec(name, func, family, higher, bounds, ideal, holdout, test, " ".join(doc.split()))


_FIDELITY = [
    _spec("ks_complement", fidelity.ks_complement, "fidelity", True, (0, 1), 1),
    _spec("tv_complement", fidelity.tv_complement, "fidelity", True, (0, 1), 1),
    _spec("js_distance", fidelity.js_distance, "fidelity", False, (0, 1), 0),
    _spec("kl_divergence", fidelity.kl_divergence, "fidelity", False, (0, INF), 0),
    _spec("wasserstein", fidelity.wasserstein, "fidelity", False, (0, INF), 0),
    _spec("hellinger", fidelity.hellinger, "fidelity", False, (0, 1), 0),
    _spec("list_length_similarity", fidelity.list_length_similarity, "fidelity", True, (0, 1), 1),
    _spec("list_item_similarity", fidelity.list_item_similarity, "fidelity", True, (0, 1), 1),
    _spec("correlation_similarity", fidelity.correlation_similarity, "fidelity", True, (0, 1), 1),
    _spec("contingency_similarity", fidelity.contingency_similarity, "fidelity", True, (0, 1), 1),
    _spec("detection_logistic", fidelity.detection_logistic, "fidelity", False, (0, 1), 0.5),
    _spec("detection_xgboost", fidelity.detection_xgboost, "fidelity", False, (0, 1), 0.5),
    _spec("pmse", fidelity.pmse, "fidelity", False, (0, 0.25), 0),
    _spec("prdc_precision", fidelity.prdc_precision, "fidelity", True, (0, 1), 1),
    _spec("prdc_recall", fidelity.prdc_recall, "fidelity", True, (0, 1), 1),
    _spec("prdc_density", fidelity.prdc_density, "fidelity", None, (0, INF), 1),
    _spec("prdc_coverage", fidelity.prdc_coverage, "fidelity", True, (0, 1), 1),
    _spec("importance_agreement", fidelity.importance_agreement, "fidelity", True, (-1, 1), 1),
    _spec("lasso_agreement", fidelity.lasso_agreement, "fidelity", True, (-1, 1), 1),
]
_MEASURE_SPEC = {
    "roc_auc": (True, (0, 1), 1), "pr_auc": (True, (0, 1), 1), "log_loss": (False, (0, INF), 0),
    "f1": (True, (0, 1), 1), "precision": (True, (0, 1), 1), "recall": (True, (0, 1), 1),
    "recall_at_precision": (True, (0, 1), 1), "accuracy": (True, (0, 1), 1),
}
_UTILITY = [
    _spec(f"{scheme}_{m}", utility.make_utility_metric(scheme, m), "utility", *_MEASURE_SPEC[m], test=True)
    for scheme in utility.SCHEMES
    for m in utility.MEASURES
] + [_spec("utility_curve", utility.utility_curve, "utility", True, (-1, 1), 1, test=True)]
_PRIVACY = [
    _spec("dcr_share", privacy.dcr_share, "privacy", False, (0, 1), 0.5, holdout=True),
    _spec("dcr_median_ratio", privacy.dcr_median_ratio, "privacy", True, (0, INF), 1, holdout=True),
    _spec("nndr", privacy.nndr, "privacy", True, (0, 1), 1, holdout=True),
    _spec("exact_match_train", privacy.exact_match_train, "privacy", False, (0, 1), 0),
    _spec("exact_match_holdout", privacy.exact_match_holdout, "privacy", False, (0, 1), 0, holdout=True),
    _spec("mia_auc", privacy.mia_auc, "privacy", False, (0, 1), 0.5, holdout=True),
]

#: Every registered metric by name.
METRICS: dict[str, MetricSpec] = {s.name: s for s in _FIDELITY + _UTILITY + _PRIVACY}

# trtr_* do not depend on the synthetic rows: computed once, reported as subject "real".
_SUBJECT_FREE = {name for name in METRICS if name.startswith("trtr_")}
# Reference subjects skip metrics whose point is the generator itself.
_SYNTHETIC_ONLY = {"utility_curve"}

#: The default selection: all but accuracy, which is shown on request and never ranks.
DEFAULT_METRICS = tuple(n for n in METRICS if not n.endswith("_accuracy"))


def list_metrics() -> pd.DataFrame:
    """One row per registered metric: family, direction, bounds, ideal, needs, description."""
    return pd.DataFrame(
        [{
            "metric": s.name, "family": s.family, "higher_is_better": s.higher_is_better,
            "lower": s.bounds[0], "upper": s.bounds[1], "ideal": s.ideal,
            "needs_holdout": s.needs_holdout, "needs_test": s.needs_test, "description": s.description,
        } for s in METRICS.values()]
    )


def _select(metrics: Iterable[str] | None, families: Iterable[str] | None) -> list[MetricSpec]:
    names = list(metrics) if metrics is not None else list(DEFAULT_METRICS)
    for n in names:
        if n not in METRICS:
            raise ConfigError(f"unknown metric {n!r}{suggest(n, METRICS)}")
    fam = set(families) if families is not None else set(FAMILIES)
    bad = fam - set(FAMILIES)
    if bad:
        raise ConfigError(f"unknown metric family {sorted(bad)[0]!r}; choose from {', '.join(FAMILIES)}")
    return [METRICS[n] for n in names if METRICS[n].family in fam]


def holdout_halves(holdout: pd.DataFrame, schema: Schema, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two halves of the holdout (whole users, click-stratified): one plays the synthetic rows."""
    y = (holdout[schema.target] == schema.positive_label).to_numpy().astype(int) if schema.target else np.zeros(len(holdout), int)
    user = schema.user_column
    groups = holdout[user].to_numpy() if user and user in holdout.columns else None
    if groups is None:
        log.warning(
            "no user column: the holdout reference is split by rows; if users have several rows, "
            "rows of one user fall in both halves and the reference looks closer than fresh data would"
        )
    part = assign_splits(y, (0.5, 0.5), groups=groups, random_state=seed)
    return holdout.loc[part == 0].reset_index(drop=True), holdout.loc[part == 1].reset_index(drop=True)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def evaluate(
    train: Any,
    synthetic: Any,
    *,
    holdout: Any | None = None,
    test: Any | None = None,
    schema: Schema | None = None,
    target: str | None = None,
    metrics: Iterable[str] | None = None,
    families: Iterable[str] | None = None,
    references: bool = True,
    model: str = "xgboost",
    augment_rows: Any | None = None,
    augment_share: float = 1.0,
    max_rows: int = MAX_ROWS,
    random_state: int = 0,
    on_progress: Callable[[str, str], None] | None = None,
) -> pd.DataFrame:
    """Score synthetic rows for fidelity, utility and privacy.

    Parameters
    ----------
    train
        Real rows the generator was fitted on (target included).
    synthetic
        Generated rows with the same columns.
    holdout
        Real rows the generator never saw: the privacy control, the validation
        rows of the click models, and the "fresh real data" reference.
    test
        Real rows the click models are scored on.
    schema, target
        Column kinds (inferred from ``train`` with ``target`` when omitted).
    metrics, families
        Selection (default: every registered metric except accuracy).
    references
        Also score the holdout-as-synthetic and bootstrap-of-train references.
    model
        Click model of the utility metrics: xgboost, lightgbm, catboost or logistic.
    augment_rows
        Synthetic click rows for augmentation and the utility curve (default:
        the click rows of ``synthetic``).
    augment_share
        Synthetic click rows added in ``augment_*``, as a multiple of the real
        click count.
    max_rows
        Row cap of the distance-based metrics (subsampled with the rng).
    random_state
        Seed; each (subject, metric) draws its own stream, so selecting fewer
        metrics changes no other number.
    on_progress
        Called with (subject, metric) before each computation.

    Returns
    -------
    Tidy DataFrame: subject, metric, family, column, value, ci_low, ci_high,
    higher_is_better, ideal, seconds, error, details (JSON text on headline rows).
    """
    train_df = to_pandas(train, what="train")
    synth_df = to_pandas(synthetic, what="synthetic")
    hold_df = to_pandas(holdout, what="holdout") if holdout is not None else None
    test_df = to_pandas(test, what="test") if test is not None else None
    if schema is None:
        schema = Schema.infer(train_df, target=target)
    elif target is not None and schema.target != target:
        raise ConfigError(f"target {target!r} differs from the schema's target {schema.target!r}")
    if schema.target is None:
        raise DataError("evaluate needs a target column: pass target= or a schema with one")
    for name, frame in (("synthetic", synth_df), ("holdout", hold_df), ("test", test_df)):
        if frame is None:
            continue
        missing = [c.name for c in schema if c.kind != "id" and c.name not in frame.columns]
        if missing:
            raise DataError(f"{name} rows lack column(s) {missing}{suggest(missing[0], list(frame.columns))}")
        if len(frame) == 0:
            raise DataError(f"{name} has no rows")
    specs = _select(metrics, families)
    skipped = [s.name for s in specs if (s.needs_holdout and hold_df is None) or (s.needs_test and test_df is None)]
    if skipped:
        log.warning("skipping %d metric(s) that need %s: %s", len(skipped),
                    "holdout/test rows", ", ".join(skipped[:6]) + (" ..." if len(skipped) > 6 else ""))
    specs = [s for s in specs if s.name not in skipped]
    if model not in ("xgboost", "lightgbm", "catboost", "logistic"):
        raise ConfigError(f"unknown model {model!r}; choose xgboost, lightgbm, catboost or logistic")

    aug = to_pandas(augment_rows, what="augment_rows") if augment_rows is not None else None
    base_params: dict[str, Any] = {
        "model": model, "max_rows": max_rows, "augment_share": augment_share,
        "model_seed": derive_seed(random_state, "model") % (2**31),
    }
    subjects: list[tuple[str, pd.DataFrame, pd.DataFrame | None, dict[str, Any]]] = [
        ("synthetic", synth_df, hold_df, {**base_params, **({"augment_rows": aug} if aug is not None else {})})
    ]
    if references:
        if hold_df is not None and len(hold_df) >= 4:
            half_a, half_b = holdout_halves(hold_df, schema, derive_seed(random_state, "halves"))
            subjects.append(("holdout", half_a, half_b, dict(base_params)))
        boot_rng = np.random.default_rng(derive_seed(random_state, "bootstrap"))
        boot = train_df.iloc[boot_rng.integers(0, len(train_df), size=len(synth_df))].reset_index(drop=True)
        subjects.append(("bootstrap", boot, hold_df, dict(base_params)))

    shared: dict[Any, Any] = {}
    rows: list[dict[str, Any]] = []
    for subject, synth_rows, hold_rows, params in subjects:
        cache = EvalCache(shared)
        for spec in specs:
            if subject != "synthetic" and (spec.name in _SUBJECT_FREE or spec.name in _SYNTHETIC_ONLY):
                continue
            label = "real" if spec.name in _SUBJECT_FREE else subject
            if on_progress is not None:
                on_progress(label, spec.name)
            rng = np.random.default_rng(derive_seed(random_state, label, spec.name))
            t0 = time.perf_counter()
            error = ""
            try:
                result = spec.func(
                    train_df, synth_rows, schema=schema, holdout=hold_rows, test=test_df,
                    rng=rng, cache=cache, params=params,
                )
            except (ClicksynthError, ValueError, np.linalg.LinAlgError) as exc:
                log.warning("%s on %s failed: %s", spec.name, subject, exc)
                result, error = MetricResult(float("nan")), f"{type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - t0
            base = {"subject": label, "metric": spec.name, "family": spec.family,
                    "higher_is_better": spec.higher_is_better, "ideal": spec.ideal}
            ci = result.ci or (float("nan"), float("nan"))
            rows.append({**base, "column": "", "value": float(result.value), "ci_low": float(ci[0]),
                         "ci_high": float(ci[1]), "seconds": seconds, "error": error,
                         "details": json.dumps(_jsonable(result.details)) if result.details else ""})
            for col, v in result.breakdown.items():
                rows.append({**base, "column": col, "value": float(v) if v is not None else float("nan"),
                             "ci_low": float("nan"), "ci_high": float("nan"), "seconds": 0.0, "error": "", "details": ""})
    columns = ["subject", "metric", "family", "column", "value", "ci_low", "ci_high", "higher_is_better",
               "ideal", "seconds", "error", "details"]
    return pd.DataFrame(rows, columns=columns)


def headline(scores: pd.DataFrame) -> pd.DataFrame:
    """Headline values (no per-column rows) as a metric x subject table."""
    top = scores[scores["column"] == ""]
    return top.pivot_table(index=["family", "metric"], columns="subject", values="value", aggfunc="first", sort=False)


def scores_summary(scores: pd.DataFrame) -> str:
    """Plain-text summary: headline values per metric with their references."""
    table = headline(scores)
    order = [s for s in SUBJECTS if s in table.columns]
    table = table[order]
    lines = []
    for (family, metric), row in table.iterrows():
        cells = "  ".join(f"{s}={row[s]:.4f}" if pd.notna(row[s]) else f"{s}=-" for s in order)
        lines.append(f"{family:9s} {metric:28s} {cells}")
    return "\n".join(lines)
