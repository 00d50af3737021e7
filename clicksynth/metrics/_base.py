"""Metric result and specification types, and the small helpers every family uses."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from clicksynth.exceptions import DataError
from clicksynth.schema import Schema

__all__ = [
    "MAX_ROWS",
    "EvalCache",
    "EvalContext",
    "MetricFamily",
    "MetricResult",
    "MetricSpec",
    "cached",
    "compared_columns",
    "require_holdout",
    "require_test",
    "subsample_rows",
]

#: Rows considered by the distance-based metrics unless a metric is told otherwise.
MAX_ROWS = 10_000
#: The open upper bound of unbounded metrics (divergences, ratios).
INF = float("inf")


@dataclass
class MetricResult:
    """What a metric returns.

    Parameters
    ----------
    value
        The headline number (NaN when the metric does not apply to this data,
        e.g. correlations without two numeric columns).
    ci
        95% confidence interval, where one is defined.
    details
        Anything else worth keeping (thresholds, counts, curves).
    breakdown
        Per-column or per-pair values, keyed by column or ``"a | b"``.
    """

    value: float
    ci: tuple[float, float] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    breakdown: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric and how to read it (made by :meth:`MetricFamily.metric`)."""

    name: str
    func: Callable[..., MetricResult]
    family: str  # fidelity | utility | privacy
    higher_is_better: bool | None
    bounds: tuple[float, float]
    ideal: float
    needs_holdout: bool = False
    needs_test: bool = False
    description: str = ""


class EvalCache:
    """Memo of one evaluation, so metrics share a model fit or a neighbour search
    without calling each other.

    Entries computed from the real rows alone (``shared=True``) live in a dict
    that the evaluations of the synthetic rows and of the reference subjects
    have in common; everything else is private to one subject.
    """

    def __init__(self, shared: dict[Hashable, Any] | None = None) -> None:
        self.shared: dict[Hashable, Any] = shared if shared is not None else {}
        self.local: dict[Hashable, Any] = {}

    def get(self, key: Hashable, compute: Callable[[], Any], *, shared: bool = False) -> Any:
        store = self.shared if shared else self.local
        if key not in store:
            store[key] = compute()
        return store[key]


@dataclass(frozen=True)
class EvalContext:
    """Everything a metric reads besides the real and synthetic rows.

    Parameters
    ----------
    schema
        Column kinds, target included.
    rng
        The metric's own random stream.
    holdout, test
        Real rows the generator never saw: the privacy control and the click
        models' validation rows; the click models' test rows.
    cache
        Memo shared by the metrics of one evaluation (None: no memo).
    params
        Evaluation settings: ``max_rows``, ``model``, ``model_seed``,
        ``augment_rows``, ``augment_share``, ``curve_shares``, ``max_pairs``, ...
    """

    schema: Schema
    rng: np.random.Generator
    holdout: pd.DataFrame | None = None
    test: pd.DataFrame | None = None
    cache: EvalCache | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def max_rows(self) -> int:
        """Row cap of the distance- and classifier-based metrics."""
        return int(self.params.get("max_rows", MAX_ROWS))

    def require_holdout(self, metric: str) -> pd.DataFrame:
        return require_holdout(self.holdout, metric)

    def require_test(self, metric: str) -> pd.DataFrame:
        return require_test(self.test, metric)


Metric = Callable[[pd.DataFrame, pd.DataFrame, EvalContext], MetricResult]
F = TypeVar("F", bound=Metric)


class MetricFamily:
    """The metrics of one family, declared where they are defined::

        FIDELITY = MetricFamily("fidelity")

        @FIDELITY.metric(higher_is_better=True, bounds=(0, 1), ideal=1)
        def ks_complement(real, synth, ctx): ...

    ``specs`` keeps declaration order; the registry joins the families' specs.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.specs: dict[str, MetricSpec] = {}

    def add(
        self,
        name: str,
        func: Metric,
        *,
        higher_is_better: bool | None,
        bounds: tuple[float, float],
        ideal: float,
        needs_holdout: bool = False,
        needs_test: bool = False,
    ) -> MetricSpec:
        if name in self.specs:
            raise ValueError(f"metric {name!r} declared twice")
        doc = (func.__doc__ or "").strip().split("\n\n")[0]
        spec = MetricSpec(name, func, self.name, higher_is_better, bounds, ideal, needs_holdout, needs_test, " ".join(doc.split()))
        self.specs[name] = spec
        return spec

    def metric(
        self,
        *,
        higher_is_better: bool | None,
        bounds: tuple[float, float],
        ideal: float,
        needs_holdout: bool = False,
        needs_test: bool = False,
    ) -> Callable[[F], F]:
        """Decorator registering the function under its own name."""

        def register(func: F) -> F:
            self.add(
                func.__name__,
                func,
                higher_is_better=higher_is_better,
                bounds=bounds,
                ideal=ideal,
                needs_holdout=needs_holdout,
                needs_test=needs_test,
            )
            return func

        return register


def cached(cache: EvalCache | None, key: Hashable, compute: Callable[[], Any], *, shared: bool = False) -> Any:
    """``compute()`` memoised in ``cache`` (no memo when ``cache`` is None)."""
    if cache is None:
        return compute()
    return cache.get(key, compute, shared=shared)


def compared_columns(schema: Schema, frames: list[pd.DataFrame]) -> list[str]:
    """Non-id columns present in every frame, in schema order."""
    return [c.name for c in schema if c.kind != "id" and all(c.name in f.columns for f in frames)]


def subsample_rows(frame: pd.DataFrame, max_rows: int | None, rng: np.random.Generator) -> pd.DataFrame:
    """At most ``max_rows`` rows, drawn without replacement."""
    if max_rows is None or len(frame) <= max_rows:
        return frame.reset_index(drop=True)
    return frame.iloc[np.sort(rng.choice(len(frame), size=max_rows, replace=False))].reset_index(drop=True)


def require_holdout(holdout: pd.DataFrame | None, metric: str) -> pd.DataFrame:
    if holdout is None or len(holdout) == 0:
        raise DataError(f"metric {metric!r} needs holdout rows: real rows the generator never saw")
    return holdout


def require_test(test: pd.DataFrame | None, metric: str) -> pd.DataFrame:
    if test is None or len(test) == 0:
        raise DataError(f"metric {metric!r} needs test rows: real rows to evaluate click models on")
    return test
