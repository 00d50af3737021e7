"""The generator contract, one named check per promise.

Parameters stored verbatim; sample before fit raises NotFittedError; fit returns
self and leaves its inputs alone; exact columns, dtypes, category sets, ranges
and list items; exact per-class counts; same seed, same rows; save / load gives
the same rows; bad input raises DataError naming the column; an unknown class
raises ConfigError.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from clicksynth.exceptions import ConfigError, DataError, NotFittedError
from clicksynth.generators import Generator, generator_class, get_generator
from clicksynth.schema import Schema
from clicksynth.testing.data import make_ad_frame

__all__ = ["GENERATOR_CHECKS", "GeneratorCase", "check_generator"]

SEED = 7


class GeneratorCase:
    """One registered generator with one parameter set, fitted once on a small ad log."""

    def __init__(self, name: str, params: dict[str, Any] | None = None, *, frame: pd.DataFrame | None = None) -> None:
        self.name = name
        self.params = dict(params if params is not None else generator_class(name).get_test_params()[0])
        data = frame if frame is not None else make_ad_frame(n=400, seed=3).drop(columns=["uid"])
        self.X, self.y = data.drop(columns=["label"]), data["label"].rename("label")

    def new(self, **extra: Any) -> Generator:
        return get_generator(self.name, **{"random_state": SEED, **self.params, **extra})

    @cached_property
    def fitted(self) -> Generator:
        return self.new().fit(self.X, self.y)

    @cached_property
    def sample(self) -> pd.DataFrame:
        """37 click and 11 non-click rows of the fitted generator."""
        return self.fitted.sample({1: 37, 0: 11})


def check_params_stored(case: GeneratorCase) -> None:
    stored = case.new().get_params(deep=False)
    for key, value in case.params.items():
        assert stored[key] == value, f"{case.name}: parameter {key} not stored verbatim"


def check_sample_before_fit_raises(case: GeneratorCase) -> None:
    try:
        case.new().sample(3)
    except NotFittedError:
        return
    raise AssertionError(f"{case.name}: sample before fit did not raise NotFittedError")


def check_fit_returns_self_and_leaves_inputs(case: GeneratorCase) -> None:
    X, y = case.X.copy(), case.y.copy()
    gen = case.new()
    assert gen.fit(X, y) is gen, f"{case.name}: fit does not return self"
    pd.testing.assert_frame_equal(X, case.X, obj=f"{case.name}: X mutated by fit")
    pd.testing.assert_series_equal(y, case.y, obj=f"{case.name}: y mutated by fit")


def check_columns_and_dtypes(case: GeneratorCase) -> None:
    out, X = case.sample, case.X
    assert list(out.columns) == [*X.columns, "label"], f"{case.name}: wrong columns {list(out.columns)}"
    for c in X.columns:
        assert out[c].dtype == X[c].dtype, f"{case.name}: column {c} dtype {out[c].dtype} != {X[c].dtype}"


def check_exact_class_counts(case: GeneratorCase) -> None:
    out = case.sample
    assert (out["label"] == 1).sum() == 37 and (out["label"] == 0).sum() == 11, f"{case.name}: wrong class counts"
    only_pos = case.fitted.sample({1: 5})
    assert len(only_pos) == 5 and (only_pos["label"] == 1).all(), f"{case.name}: sample({{1: 5}}) wrong"
    assert len(case.fitted.sample(20)) == 20, f"{case.name}: sample(20) did not give 20 rows"


def check_values_within_training_data(case: GeneratorCase) -> None:
    """Categories seen in training, numerics in the training range, list items from training lists."""
    out, X = case.sample, case.X
    for c in ("age", "slot_id", "adv_id"):
        extra = set(out[c].dropna()) - set(X[c].dropna())
        assert not extra, f"{case.name}: unseen categories {sorted(extra)[:5]} in {c}"
    for c in ("price", "dwell"):
        assert out[c].min() >= X[c].min() - 1e-9 and out[c].max() <= X[c].max() + 1e-9, f"{case.name}: {c} outside training range"
    items = {i for v in X["hours"] for i in v.split("^") if v}
    for v in out["hours"]:
        assert isinstance(v, str), f"{case.name}: list column value {v!r} is not a string"
        assert {i for i in v.split("^") if v} <= items, f"{case.name}: list items outside the training items"


def check_same_seed_same_rows(case: GeneratorCase) -> None:
    a = case.new().fit(case.X, case.y).sample(50)
    b = case.new().fit(case.X, case.y).sample(50)
    pd.testing.assert_frame_equal(a, b, obj=f"{case.name}: same seed, different rows")


def check_save_load_round_trip(case: GeneratorCase) -> None:
    fitted = case.new().fit(case.X, case.y)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.csm"
        fitted.save(path)
        loaded = Generator.load(path)
    pd.testing.assert_frame_equal(fitted.sample(40), loaded.sample(40), obj=f"{case.name}: save/load changed the rows")


def check_bad_input_names_column(case: GeneratorCase) -> None:
    bad = case.X.copy()
    bad["price"] = bad["price"].astype(object)
    bad.loc[bad.index[5], "price"] = "n/a"
    try:
        get_generator(case.name, **case.params).fit(bad, case.y, schema=Schema.infer(case.X))
    except DataError as exc:
        assert "price" in str(exc), f"{case.name}: DataError does not name the column: {exc}"
        return
    raise AssertionError(f"{case.name}: bad input did not raise DataError")


def check_unknown_class_raises(case: GeneratorCase) -> None:
    try:
        case.fitted.sample({2: 3})
    except ConfigError:
        return
    raise AssertionError(f"{case.name}: unknown class did not raise ConfigError")


#: Every promise of the generator contract, by name.
GENERATOR_CHECKS: dict[str, Callable[[GeneratorCase], None]] = {
    f.__name__: f
    for f in (
        check_params_stored,
        check_sample_before_fit_raises,
        check_fit_returns_self_and_leaves_inputs,
        check_columns_and_dtypes,
        check_exact_class_counts,
        check_values_within_training_data,
        check_same_seed_same_rows,
        check_save_load_round_trip,
        check_bad_input_names_column,
        check_unknown_class_raises,
    )
}


def check_generator(name: str, params: dict[str, Any] | None = None, *, frame: pd.DataFrame | None = None) -> None:
    """Run every check of the generator contract on one registered generator (with its test params)."""
    case = GeneratorCase(name, params, frame=frame)
    for check in GENERATOR_CHECKS.values():
        check(case)
