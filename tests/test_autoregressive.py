"""The autoregressive column transformer: its cache, its conditioning and its vocabulary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from clicksynth import get_generator  # noqa: E402
from clicksynth.exceptions import ConfigError, DataError, TrainingError  # noqa: E402
from clicksynth.generators.base import Generator  # noqa: E402
from clicksynth.generators.neural.autoregressive import ColumnTransformer, KVCache, _Bins, _draw  # noqa: E402
from clicksynth.generators.neural.nade import ColumnNADE  # noqa: E402

TINY = {"width": 16, "layers": 1, "heads": 2, "batch_size": 128}


def test_cached_steps_equal_the_full_causal_pass():
    """Generation one column at a time through the key/value cache gives the logits
    the training pass computes for the same order at once: the cache is the model."""
    torch.manual_seed(0)
    vocab = [3, 70, 2, 5]
    net = ColumnTransformer(vocab, 16, 2, 4, 0.0).eval()
    B, C = 7, len(vocab)
    codes = torch.stack([torch.randint(0, k, (B,)) for k in vocab], dim=1)
    labels = torch.ones(B, dtype=torch.long)  # one class: generation runs a class at a time
    order = torch.tensor([2, 0, 3, 1])
    tokens = codes + net.offsets
    seq_tokens = torch.cat([(len(net.value.weight) - 2 + labels)[:, None], tokens[:, order[:-1]]], dim=1)
    seq_cols = torch.cat([torch.zeros(B, 1, dtype=torch.long), (order[:-1] + 1).expand(B, -1)], dim=1)
    with torch.no_grad():
        h = net.hidden(seq_tokens, seq_cols, order.expand(B, -1), labels)
        caches = [KVCache(B, 4, C, 4, torch.device("cpu")) for _ in net.blocks]
        for t, j in enumerate(order.tolist()):
            step = net.step(seq_tokens[:, t], seq_cols[:, t], j, 1, caches)
            start = int(net.offsets[j])
            full = torch.nn.functional.linear(h[:, t], net.head.weight[start : start + vocab[j]], net.head.bias[start : start + vocab[j]])
            torch.testing.assert_close(step, full, atol=1e-5, rtol=1e-5)


def test_loss_is_the_mean_negative_log_likelihood_per_column():
    """The grouped heads' loss equals -log p summed column by column with plain softmaxes."""
    torch.manual_seed(1)
    vocab = [2, 100, 7]
    net = ColumnTransformer(vocab, 8, 1, 2, 0.0).eval()
    B = 5
    codes = torch.stack([torch.randint(0, k, (B,)) for k in vocab], dim=1)
    labels = torch.randint(0, 2, (B,))
    order = torch.stack([torch.randperm(3) for _ in range(B)])
    with torch.no_grad():
        got = net.loss(codes, labels, order).mean()
        total = 0.0
        for b in range(B):
            tok = [len(net.value.weight) - 2 + int(labels[b])] + [int(codes[b, j] + net.offsets[j]) for j in order[b, :-1]]
            col = [0] + [int(j) + 1 for j in order[b, :-1]]
            h = net.hidden(torch.tensor([tok]), torch.tensor([col]), order[b : b + 1], labels[b : b + 1])[0]
            for t, j in enumerate(order[b].tolist()):
                s = int(net.offsets[j])
                logits = h[t] @ net.head.weight[s : s + vocab[j]].T + net.head.bias[s : s + vocab[j]]
                total -= float(torch.log_softmax(logits, -1)[codes[b, j]])
    assert float(got) == pytest.approx(total / (B * 3), rel=1e-5)


def _network(kind: str, vocab: list[int]) -> torch.nn.Module:
    return ColumnNADE(vocab, 16, 2, 0.0) if kind == "nade" else ColumnTransformer(vocab, 16, 2, 4, 0.0)


@pytest.mark.parametrize("kind", ["nade", "transformer"])
def test_generation_steps_give_the_training_likelihood(kind):
    """Stepping through one order, as sampling does (a running sum or a key/value cache),
    gives the likelihood the training pass computes for all positions at once."""
    torch.manual_seed(2)
    vocab = [3, 70, 2, 5, 90]
    net = _network(kind, vocab).eval()
    B, C = 6, len(vocab)
    codes = torch.stack([torch.randint(0, k, (B,)) for k in vocab], dim=1)
    order = torch.tensor([3, 0, 4, 2, 1])
    with torch.no_grad():
        for label in (0, 1):
            want = net.loss(codes, torch.full((B,), label), order.expand(B, -1))
            state = net.start(B)
            tokens, columns, nll = torch.full((B,), net.label_base + label), torch.zeros(B, dtype=torch.long), torch.zeros(B)
            for j in order.tolist():
                logp = torch.log_softmax(net.step(tokens, columns, j, label, state), dim=-1)
                nll -= logp.gather(1, codes[:, j : j + 1]).squeeze(1)
                tokens, columns = codes[:, j] + net.offsets[j], torch.full((B,), j + 1)
            torch.testing.assert_close(nll / C, want, atol=1e-5, rtol=1e-5)


def test_nade_sums_the_embeddings_of_the_tokens_before():
    """NADE's conditional for a column: the label's and the earlier columns' value
    embeddings summed, plus the column's own target embedding, through the MLP blocks."""
    torch.manual_seed(3)
    vocab = [4, 80, 6]
    net = ColumnNADE(vocab, 8, 1, 0.0).eval()
    codes, label = torch.tensor([[2, 71, 5]]), 1
    order = [1, 2, 0]
    with torch.no_grad():
        got = float(net.loss(codes, torch.tensor([label]), torch.tensor([order])))
        total, a = 0.0, net.value.weight[net.label_base + label].clone()
        for j in order:
            x = a + net.target.weight[j]
            h = net.ln(x + net.blocks[0](x))
            s = int(net.offsets[j])
            logits = h @ net.head.weight[s : s + vocab[j]].T + net.head.bias[s : s + vocab[j]]
            total -= float(torch.log_softmax(logits, -1)[codes[0, j]])
            a = a + net.value.weight[s + codes[0, j]]
    assert got == pytest.approx(total / 3, rel=1e-5)


def test_bins_decode_to_training_values_of_the_same_bin():
    rng = np.random.default_rng(0)
    x = np.round(rng.lognormal(3, 1, 5000), 1)
    bins = _Bins.fit(x, 16, rng)
    codes = bins.encode(x)
    assert codes.min() == 0 and codes.max() == len(bins.edges) - 1 and len(bins.edges) <= 16
    back = bins.decode(codes, rng)
    assert set(np.unique(back)) <= set(np.unique(x))
    np.testing.assert_array_equal(bins.encode(back), codes)
    few = _Bins.fit(np.array([1.0, 2.0, 2.0, 5.0]), 16, rng)  # few distinct values: exact tokens
    np.testing.assert_array_equal(few.edges, [1.0, 2.0, 5.0])


def test_top_p_keeps_the_nucleus_only():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).expand(4000, -1)
    gen = torch.Generator().manual_seed(0)
    codes = _draw(logits, 1.0, 0.7, gen)
    assert set(codes.tolist()) == {0, 1}  # 0.5 + 0.3 reach 0.7
    share = (codes == 0).float().mean().item()
    assert share == pytest.approx(0.5 / 0.8, abs=0.03)
    assert set(_draw(logits, 1.0, 1.0, gen).tolist()) == {0, 1, 2, 3}


def test_rows_reading_shared_scores_draw_each_their_own_value():
    """Rows of one prefix group read their group's scores (``rows``) but draw apart, each by
    the group's distribution, and the nucleus is cut per group."""
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.05, 0.05, 0.1, 0.8]]))
    rows = torch.tensor([0, 1]).repeat_interleave(torch.tensor([6000, 2000]))
    codes = _draw(logits, 1.0, 1.0, torch.Generator().manual_seed(0), rows)
    assert len(codes) == 8000
    np.testing.assert_allclose(np.bincount(codes[:6000].numpy(), minlength=4) / 6000, [0.5, 0.3, 0.15, 0.05], atol=0.02)
    np.testing.assert_allclose(np.bincount(codes[6000:].numpy(), minlength=4) / 2000, [0.05, 0.05, 0.1, 0.8], atol=0.03)
    nucleus = _draw(logits, 1.0, 0.7, torch.Generator().manual_seed(0), rows)
    assert set(nucleus[:6000].tolist()) == {0, 1} and set(nucleus[6000:].tolist()) == {3}


def _dependent(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Clicks mostly in slot 1, non-clicks mostly elsewhere; column b copies a."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    slot = np.where(y == 1, np.where(rng.random(n) < 0.9, 1, 2), rng.integers(2, 6, n))
    a = rng.integers(0, 8, n)
    X = pd.DataFrame({"slot": slot, "a": a, "b": a * 10, "size": np.round(rng.gamma(2, 3, n), 2)})
    return X, y


@pytest.mark.parametrize("network", ["nade", "transformer"])
def test_label_conditions_columns_and_fixed_columns_condition_the_rest(network):
    X, y = _dependent(3000)
    gen = get_generator("autoregressive", network=network, epochs=30, lr=5e-3, random_state=0, **TINY).fit(X, y)
    assert isinstance(gen.net_, ColumnNADE if network == "nade" else ColumnTransformer)
    clicks = gen.sample({1: 2000})
    assert (clicks["slot"] == 1).mean() > 0.75  # 0.9 in the clicks, 0 in the non-clicks
    non = gen.sample({0: 2000})
    assert (non["slot"] == 1).mean() < 0.1
    fixed = gen.sample({0: 500, 1: 500}, fixed={"a": 3})
    # b copies a: ~0.95 here; unconditioned draws would match 1 in 8 (and training too few rows
    # in random orders, order_share=0.75, gave 0.77)
    assert (fixed["a"] == 3).all() and (fixed["b"] == 30).mean() > 0.85
    assert (fixed["label"] == 1).sum() == 500
    # A seed frame longer than the rows decoded together: each batch gets its own rows' values.
    n = 2 * gen.net_.decode_rows + 300
    frame = pd.DataFrame({"a": np.resize([1, 6, 3], n)})
    seeded = gen.sample({1: n}, fixed=frame)
    np.testing.assert_array_equal(seeded["a"].to_numpy(), frame["a"].to_numpy())
    assert (seeded["b"] == seeded["a"] * 10).mean() > 0.85


def test_fixed_values_are_checked():
    X, y = _dependent(400)
    gen = get_generator("autoregressive", epochs=1, random_state=0, **TINY).fit(X, y)
    with pytest.raises(ConfigError, match="never seen"):
        gen.sample(10, fixed={"slot": 99})
    with pytest.raises(ConfigError, match="not a feature"):
        gen.sample(10, fixed={"nope": 1})
    with pytest.raises(ConfigError, match="one per sampled row"):
        gen.sample(10, fixed=pd.DataFrame({"a": [1, 2]}))


def test_every_category_of_a_3k_level_column_is_reachable():
    """Rare values are pooled for training but drawn back as real values: a sample
    large enough holds every training category of a 3,000-level ID column."""
    rng = np.random.default_rng(0)
    levels = np.arange(3000)
    ids = np.repeat(levels, rng.integers(1, 6, len(levels)))  # 1-5 rows each: both pooled and kept values
    n = len(ids)
    X = pd.DataFrame({"adv_id": ids.astype(str), "slot": rng.integers(0, 4, n).astype(str)})
    y = (rng.random(n) < 0.1).astype(int)
    gen = get_generator("autoregressive", epochs=8, random_state=0, **TINY).fit(X, y)
    assert gen.vocab_[0] < 3000  # values seen once or twice share the pooled token
    got = set(gen.sample(300_000, random_state=1)["adv_id"])
    assert got == set(X["adv_id"])


def test_early_stopping_keeps_the_best_epoch():
    X, y = _dependent(600)
    gen = get_generator("autoregressive", epochs=60, patience=2, lr=3e-3, random_state=0, **TINY).fit(X, y)
    val = [h["validation_loss"] for h in gen.history_]
    assert len(val) < 60  # stopped early
    assert gen.best_epoch_ == int(np.argmin(val)) + 1
    assert len(val) == gen.best_epoch_ + 2  # patience epochs without improvement, then stop


def test_bad_parameters_and_divergence():
    X, y = _dependent(400)
    with pytest.raises(ConfigError, match="divisible"):
        get_generator("autoregressive", network="transformer", width=10, heads=3).fit(X, y)
    with pytest.raises(ConfigError, match="network must be one of"):
        get_generator("autoregressive", network="lstm").fit(X, y)
    with pytest.raises(ConfigError, match="device"):
        get_generator("autoregressive", device="tpu9").fit(X, y)
    with pytest.raises(ConfigError, match="temperature"):
        get_generator("autoregressive", temperature=0).fit(X, y)
    with pytest.raises(TrainingError, match="diverged at epoch"):
        get_generator("autoregressive", epochs=3, lr=1e9, random_state=0, **TINY).fit(X, y)


def test_temperature_sharpens_the_columns():
    X, y = _dependent(3000)
    gen = get_generator("autoregressive", epochs=10, random_state=0, **TINY).fit(X, y)
    gen.temperature = 0.3
    cold = gen.sample({1: 2000}, random_state=0)
    gen.temperature = 1.0
    warm = gen.sample({1: 2000}, random_state=0)
    assert (cold["slot"] == 1).mean() > (warm["slot"] == 1).mean()


def test_a_list_column_of_few_lists_is_drawn_as_whole_training_lists(tmp_path):
    rng = np.random.default_rng(3)
    n = 1200
    start, length = rng.integers(0, 8, n), rng.integers(3, 10, n)
    X = pd.DataFrame({"hours": ["^".join(str(h) for h in range(s, s + k)) for s, k in zip(start, length)], "slot": (start % 3).astype(str)})
    y = (rng.random(n) < 0.3).astype(int)
    gen = get_generator("autoregressive", epochs=3, random_state=0, **TINY).fit(X, y)
    assert gen.joint_.groups == [["hours"]] and len(gen.vocab_) == 2  # one token per column
    seen = set(X["hours"])
    assert set(gen.sample(2000, random_state=1)["hours"]) <= seen
    fixed = gen.sample({1: 50}, fixed={"hours": X["hours"].iloc[0]})
    assert (fixed["hours"] == X["hours"].iloc[0]).all()
    with pytest.raises(ConfigError, match="never seen in training"):
        gen.sample(10, fixed={"hours": "0^2^4"})
    loaded = Generator.load(gen.save(tmp_path / "ar.csm"))
    pd.testing.assert_frame_equal(loaded.sample(300, random_state=2), gen.sample(300, random_state=2))
    atoms = get_generator("autoregressive", epochs=3, random_state=0, whole_lists=None, **TINY).fit(X, y)
    assert atoms.joint_.groups == [] and len(atoms.vocab_) > 2  # a length and item flags
    with pytest.raises(ConfigError, match="whole_lists"):
        get_generator("autoregressive", whole_lists=2.0).fit(X, y)


def test_order_share_trains_that_share_of_rows_in_the_table_order(monkeypatch):
    """``order_share`` of each batch's rows are visited in the order sampling takes (the
    rest in random orders), and early stopping then reads that order's likelihood."""
    X, y = _dependent(2000)
    seen: list[tuple[bool, np.ndarray]] = []
    for net in (ColumnNADE, ColumnTransformer):

        def spy(self, codes, labels, order, loss=net.loss):  # type: ignore[no-untyped-def]
            seen.append((self.training, order.numpy().copy()))
            return loss(self, codes, labels, order)

        monkeypatch.setattr(net, "loss", spy)
    for share in (0.0, 0.3, 1.0):
        seen.clear()
        gen = get_generator("autoregressive", epochs=2, order_share=share, random_state=0, **TINY).fit(X, y)
        C = len(gen.vocab_)
        train = np.concatenate([o for t, o in seen if t])
        val = np.concatenate([o for t, o in seen if not t])
        in_order = (train == np.arange(C)).all(axis=1).mean()
        if share == 0.0:  # random orders: the table order only by chance (1 / C!)
            assert in_order < 0.2 and not (val == np.arange(C)).all()
        else:
            assert abs(in_order - share) < 0.05 if share < 1 else in_order == 1.0
            assert (val == np.arange(C)).all()
    with pytest.raises(ConfigError, match="order_share"):
        get_generator("autoregressive", order_share=1.5).fit(X, y)


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_batches_weigh_clicks_up_to_the_click_share_never_below_the_data(monkeypatch, rate):
    import clicksynth.generators.neural.autoregressive as ar

    shares = []

    class Spy(ar.BatchPicker):
        def __init__(self, rows, y, batch, click_share, rng):
            shares.append((click_share, y[rows].mean()))
            super().__init__(rows, y, batch, click_share, rng)

    monkeypatch.setattr(ar, "BatchPicker", Spy)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.integers(0, 4, 2000)})
    y = (np.arange(2000) < rate * 2000).astype(int)
    get_generator("autoregressive", epochs=1, random_state=0, click_share=0.15, **TINY).fit(X, y)
    share, natural = shares[0]
    assert natural == pytest.approx(rate, abs=0.03)
    assert share == (0.15 if rate < 0.15 else natural)  # the fit rows' own rate where it is higher


def test_model_files_from_before_the_network_parameter_load_as_the_transformer():
    """Files saved before NADE became the default carry no ``network``: they hold a transformer."""
    X, y = _dependent(400)
    gen = get_generator("autoregressive", network="transformer", epochs=1, random_state=0, **TINY).fit(X, y)
    state = gen._get_state()
    del state.meta["network"]
    gen.network = "nade"  # what the default would give a file without the parameter
    gen._set_state(state)
    assert gen.network == "transformer" and isinstance(gen.net_, ColumnTransformer)
    assert len(gen.sample(50, random_state=0)) == 50


@pytest.mark.parametrize("network", ["nade", "transformer"])
def test_score_samples_is_a_normalised_likelihood_that_knows_the_label(network):
    """Summed over every possible row, exp(score) is 1 at each label (a distribution, in the
    order sampling takes); on rows whose slot depends on the label, the true label scores higher."""
    X, y = _dependent(2000)
    X = X.drop(columns="size").astype("category")  # every column categorical: the rows can be enumerated
    gen = get_generator("autoregressive", network=network, epochs=15, lr=5e-3, random_state=0, **TINY).fit(X, y)
    grid = pd.MultiIndex.from_product([X[c].cat.categories for c in X.columns], names=list(X.columns)).to_frame(index=False)
    grid = grid.astype({c: X[c].dtype for c in X.columns})
    for label in (0, 1):
        total = np.exp(gen.score_samples(grid, np.full(len(grid), label))).sum()
        assert total == pytest.approx(1.0, abs=1e-4)
    click_score = gen.score_samples(X, np.ones(len(X), int)) - gen.score_samples(X, np.zeros(len(X), int))
    assert click_score[y == 1].mean() > click_score[y == 0].mean() + 2  # slot 1: 0.9 of the clicks, no non-click
    assert gen.score_samples(X.assign(label=y), "label").shape == (len(X),)
    with pytest.raises(DataError, match="needs labels"):
        gen.score_samples(X, None)
    with pytest.raises(DataError, match="one 0/1 label per row"):
        gen.score_samples(X, y[:-1])
    with pytest.raises(DataError, match="lacks the training columns"):
        gen.score_samples(X.drop(columns="b"), y)
