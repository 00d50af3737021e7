"""Contract suites: every registered generator and metric is held to the same
promises, each a named check (one test id per promise, as scikit-learn's
``parametrize_with_checks``), so ``pytest -k check_exact_class_counts`` selects one.

``tests/test_common.py`` runs them over every registry entry, so a new metric
or generator is tested the moment it is registered. A failed check raises
``AssertionError`` with a message naming the broken promise.
"""

from __future__ import annotations

from clicksynth.testing.data import make_ad_frame, metric_fixture
from clicksynth.testing.generators import GENERATOR_CHECKS, GeneratorCase, check_generator
from clicksynth.testing.metrics import METRIC_CHECKS, MetricCase, check_metric

__all__ = [
    "GENERATOR_CHECKS",
    "METRIC_CHECKS",
    "GeneratorCase",
    "MetricCase",
    "check_generator",
    "check_metric",
    "make_ad_frame",
    "metric_fixture",
]
