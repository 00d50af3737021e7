"""The row GPT's own promises (the contract suite covers the shared ones): the loss
counts only the tokens the data chooses, grammar-constrained decoding writes only
valid rows, temperature acts (exact class counts through the CLI: test_cli.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from clicksynth import get_generator
from clicksynth.generators.neural.rowgpt import _targets
from clicksynth.generators.tokens import END_LIST, LIST, RowTokenizer
from clicksynth.schema import Schema
from tests.test_tokens import _data


@pytest.fixture(scope="module")
def digix2022():
    X, y, schema = _data("digix2022")
    gen = get_generator("rowgpt", random_state=0, epochs=1, width=16, layers=1, heads=2).fit(X, y, schema=schema)
    return X, y, schema, gen


def test_only_chosen_tokens_are_targets_each_in_its_own_column():
    X = pd.DataFrame({"c": ["a", "b", "a"], "l": ["x^y", "", None], "v": [1.0, 2.0, 3.0]})
    tok = RowTokenizer(numeric_bins=2).fit(X, Schema.infer(X), np.random.default_rng(0))
    seq, lengths = tok.transform(X, np.array([0, 1, 0]))
    t = _targets(tok, seq)
    lay = tok.layout
    for i in range(len(lengths)):
        free = np.flatnonzero(t.column[i] >= 0)
        # <ROW>, the label, the markers, </ROW> and padding are never targets.
        assert not set(seq[i, free]) & ({0, 1, 2, 5, 6} | {c.marker for c in lay})
        for p in free:
            j, tok_id = t.column[i, p], seq[i, p]
            c = lay[j]
            want = {LIST: c.count, END_LIST: c.count + 1}.get(tok_id, tok_id - c.first)
            assert t.local[i, p] == want
    # Row 0: a value, <LIST> x y </LIST>, a value: 6 choices; row 2: the list is null (one choice).
    assert (t.column[0] >= 0).sum() == 6 and (t.column[2] >= 0).sum() == 3


def test_a_large_sample_is_valid_under_the_schema(digix2022):
    """Every row parses (decoding raises otherwise); categories and list items were seen
    in training, lists repeat no item and are no longer than the longest training list,
    dates stay in the training range, labels are exact."""
    X, _, schema, gen = digix2022
    out = gen.sample({0: 6000, 1: 4000}, random_state=1)
    assert (out["label"] == 1).sum() == 4000 and len(out) == 10_000
    kinds = {c.name: c.kind for c in schema.columns}
    for col, kind in kinds.items():
        if kind == "categorical":
            assert set(out[col].dropna()) <= set(X[col].dropna()), col
        elif kind == "list":
            real = {i for v in X[col].dropna() for i in str(v).split("^") if i}
            longest = max(len(str(v).split("^")) for v in X[col].dropna())
            lists = [str(v).split("^") if v else [] for v in out[col].dropna()]
            assert all(len(set(items)) == len(items) <= longest for items in lists), col
            assert {i for items in lists for i in items} <= real, col
        elif kind in ("numeric", "datetime"):
            assert out[col].min() >= X[col].min() and out[col].max() <= X[col].max(), col


def test_temperature_sharpens_or_flattens_the_draws(digix2022):
    _, _, _, gen = digix2022
    gen.temperature = 0.3
    cold = gen.sample({0: 2000}, random_state=2)
    gen.temperature = 1.5
    hot = gen.sample({0: 2000}, random_state=2)
    gen.temperature = 0.8
    assert cold["adv_id"].nunique() < hot["adv_id"].nunique()


def test_decoder_step_with_a_cache_matches_the_full_causal_pass(digix2022):
    from clicksynth.generators.neural.rowgpt import _Cache

    X, y, _, gen = digix2022
    seq, _ = gen.tokenizer_.transform(X.iloc[:5], y[:5])
    tokens = torch.from_numpy(seq[:, :20])
    net = gen.net_
    with torch.no_grad():
        full = net.hidden(tokens)
        caches = [_Cache(5, gen.heads, gen.length_, gen.width // gen.heads, torch.device("cpu")) for _ in net.blocks]
        steps = torch.stack([net.step(tokens[:, p], p, caches) for p in range(20)], dim=1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-4)
