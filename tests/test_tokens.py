"""Rows <-> token sequences (``generators/tokens.py``): exact round trips on the embedded
data, numerics within their bins, pooled values drawn back as real ones, malformed
sequences refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clicksynth import DataError
from clicksynth.datasets import load_dataset
from clicksynth.generators._encoding import _minutes
from clicksynth.generators.tokens import END, LABEL0, LIST, ROW, RowTokenizer
from clicksynth.schema import Schema


def _data(name: str) -> tuple[pd.DataFrame, np.ndarray, Schema]:
    ds = load_dataset(name)
    schema = Schema.infer(ds.frame, target=ds.target, user_column=ds.user_column)
    frame = ds.frame.to_pandas()
    return frame.drop(columns=[ds.target]), frame[ds.target].to_numpy(), schema.drop([ds.target])


@pytest.mark.parametrize("name", ["digix2020", "digix2022"])
def test_every_embedded_row_round_trips(name):
    """Categories and lists (in their order) come back exactly, numbers and dates as a
    training value of their own quantile bin, labels exactly; IDs are not tokenised."""
    X, y, schema = _data(name)
    tok = RowTokenizer(numeric_bins=16).fit(X, schema, np.random.default_rng(0))
    tokens, lengths = tok.transform(X, y)
    assert (tokens[:, 0] == ROW).all() and (tokens[np.arange(len(X)), lengths - 1] == END).all()
    assert tokens.max() < tok.vocab_size
    back, labels = tok.inverse_transform(tokens, np.random.default_rng(1))
    np.testing.assert_array_equal(labels, y)
    kinds = {c.name: c.kind for c in schema.columns}
    for col in X.columns:
        if kinds[col] == "id":
            continue
        if kinds[col] in ("categorical", "list"):
            want = X[col].astype(object).where(X[col].notna(), None).tolist()
            got = back[col].tolist()
            assert [None if pd.isna(w) else str(w) for w in want] == [None if g is None else str(g) for g in got], col
        else:
            fmt = schema[col].fmt if kinds[col] == "datetime" else None
            edges = np.asarray(next(c for c in tok.columns_ if c["name"] == col)["inner_edges"])
            a = _minutes(X[col], fmt) if fmt else pd.to_numeric(X[col]).to_numpy(float)
            b = _minutes(back[col], fmt) if fmt else pd.to_numeric(back[col]).to_numpy(float)
            assert np.array_equal(np.isnan(a), np.isnan(b)), col
            ok = ~np.isnan(a)
            np.testing.assert_array_equal(np.searchsorted(edges, a[ok], side="right"), np.searchsorted(edges, b[ok], side="right"))
    assert any(kinds[c] == "list" for c in X.columns)


def test_rare_values_share_a_token_and_come_back_as_real_values():
    X = pd.DataFrame({"c": ["a"] * 50 + ["r1", "r2", "r3"] * 2, "l": ["x^y"] * 50 + ["x^q1", "q2", ""] * 2})
    schema = Schema.infer(X)
    tok = RowTokenizer(min_frequency=5).fit(X, schema, np.random.default_rng(0))
    tokens, _ = tok.transform(X, np.zeros(len(X), np.int64))
    rare = tokens[50:]
    assert len(np.unique(rare[:, 3])) == 1  # r1, r2, r3: one "other" token
    back, _ = tok.inverse_transform(np.repeat(rare, 200, axis=0), np.random.default_rng(0))
    assert set(back["c"]) == {"r1", "r2", "r3"}
    items = {i for v in back["l"] for i in v.split("^") if i}
    assert items == {"x", "q1", "q2"} and "" in set(back["l"])  # the empty list stays empty


def test_malformed_sequences_are_refused():
    X = pd.DataFrame({"c": ["a", "b"] * 5, "l": ["x^y", "y"] * 5})
    tok = RowTokenizer().fit(X, Schema.infer(X), np.random.default_rng(0))
    tokens, _ = tok.transform(X, np.ones(10, np.int64))
    rng = np.random.default_rng(0)
    bad = tokens.copy()
    bad[:, 1] = LABEL0 + 2
    with pytest.raises(DataError, match="label token"):
        tok.inverse_transform(bad, rng)
    bad = tokens.copy()
    bad[0, 2] = LIST
    with pytest.raises(DataError, match="lost their place"):
        tok.inverse_transform(bad, rng)
    bad = tokens.copy()
    bad[bad == 4] = 0  # no </LIST>
    with pytest.raises(DataError, match="not closed"):
        tok.inverse_transform(bad, rng)


def test_state_round_trips_through_json():
    import json

    X, y, schema = _data("digix2022")
    tok = RowTokenizer().fit(X, schema, np.random.default_rng(0))
    again = RowTokenizer.from_state(json.loads(json.dumps(tok.get_state())))
    a, _ = tok.transform(X, y)
    b, _ = again.transform(X, y)
    np.testing.assert_array_equal(a, b)


def test_every_sequence_follows_the_grammar_a_decoder_is_masked_by():
    """Walking the grammar's skeleton accepts every tokenised row: after a column's marker
    one of its value tokens, or for a list <LIST>, items (never null) and </LIST>."""
    from clicksynth.generators.tokens import END_LIST, PAD

    X, y, schema = _data("digix2022")
    tok = RowTokenizer(min_frequency=3).fit(X, schema, np.random.default_rng(0))
    tokens, lengths = tok.transform(X, y)
    for seq, n in zip(tokens, lengths, strict=True):
        assert seq[0] == ROW and seq[1] in (LABEL0, LABEL0 + 1) and (seq[n:] == PAD).all()
        p = 2
        for marker, col in tok.grammar():
            assert seq[p] == marker
            null = col.first + col.count - 1
            if col.kind == "list" and seq[p + 1] == LIST:
                end = p + 2 + int(np.argmax(seq[p + 2 :] == END_LIST))
                assert all(col.first <= t < null for t in seq[p + 2 : end])
                p = end + 1
            else:
                assert seq[p + 1] in col.values
                p += 2
        assert seq[p] == END and p == n - 1
