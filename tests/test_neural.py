"""CTGAN and TVAE on the embedded DIGIX data (slow: real training, small budgets)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clicksynth import Schema, get_generator, load_dataset, subsample
from clicksynth.exceptions import TrainingError
from clicksynth.metrics import fidelity


@pytest.fixture(scope="module")
def digix():
    ds = load_dataset("digix2020")
    frame = subsample(ds.frame, 6000, target="label", user_column="uid", random_state=0).to_pandas().drop(columns=["uid"])
    return frame.drop(columns=["label"]), frame["label"]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "params"), [("ctgan", {"epochs": 3}), ("tvae", {"epochs": 5})])
def test_trains_on_digix_and_clicks_are_plausible(digix, name, params):
    X, y = digix
    gen = get_generator(name, random_state=0, batch_size=300, **params).fit(X, y)
    assert len(gen.history_) == params["epochs"]
    clicks = gen.sample({1: 2000})
    assert len(clicks) == 2000 and (clicks["label"] == 1).all()
    for col in X.columns:
        if col == "communication_onlinerate":
            continue
        assert set(clicks[col].unique()) <= set(X[col].unique()), col
    # The vocabulary is the real one: hours 0-23 plus -1, DIGIX's "unknown".
    hours = {int(v) for value in X["communication_onlinerate"] for v in value.split("^") if value}
    for value in clicks["communication_onlinerate"]:
        items = [int(v) for v in value.split("^")] if value else []
        assert set(items) <= hours and items == sorted(items) and len(items) == len(set(items))
    real_clicks = pd.concat([X[y == 1], y[y == 1]], axis=1)
    schema = Schema.infer(pd.concat([X, y], axis=1), target="label")
    tv = fidelity.tv_complement(real_clicks, clicks, schema=schema, rng=np.random.default_rng(0))
    # Baseline: every column drawn uniformly from its real categories, independently.
    rng = np.random.default_rng(1)
    noise = pd.DataFrame({c: rng.choice(real_clicks[c].unique(), 2000) for c in real_clicks.columns})
    floor = fidelity.tv_complement(real_clicks, noise, schema=schema, rng=np.random.default_rng(0))
    assert tv.value > floor.value + 0.1, (tv.value, floor.value, tv.breakdown)


@pytest.mark.slow
def test_max_time_stops_cleanly(digix):
    X, y = digix
    gen = get_generator("ctgan", epochs=200, max_time=4.0, random_state=0).fit(X, y)
    assert gen.stopped_by_time_ and 1 <= len(gen.history_) < 200
    assert len(gen.sample({1: 10})) == 10


@pytest.mark.slow
def test_divergence_raises_training_error(digix):
    X, y = digix
    with pytest.raises(TrainingError, match="diverged at epoch"):
        get_generator("tvae", epochs=5, lr=1e9, random_state=0).fit(X.head(1500), y.head(1500))


def test_category_draws_follow_each_spans_softmax():
    """Bernoulli (two-way spans) and inverse-CDF (wider spans) draws are exact
    samples of softmax(raw) per span, in every width group."""
    import torch

    from clicksynth.generators._neural import NeuralTransform

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"two": rng.choice(["a", "b"], 500), "three": rng.choice(["a", "b", "c"], 500),
                      "five": rng.choice(list("abcde"), 500), "five2": rng.choice(list("vwxyz"), 500)})
    schema = Schema.infer(X)
    t = NeuralTransform().fit(X, schema, rng)
    assert sorted(s.width for s in t.spans) == [2, 3, 5, 5]
    logits = torch.from_numpy(rng.normal(0, 1.5, t.width).astype(np.float32))
    n = 200_000
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        picks = t.draw_categories(logits[t.sampling_order()].expand(n, -1).contiguous())
    for i, s in enumerate(t.spans):
        want = torch.softmax(logits[s.start : s.start + s.width], 0).numpy()
        got = np.bincount(picks[:, i], minlength=s.width) / n
        assert picks[:, i].max() < s.width
        np.testing.assert_allclose(got, want, atol=0.005)
