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
