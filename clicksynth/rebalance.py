"""Minority-class augmentation to a target ratio, imbalanced-learn style.

``Rebalancer(generator, ratio=...)`` is a resampler: ``fit_resample(X, y)``
returns the real rows plus exactly enough synthetic click rows, so it can be a
step of :class:`imblearn.pipeline.Pipeline` (which resamples only while
fitting, so cross-validation never scores synthetic rows).

Two conventions, as in the source studies:

* ``ratio``: minority / majority after resampling (imbalanced-learn's float
  ``sampling_strategy``): ``n_syn = ratio * n_maj - n_min``
* ``majority_share`` r: the majority's share after resampling:
  ``n_syn = n_maj * (1 / r - 1) - n_min``

``clean="tomek"`` or ``"enn"`` ends with Tomek-link or edited-nearest-neighbour
cleaning of real + synthetic rows (both classes, like imbalanced-learn's
SMOTETomek / SMOTEENN): the studies' CTGAN + SMOTETomek hybrid is
``Rebalancer("ctgan", ratio=..., clean="tomek")``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from clicksynth._frame import to_pandas
from clicksynth.exceptions import ConfigError, DataError, NotFittedError
from clicksynth.generators import Generator, get_generator
from clicksynth.schema import Schema
from clicksynth.seeding import as_seed_sequence

__all__ = ["Rebalancer", "synthetic_count"]

log = logging.getLogger(__name__)


def synthetic_count(n_minority: int, n_majority: int, *, ratio: float | None = None, majority_share: float | None = None) -> int:
    """Synthetic minority rows needed to reach ``ratio`` or ``majority_share``."""
    if (ratio is None) == (majority_share is None):
        raise ConfigError("give exactly one of ratio (minority/majority) and majority_share")
    if ratio is not None:
        if not 0 < ratio <= 1:
            raise ConfigError(f"ratio (minority/majority after resampling) must be in (0, 1], got {ratio}")
        target = ratio * n_majority
        what = f"ratio {ratio}"
    else:
        assert majority_share is not None
        if not 0.5 <= majority_share < 1:
            raise ConfigError(f"majority_share must be in [0.5, 1), got {majority_share}")
        target = n_majority * (1 / majority_share - 1)
        what = f"majority share {majority_share}"
    n = round(target - n_minority)
    if n < 0:
        current = n_minority / n_majority
        raise ConfigError(
            f"the data already has minority/majority ratio {current:.4f} "
            f"(majority share {n_majority / (n_majority + n_minority):.4f}), beyond the requested {what}"
        )
    return n


class Rebalancer(BaseEstimator):
    """Add synthetic minority rows until the classes reach a target balance.

    Parameters
    ----------
    generator
        A registered generator name or a :class:`Generator` (cloned before fitting).
    ratio
        Minority / majority after resampling.
    majority_share
        Majority share after resampling (alternative to ``ratio``).
    clean
        ``None``, ``"tomek"`` or ``"enn"``: a cleaning step after augmentation.
    generator_params
        Parameters for a generator given by name.
    mark
        Column name flagging synthetic rows (1) in the output; None adds nothing
        (what a Pipeline step needs).
    random_state
        Seed passed to the generator.
    """

    def __init__(
        self,
        generator: str | Generator = "smotenc",
        *,
        ratio: float | None = None,
        majority_share: float | None = None,
        clean: str | None = None,
        generator_params: dict[str, Any] | None = None,
        mark: str | None = None,
        random_state: int | None = None,
    ) -> None:
        self.generator = generator
        self.ratio = ratio
        self.majority_share = majority_share
        self.clean = clean
        self.generator_params = generator_params
        self.mark = mark
        self.random_state = random_state

    def _make_generator(self) -> Generator:
        params = dict(self.generator_params or {})
        if isinstance(self.generator, str):
            if self.random_state is not None:
                params.setdefault("random_state", self.random_state)
            return get_generator(self.generator, **params)
        if isinstance(self.generator, Generator):
            gen = clone(self.generator)
            if params:
                gen.set_params(**params)
            if self.random_state is not None and gen.random_state is None:
                gen.set_params(random_state=self.random_state)
            return gen
        raise ConfigError(f"generator must be a registered name or a Generator, got {type(self.generator).__name__}")

    def fit(self, X: Any, y: Any, *, schema: Schema | None = None) -> Rebalancer:
        """Fit the generator on (X, y)."""
        if self.clean not in (None, "tomek", "enn"):
            raise ConfigError(f"clean must be None, 'tomek' or 'enn', got {self.clean!r}")
        X = to_pandas(X, what="X")
        y_arr = np.asarray(y).ravel()
        if len(np.unique(y_arr)) < 2:
            raise DataError("y holds a single class; there is no minority class to augment")
        values, counts = np.unique(y_arr, return_counts=True)
        minority = values[np.argmin(counts)]
        self.minority_ = minority.item() if isinstance(minority, np.generic) else minority
        self.n_synthetic_ = synthetic_count(int(counts.min()), int(counts.max()), ratio=self.ratio, majority_share=self.majority_share)
        # The generator always sees the minority class as 1, whatever the labels are.
        y01 = pd.Series((y_arr == self.minority_).astype(np.int64), name=getattr(y, "name", None) or "label")
        self.generator_ = self._make_generator().fit(X, y01, schema=schema)
        return self

    def fit_resample(self, X: Any, y: Any, *, schema: Schema | None = None) -> tuple[pd.DataFrame, pd.Series]:
        """Real rows plus synthetic minority rows (then cleaned, if asked)."""
        X = to_pandas(X, what="X")
        y_series = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y).ravel(), name="label")
        self.fit(X, y_series, schema=schema)
        return self._resample(X.reset_index(drop=True), y_series.reset_index(drop=True))

    def _resample(self, X: pd.DataFrame, y: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
        if not hasattr(self, "generator_"):
            raise NotFittedError("Rebalancer is not fitted")
        syn = self.generator_.sample({1: self.n_synthetic_}) if self.n_synthetic_ else None
        target = self.generator_.target_name_
        parts_X, parts_y, flags = [X], [y.to_numpy()], [np.zeros(len(X), dtype=np.int8)]
        if syn is not None and len(syn):
            parts_X.append(syn.drop(columns=[target]))
            parts_y.append(np.full(len(syn), self.minority_, dtype=object).astype(y.to_numpy().dtype))
            flags.append(np.ones(len(syn), dtype=np.int8))
        X_res = pd.concat(parts_X, ignore_index=True)
        y_res = pd.Series(np.concatenate(parts_y), name=y.name)
        flag = np.concatenate(flags)
        if self.clean:
            keep = self._clean(X_res, y_res)
            log.info("%s cleaning kept %d of %d rows", self.clean, len(keep), len(X_res))
            X_res, y_res, flag = X_res.iloc[keep].reset_index(drop=True), y_res.iloc[keep].reset_index(drop=True), flag[keep]
        if self.mark:
            X_res[self.mark] = flag
        return X_res, y_res

    def _clean(self, X: pd.DataFrame, y: pd.Series) -> np.ndarray:
        from imblearn.under_sampling import EditedNearestNeighbours

        from clicksynth._knn import FastNeighbors, FastTomekLinks
        from clicksynth.space import MixedSpace

        schema = self.generator_.schema_
        cols = [c for c in X.columns if c in schema and schema[c].kind != "id"]
        space = MixedSpace(schema, cols, random_state=int(as_seed_sequence(self.random_state or 0).generate_state(1)[0] % 2**31)).fit(X)
        Z = space.prepare(X).embedding
        cleaner = (
            FastTomekLinks()
            if self.clean == "tomek"
            else EditedNearestNeighbours(sampling_strategy="all", n_neighbors=FastNeighbors(n_neighbors=4))
        )
        cleaner.fit_resample(Z, y.to_numpy())
        return np.sort(cleaner.sample_indices_)
