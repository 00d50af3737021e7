"""The click models that judge synthetic data: featurizer, threshold tuner, class weights,
undersampling, and where the utility metrics tune their threshold (cases small enough to do by hand)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clicksynth.exceptions import ConfigError
from clicksynth.metrics.models import MAX_MODEL_CATEGORIES, CTRFeaturizer, CTRModel, _undersample, tune_threshold
from clicksynth.schema import Schema

# Six validation rows; F1 by threshold (predict p >= t), worked by hand:
#   t=0.9: TP1 FP0 FN2 -> 0.50   t=0.8: TP2 FP0 FN1 -> 0.80   t=0.7: TP2 FP1 FN1 -> 0.67
#   t=0.4: TP2 FP2 FN1 -> 0.57   t=0.35: TP3 FP2 FN0 -> 0.75  t=0.1: TP3 FP3 FN0 -> 0.67
Y = np.array([0, 0, 1, 1, 0, 1])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.9])


def test_threshold_of_maximum_f1():
    assert tune_threshold(Y, P) == 0.8


@pytest.mark.parametrize(
    ("floor", "expected"),
    [
        (0.6, 0.35),  # precision 3/5 at 0.35 reaches the floor with recall 1
        (0.7, 0.8),  # 0.7 has precision 2/3 < 0.7: the best recall above the floor is 2/3 at 0.8
        (1.01, 0.8),  # no threshold reaches the floor: back to maximum F1
    ],
)
def test_threshold_of_maximum_recall_above_a_precision_floor(floor, expected):
    assert tune_threshold(Y, P, mode="precision", precision_floor=floor) == expected


def test_threshold_edge_cases():
    assert tune_threshold(np.zeros(4), np.linspace(0, 1, 4)) == 0.5  # one class: nothing to tune
    with pytest.raises(ConfigError, match="threshold mode"):
        tune_threshold(Y, P, mode="recall")  # type: ignore[arg-type]


@pytest.fixture()
def small():
    frame = pd.DataFrame(
        {
            "uid": [1, 2, 3, 4, 5],
            "slot": ["a", "b", "a", "c", None],
            "tags": ["x^y", "y", None, "x^x^z", ""],
            "n": [1.0, 2.0, None, 4.0, 5.0],
            "label": [0, 1, 0, 1, 0],
        }
    )
    schema = Schema.infer(frame, target="label", overrides={"columns": {"uid": "id", "slot": "categorical", "tags": "list"}})
    return frame, schema


def test_featurizer_by_hand(small):
    frame, schema = small
    X = CTRFeaturizer(schema, list_top_k=2).fit(frame).transform(frame)
    # ids and the target are dropped; a list becomes length, distinct items and flags of its top items
    # (x: 3 occurrences, y: 2, z: 1 -> x and y).
    assert list(X.columns) == ["slot", "tags__len", "tags__nunique", "tags__has_x", "tags__has_y", "n"]
    assert X["tags__len"].tolist()[:2] == [2.0, 1.0] and X["tags__len"].iloc[3] == 3.0 and X["tags__nunique"].iloc[3] == 2.0
    assert X["tags__has_x"].tolist()[:2] == [1.0, 0.0] and X["tags__has_y"].tolist()[:2] == [1.0, 1.0]
    assert X["tags__len"].iloc[4] == 0.0 and np.isnan(X["tags__len"].iloc[2])  # empty list vs missing list
    assert np.isnan(X["n"].iloc[2]) and X["slot"].isna().iloc[4]


def test_featurizer_keeps_the_fitting_rows_categories(small):
    frame, schema = small
    feat = CTRFeaturizer(schema).fit(frame)
    other = feat.transform(pd.DataFrame({"slot": ["zz", "a"], "tags": ["q", "x"], "n": [1.0, 2.0]}))
    assert other["slot"].isna().iloc[0] and other["slot"].iloc[1] == "a"  # unseen value: missing, not a new level
    assert list(other["slot"].cat.categories) == list(feat.transform(frame)["slot"].cat.categories)
    # Beyond MAX_MODEL_CATEGORIES levels, the most frequent are kept.
    many = pd.DataFrame({"slot": [f"s{i}" for i in range(MAX_MODEL_CATEGORIES + 10)] + ["s300"] * 5, "label": 1})
    many.loc[::2, "label"] = 0
    sch = Schema.infer(many, target="label", overrides={"columns": {"slot": "categorical"}})
    cats = CTRFeaturizer(sch).fit(many).categories_["slot"]  # type: ignore[index]
    assert len(cats) == MAX_MODEL_CATEGORIES and cats[0] == "s300"


def test_undersampling_keeps_every_click_and_ratio_negatives():
    y = np.r_[np.ones(10, int), np.zeros(500, int)]
    keep = _undersample(y, 5, np.random.default_rng(0))
    assert y[keep].sum() == 10 and (y[keep] == 0).sum() == 50 and len(np.unique(keep)) == len(keep)


def _linear(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-(-3.5 + 1.5 * x[:, 0] - x[:, 1])))).astype(int)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": y})


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm", "catboost", "logistic"])
def test_balanced_class_weight_raises_click_scores(kind):
    train, valid = _linear(4000, 0), _linear(2000, 1)
    schema = Schema.infer(train, target="label")
    plain = CTRModel(kind, schema=schema).fit(train, validation=valid)
    balanced = CTRModel(kind, schema=schema, class_weight="balanced").fit(train, validation=valid)
    rate = train["label"].mean()
    # Unweighted, the mean score is about the click rate; balanced, the clicks weigh as much as the rest.
    plain_mean, balanced_mean = plain.predict_proba(valid).mean(), balanced.predict_proba(valid).mean()
    assert abs(plain_mean - rate) < 0.03
    assert balanced_mean > 1.5 * plain_mean  # weights on the wrong class would lower it


def test_utility_threshold_is_tuned_on_the_holdout_not_the_test_rows():
    from clicksynth.metrics import evaluate
    from clicksynth.metrics.utility import _features, fitted_model

    train, holdout, test = _linear(3000, 0), _linear(1500, 1), _linear(3000, 2)
    test = test.assign(b=test["b"] + 1.5)  # shifted test rows: their own best threshold differs
    scores = evaluate(train, train, holdout=holdout, test=test, target="label", metrics=["trtr_f1"], references=False)
    used = __import__("json").loads(scores["details"].iloc[0])["threshold"]
    from clicksynth.metrics._base import EvalContext
    from clicksynth.seeding import derive_seed

    schema = Schema.infer(train, target="label")
    model = fitted_model(
        "real",
        train,
        train,
        EvalContext(schema, np.random.default_rng(0), holdout=holdout, test=test, params={"model_seed": derive_seed(0, "model") % 2**31}),
    )
    assert model.featurizer is not None
    on_holdout = tune_threshold(
        holdout["label"].to_numpy(), model.predict_proba_features(_features(holdout, model.featurizer, None, shared=False))
    )
    on_test = tune_threshold(test["label"].to_numpy(), model.predict_proba_features(_features(test, model.featurizer, None, shared=False)))
    assert on_holdout != on_test
    assert used == pytest.approx(on_holdout)


def test_logistic_importances_go_to_the_source_column_the_longest_name_matches():
    """One-hot columns are named ``<feature>_<value>``: ``slot_id_3`` belongs to ``slot_id``, not to
    ``slot``. The signal column takes the importance; shares sum to 1 over the source columns."""
    rng = np.random.default_rng(0)
    n = 600
    slot_id = rng.integers(0, 4, n)
    frame = pd.DataFrame(
        {
            "slot": rng.choice(list("abc"), n),  # noise
            "slot_id": slot_id.astype(str),  # the click signal: slot 3 clicks
            "x": rng.normal(size=n),  # noise
            "label": ((slot_id == 3) & (rng.random(n) < 0.9)).astype(int),
        }
    )
    schema = Schema.infer(frame, target="label", overrides={"columns": {"slot": "categorical", "slot_id": "categorical"}})
    model = CTRModel("logistic", schema=schema).fit(frame)
    share = model.feature_importances()
    assert set(share.index) == {"slot", "slot_id", "x"}
    assert share.sum() == pytest.approx(1.0) and (share >= 0).all()
    assert share.index[0] == "slot_id" and share["slot_id"] > 0.8
    raw = model._check().model.source_importances(model._check().features)
    coef = np.abs(model._check().model.pipeline.named_steps["clf"].coef_.ravel())
    assert raw.sum() == pytest.approx(coef.sum())  # every coefficient counted once


def test_importance_shares_sum_to_one_at_any_scale_and_are_zero_without_splits():
    """Shares are importances over their total, however small the total (here weak logistic
    coefficients summing well below 1); a booster that never split has zero shares, not NaN."""
    rng = np.random.default_rng(1)
    n = 400
    frame = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(list("ab"), n), "label": (rng.random(n) < 0.2).astype(int)})
    schema = Schema.infer(frame, target="label", overrides={"columns": {"c": "categorical"}})
    weak = CTRModel("logistic", schema=schema).fit(frame)
    raw = weak._check().model.source_importances(weak._check().features)
    assert 0 < raw.sum() < 1  # the case that tells
    assert weak.feature_importances().to_dict() == pytest.approx((raw / raw.sum()).to_dict())
    for kind in ("xgboost", "lightgbm"):
        flat = CTRModel(kind, schema=schema).fit(frame.assign(x=1.0, c="a")).feature_importances()
        assert flat.to_dict() == {"x": 0.0, "c": 0.0}, kind


def test_logistic_keeps_a_column_with_no_present_value_silently():
    """A numeric column missing in every training row stays in the design (imputed, then zero
    after scaling): no warning, a zero importance, and the same columns at prediction."""
    import warnings

    rng = np.random.default_rng(2)
    n = 300
    frame = pd.DataFrame({"x": rng.normal(size=n), "gone": np.full(n, np.nan), "label": (rng.random(n) < 0.3).astype(int)})
    schema = Schema.infer(frame, target="label", overrides={"columns": {"x": "numeric", "gone": "numeric"}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = CTRModel("logistic", schema=schema).fit(frame)
        p = model.predict_proba(frame)
    assert model.feature_importances()["gone"] == 0.0 and p.shape == (n,)


def test_logistic_target_encoding_folds_follow_the_seed():
    """A column of more than 16 categories is target-encoded by cross-fitting: the same seed
    gives the same folds and scores, another seed other folds."""
    rng = np.random.default_rng(4)
    n = 400
    ad = rng.integers(0, 40, n)
    frame = pd.DataFrame({"ad": ad.astype(str), "label": (rng.random(n) < 0.1 + 0.4 * (ad < 8)).astype(int)})
    schema = Schema.infer(frame, target="label", overrides={"columns": {"ad": "categorical"}})
    fit = lambda seed: CTRModel("logistic", schema=schema, random_state=seed).fit(frame).predict_proba(frame)
    first = fit(0)
    assert np.array_equal(first, fit(0)) and not np.allclose(first, fit(1))


class _Spy:
    """Stands in for a learner: records what the model trains on, scores by column ``a``."""

    def __init__(self) -> None:
        self.seen: dict[str, object] = {}

    def __call__(self, X, y, X_val, y_val, weight, seed):  # CTRModel._fit_backend's arguments
        self.seen.update(X=X, y=y, X_val=X_val, y_val=y_val, weight=weight)
        spy = self

        class _Scores:
            def predict_proba(self, Z):
                p = 1 / (1 + np.exp(-np.asarray(Z["a"], float)))
                spy.seen["scored"] = len(Z)
                return np.column_stack([1 - p, p])

        return _Scores()


def _spied(monkeypatch, **params) -> tuple[CTRModel, _Spy]:
    spy = _Spy()
    model = CTRModel("xgboost", schema=Schema.infer(_linear(50, 0), target="label"), **params)
    monkeypatch.setattr(model, "_fit_backend", spy)
    return model, spy


def test_without_validation_rows_a_fifth_is_held_out_for_the_threshold(monkeypatch):
    train = _linear(1000, 3)
    model, spy = _spied(monkeypatch)
    model.fit(train)
    X, X_val = spy.seen["X"], spy.seen["X_val"]
    assert len(X) == 800 and len(X_val) == 200 and set(X.index).isdisjoint(X_val.index)
    assert sorted([*X.index, *X_val.index]) == list(range(1000))
    np.testing.assert_array_equal(spy.seen["y_val"], train["label"].to_numpy()[X_val.index])
    # the threshold is the validation rows' own maximum-F1 threshold
    p_val = 1 / (1 + np.exp(-np.asarray(X_val["a"], float)))
    assert model.threshold_ == tune_threshold(spy.seen["y_val"], p_val)


def test_class_weights_and_undersampling_reach_the_learner(monkeypatch):
    train, valid = _linear(3000, 4), _linear(500, 5)
    y = train["label"].to_numpy()
    model, spy = _spied(monkeypatch, class_weight="balanced")
    model.fit(train, validation=valid)
    ratio = (y == 0).sum() / (y == 1).sum()
    np.testing.assert_allclose(spy.seen["weight"], np.where(y == 1, ratio, 1.0))
    assert len(spy.seen["X_val"]) == 500  # validation rows given: all of them, none taken from training
    model, spy = _spied(monkeypatch, undersample=3)
    model.fit(train, validation=valid)
    kept = spy.seen["y"]
    assert kept.sum() == y.sum() and (kept == 0).sum() == round(3 * y.sum()) and spy.seen["weight"] is None
    # more negatives asked for than exist: all of them
    keep = _undersample(np.r_[np.ones(10, int), np.zeros(20, int)], 5, np.random.default_rng(0))
    assert len(keep) == 30


def test_decisions_include_the_threshold_itself(monkeypatch):
    train, valid = _linear(1000, 6), _linear(400, 7)
    model, _ = _spied(monkeypatch)
    model.fit(train, validation=valid)
    p = model.predict_proba(valid)
    assert (p == model.threshold_).any()  # a tuned threshold is one of the validation scores
    np.testing.assert_array_equal(model.predict(valid), (p >= model.threshold_).astype(int))


def test_model_guards():
    schema = Schema.infer(_linear(50, 0), target="label")
    with pytest.raises(ConfigError, match="unknown model 'xgb'"):
        CTRModel("xgb", schema=schema)
    with pytest.raises(ConfigError, match="target"):
        CTRModel("xgboost", schema=schema.drop(["label"]).with_kinds({}))
    from clicksynth.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="featurizer"):
        CTRModel("xgboost", schema=schema).fit_features(
            pd.DataFrame({"a": [1.0]}), np.array([1]), pd.DataFrame({"a": [1.0]}), np.array([1])
        )
    with pytest.raises(NotFittedError, match="not fitted"):
        CTRModel("xgboost", schema=schema).predict_proba(_linear(5, 0))
    one_class = _linear(200, 8).assign(label=0)
    with pytest.raises(ConfigError, match="single class"):
        CTRModel("xgboost", schema=schema).fit(one_class, validation=_linear(200, 9))


def test_xgboost_importances_are_shares_per_source_column_lists_summed():
    rng = np.random.default_rng(9)
    n = 2000
    hot = rng.random(n) < 0.3
    tags = np.where(hot, "k^m", "m")
    frame = pd.DataFrame({"tags": tags, "noise": rng.normal(size=n), "label": (hot & (rng.random(n) < 0.8)).astype(int)})
    schema = Schema.infer(frame, target="label", overrides={"columns": {"tags": "list"}})
    model = CTRModel("xgboost", schema=schema).fit(frame)
    share = model.feature_importances()
    assert set(share.index) == {"tags", "noise"}  # tags__len, tags__nunique, tags__has_k summed into tags
    assert share.sum() == pytest.approx(1.0) and share.index[0] == "tags" and share["tags"] > 0.8
    from clicksynth.metrics.models import select_features

    assert select_features(model, min_share=share["noise"]) == ["tags", "noise"]  # the floor is inclusive
    assert select_features(model, min_share=share["noise"] + 1e-9) == ["tags"]
    feat = model.featurizer
    assert feat is not None and feat.source_of("tags__len") == "tags" and feat.source_of("other__x") == "other__x"


def _pipeline(model: CTRModel):
    """The fitted scikit-learn pipeline of a logistic CTRModel."""
    return model._check().model.pipeline


def test_logistic_is_an_l1_model_on_standardised_median_imputed_numerics():
    """The Lasso study's click model: an L1 penalty leaves noise columns at exactly zero; the numerics
    are standardised, so a column's unit changes nothing; a missing value is the training median."""
    rng = np.random.default_rng(1)
    n = 2000
    x = rng.exponential(size=n)  # skewed: its mean is not its median
    noise = rng.normal(size=(n, 12))
    frame = pd.DataFrame({"x": x, **{f"noise{j}": noise[:, j] for j in range(12)}})
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-(-3 + 1.5 * x)))).astype(int)
    frame.loc[::7, "x"] = np.nan
    train, valid = frame.iloc[:1500], frame.iloc[1500:]
    schema = Schema.infer(frame, target="label")
    model = CTRModel("logistic", schema=schema).fit(train, validation=valid)
    coef = _pipeline(model).named_steps["clf"].coef_.ravel()
    assert (coef == 0).any() and coef[0] != 0  # sparse: an L2 penalty leaves no coefficient at exactly zero
    scaled = CTRModel("logistic", schema=schema).fit(train.assign(x=train["x"] * 1000), validation=valid.assign(x=valid["x"] * 1000))
    np.testing.assert_allclose(scaled.predict_proba(valid.assign(x=valid["x"] * 1000)), model.predict_proba(valid), atol=1e-4)
    assert model.featurizer is not None
    median = np.nanmedian(model.featurizer.transform(train)["x"])
    row = valid.iloc[[1]]
    assert model.predict_proba(row.assign(x=np.nan))[0] == pytest.approx(model.predict_proba(row.assign(x=median))[0], abs=1e-6)
    assert model.predict_proba(row.assign(x=np.nan))[0] != pytest.approx(model.predict_proba(row.assign(x=np.nanmean(x)))[0], abs=1e-4)


def test_logistic_one_hot_encodes_few_categories_pooling_rare_ones_and_target_encodes_many():
    """Up to 16 categories one-hot (values seen fewer than 5 times pooled as one), more target-encoded;
    a category the model's training rows lack (synthetic rows rarely hold every real value) scores."""
    rng = np.random.default_rng(2)
    n = 3000
    few = np.array([f"f{i}" for i in rng.integers(0, 16, n)], dtype=object)  # exactly 16 categories
    few[:4], few[4:9] = "rare4", "rare5"  # two more levels, seen 4 and 5 times
    frame = pd.DataFrame(
        {
            "few": few,
            "many": [f"m{i}" for i in rng.integers(0, 40, n)],
            "label": (rng.random(n) < 0.2).astype(int),
        }
    )
    schema = Schema.infer(frame, target="label", overrides={"columns": {"few": "categorical", "many": "categorical"}})
    sixteen = frame.assign(few=frame["few"].where(~frame["few"].isin(["rare4", "rare5"]), "f0"))
    model = CTRModel("logistic", schema=schema).fit(sixteen, validation=sixteen.iloc[:500])
    pre = _pipeline(model).named_steps["pre"]
    assert list(pre.named_transformers_["low"].feature_names_in_) == ["few"]  # 16 levels: one-hot
    assert list(pre.named_transformers_["high"].feature_names_in_) == ["many"]  # 40 levels: target-encoded
    model = CTRModel("logistic", schema=schema).fit(frame.iloc[:2500], validation=frame.iloc[2500:])
    pre = _pipeline(model).named_steps["pre"]
    assert list(pre.named_transformers_["high"].feature_names_in_) == ["few", "many"]  # 18 levels: too many
    # Rare values pooled: a logistic model on rows of few categories only.
    small = frame[frame["few"].isin(["f1", "f2", "rare4", "rare5"])].copy()
    small_schema = Schema.infer(small, target="label", overrides={"columns": {"few": "categorical", "many": "categorical"}})
    model = CTRModel("logistic", schema=small_schema).fit(small.drop(columns="many"), validation=small.drop(columns="many"))
    onehot = _pipeline(model).named_steps["pre"].named_transformers_["low"]
    assert [list(c) for c in onehot.infrequent_categories_] == [["rare4"]]
    # Unseen by the model, known to the featurizer: no error, a probability.
    featurizer = CTRFeaturizer(small_schema).fit(small)
    without = small[small["few"] != "f2"].drop(columns="many")
    model = CTRModel("logistic", schema=small_schema).fit(without, validation=without, featurizer=featurizer)
    p = model.predict_proba(small[small["few"] == "f2"].drop(columns="many"))
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()


def test_logistic_importances_sum_every_level_of_a_column_and_list_features_into_their_list():
    """|coefficient| summed per source column: every one-hot level of a column and every feature of a
    list column (``tags__len``, ``tags__has_k``) goes to its own column, whatever the names' lengths."""
    rng = np.random.default_rng(3)
    n = 3000
    level = rng.integers(0, 4, n)
    hot = rng.random(n) < 0.3
    frame = pd.DataFrame(
        {
            "sig": np.array(list("abcd"))[level],
            "tags": np.where(hot, "k^m", "m"),
            "a_much_longer_noise_column": rng.normal(size=n),
            "label": (rng.random(n) < np.array([0.02, 0.1, 0.3, 0.5])[level] * np.where(hot, 1.5, 0.5)).astype(int),
        }
    )
    schema = Schema.infer(frame, target="label", overrides={"columns": {"sig": "categorical", "tags": "list"}})
    model = CTRModel("logistic", schema=schema).fit(frame.iloc[:2400], validation=frame.iloc[2400:])
    pipe = _pipeline(model)
    names = pipe.named_steps["pre"].get_feature_names_out()
    coef = np.abs(pipe.named_steps["clf"].coef_.ravel())
    by_source = {
        "sig": coef[[name.startswith("low__sig_") for name in names]].sum(),
        "tags": coef[[name.startswith("num__tags__") for name in names]].sum(),
        "a_much_longer_noise_column": coef[list(names).index("num__a_much_longer_noise_column")],
    }
    assert (coef[[name.startswith("low__sig_") for name in names]] > 0).sum() >= 2  # several levels count
    share = model.feature_importances()
    total = sum(by_source.values())
    for column, value in by_source.items():
        assert share[column] == pytest.approx(value / total)
    assert share["tags"] > 0.1 and share["sig"] > share["a_much_longer_noise_column"]


def test_fit_is_seeded_reads_validation_labels_and_names_bad_inputs(monkeypatch):
    from clicksynth.exceptions import DataError

    train, valid = _linear(1500, 10), _linear(500, 11)
    schema = Schema.infer(train, target="label")
    first = CTRModel("xgboost", schema=schema, random_state=4).fit(train).predict_proba(valid)
    again = CTRModel("xgboost", schema=schema, random_state=4).fit(train).predict_proba(valid)
    np.testing.assert_array_equal(first, again)  # the hold-out fifth and the learner's seed both come from random_state
    model, spy = _spied(monkeypatch)
    model.fit(train, validation=valid)
    np.testing.assert_array_equal(spy.seen["y_val"], valid["label"].to_numpy())  # clicks are the positive label
    assert model.predict(valid).dtype.kind == "i"
    with pytest.raises(DataError, match=r"^train must be"):
        CTRModel("xgboost", schema=schema).fit(train.to_numpy())
    with pytest.raises(DataError, match=r"^validation must be"):
        CTRModel("xgboost", schema=schema).fit(train, validation=valid.to_numpy())


def test_select_features_keeps_columns_at_half_a_percent_by_default(monkeypatch):
    from clicksynth.metrics.models import select_features

    model = CTRModel("xgboost", schema=Schema.infer(_linear(50, 0), target="label"))
    monkeypatch.setattr(model, "feature_importances", lambda: pd.Series({"a": 0.7, "b": 0.295, "c": 0.005, "d": 0.0049}))
    assert select_features(model) == ["a", "b", "c"]


def _importance_frame() -> tuple[pd.DataFrame, Schema]:
    """A click signal in ``slot``, list items whose names hold ``__``, a constant no tree splits on."""
    rng = np.random.default_rng(12)
    n = 1500
    slot = rng.integers(0, 3, n)
    frame = pd.DataFrame(
        {
            "slot": np.array(["s0", "s1", "s2"])[slot],
            "tags": np.where(rng.random(n) < 0.5, "a__b^c", "c"),
            "constant": 1.0,
            "noise": rng.normal(size=n),
            "label": (rng.random(n) < np.array([0.02, 0.1, 0.4])[slot]).astype(int),
        }
    )
    return frame, Schema.infer(frame, target="label", overrides={"columns": {"slot": "categorical", "tags": "list"}})


def test_a_feature_belongs_to_the_column_before_its_first_double_underscore():
    frame, schema = _importance_frame()
    featurizer = CTRFeaturizer(schema).fit(frame)
    assert "tags__has_a__b" in featurizer.transform(frame).columns
    assert featurizer.source_of("tags__has_a__b") == "tags" and featurizer.source_of("tags__len") == "tags"
    assert featurizer.source_of("slot") == "slot" and featurizer.source_of("other__x") == "other__x"  # not a column


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm", "catboost"])
def test_importances_are_each_learners_gain_shares_per_source_column(kind):
    frame, schema = _importance_frame()
    model = CTRModel(kind, schema=schema, n_estimators=50).fit(frame.iloc[:1200], validation=frame.iloc[1200:])
    fitted = model._check()
    share = model.feature_importances()
    assert set(share.index) == {"slot", "tags", "constant", "noise"} and share.sum() == pytest.approx(1.0)
    assert share.index[0] == "slot" and share["constant"] == 0.0  # never split on: no gain, not a default
    if kind == "lightgbm":
        raw = pd.Series(fitted.model.booster_.feature_importance(importance_type="gain"), index=fitted.features)
    elif kind == "catboost":
        raw = pd.Series(fitted.model.get_feature_importance(), index=fitted.features)
    else:
        return
    by_source = raw.groupby([f.split("__", 1)[0] for f in raw.index]).sum()
    pd.testing.assert_series_equal(share.sort_index(), (by_source / by_source.sum()).sort_index(), check_names=False)


def _noise(n: int, seed: int) -> pd.DataFrame:
    """Labels independent of the features: early stopping on such validation rows stops at once."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n), "slot": rng.choice(list("pqrs"), n), "label": (rng.random(n) < 0.2).astype(int)})


def _noise_schema(frame: pd.DataFrame) -> Schema:
    return Schema.infer(frame, target="label", overrides={"columns": {"slot": "categorical"}})


def _rounds(model: CTRModel) -> int:
    m = model._check().model
    return {
        "xgboost": lambda: m.get_booster().num_boosted_rounds(),
        "lightgbm": lambda: m.booster_.num_trees(),
        "catboost": lambda: m.tree_count_,
    }[model.kind]()


def test_catboost_stops_thirty_rounds_after_its_best():
    """CatBoost keeps only its best trees whether or not it stops early (use_best_model), so
    the rounds it ran tell: on noise it stops 30 rounds after its best, not at the full size."""
    train, valid = _noise(1200, 20), _noise(400, 21)
    size = {"n_estimators": 300, "learning_rate": 0.3, "max_depth": 6}
    cb = CTRModel("catboost", schema=_noise_schema(train), random_state=5, **size).fit(train, validation=valid)._check().model
    ran = len(cb.get_evals_result()["validation"]["Logloss"])
    assert ran == cb.get_best_iteration() + 1 + 30 < 300


def test_catboost_trains_silently(capfd):
    """CatBoost prints every round unless told not to: a study's log stays clean."""
    train, valid = _linear(400, 0), _linear(200, 1)
    CTRModel("catboost", schema=Schema.infer(train, target="label"), n_estimators=20).fit(train, validation=valid)
    out, err = capfd.readouterr()
    assert out == "" and "learn" not in err


def test_featurizer_and_model_defaults_and_their_errors():
    """Seed 0 by default; a numeric column holding text on new rows reads it as missing; the
    errors before fitting say what to do."""
    from clicksynth.exceptions import NotFittedError

    train = _linear(300, 0)
    schema = Schema.infer(train, target="label")
    assert CTRModel(schema=schema).random_state == 0
    with pytest.raises(NotFittedError, match=r"^CTRFeaturizer is not fitted$"):
        CTRFeaturizer(schema).transform(train)
    with pytest.raises(NotFittedError, match=r"^set a fitted featurizer before fit_features$"):
        CTRModel("xgboost", schema=schema).fit_features(train[["a"]], train["label"].to_numpy(), train[["a"]], train["label"].to_numpy())
    feat = CTRFeaturizer(schema).fit(train)
    odd = train.head(3).astype({"a": object})
    odd.loc[1, "a"] = "n/a"
    got = feat.transform(odd)["a"].to_numpy()
    assert np.isnan(got[1]) and got[0] == np.float32(train["a"].iloc[0])


def test_catboost_scores_categorical_features_made_by_the_featurizer():
    """CatBoost reads categories as strings at fit and at scoring alike."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=400), "c": rng.choice(list("abc"), 400)})
    frame = frame.assign(label=((frame["c"] == "a") & (rng.random(400) < 0.8)).astype(int))
    model = CTRModel("catboost", schema=Schema.infer(frame, target="label"), n_estimators=30).fit(frame, validation=frame)
    p = model.predict_proba_features(model.featurizer.transform(frame))
    np.testing.assert_allclose(p, model.predict_proba(frame))
    assert p[frame["c"].to_numpy() == "a"].mean() > 0.5 > p[frame["c"].to_numpy() != "a"].mean()


def test_maximum_f1_counts_weak_thresholds_too():
    """The F1-best cut may have precision + recall below 1 (a weak model): 1 of 3 flagged rows a
    click, half the clicks found, F1 0.4, above flagging every row (F1 0.33)."""
    y = np.r_[1, 1, np.zeros(8, int)]
    p = np.array([0.6, 0.0, 0.9, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    assert tune_threshold(y, p) == 0.6


def test_precision_mode_keeps_the_threshold_functions_floor():
    """threshold="precision" tunes on the validation rows with the documented floor of 0.2
    (maximum recall above it: a lower cut than maximum F1's on a column with signal)."""
    rng = np.random.default_rng(8)
    a = rng.normal(size=1600)
    frame = pd.DataFrame({"a": a, "label": (rng.random(1600) < 1 / (1 + np.exp(3 - 2 * a))).astype(int)})
    train, valid = frame.iloc[:1200], frame.iloc[1200:]
    schema = Schema.infer(train, target="label")
    model = CTRModel("logistic", schema=schema, threshold="precision").fit(train, validation=valid)
    p, y = model.predict_proba(valid), valid["label"].to_numpy()
    assert model.precision_floor == 0.2 and model.threshold_ == tune_threshold(y, p, mode="precision", precision_floor=0.2)
    assert model.threshold_ != tune_threshold(y, p, mode="f1")


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm", "catboost"])
def test_each_booster_takes_its_size_and_seed_and_stops_early_only_on_two_classes(kind):
    train, valid = _noise(1200, 20), _noise(400, 21)
    schema = _noise_schema(train)
    size = {"n_estimators": 60, "learning_rate": 0.3, "max_depth": 3}
    model = CTRModel(kind, schema=schema, random_state=5, **size).fit(train, validation=valid)
    params = model._check().model.get_params()
    depth = "depth" if kind == "catboost" else "max_depth"
    rounds = "iterations" if kind == "catboost" else "n_estimators"
    assert params[depth] == 3 and params[rounds] == 60 and params["learning_rate"] == 0.3
    if kind == "lightgbm":
        assert params["num_leaves"] == 7  # a depth-3 tree's leaves
    assert _rounds(model) < 60  # noise: the validation loss stops improving at once
    one_class = CTRModel(kind, schema=schema, random_state=5, **size).fit(train, validation=valid.assign(label=0))
    assert _rounds(one_class) == 60  # nothing to stop on: the full size
    again = CTRModel(kind, schema=schema, random_state=5, **size).fit(train, validation=valid)
    other = CTRModel(kind, schema=schema, random_state=6, **size).fit(train, validation=valid)
    np.testing.assert_array_equal(model.predict_proba(valid), again.predict_proba(valid))
    assert not np.array_equal(model.predict_proba(valid), other.predict_proba(valid))  # the seed reaches the learner


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm", "catboost"])
def test_the_boosters_run_as_configured_for_the_scorecard(kind):
    """The settings every scorecard figure was measured with (RESULTS): histogram trees, native
    categories (one-hot up to 4 levels), 90% row and column subsamples, the thread count asked for."""
    train = _noise(600, 22)
    schema = _noise_schema(train)
    params = CTRModel(kind, schema=schema, n_jobs=1, max_depth=10).fit(train, validation=_noise(200, 23))._check().model.get_params()
    expected = {
        "xgboost": {
            "tree_method": "hist",
            "enable_categorical": True,
            "max_cat_to_onehot": 4,
            "subsample": 0.9,
            "colsample_bytree": 0.9,
            "n_jobs": 1,
        },
        "lightgbm": {"subsample": 0.9, "subsample_freq": 1, "colsample_bytree": 0.9, "n_jobs": 1, "num_leaves": 63},
        "catboost": {"thread_count": 1, "depth": 8},  # CatBoost's symmetric trees: at most 8 levels
    }[kind]
    assert {k: params[k] for k in expected} == expected


@pytest.mark.parametrize("kind", ["lightgbm", "catboost"])
def test_a_missing_optional_learner_says_how_to_install_it(monkeypatch, kind):
    import sys

    from clicksynth.exceptions import MissingDependencyError

    monkeypatch.setitem(sys.modules, kind, None)  # import fails
    train = _noise(200, 24)
    schema = _noise_schema(train)
    name = {"lightgbm": "LightGBM", "catboost": "CatBoost"}[kind]
    with pytest.raises(MissingDependencyError, match=rf"^{name} is not installed: pip install 'clicksynth\[models\]'$"):
        CTRModel(kind, schema=schema).fit(train)
