"""The row GPT's own promises (the contract suite covers the shared ones): the loss
counts only the tokens the data chooses, grammar-constrained decoding writes only
valid rows, temperature acts (exact class counts through the CLI: test_cli.py)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from clicksynth import get_generator
from clicksynth.exceptions import ConfigError
from clicksynth.generators.neural.rowgpt import _compact, _expand, _targets
from clicksynth.generators.tokens import END_LIST, LIST, RowTokenizer
from clicksynth.schema import Schema
from tests.test_tokens import _data


@pytest.fixture(scope="module")
def digix2022():
    """Lists item by item (the embedded head's few distinct lists would otherwise be whole-list tokens)."""
    X, y, schema = _data("digix2022")
    gen = get_generator("rowgpt", random_state=0, epochs=1, width=16, layers=1, heads=2, whole_lists=None).fit(X, y, schema=schema)
    return X, y, schema, gen


def test_lists_of_few_distinct_values_are_whole_tokens_and_round_trip_a_save(tmp_path):
    """A list column whose 256 commonest lists cover 90% of the rows is one position of its whole
    list: every drawn list is a training list (item order and repeats kept); a column of many
    distinct lists keeps the item grammar; the fused column survives a save."""
    from clicksynth.generators import Generator

    rng = np.random.default_rng(0)
    few = ["3^1^3", "2", "", "1^2"]
    X = pd.DataFrame(
        {
            "few": rng.choice(few, 400),
            "many": ["^".join(map(str, rng.choice(40, 3, replace=False))) for _ in range(400)],
            "v": rng.normal(size=400),
        }
    )
    y = (rng.random(400) < 0.3).astype(int)
    schema = Schema.infer(X, overrides={"columns": {"few": "list", "many": "list", "v": "numeric"}})
    gen = get_generator("rowgpt", random_state=0, epochs=1, width=16, layers=1, heads=2).fit(X, y, schema=schema)
    assert [c.kind for c in gen.tokenizer_.layout if c.name == "few"] == ["categorical"]
    assert [c.kind for c in gen.tokenizer_.layout if c.name == "many"] == ["list"]
    assert gen.length_ == 1 + 1 + (2 + 3) + 1  # the label, few, <LIST> 3 items </LIST>, v
    out = gen.sample({0: 300, 1: 300}, random_state=1)
    assert list(out.columns) == ["few", "many", "v", "label"]  # the table's order, the fused column back in place
    assert set(out["few"].fillna("")) <= set(few) and out["few"].nunique(dropna=False) >= 3
    assert (out["many"].str.count(r"\^") <= 2).all()
    gen.save(tmp_path / "g.csm")
    back = Generator.load(tmp_path / "g.csm").sample({0: 300, 1: 300}, random_state=1)
    pd.testing.assert_frame_equal(back, out)
    with pytest.raises(ConfigError, match="whole_lists"):
        get_generator("rowgpt", whole_lists=1.5).fit(X, y, schema=schema)


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


@pytest.mark.parametrize("name", ["digix2020", "digix2022"])
def test_compact_sequences_expand_back_to_the_tokenisers(name):
    """The model's sequences drop the grammar's fixed tokens; putting them back gives the
    tokeniser's sequences exactly (markers before each column, </ROW> after the last)."""
    X, y, schema = _data(name)
    tok = RowTokenizer().fit(X, schema, np.random.default_rng(0))
    seq, lengths = tok.transform(X, y)
    tg, short = _compact(_targets(tok, seq))
    assert (short == 1 + (tg.column >= 0).sum(axis=1)).all() and (short < lengths).all()
    back = _expand(tg.tokens, tg.column, np.array([c.marker for c in tok.layout]))
    width = max(back.shape[1], seq.shape[1])
    pad = lambda a: np.pad(a, ((0, 0), (0, width - a.shape[1])))  # PAD is 0
    np.testing.assert_array_equal(pad(back), pad(seq))


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
    """Colder draws concentrate on each column's commonest value (read on columns of a few
    levels: a pooled rare token would spread its draws over many real values)."""
    X, _, schema, gen = digix2022
    few = [c.name for c in schema.columns if c.kind == "categorical" and X[c.name].nunique() <= 20]
    share, default = {}, gen.temperature
    for t in (0.3, 1.5):
        gen.temperature = t
        out = gen.sample({0: 2000}, random_state=2)
        share[t] = np.mean([out[c].value_counts(normalize=True, dropna=False).iloc[0] for c in few])
    gen.temperature = default
    assert len(few) >= 5 and share[0.3] > share[1.5] + 0.05


@pytest.mark.parametrize(("heads", "kv_heads"), [(2, 2), (4, 2), (4, 1)])
def test_decoder_step_with_a_cache_matches_the_full_causal_pass(digix2022, heads, kv_heads):
    """Cached generation steps give the training pass's hidden states, with one key/value
    head per query head or shared among several (query head i reads key/value head
    i // (heads // kv_heads), the grouping training's fused attention uses)."""
    from clicksynth.generators.neural.rowgpt import RowDecoder, _Cache, _choices

    X, y, _, gen = digix2022
    seq, _ = gen.tokenizer_.transform(X.iloc[:5], y[:5])
    tg, _ = _compact(_targets(gen.tokenizer_, seq))
    tokens = torch.from_numpy(tg.tokens[:, :20])
    nxt = torch.from_numpy(np.where(tg.column[:, 1:21] >= 0, tg.column[:, 1:21], len(gen.tokenizer_.layout)))
    labels = torch.tensor(y[:5], dtype=torch.int64)
    torch.manual_seed(0)
    net = RowDecoder(gen.tokenizer_.vocab_size, gen.length_, _choices(gen.tokenizer_), 16, 2, heads, 0.0, kv_heads).eval()
    assert net.blocks[0].qkv.out_features == 16 + 2 * 16 // heads * kv_heads
    with torch.no_grad():
        full = net.hidden(tokens, nxt)
        caches = [_Cache(5, kv_heads, gen.length_, 16 // heads, torch.device("cpu")) for _ in net.blocks]
        steps = torch.stack([net.step(tokens[:, p], nxt[:, p], labels, p, caches) for p in range(20)], dim=1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-4)


def test_key_value_heads_are_checked_and_kept_in_the_model_file(digix2022, tmp_path):
    """kv_heads must divide heads; a saved model keeps its kv_heads, and a file written
    before the parameter existed (one key/value head per query head) loads as such."""
    from clicksynth.exceptions import ConfigError
    from clicksynth.generators import Generator

    X, y, schema, gen = digix2022
    with pytest.raises(ConfigError, match="kv_heads must divide heads 4"):
        get_generator("rowgpt", epochs=1, width=16, heads=4, kv_heads=3).fit(X.iloc[:50], y[:50], schema=schema)
    assert gen.kv_heads == 1 and gen.net_.blocks[0].kv_heads == 1
    mha = get_generator("rowgpt", random_state=0, epochs=1, width=16, layers=1, heads=2, kv_heads=2).fit(X, y, schema=schema)
    mha.save(tmp_path / "m.csm")
    assert Generator.load(tmp_path / "m.csm").kv_heads == 2
    state = mha._get_state()
    del state.meta["kv_heads"]
    old = copy.deepcopy(mha)
    old.kv_heads = 1  # the default a file without the parameter is read with: its shapes say 2
    old._set_state(state)
    assert old.kv_heads == 2
    pd.testing.assert_frame_equal(old.sample({1: 50}, random_state=3), mha.sample({1: 50}, random_state=3))
    items = gen._get_state()  # lists item by item: a file from before whole-list tokens has no "joint"
    del items.meta["joint"]
    before = copy.deepcopy(gen)
    before._set_state(items)
    pd.testing.assert_frame_equal(before.sample({1: 50}, random_state=3), gen.sample({1: 50}, random_state=3))


def test_a_model_file_from_before_compact_sequences_is_refused(digix2022):
    from clicksynth.exceptions import ModelFileError

    gen = digix2022[3]
    state = gen._get_state()
    del state.meta["sequence"]
    with pytest.raises(ModelFileError, match="predates compact sequences"):
        type(gen)()._set_state(state)


def test_sharing_prefixes_draws_the_rows_each_row_alone_would(digix2022, monkeypatch):
    """Steps shared by rows of one prefix are a saving, not a change: the same seed gives the
    rows of running every row through every step (but where float rounding, which depends on
    how many rows a product takes, moves a draw across a boundary: 3 rows in 10,000 measured)."""
    from clicksynth.generators.neural.sampling import PrefixGroups

    gen = digix2022[3]
    shared = gen.sample({1: 300, 0: 200}, random_state=5)
    monkeypatch.setattr(PrefixGroups, "per_row_share", 0.0)  # each row its own group from the first step
    alone = gen.sample({1: 300, 0: 200}, random_state=5)
    assert list(alone.columns) == list(shared.columns) and (alone.dtypes == shared.dtypes).all()
    assert (alone.astype(str) == shared.astype(str)).all(axis=1).mean() >= 0.99
    monkeypatch.undo()
    tiny = gen.sample({1: 2, 0: 1}, random_state=5)  # passes of two rows (one group at the label) and of one
    assert sorted(tiny.iloc[:, -1].tolist()) == [0, 1, 1] and list(tiny.columns) == list(shared.columns)


def test_each_generation_step_is_fed_as_training_feeds_it(digix2022):
    """Generation gives the network what training gave it: at step p, once per group of rows
    sharing their prefix (all rows at the first step; each row alone later), the compact
    sequence's token p, the column of token p + 1 (the one it then draws) and the label; and
    the group's hidden state is training's at p for each of its rows (a group's cache is its
    rows' prefix)."""
    _, _, _, gen = digix2022
    calls = []
    step = gen.net_.step

    def spy(tokens, nxt, labels, position, caches):
        h = step(tokens, nxt, labels, position, caches)
        calls.append((tokens.numpy().copy(), nxt.numpy().copy(), labels.numpy().copy(), position, h.clone()))
        return h

    gen.net_.step = spy
    try:
        seqs = gen._generate(64, 1, torch.Generator().manual_seed(0))
    finally:
        del gen.net_.step
    tg, lengths = _compact(_targets(gen.tokenizer_, seqs))
    C = len(gen.tokenizer_.layout)
    column = np.where(tg.column >= 0, tg.column, C)  # training's "next column" input; C: none
    with torch.no_grad():
        full = gen.net_.hidden(torch.from_numpy(tg.tokens[:, :-1]), torch.from_numpy(column[:, 1:]))
    assert len(calls) == tg.tokens.shape[1] - 1 and len(calls[0][0]) == 1
    for p, (tokens, nxt, labels, position, h) in enumerate(calls):
        keys = np.c_[tg.tokens[:, : p + 1], column[:, p + 1]]  # a row's prefix and the column it draws
        assert position == p and (labels == 1).all() and len(tokens) in (len(np.unique(keys, axis=0)), len(seqs))
        for r in np.flatnonzero(p + 1 < lengths):
            group = (tokens == tg.tokens[r, p]) & (nxt == column[r, p + 1])
            group &= torch.isclose(h, full[r, p], atol=1e-4, rtol=1e-3).all(dim=1).numpy()
            assert group.any(), (p, r)
