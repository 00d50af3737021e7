"""The scorecard: fidelity, utility and privacy metrics, and :func:`evaluate`.

``METRICS`` (``registry.py``) holds each metric's :class:`MetricSpec` (function,
family, direction, bounds, ideal value, what it needs), declared beside the
metric's code; ``evaluate`` (``engine.py``) runs a selection of them with the
holdout and bootstrap references. This module only re-exports.
"""

from __future__ import annotations

from clicksynth.metrics import fidelity, privacy, utility
from clicksynth.metrics._base import EvalCache, EvalContext, MetricFamily, MetricResult, MetricSpec
from clicksynth.metrics.engine import SUBJECTS, evaluate, headline, holdout_halves, scores_summary
from clicksynth.metrics.registry import DEFAULT_METRICS, FAMILIES, METRICS, list_metrics, select

__all__ = [
    "DEFAULT_METRICS",
    "FAMILIES",
    "METRICS",
    "SUBJECTS",
    "EvalCache",
    "EvalContext",
    "MetricFamily",
    "MetricResult",
    "MetricSpec",
    "evaluate",
    "fidelity",
    "headline",
    "holdout_halves",
    "list_metrics",
    "privacy",
    "scores_summary",
    "select",
    "utility",
]
