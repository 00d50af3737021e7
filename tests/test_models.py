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


@pytest.mark.parametrize("kind", ["xgboost", "logistic"])
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
