"""CTR classifiers used to judge synthetic data (and to select features).

One featurizer, fitted on the real training rows, turns any rows of the same
schema into model input, so a model trained on synthetic rows and tested on
real ones sees identical columns and category sets:

* numeric / datetime -> float
* categorical        -> pandas ``category`` with the categories seen in the
                        fitting rows (unseen values become missing); XGBoost,
                        LightGBM and CatBoost split on them natively, the
                        logistic model one-hot encodes low-cardinality columns
                        and target-encodes the rest *inside its own fit* (so a
                        validation fold never leaks into the encoding)
* list               -> length, distinct count and 0/1 flags of the top items
* id / target        -> dropped

``CTRModel`` wraps the four learners behind one interface with class weights
or majority undersampling, early stopping on a validation split, threshold
tuning on that validation split (max F1, or max recall above a precision
floor) and gain importances aggregated back to source columns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve

from clicksynth._frame import to_pandas
from clicksynth.exceptions import ConfigError, MissingDependencyError, NotFittedError
from clicksynth.prep.lists import explode_items, split_text
from clicksynth.schema import Schema, suggest
from clicksynth.seeding import RandomState, int_seed, make_rng

__all__ = ["MODELS", "CTRFeaturizer", "CTRModel", "select_features", "tune_threshold"]

log = logging.getLogger(__name__)

MODELS = ("xgboost", "lightgbm", "catboost", "logistic")
# Categories kept per column (most frequent first); rarer ones become missing,
# which every learner treats as one more learned branch. Partition splits over
# thousands of ad ids cost far more than they add.
MAX_MODEL_CATEGORIES = 255
_ONEHOT_MAX = 16  # logistic: one-hot up to this many categories, target-encode beyond


class CTRFeaturizer:
    """Schema-driven model features; fit on real rows, apply to any rows.

    Parameters
    ----------
    schema
        Column kinds; its target and id columns are dropped.
    list_top_k
        Item flags per list column.
    """

    def __init__(self, schema: Schema, *, list_top_k: int = 10) -> None:
        self.schema = schema
        self.list_top_k = list_top_k
        self.categories_: dict[str, pd.Index] | None = None

    def fit(self, frame: Any) -> CTRFeaturizer:
        df = to_pandas(frame)
        self.categories_ = {}
        self.list_items_: dict[str, list[str]] = {}
        for name in self.schema.of_kind("categorical"):
            if name in df.columns:
                counts = df[name].value_counts(dropna=True)
                self.categories_[name] = pd.Index(counts.index[:MAX_MODEL_CATEGORIES])
        for name in self.schema.of_kind("list"):
            if name in df.columns:
                items = explode_items(df[name])
                items = items[items != ""]
                self.list_items_[name] = [str(v) for v in items.value_counts().index[: self.list_top_k]]
        return self

    def transform(self, frame: Any) -> pd.DataFrame:
        if self.categories_ is None:
            raise NotFittedError("CTRFeaturizer is not fitted")
        import polars as pl

        df = to_pandas(frame)
        cols: dict[str, Any] = {}
        for c in self.schema.columns:
            if c.kind in ("id", "target") or c.name not in df.columns:
                continue
            s = df[c.name]
            if c.kind in ("numeric", "datetime"):
                cols[c.name] = pd.to_numeric(s, errors="coerce").astype("float32").to_numpy()
            elif c.kind == "categorical":
                cats = self.categories_[c.name]
                codes = cats.get_indexer(s.astype(object).where(s.notna(), None))
                cols[c.name] = pd.Categorical.from_codes(codes, categories=cats)
            elif c.kind == "list":
                # Polars splits and tests membership in native code, far faster than pandas string methods.
                text = pl.Series(s.astype(object).where(s.notna(), None).tolist(), dtype=pl.String)
                lst = split_text(text)
                feats = pl.select(
                    lst.list.len().cast(pl.Float32).alias("len"),
                    lst.list.n_unique().cast(pl.Float32).alias("nunique"),
                    *[lst.list.contains(item).cast(pl.Float32).alias(f"has{j}") for j, item in enumerate(self.list_items_[c.name])],
                )
                cols[f"{c.name}__len"] = feats["len"].to_numpy()
                cols[f"{c.name}__nunique"] = feats["nunique"].to_numpy()
                for j, item in enumerate(self.list_items_[c.name]):
                    cols[f"{c.name}__has_{item}"] = feats[f"has{j}"].to_numpy()
        return pd.DataFrame(cols, index=df.index)

    def source_of(self, feature: str) -> str:
        """The schema column a model feature came from."""
        return feature.split("__", 1)[0] if "__" in feature and feature.split("__", 1)[0] in self.schema else feature


@dataclass
class _Fitted:
    model: Any
    features: list[str]


class CTRModel:
    """A click model with one interface over XGBoost, LightGBM, CatBoost and logistic regression.

    Parameters
    ----------
    kind
        ``"xgboost"`` (default), ``"lightgbm"``, ``"catboost"`` or ``"logistic"``.
    schema
        Column kinds of the rows it will see (target included).
    class_weight
        ``"balanced"`` reweights clicks by the negative/positive ratio.
    undersample
        Keep this many negatives per positive (e.g. 10), drawn at random.
    n_estimators, learning_rate, max_depth
        Boosting size; early stopping on the validation rows trims ``n_estimators``.
    threshold
        ``"f1"`` tunes the decision threshold for maximum F1 on validation rows;
        ``"precision"`` for maximum recall with precision at least ``precision_floor``.
    random_state
        Seed.
    """

    def __init__(
        self,
        kind: str = "xgboost",
        *,
        schema: Schema,
        class_weight: Literal["balanced"] | None = None,
        undersample: float | None = None,
        n_estimators: int = 300,
        learning_rate: float = 0.1,
        max_depth: int = 6,
        threshold: Literal["f1", "precision"] = "f1",
        precision_floor: float = 0.2,
        n_jobs: int = 2,
        random_state: RandomState = 0,
    ) -> None:
        if kind not in MODELS:
            raise ConfigError(f"unknown model {kind!r}{suggest(kind, MODELS)}. Choose one of {', '.join(MODELS)}")
        if schema.target is None:
            raise ConfigError("CTRModel needs a schema with a target column")
        self.kind = kind
        self.schema = schema
        self.class_weight = class_weight
        self.undersample = undersample
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.threshold = threshold
        self.precision_floor = precision_floor
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.featurizer: CTRFeaturizer | None = None

    # -- fitting ----------------------------------------------------------------------
    def fit(
        self,
        train: Any,
        *,
        validation: Any | None = None,
        featurizer: CTRFeaturizer | None = None,
    ) -> CTRModel:
        """Fit on ``train`` rows (target included); tune the threshold on ``validation``.

        Without validation rows, 20% of ``train`` is held out for early stopping
        and the threshold.
        """
        rng = make_rng(self.random_state)
        df = to_pandas(train, what="train")
        target = self.schema.target
        assert target is not None
        y = (df[target] == self.schema.positive_label).to_numpy().astype(np.int64)
        if validation is None:
            order = rng.permutation(len(df))
            cut = int(0.8 * len(df))
            val_df, df, y_val, y = df.iloc[order[cut:]], df.iloc[order[:cut]], y[order[cut:]], y[order[:cut]]
        else:
            val_df = to_pandas(validation, what="validation")
            y_val = (val_df[target] == self.schema.positive_label).to_numpy().astype(np.int64)
        self.featurizer = featurizer or CTRFeaturizer(self.schema).fit(df)
        self.fit_features(self.featurizer.transform(df), y, self.featurizer.transform(val_df), y_val, rng=rng)
        return self

    def fit_features(
        self, X: pd.DataFrame, y: np.ndarray, X_val: pd.DataFrame, y_val: np.ndarray, *, rng: np.random.Generator | None = None
    ) -> CTRModel:
        """Fit on features already made by ``self.featurizer`` (lets callers reuse them)."""
        if self.featurizer is None:
            raise NotFittedError("set a fitted featurizer before fit_features")
        rng = rng if rng is not None else make_rng(self.random_state)
        y = np.asarray(y).astype(np.int64)
        if len(np.unique(y)) < 2:
            raise ConfigError("training rows hold a single class; a click model needs both")
        if self.undersample:
            keep = _undersample(y, self.undersample, rng)
            X, y = X.iloc[keep], y[keep]
        weight = None
        if self.class_weight == "balanced":
            ratio = (y == 0).sum() / max((y == 1).sum(), 1)
            weight = np.where(y == 1, ratio, 1.0)
        self._fitted = _Fitted(self._fit_backend(X, y, X_val, y_val, weight, int_seed(rng)), list(X.columns))
        self.threshold_ = tune_threshold(
            y_val, self.predict_proba_features(X_val), mode=self.threshold, precision_floor=self.precision_floor
        )
        return self

    def _fit_backend(
        self, X: pd.DataFrame, y: np.ndarray, X_val: pd.DataFrame, y_val: np.ndarray, weight: np.ndarray | None, seed: int
    ) -> Any:
        if self.kind == "xgboost":
            from xgboost import XGBClassifier

            model = XGBClassifier(
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                max_depth=self.max_depth,
                tree_method="hist",
                enable_categorical=True,
                max_cat_to_onehot=4,
                subsample=0.9,
                colsample_bytree=0.9,
                eval_metric="logloss",
                early_stopping_rounds=20 if len(np.unique(y_val)) > 1 else None,
                n_jobs=self.n_jobs,
                random_state=seed,
                verbosity=0,
            )
            model.fit(X, y, sample_weight=weight, eval_set=[(X_val, y_val)], verbose=False)
            return model
        if self.kind == "lightgbm":
            try:
                import lightgbm as lgb
            except ImportError as exc:  # pragma: no cover
                raise MissingDependencyError("LightGBM is not installed: pip install 'clicksynth[models]'") from exc
            model = lgb.LGBMClassifier(
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                max_depth=self.max_depth,
                num_leaves=min(2**self.max_depth - 1, 63),
                subsample=0.9,
                subsample_freq=1,
                colsample_bytree=0.9,
                n_jobs=self.n_jobs,
                random_state=seed,
                verbose=-1,
            )
            callbacks: list[Any] = [lgb.early_stopping(30, verbose=False)] if len(np.unique(y_val)) > 1 else []
            model.fit(X, y, sample_weight=weight, eval_X=(X_val,), eval_y=(y_val,), callbacks=callbacks)
            return model
        if self.kind == "catboost":
            try:
                from catboost import CatBoostClassifier
            except ImportError as exc:  # pragma: no cover
                raise MissingDependencyError("CatBoost is not installed: pip install 'clicksynth[models]'") from exc
            cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
            Xc, Xv = _as_strings(X, cats), _as_strings(X_val, cats)
            model = CatBoostClassifier(
                iterations=self.n_estimators,
                learning_rate=self.learning_rate,
                depth=min(self.max_depth, 8),
                thread_count=self.n_jobs,
                random_seed=seed,
                verbose=False,
                allow_writing_files=False,
                early_stopping_rounds=30 if len(np.unique(y_val)) > 1 else None,
            )
            model.fit(Xc, y, cat_features=cats, sample_weight=weight, eval_set=(Xv, y_val))
            return model
        return _fit_logistic(X, y, weight, seed, self.n_jobs)

    # -- prediction -------------------------------------------------------------------
    def _check(self) -> _Fitted:
        fitted = getattr(self, "_fitted", None)
        if fitted is None or self.featurizer is None:
            raise NotFittedError("CTRModel is not fitted; call fit(train) first")
        return fitted

    def predict_proba(self, frame: Any) -> np.ndarray:
        """Click probability per row."""
        self._check()
        assert self.featurizer is not None
        return self.predict_proba_features(self.featurizer.transform(frame))

    def predict_proba_features(self, X: pd.DataFrame) -> np.ndarray:
        """Click probability per row of features made by ``self.featurizer``."""
        fitted = self._check()
        X = X[fitted.features]
        if self.kind == "catboost":
            cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
            X = _as_strings(X, cats)
        return np.asarray(fitted.model.predict_proba(X))[:, 1]

    def predict(self, frame: Any) -> np.ndarray:
        """0/1 decisions at the tuned threshold."""
        return (self.predict_proba(frame) >= self.threshold_).astype(np.int64)

    def feature_importances(self) -> pd.Series:
        """Importance share per *source column* (list features summed into their list)."""
        fitted = self._check()
        assert self.featurizer is not None
        m = fitted.model
        if self.kind == "xgboost":
            raw = m.get_booster().get_score(importance_type="total_gain")
            values = pd.Series({f: raw.get(f, 0.0) for f in fitted.features}, dtype=float)
        elif self.kind == "lightgbm":
            values = pd.Series(m.booster_.feature_importance(importance_type="gain"), index=fitted.features, dtype=float)
        elif self.kind == "catboost":
            values = pd.Series(m.get_feature_importance(), index=fitted.features, dtype=float)
        else:
            values = m.source_importances(fitted.features)
        grouped = values.groupby([self.featurizer.source_of(f) for f in values.index]).sum()
        total = grouped.sum()
        return (grouped / total if total > 0 else grouped).sort_values(ascending=False)


def _undersample(y: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    pos = np.flatnonzero(y == 1)
    neg = np.flatnonzero(y == 0)
    k = min(len(neg), round(ratio * len(pos)))
    return np.sort(np.concatenate([pos, rng.choice(neg, size=k, replace=False)]))


def _as_strings(X: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    out = X.copy()
    for c in cats:
        out[c] = out[c].astype(object).where(out[c].notna(), "__missing__").astype(str)
    return out


class _Logistic:
    """Logistic regression on one-hot + in-fit target encoding + scaled numerics."""

    def __init__(self, pipeline: Any, columns: list[str], cats: list[str]) -> None:
        self.pipeline = pipeline
        self.columns = columns
        self.cats = cats

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(_as_strings(X[self.columns], self.cats))

    def source_importances(self, features: list[str]) -> pd.Series:
        """|coefficient| summed per input feature (longest matching name wins)."""
        names = self.pipeline.named_steps["pre"].get_feature_names_out()
        coef = np.abs(self.pipeline.named_steps["clf"].coef_.ravel())
        by_length = sorted(features, key=len, reverse=True)
        out = pd.Series(0.0, index=features)
        for name, value in zip(names, coef):
            src = name.split("__", 1)[1]
            match = next((f for f in by_length if src == f or src.startswith(f + "_")), None)
            if match is not None:
                out[match] += value
        return out


def _fit_logistic(X: pd.DataFrame, y: np.ndarray, weight: Any, seed: int, n_jobs: int) -> _Logistic:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    low = [c for c in cats if len(X[c].cat.categories) <= _ONEHOT_MAX]
    high = [c for c in cats if c not in low]
    nums = [c for c in X.columns if c not in cats]
    transformers: list[tuple[str, Any, list[str]]] = [
        ("num", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()), nums)
    ]
    if low:
        transformers.append(("low", OneHotEncoder(handle_unknown="ignore", min_frequency=5), low))
    if high:
        # TargetEncoder.fit_transform cross-fits internally: no row's own label
        # enters its encoding, and nothing outside this fit is seen.
        from sklearn.model_selection import KFold

        transformers.append(("high", TargetEncoder(cv=KFold(5, shuffle=True, random_state=seed)), high))
    pipe = Pipeline(
        [
            ("pre", ColumnTransformer(transformers, sparse_threshold=0.0)),
            # L1: the sparse, calibrated click model of the Lasso study (liblinear solves it for two classes;
            # tol 1e-3: the default tolerance costs seconds per fit and moves no reported PR-AUC).
            ("clf", LogisticRegression(l1_ratio=1.0, solver="liblinear", C=1.0, tol=1e-3, max_iter=500, random_state=seed)),
        ]
    )
    pipe.fit(_as_strings(X, cats), y, clf__sample_weight=weight)
    return _Logistic(pipe, list(X.columns), cats)


def tune_threshold(y: np.ndarray, p: np.ndarray, *, mode: Literal["f1", "precision"] = "f1", precision_floor: float = 0.2) -> float:
    """Decision threshold from validation labels and scores.

    ``"f1"``: the threshold of maximum F1. ``"precision"``: the lowest threshold
    whose precision is at least ``precision_floor`` (maximum recall above the
    floor); falls back to max F1 when no threshold reaches the floor.
    """
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]
    if mode == "precision":
        ok = np.flatnonzero(precision >= precision_floor)
        if len(ok):
            return float(thresholds[ok[np.argmax(recall[ok])]])
    elif mode != "f1":
        raise ConfigError(f"threshold mode must be 'f1' or 'precision', got {mode!r}")
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return float(thresholds[int(np.argmax(f1))])


def select_features(model: CTRModel, *, min_share: float = 0.005) -> list[str]:
    """Source columns whose importance share is at least ``min_share`` (drop the rest before generating)."""
    imp = model.feature_importances()
    return [c for c, v in imp.items() if v >= min_share]
