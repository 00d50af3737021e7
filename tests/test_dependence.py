"""Goodman & Kruskal's lambda and the donor groups built from it (generators/_dependence.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clicksynth.generators._dependence import dependence_groups, goodman_kruskal_lambda


def test_lambda_by_hand():
    # B's mode (1) is right 7 times in 12; knowing A it is right 5 + 6 = 11 times: (11 - 7) / (12 - 7)
    a = np.array([0] * 6 + [1] * 6)
    b = np.array([0, 0, 0, 0, 0, 1] + [1] * 6)
    assert goodman_kruskal_lambda(a, b, min_count=6) == pytest.approx(0.8)
    assert goodman_kruskal_lambda(b, a, min_count=1) == pytest.approx((5 + 6 - 6) / (12 - 6))
    # values of A seen fewer than min_count times are left out, and with them most rows: no estimate
    assert math.isnan(goodman_kruskal_lambda(a, b, min_count=7))
    assert math.isnan(goodman_kruskal_lambda(np.arange(12), b, min_count=2))  # an id seen once determines nothing
    assert math.isnan(goodman_kruskal_lambda(a, np.zeros(12)))  # nothing to predict


def test_lambda_leaves_out_the_rare_values_of_a_only():
    # A value 2 occurs twice and contradicts; below min_count it does not count against the others
    a = np.array([0] * 5 + [1] * 5 + [2, 2])
    b = np.array([0] * 5 + [1] * 5 + [0, 1])
    assert goodman_kruskal_lambda(a, b, min_count=5) == pytest.approx(1.0)
    assert goodman_kruskal_lambda(a, b, min_count=2) == pytest.approx((11 - 6) / (12 - 6))


def test_groups_join_functional_dependences_and_the_atoms_of_one_column():
    rng = np.random.default_rng(0)
    n = 2000
    ad = rng.integers(0, 40, n)
    advertiser, app = ad % 7, ad // 4  # both functions of the ad; each other's only through it
    noise = rng.integers(0, 5, n)
    length, flag = rng.integers(0, 3, n), rng.integers(0, 2, n)  # two atoms of one list column
    atoms = np.column_stack([ad, advertiser, app, noise, length, flag]).astype(float)
    columns = ["ad", "advertiser", "app", "noise", "hours", "hours"]
    g = dependence_groups(atoms, columns)
    assert g[0] == g[1] == g[2] and g[4] == g[5]
    assert len({g[0], g[3], g[4]}) == 3 and g.max() == 2
    by_column = dependence_groups(atoms, columns, threshold=None)
    np.testing.assert_array_equal(by_column, [0, 1, 2, 3, 4, 4])
    # a seeded subset of rows above the cap gives the same groups
    np.testing.assert_array_equal(dependence_groups(np.tile(atoms, (30, 1)), columns, rng=np.random.default_rng(1)), g)
