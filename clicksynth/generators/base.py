"""The generator contract (DESIGN.md section 3).

Public ``fit`` / ``sample`` / ``save`` / ``load`` live here only: they validate,
make the random streams, restore column order and dtypes and check the output
against what was seen in training. A generator implements

* ``_fit(X, y, rng)``        learn from features ``X`` (pandas) and 0/1 labels ``y``
* ``_sample(n, label, rng)`` exactly ``n`` feature rows of class ``label``
* ``_get_state()`` / ``_set_state(state)`` its learned state for saving

and ``get_test_params()`` with tiny configurations for the contract suite.

Saved models are a zip of JSON, ``.npz`` (read with ``allow_pickle=False``) and
Parquet members: loading never executes code from the file.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from clicksynth._frame import is_string_like, to_pandas
from clicksynth.exceptions import ClicksynthError, ConfigError, DataError, ModelFileError, NotFittedError, TrainingError
from clicksynth.generators import _modelfile
from clicksynth.io import atomic_path
from clicksynth.schema import Schema, suggest
from clicksynth.seeding import as_seed_sequence, make_rng

__all__ = ["FORMAT", "Generator", "State", "counts_for"]

log = logging.getLogger(__name__)

FORMAT = "clicksynth-generator"
FORMAT_VERSION = 1


@dataclass
class State:
    """Learned state of a generator, split by how it is stored."""

    meta: dict[str, Any] = field(default_factory=dict)  # JSON
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # numeric, .npz
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)  # Parquet


def counts_for(n: int, priors: Mapping[int, float]) -> dict[int, int]:
    """Split ``n`` rows over classes by ``priors`` exactly (largest remainder)."""
    labels = sorted(priors)
    p = np.array([priors[k] for k in labels], dtype=float)
    raw = n * p / p.sum()
    base = np.floor(raw).astype(int)
    short = n - int(base.sum())
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:short]] += 1
    return {k: int(c) for k, c in zip(labels, base)}


class Generator(BaseEstimator):
    """Base class of all generators. Not used directly."""

    #: Registry name, set by each subclass.
    name: ClassVar[str] = ""
    #: True when one model conditions on the class; False when one sub-model is fitted per class.
    conditional: ClassVar[bool] = False
    #: Column kinds the generator can model.
    supported_kinds: ClassVar[tuple[str, ...]] = ("numeric", "categorical", "list", "datetime", "id")

    random_state: int | None
    verbose: bool

    # -- public API -------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, *, schema: Schema | None = None) -> Generator:
        """Learn from real rows.

        Parameters
        ----------
        X
            Features (pandas or polars DataFrame). If ``y`` is a column name, ``X``
            holds it too.
        y
            0/1 click labels (array, Series) or the name of the label column in ``X``.
        schema
            Column kinds; inferred from ``X`` when omitted.
        """
        X, y_arr, target = _split_input(X, y)
        schema = self._resolve_schema(X, schema)
        _validate_features(X, schema)
        seq = as_seed_sequence(self.random_state)
        fit_seq, sample_seq = seq.spawn(2)
        self.schema_ = schema
        self.feature_names_in_ = list(X.columns)
        self.n_features_in_ = len(self.feature_names_in_)
        self.dtypes_ = {c: str(X[c].dtype) for c in X.columns}
        self.target_name_ = target
        self.classes_ = np.array([0, 1])
        counts = np.bincount(y_arr, minlength=2)
        self.class_counts_ = {0: int(counts[0]), 1: int(counts[1])}
        self.categories_ = _category_sets(X, schema)
        self.ranges_ = _numeric_ranges(X, schema)
        self.id_starts_ = _id_starts(X, schema)
        self.sample_seed_ = int(sample_seq.generate_state(1, np.uint64)[0])
        self._n_sample_calls = 0
        self._fit(X.reset_index(drop=True), y_arr, np.random.default_rng(fit_seq))
        self.is_fitted_ = True
        return self

    def sample(self, n: int | Mapping[Any, int], *, random_state: int | None = None) -> pd.DataFrame:
        """Generate rows.

        Parameters
        ----------
        n
            A total (split over classes by the training class shares, exactly) or
            ``{label: count}`` with labels 0 / 1, e.g. ``{1: 37}``.
        random_state
            Overrides the stream for this call. By default successive calls give
            fresh rows and the sequence of calls is reproducible from the
            generator's ``random_state``.

        Returns
        -------
        DataFrame with the training feature columns (same order and dtypes) and
        the label column last.
        """
        self._check_fitted()
        counts = self._resolve_counts(n)
        return self._draw_rows(counts, self._call_rng(random_state))

    def sample_chunks(
        self, n: int | Mapping[Any, int], *, chunk_rows: int = 100_000, random_state: int | None = None
    ) -> Iterator[pd.DataFrame]:
        """Generate ``n`` rows as consecutive frames of at most ``chunk_rows`` rows, so memory is
        bounded by the chunk, not the total (write them as they come: ``clicksynth sample`` does).

        Each class's count is spread over the chunks exactly; chunk ``i`` draws from its own stream,
        spawned from this call's seed and ``i``, so the rows depend on the seed and the chunk size,
        never on which process computes a chunk (:meth:`sample_chunk` computes one alone)."""
        plan = self.chunk_plan(n, chunk_rows=chunk_rows, random_state=random_state)
        for i in range(len(plan["chunks"])):
            yield self.sample_chunk(plan, i)

    def chunk_plan(self, n: int | Mapping[Any, int], *, chunk_rows: int = 100_000, random_state: int | None = None) -> dict[str, Any]:
        """Per-chunk class counts, first id offsets and the call's seed: everything a worker needs
        (with the model file) to compute one chunk of a large sample."""
        self._check_fitted()
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
            raise ConfigError(f"chunk_rows must be a whole number >= 1, got {chunk_rows!r}")
        counts = self._resolve_counts(n)
        total = sum(counts.values())
        n_chunks = max(1, -(-total // int(chunk_rows)))
        per_class = {label: np.diff(np.linspace(0, k, n_chunks + 1).round().astype(np.int64)) for label, k in counts.items()}
        chunks = [{label: int(per_class[label][i]) for label in counts} for i in range(n_chunks)]
        offsets = np.concatenate([[0], np.cumsum([sum(c.values()) for c in chunks])[:-1]]).tolist()
        if random_state is None:
            entropy = self._next_call_entropy()
        else:
            entropy = [int(as_seed_sequence(random_state).generate_state(1, np.uint64)[0])]
        return {"chunks": chunks, "offsets": offsets, "entropy": entropy}

    def sample_chunk(self, plan: Mapping[str, Any], index: int) -> pd.DataFrame:
        """Chunk ``index`` of a :meth:`chunk_plan`: the same rows in any process."""
        self._check_fitted()
        rng = np.random.default_rng(np.random.SeedSequence(plan["entropy"], spawn_key=(int(index),)))
        return self._draw_rows(plan["chunks"][index], rng, id_offset=int(plan["offsets"][index]))

    def _next_call_entropy(self) -> list[int]:
        """The stream of the next unseeded call: the model's sample seed and the call's number."""
        entropy = [int(self.sample_seed_), self._n_sample_calls]
        self._n_sample_calls += 1
        return entropy

    def _call_rng(self, random_state: int | None) -> np.random.Generator:
        return np.random.default_rng(self._next_call_entropy()) if random_state is None else make_rng(random_state)

    def _draw_rows(self, counts: Mapping[int, int], rng: np.random.Generator, *, id_offset: int = 0) -> pd.DataFrame:
        parts, labels = [], []
        for label, k in counts.items():
            if k == 0:
                continue
            rows = self._sample(k, label, rng)
            if len(rows) != k:
                raise TrainingError(f"{type(self).__name__} produced {len(rows)} rows of class {label}, not {k}")
            parts.append(rows.reset_index(drop=True))
            labels.append(np.full(k, label, dtype=np.int64))
        if parts:
            X = pd.concat(parts, ignore_index=True)
            y = np.concatenate(labels)
        else:
            X = pd.DataFrame({c: pd.Series([], dtype=object) for c in self.feature_names_in_})
            y = np.zeros(0, dtype=np.int64)
        X = self._fresh_ids(self._restore(X), id_offset)
        X[self.target_name_] = y
        return X

    def save(self, path: str | Path) -> Path:
        """Write the fitted generator to one file (zip of JSON, npz and Parquet)."""
        self._check_fitted()
        state = self._get_state()
        params = self.get_params(deep=False)
        try:
            header = json.dumps(
                {
                    "format": FORMAT,
                    "version": FORMAT_VERSION,
                    "generator": self.name,
                    "params": params,
                    "schema": self.schema_.to_dict(),
                    "feature_names": self.feature_names_in_,
                    "dtypes": self.dtypes_,
                    "target": self.target_name_,
                    "class_counts": {str(k): v for k, v in self.class_counts_.items()},
                    "categories": self.categories_,
                    "ranges": self.ranges_,
                    "id_starts": self.id_starts_,
                    "sample_seed": self.sample_seed_,
                    "state": state.meta,
                    "frames": sorted(state.frames),
                }
            )
        except TypeError as exc:
            raise ConfigError(f"{type(self).__name__} parameters or state are not JSON-serialisable: {exc}") from exc
        p = Path(path)
        with atomic_path(p) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("model.json", header)
            buf = io.BytesIO()
            arrays: dict[str, Any] = dict(state.arrays)  # names, not savez's keyword options
            np.savez(buf, **arrays)
            zf.writestr("arrays.npz", buf.getvalue())
            for key, frame in state.frames.items():
                fb = io.BytesIO()
                frame.to_parquet(fb, index=False)
                zf.writestr(f"frames/{key}.parquet", fb.getvalue())
        return p

    @classmethod
    def load(cls, path: str | Path) -> Generator:
        """Load a generator written by :meth:`save`. The file's code is never executed."""
        from clicksynth.generators import generator_class

        p = Path(path)
        if not p.is_file():
            raise DataError(f"{p}: no such model file")
        header, arrays, frames = _modelfile.read(p, FORMAT, FORMAT_VERSION)
        # Only registered names resolve to a class; nothing in the file is imported.
        try:
            klass = generator_class(header["generator"])
        except ConfigError as exc:
            raise ModelFileError(f"{p}: {exc}") from exc
        if cls is not Generator and not issubclass(klass, cls):
            raise DataError(f"{p} holds a {klass.__name__}, not a {cls.__name__}")
        _modelfile.check_params(p, klass, header["params"])
        try:
            gen = klass(**header["params"])
            if hasattr(gen, "_check_params"):
                gen._check_params()
            gen.schema_ = Schema.from_dict(header["schema"])
            gen.feature_names_in_ = header["feature_names"]
            gen.n_features_in_ = len(gen.feature_names_in_)
            gen.dtypes_ = header["dtypes"]
            gen.target_name_ = header["target"]
            gen.classes_ = np.array([0, 1])
            gen.class_counts_ = {int(k): v for k, v in header["class_counts"].items()}
            gen.categories_ = header["categories"]
            gen.ranges_ = header["ranges"]
            gen.id_starts_ = {str(k): int(v) for k, v in header.get("id_starts", {}).items()}
            gen.sample_seed_ = header["sample_seed"]
            gen._n_sample_calls = 0
            gen._set_state(State(meta=header["state"], arrays=arrays, frames=frames))
            gen.is_fitted_ = True
            gen._smoke_sample()
        except ModelFileError as exc:
            raise exc if str(p) in str(exc) else ModelFileError(f"{p}: {exc}") from exc
        except (ClicksynthError, KeyError, IndexError, ValueError, TypeError, AttributeError, RuntimeError, ArithmeticError) as exc:
            raise ModelFileError(f"{p}: the {klass.name} state does not match its header: {type(exc).__name__}: {exc}") from exc
        return gen

    def _smoke_sample(self) -> None:
        """Two rows per trained class through ``sample``'s path, on a throwaway stream: a state
        that does not fit its parameters fails at load, not in the user's ``sample``."""
        self._draw_rows({label: 2 for label, count in self.class_counts_.items() if count > 0}, np.random.default_rng(0))

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        """Tiny configurations for the contract suite."""
        return [{}]

    # -- hooks ----------------------------------------------------------------------
    def _fit(self, X: pd.DataFrame, y: np.ndarray, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        raise NotImplementedError

    def _get_state(self) -> State:
        raise NotImplementedError

    def _set_state(self, state: State) -> None:
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not getattr(self, "is_fitted_", False):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(X, y) before sample()")

    def _resolve_schema(self, X: pd.DataFrame, schema: Schema | None) -> Schema:
        if schema is None:
            schema = Schema.infer(X)
        missing = [c for c in X.columns if c not in schema]
        if missing:
            raise DataError(f"schema lacks column(s) {missing} of X")
        schema = schema.select(list(X.columns))
        bad = [c.name for c in schema if c.kind not in self.supported_kinds]
        if bad:
            col = schema[bad[0]]
            raise DataError(
                f"{type(self).__name__} cannot model column {col.name!r} of kind {col.kind!r}; "
                f"drop it or give it one of the kinds {list(self.supported_kinds)}"
            )
        return schema

    def _resolve_counts(self, n: int | Mapping[Any, int]) -> dict[int, int]:
        if isinstance(n, Mapping):
            counts = {}
            for label, k in n.items():
                key = int(label)
                if key not in (0, 1):
                    raise ConfigError(f"unknown class {label!r} in sample(); the classes are 0 and 1")
                if not isinstance(k, (int, np.integer)) or k < 0:
                    raise ConfigError(f"row count for class {label!r} must be a non-negative integer, got {k!r}")
                counts[key] = int(k)
            for label, k in counts.items():
                if k and self.class_counts_.get(label, 0) == 0:
                    raise ConfigError(f"class {label} was absent from the training data; cannot sample it")
            return counts
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ConfigError(f"n must be a non-negative integer or a {{label: count}} mapping, got {n!r}")
        total = sum(self.class_counts_.values())
        return counts_for(int(n), {k: v / total for k, v in self.class_counts_.items()})

    def _restore(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise TrainingError(f"{type(self).__name__} did not produce column(s) {missing}")
        if list(X.columns) != list(self.feature_names_in_):
            X = X[self.feature_names_in_]
        # Shallow: the frame is the model's own fresh output and every cast below replaces a whole column.
        X = X.copy(deep=False)
        for c, dtype in self.dtypes_.items():
            try:
                X[c] = _cast(X[c], dtype)
            except (TypeError, ValueError) as exc:
                raise TrainingError(f"{type(self).__name__} produced column {c!r} that does not fit dtype {dtype}: {exc}") from exc
        self._check_output(X)
        return X

    def _fresh_ids(self, X: pd.DataFrame, offset: int = 0) -> pd.DataFrame:
        """Id columns are not modelled (kept only with ``--keep-ids``): every row of one ``sample``
        call gets its own fresh id, numbers past the training maximum or ``syn00000001`` text, so
        no id repeats across classes and no training id is copied."""
        for c in self.schema_.of_kind("id"):
            if c not in X.columns or not len(X):
                continue
            if c in self.id_starts_:
                X[c] = _cast(pd.Series(self.id_starts_[c] + offset + np.arange(len(X), dtype=np.int64)), self.dtypes_[c])
            else:
                X[c] = _cast(pd.Series([f"syn{i:08d}" for i in range(offset + 1, offset + len(X) + 1)], dtype=object), self.dtypes_[c])
        return X

    def _check_output(self, X: pd.DataFrame) -> None:
        for c, cats in self.categories_.items():
            if not len(X):
                break
            seen = set(cats)
            values = X[c].dropna().unique()
            bad = [v for v in values if v not in seen]
            if bad:
                raise TrainingError(f"{type(self).__name__} produced unseen categories {bad[:5]} in column {c!r}")
        for c, (lo, hi) in self.ranges_.items():
            v = pd.to_numeric(X[c], errors="coerce")
            if len(v) and ((v < lo - 1e-9).any() or (v > hi + 1e-9).any()):
                raise TrainingError(f"{type(self).__name__} produced values of {c!r} outside the training range [{lo}, {hi}]")


def _cast(col: pd.Series, dtype: str) -> pd.Series:
    if str(col.dtype) == dtype:
        return col
    if dtype.startswith(("int", "uint")) and col.isna().any():
        raise ValueError("missing values in an integer column")
    if dtype in ("object",):
        return col.astype(object)
    return col.astype(dtype)


def _split_input(X: Any, y: Any) -> tuple[pd.DataFrame, np.ndarray, str]:
    X = to_pandas(X, what="X")
    if X.shape[1] == 0:
        raise DataError("X has no columns")
    if len(X) == 0:
        raise DataError("X has no rows")
    if X.columns.duplicated().any():
        dup = list(X.columns[X.columns.duplicated()])
        raise DataError(f"X has duplicate column names {dup}")
    if y is None:
        raise DataError("fit needs labels: pass y (array or Series) or the name of the label column in X")
    if isinstance(y, str):
        if y not in X.columns:
            raise DataError(f"label column {y!r} not in X{suggest(y, list(X.columns))}")
        target = y
        y_series = X[y]
        X = X.drop(columns=[y])
    else:
        y_series = pd.Series(np.asarray(y).ravel() if not isinstance(y, pd.Series) else y.to_numpy())
        target = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "label"
        if target in X.columns:
            raise DataError(f"X already has a column named {target!r}, the label's name; drop it from X")
    if len(y_series) != len(X):
        raise DataError(f"X has {len(X)} rows but y has {len(y_series)}")
    if y_series.isna().any():
        row = int(np.flatnonzero(y_series.isna().to_numpy())[0])
        raise DataError(f"label {target!r} has missing values (first at row {row}); drop those rows")
    values = set(pd.unique(y_series).tolist())
    if not values <= {0, 1, -1}:
        raise DataError(f"label {target!r} must be binary 0/1 (or -1/1), got values {sorted(map(str, values))[:6]}")
    y_arr = (y_series.to_numpy() == 1).astype(np.int64)
    if len(np.unique(y_arr)) < 2:
        raise DataError(f"label {target!r} has a single class; generators need clicks and non-clicks")
    return X, y_arr, target


def _validate_features(X: pd.DataFrame, schema: Schema) -> None:
    for c in X.columns:
        s = X[c]
        kind = schema[c].kind
        if s.isna().all():
            raise DataError(f"column {c!r} is entirely missing; drop it before fitting")
        if kind == "numeric":
            if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
                num = pd.to_numeric(s, errors="coerce")
                bad = s.notna() & num.isna()
                if bad.any():
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise DataError(
                        f"numeric column {c!r} has a non-numeric value {s.iloc[row]!r} at row {row}; fix it or declare the column categorical"
                    )
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(v).any():
                row = int(np.flatnonzero(np.isinf(v))[0])
                raise DataError(f"numeric column {c!r} has an infinite value at row {row}; replace it with a finite value or NaN")
        elif kind == "list" and not is_string_like(s):
            raise DataError(f"list column {c!r} must hold caret-joined strings, got dtype {s.dtype}")
        elif kind == "categorical" and s.dtype == object:
            types = {type(v) for v in s.dropna().head(10_000)}
            if len(types - {int, np.int64}) > 1 and str in types:
                raise DataError(f"categorical column {c!r} mixes value types {sorted(t.__name__ for t in types)}; make them all strings")


def _category_sets(X: pd.DataFrame, schema: Schema) -> dict[str, list[Any]]:
    out = {}
    for c in schema.of_kind("categorical"):
        vals = pd.unique(X[c].dropna())
        out[c] = [v.item() if isinstance(v, np.generic) else v for v in vals]
    return out


def _id_starts(X: pd.DataFrame, schema: Schema) -> dict[str, int]:
    """First fresh number of each numeric id column: one past its training maximum."""
    out = {}
    for c in schema.of_kind("id"):
        if c in X.columns:
            v = pd.to_numeric(X[c], errors="coerce")
            if len(v) and v.notna().all() and (v == np.floor(v)).all():
                out[c] = int(v.max()) + 1
    return out


def _numeric_ranges(X: pd.DataFrame, schema: Schema) -> dict[str, list[float]]:
    out = {}
    for c in schema.of_kind("numeric"):
        v = pd.to_numeric(X[c], errors="coerce")
        out[c] = [float(v.min()), float(v.max())]
    return out
