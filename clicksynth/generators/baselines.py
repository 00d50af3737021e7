"""Reference generators: what memorisation looks like.

``identity`` hands back real training rows (the ceiling of fidelity and the
floor of privacy); ``bootstrap`` resamples them with replacement. Every report
shows both so a generator's numbers can be read against them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clicksynth.generators.base import Generator, State

__all__ = ["Bootstrap", "Identity"]


class _RealRows(Generator):
    """Stores the training rows per class."""

    conditional = True

    def __init__(self, *, random_state: int | None = None, verbose: bool = False) -> None:
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> None:
        self.rows_ = {label: X.loc[y == label].reset_index(drop=True) for label in (0, 1)}

    def _pick(self, m: int, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        rows = self.rows_[label]
        return rows.iloc[self._pick(len(rows), n, rng)]

    def _get_state(self) -> State:
        return State(frames={f"class{label}": rows for label, rows in self.rows_.items()})

    def _set_state(self, state: State) -> None:
        self.rows_ = {label: state.frames[f"class{label}"] for label in (0, 1)}


class Identity(_RealRows):
    """Real training rows of the requested class, without replacement.

    Asking for more rows than the class has returns every row ``n // m`` times
    plus a random remainder.
    """

    name = "identity"

    def _pick(self, m: int, n: int, rng: np.random.Generator) -> np.ndarray:
        reps, rest = divmod(n, m)
        return np.concatenate([np.tile(np.arange(m), reps), rng.permutation(m)[:rest]])


class Bootstrap(_RealRows):
    """Real training rows of the requested class, drawn with replacement."""

    name = "bootstrap"

    def _pick(self, m: int, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, m, size=n)
