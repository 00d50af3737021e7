"""The contract suites over every registry entry."""

from __future__ import annotations

import pytest

from clicksynth.metrics import METRICS
from clicksynth.testing import check_metric, metric_fixture


@pytest.fixture(scope="module")
def fixture():
    return metric_fixture()


@pytest.mark.parametrize("name", list(METRICS))
def test_metric_contract(name, fixture):
    check_metric(name, fixture)


from clicksynth.generators import GENERATORS, generator_class  # noqa: E402
from clicksynth.testing import check_generator  # noqa: E402

_GEN_CASES = [(name, i) for name in GENERATORS for i in range(len(generator_class(name).get_test_params()))]


@pytest.mark.parametrize(("name", "case"), _GEN_CASES, ids=[f"{n}-{i}" for n, i in _GEN_CASES])
def test_generator_contract(name, case):
    check_generator(name, generator_class(name).get_test_params()[case])
