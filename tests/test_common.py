"""The contract suites over every registry entry, one test id per (entry, promise):
``pytest -k "smotenc and check_exact_class_counts"`` selects one."""

from __future__ import annotations

import pytest

from clicksynth.generators import GENERATORS, generator_class
from clicksynth.metrics import METRICS
from clicksynth.testing import GENERATOR_CHECKS, METRIC_CHECKS, GeneratorCase, MetricCase, metric_fixture

# Cases are built once per worker and shared by their checks; each (entry) group
# runs on one xdist worker (--dist loadgroup), so nothing is fitted twice.
_METRIC_CASES: dict[str, MetricCase] = {}
_GENERATOR_CASES: dict[tuple[str, int], GeneratorCase] = {}


@pytest.fixture(scope="session")
def fixture():
    return metric_fixture()


@pytest.mark.parametrize(
    ("name", "check"),
    [pytest.param(n, c, marks=pytest.mark.xdist_group(f"metric-{n}"), id=f"{n}-{c}") for n in METRICS for c in METRIC_CHECKS],
)
def test_metric_contract(name, check, fixture):
    case = _METRIC_CASES.setdefault(name, MetricCase(name, fixture))
    METRIC_CHECKS[check](case)


_GEN_CASES = [(name, i) for name in GENERATORS for i in range(len(generator_class(name).get_test_params()))]


@pytest.mark.parametrize(
    ("name", "case", "check"),
    [
        pytest.param(n, i, c, marks=pytest.mark.xdist_group(f"generator-{n}-{i}"), id=f"{n}-{i}-{c}")
        for n, i in _GEN_CASES
        for c in GENERATOR_CHECKS
    ],
)
def test_generator_contract(name, case, check):
    key = (name, case)
    if key not in _GENERATOR_CASES:
        _GENERATOR_CASES[key] = GeneratorCase(name, generator_class(name).get_test_params()[case])
    GENERATOR_CHECKS[check](_GENERATOR_CASES[key])
