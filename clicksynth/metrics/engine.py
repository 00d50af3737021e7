"""The evaluation engine: :func:`evaluate` runs a selection of registered metrics on
the synthetic rows and, for reference, on

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
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from clicksynth._frame import to_pandas
from clicksynth.exceptions import ClicksynthError, ConfigError, DataError
from clicksynth.metrics._base import MAX_ROWS, EvalCache, EvalContext, MetricResult
from clicksynth.metrics._stats import MARGIN
from clicksynth.metrics.registry import SUBJECT_FREE, SYNTHETIC_ONLY, select
from clicksynth.schema import Schema, suggest
from clicksynth.seeding import derive_seed
from clicksynth.split import assign_splits

__all__ = ["SUBJECTS", "evaluate", "headline", "holdout_halves", "scores_summary"]

log = logging.getLogger(__name__)

SUBJECTS = ("synthetic", "holdout", "bootstrap", "real")


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
    margin: float | None = None,
    random_state: int = 0,
    model_seed: int | None = None,
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
    margin
        Non-inferiority margin of the paired PR-AUC differences (``*_delta_pr_auc``):
        a difference whose interval lies above ``-margin`` is "non-inferior" (None: ``_stats.MARGIN``).
    random_state
        Seed; each (subject, metric) draws its own stream, so selecting fewer
        metrics changes no other number.
    model_seed
        Seed of the click models (default: derived from ``random_state``). Studies give every
        cell of a split the same one, so all share one real-rows reference model.
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
    specs = select(metrics, families)
    skipped = [s.name for s in specs if (s.needs_holdout and hold_df is None) or (s.needs_test and test_df is None)]
    if skipped:
        log.warning(
            "skipping %d metric(s) that need %s: %s",
            len(skipped),
            "holdout/test rows",
            ", ".join(skipped[:6]) + (" ..." if len(skipped) > 6 else ""),
        )
    specs = [s for s in specs if s.name not in skipped]
    margin = MARGIN if margin is None else float(margin)
    if not (np.isfinite(margin) and margin >= 0):
        raise ConfigError(f"margin must be a non-negative number, got {margin!r}")
    if model not in ("xgboost", "lightgbm", "catboost", "logistic"):
        raise ConfigError(f"unknown model {model!r}; choose xgboost, lightgbm, catboost or logistic")

    aug = to_pandas(augment_rows, what="augment_rows") if augment_rows is not None else None
    base_params: dict[str, Any] = {
        "model": model,
        "max_rows": max_rows,
        "margin": margin,
        "augment_share": augment_share,
        "model_seed": (derive_seed(random_state, "model") if model_seed is None else model_seed) % (2**31),
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
            if subject != "synthetic" and (spec.name in SUBJECT_FREE or spec.name in SYNTHETIC_ONLY):
                continue
            label = "real" if spec.name in SUBJECT_FREE else subject
            if on_progress is not None:
                on_progress(label, spec.name)
            rng = np.random.default_rng(derive_seed(random_state, label, spec.name))
            t0 = time.perf_counter()
            error = ""
            try:
                ctx = EvalContext(schema, rng, holdout=hold_rows, test=test_df, cache=cache, params=params)
                result = spec.func(train_df, synth_rows, ctx)
            except (ClicksynthError, ValueError, np.linalg.LinAlgError) as exc:
                log.warning("%s on %s failed: %s", spec.name, subject, exc)
                result, error = MetricResult(float("nan")), f"{type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - t0
            base = {
                "subject": label,
                "metric": spec.name,
                "family": spec.family,
                "higher_is_better": spec.higher_is_better,
                "ideal": spec.ideal,
            }
            ci = result.ci or (float("nan"), float("nan"))
            rows.append(
                {
                    **base,
                    "column": "",
                    "value": float(result.value),
                    "ci_low": float(ci[0]),
                    "ci_high": float(ci[1]),
                    "seconds": seconds,
                    "error": error,
                    "details": json.dumps(_jsonable(result.details)) if result.details else "",
                }
            )
            for col, v in result.breakdown.items():
                rows.append(
                    {
                        **base,
                        "column": col,
                        "value": float(v) if v is not None else float("nan"),
                        "ci_low": float("nan"),
                        "ci_high": float("nan"),
                        "seconds": 0.0,
                        "error": "",
                        "details": "",
                    }
                )
    columns = [
        "subject",
        "metric",
        "family",
        "column",
        "value",
        "ci_low",
        "ci_high",
        "higher_is_better",
        "ideal",
        "seconds",
        "error",
        "details",
    ]
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
