"""The neural generators on the embedded DIGIX data (slow: real training, small budgets)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clicksynth import Schema, get_generator, load_dataset, subsample
from clicksynth.exceptions import TrainingError
from clicksynth.metrics import EvalContext, fidelity


@pytest.fixture(scope="module")
def digix():
    ds = load_dataset("digix2020")
    frame = subsample(ds.frame, 6000, target="label", user_column="uid", random_state=0).to_pandas().drop(columns=["uid"])
    return frame.drop(columns=["label"]), frame["label"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("ctgan", {"epochs": 3}),
        ("tvae", {"epochs": 5}),
        ("autoregressive", {"epochs": 3, "validation": 0.0, "width": 32, "layers": 1, "heads": 2}),
    ],
)
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
    tv = fidelity.tv_complement(real_clicks, clicks, EvalContext(schema, np.random.default_rng(0)))
    # Baseline: every column drawn uniformly from its real categories, independently.
    rng = np.random.default_rng(1)
    noise = pd.DataFrame({c: rng.choice(real_clicks[c].unique(), 2000) for c in real_clicks.columns})
    floor = fidelity.tv_complement(real_clicks, noise, EvalContext(schema, np.random.default_rng(0)))
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
    """Two-way and wider spans' inverse-CDF draws, from logits relative to each span's
    first (the sampling layout), are exact samples of softmax(logits) per span, in
    every width group, also where the relative weights overflow float32; the same
    generator state gives the same codes."""
    import torch

    from clicksynth.generators.neural.transform import NeuralTransform

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "two": rng.choice(["a", "b"], 500),
            "three": rng.choice(["a", "b", "c"], 500),
            "five": rng.choice(list("abcde"), 500),
            "five2": rng.choice(list("vwxyz"), 500),
        }
    )
    schema = Schema.infer(X)
    t = NeuralTransform().fit(X, schema, rng)
    assert sorted(s.width for s in t.spans) == [2, 3, 5, 5]
    # The draws see logits relative to each span's first: +200 on the others overflows
    # float32 (the stable fallback), -200 leaves the first alone; a shift of a whole
    # span changes nothing.
    for shift, whole in ((0.0, False), (200.0, False), (-200.0, False), (300.0, True)):
        logits = torch.from_numpy(rng.normal(0, 1.5, t.width).astype(np.float32))
        for s in t.spans[::2]:
            logits[s.start + (0 if whole else 1) : s.start + s.width] += shift
        n = 200_000
        picks = t.draw_categories(t.sampling_rows(logits).expand(n, -1).contiguous(), np.random.default_rng(1))
        for i, s in enumerate(t.spans):
            want = torch.softmax(logits[s.start : s.start + s.width], 0).numpy()
            got = np.bincount(picks[:, i], minlength=s.width) / n
            assert picks[:, i].max() < s.width
            np.testing.assert_allclose(got, want, atol=0.005)
    one = t.sampling_rows(logits).expand(10, -1).contiguous()
    np.testing.assert_array_equal(t.draw_categories(one, np.random.default_rng(3)), t.draw_categories(one, np.random.default_rng(3)))


def test_category_draws_of_different_spans_are_independent():
    """With the logits fixed, one span's draw says nothing about another's: the joint
    frequencies of every pair of spans (in one width group and across groups) are the
    products of their marginals. Reusing one uniform for several spans keeps each
    marginal right and breaks this."""
    import torch

    from clicksynth.generators.neural.transform import NeuralTransform

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"two": rng.choice(["a", "b"], 500), "five": rng.choice(list("abcde"), 500), "five2": rng.choice(list("vwxyz"), 500)})
    t = NeuralTransform().fit(X, Schema.infer(X), rng)
    logits = torch.from_numpy(rng.normal(0, 1.0, t.width).astype(np.float32))
    n = 200_000
    picks = t.draw_categories(t.sampling_rows(logits).expand(n, -1).contiguous(), np.random.default_rng(2))
    widths = [s.width for s in t.spans]
    for i in range(len(widths)):
        for j in range(i + 1, len(widths)):
            joint = np.zeros((widths[i], widths[j]))
            np.add.at(joint, (picks[:, i], picks[:, j]), 1 / n)
            product = np.outer(joint.sum(axis=1), joint.sum(axis=0))
            np.testing.assert_allclose(joint, product, atol=0.004)


@pytest.mark.parametrize("fused", [True, False])
def test_adam_matches_torch_optim(fused):
    """Our Adam (kept to spare the TorchDynamo import) makes torch.optim.Adam's update,
    weight decay and betas included; a parameter without a gradient is left alone."""
    import torch

    from clicksynth.generators.neural.training import Adam

    def train(make):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 1))
        idle = torch.nn.Parameter(torch.ones(2))
        opt = make([*net.parameters(), idle])
        x, y = torch.randn(64, 5), torch.randn(64, 1)
        for _ in range(30):
            opt.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            opt.step()
        return [p.detach().clone() for p in (*net.parameters(), idle)]

    def ours(params):
        opt = Adam(params, lr=1e-2, betas=(0.5, 0.9), weight_decay=1e-3)
        opt.fused = fused and opt.fused
        return opt

    got = train(ours)
    want = train(lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.5, 0.9), weight_decay=1e-3, foreach=False))
    before = train(lambda p: type("Frozen", (), {"zero_grad": lambda s: None, "step": lambda s: None})())
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)
    assert not torch.equal(got[0], before[0]) and torch.equal(got[-1], before[-1])


def test_tvae_reconstruction_equals_per_span_terms():
    """The whole-row reconstruction term (per-span logsumexp by scatter and one
    product) equals the per-span cross-entropies plus alpha Gaussians, in value and
    gradient, with mode spans, one-category spans and interleaved alphas."""
    import torch

    from clicksynth.generators.neural.transform import NeuralTransform
    from clicksynth.generators.neural.tvae import _Reconstruction

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "x": np.r_[rng.normal(0, 1, 300), rng.normal(8, 1, 300)],
            "one": ["k"] * 600,
            "cat": rng.choice(list("abcd"), 600),
            "z": rng.exponential(2.0, 600),
        }
    )
    t = NeuralTransform().fit(X, Schema.infer(X), rng)
    assert {s.width for s in t.spans if s.activation == "softmax"} >= {1, 4} and len(t.cont_spans) == 2
    codes, alphas = t.encode_parts(t.encoder.transform(X), np.random.default_rng(1))
    dense = t.encode_atoms(t.encoder.transform(X), np.random.default_rng(1))
    raw = torch.randn(600, t.width, dtype=torch.float64, requires_grad=True)
    log_sigma = torch.randn(t.width, dtype=torch.float64) * 0.3
    got = _Reconstruction(t)(raw, torch.from_numpy(codes), torch.from_numpy(alphas).double(), log_sigma)
    want = torch.zeros(600, dtype=torch.float64)
    soft = [s for s in t.spans if s.activation == "softmax"]
    for i, s in enumerate(soft):
        want = want + torch.nn.functional.cross_entropy(
            raw[:, s.start : s.start + s.width], torch.from_numpy(codes[:, i]), reduction="none"
        )
    for j, (a, _) in enumerate(t.cont_spans):
        sig = torch.exp(log_sigma[a.start])
        want = want + (torch.from_numpy(alphas[:, j]).double() - torch.tanh(raw[:, a.start])) ** 2 / (2 * sig**2) + torch.log(sig)
    torch.testing.assert_close(got, want)
    (g_got,) = torch.autograd.grad(got.sum(), raw)
    (g_want,) = torch.autograd.grad(want.sum(), raw)
    torch.testing.assert_close(g_got, g_want)
    # The compact codes are the dense matrix's one-hot positions.
    for i, s in enumerate(soft):
        np.testing.assert_array_equal(dense[:, s.start : s.start + s.width].argmax(axis=1), codes[:, i])
    np.testing.assert_array_equal(dense[:, [a.start for a, _ in t.cont_spans]], alphas)


def test_tvae_sparse_encoder_equals_dense_linear():
    """The encoder's first layer over (column, value) pairs is the paper's Linear over
    the dense [r | c] row: same output, same weight gradient."""
    import torch

    from clicksynth.generators.neural.tvae import build_networks

    torch.manual_seed(0)
    enc, _ = build_networks(10, 3, (6,), (6,))
    positions = torch.tensor([[0, 4, 7, 11], [1, 4, 9, 10], [0, 5, 8, 11]])  # one-hot, alpha col 7-9, label 10/11
    values = torch.tensor([[1.0, 1.0, 0.3, 1.0], [1.0, 1.0, -0.8, 1.0], [1.0, 1.0, 0.5, 1.0]])
    dense = torch.zeros(3, 12).scatter_(1, positions, values)
    mu, logvar = enc(positions, values)
    (mu.sum() + (logvar**2).sum()).backward()
    got = enc.first.grad.clone()
    enc.zero_grad()
    h = torch.relu(dense @ enc.first + enc.first_bias)
    mu2, logvar2 = enc.head(enc.body(h)).chunk(2, dim=1)
    (mu2.sum() + (logvar2**2).sum()).backward()
    torch.testing.assert_close(mu, mu2)
    torch.testing.assert_close(got, enc.first.grad)


def test_ctgan_sampling_net_equals_the_generator():
    """The sampling network (condition products folded into tables, the label,
    bias and BatchNorm folded in, a linear map on the outputs) computes the eval-mode
    generator exactly, with and without a category in the condition."""
    import torch

    from clicksynth.generators.neural.ctgan import build_networks

    torch.manual_seed(0)
    G, _, _ = build_networks(width=9, cond_width=7, embedding_dim=4, generator_dim=(6, 5), discriminator_dim=(4,), pac=1)
    for bn in (m for m in G.modules() if isinstance(m, torch.nn.BatchNorm1d)):  # non-trivial statistics
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    G.eval()
    z = torch.randn(11, 4)
    A = torch.randn(6, 9)  # any linear map on the output columns (the sampling layout is one)
    layout = lambda m: torch.tensordot(A, m, dims=1)
    for label in (0, 1):
        cats = torch.randint(2, 7, (11,))
        cond = torch.zeros(11, 7)
        cond[:, label] = 1.0
        with torch.no_grad():
            want = G(z, cond) @ A.T  # the label alone: data without categorical columns
            torch.testing.assert_close(G.sampling_net(layout, label)(z, None), want)
            want = G(z, cond.scatter(1, cats[:, None], 1.0)) @ A.T
            torch.testing.assert_close(G.sampling_net(layout, label)(z, cats), want)


def test_generation_conditions_follow_the_real_frequencies_within_each_label():
    """A generation condition is the label plus one categorical column, picked
    uniformly, set to a category drawn with its frequency among that label's rows."""
    from clicksynth.generators.neural.conditional import CondSampler
    from clicksynth.generators.neural.transform import NeuralTransform

    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.2).astype(np.int64)
    X = pd.DataFrame(
        {
            "a": np.where(y == 1, rng.choice(list("pq"), 3000, p=[0.9, 0.1]), rng.choice(list("pqr"), 3000)),
            "b": rng.choice(list("uvwxy"), 3000, p=[0.4, 0.3, 0.2, 0.1, 0.0]),
            "n": rng.normal(0, 1, 3000),
        }
    )
    t = NeuralTransform().fit(X, Schema.infer(X), rng)
    enc = t.encoder.transform(X)
    sampler = CondSampler(t, enc.discrete, y)
    n = 200_000
    for label in (0, 1):
        idx = sampler.generation_index(label, n, np.random.default_rng(label))
        assert (idx[:, 0] == label).all()
        pos = idx[:, 1] - 2
        for j in range(sampler.n_disc):
            lo, hi = sampler.offsets[j], sampler.offsets[j + 1]
            inside = pos[(pos >= lo) & (pos < hi)] - lo
            assert abs(len(inside) / n - 1 / sampler.n_disc) < 0.005
            real = np.bincount(enc.discrete[y == label, j], minlength=hi - lo) / (y == label).sum()
            np.testing.assert_allclose(np.bincount(inside, minlength=hi - lo) / len(inside), real, atol=0.006)


@pytest.mark.parametrize("name", ["ctgan", "tvae", "autoregressive"])
def test_threaded_sampling_gives_the_rows_of_serial_sampling(digix, name):
    """Sampling passes on a thread pool (torch threads > 1) give exactly the rows of
    serial passes (torch threads = 1): each pass has its own seeded generators. The
    caller's torch thread count and global RNG are left as they were."""
    import torch

    X, y = digix
    gen = get_generator(name, random_state=0, **get_generator(name).get_test_params()[0]).fit(X.head(800), y.head(800))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = gen.sample(10_000, random_state=5)
        torch.set_num_threads(2)
        torch.manual_seed(123)
        before = torch.random.get_rng_state()
        pooled = gen.sample(10_000, random_state=5)
        assert torch.get_num_threads() == 2
        assert torch.equal(torch.random.get_rng_state(), before)
    finally:
        torch.set_num_threads(threads)
    pd.testing.assert_frame_equal(serial, pooled)


def test_every_sampling_pass_draws_its_own_stream():
    """Passes are seeded from the call's stream over the full 63-bit range: 60 passes never share a
    seed (a narrow range would repeat whole passes of rows), and the same rng gives the same passes."""
    import torch

    from clicksynth.generators.neural.sampling import SAMPLE_CHUNK, sample_in_chunks_at

    def chunk(start, rows, rng, gen):
        return (start, rows, int(rng.integers(2**62)), int(torch.randint(2**62, (1,), generator=gen)))

    n = 60 * SAMPLE_CHUNK - 5
    passes = sample_in_chunks_at(n, np.random.default_rng(0), chunk)
    assert [p[0] for p in passes] == [n * i // 60 for i in range(60)] and sum(p[1] for p in passes) == n
    assert len({p[2] for p in passes}) == 60 and len({p[3] for p in passes}) == 60
    assert sample_in_chunks_at(n, np.random.default_rng(0), chunk) == passes


def test_passes_are_even_in_number_and_equal_in_size():
    """An odd number of full passes would leave a core idle while the last runs: 10,000 rows are
    four passes of 2,500, not 4,096 + 4,096 + 1,808; one pass when it fits."""
    from clicksynth.generators.neural.sampling import SAMPLE_CHUNK, pass_bounds

    assert pass_bounds(10_000) == [0, 2500, 5000, 7500, 10_000]
    assert pass_bounds(SAMPLE_CHUNK) == [0, SAMPLE_CHUNK] and pass_bounds(5) == [0, 5] and pass_bounds(0) == [0]
    assert pass_bounds(SAMPLE_CHUNK + 1) == [0, 2048, SAMPLE_CHUNK + 1]
    for n in (1, 4095, 8192, 8193, 12_289, 100_003):
        b = pass_bounds(n)
        sizes = np.diff(b)
        assert b[0] == 0 and b[-1] == n and sizes.max() <= SAMPLE_CHUNK and sizes.max() - sizes.min() <= 1
        assert len(sizes) == 1 or len(sizes) % 2 == 0


def test_prefix_groups_give_each_row_its_own_prefix_cache():
    """Rows are grouped by every token fed so far: a group's cache row holds exactly its rows'
    common prefix (each new group takes its parent's; no copy when no group splits), there
    are as many groups as distinct prefixes, and from the step they reach 90% of the rows,
    every row is a group of its own, in row order."""
    from clicksynth.generators.neural.sampling import PrefixGroups

    class History:  # a cache whose row is the tokens its group was fed
        def __init__(self):
            self.rows, self.takes = [()], 0

        def take(self, rows):
            self.rows, self.takes = [self.rows[i] for i in rows.tolist()], self.takes + 1

    rng = np.random.default_rng(0)
    m, vocab = 40, 7
    fed = np.zeros((m, 0), np.int64)
    groups, cache = PrefixGroups(m), History()
    assert groups.node.tolist() == [0] * m and not groups.per_row
    sizes = []
    for values in [2, 1, 2, vocab, vocab, vocab]:  # few values first, as an ad's ID columns
        tokens = rng.integers(0, values, m)
        fed = np.c_[fed, tokens]
        takes = cache.takes
        first = groups.advance(tokens, vocab, [cache])
        cache.rows = [cache.rows[g] + (int(tokens[r]),) for g, r in enumerate(first)]  # the step appends each group's token
        prefixes = len(np.unique(fed, axis=0))
        sizes.append(len(first))
        assert len(first) == len(cache.rows) == (m if groups.per_row else prefixes)
        assert groups.per_row == (max(sizes[:-1], default=0) >= 0.9 * m or prefixes >= 0.9 * m)
        assert cache.takes == takes + (len(first) > max(sizes[:-1], default=1))  # step 1: every group kept its rows
        assert [cache.rows[g] for g in groups.node] == [tuple(r) for r in fed.tolist()]
        at = np.flatnonzero(tokens % 2 == 0)
        of, place = groups.rows(at)
        assert (of[place].numpy() == groups.node[at]).all() and len(set(of.tolist())) == len(of)
    assert sizes == [2, 2, 4, 23, m, m]  # step 4: 38 distinct prefixes of 40 rows, so each row its own group
    assert groups.per_row and groups.node.tolist() == list(range(m)) and (first == np.arange(m)).all()


def test_batch_picker_passes_and_click_share():
    from clicksynth.generators.neural.training import BatchPicker

    y = (np.arange(1000) < 50).astype(int)  # 5% clicks
    rows = np.arange(0, 1000, 2)  # the training part: every other row
    passes = BatchPicker(rows, y, 100, None, np.random.default_rng(0))
    epoch = np.concatenate([passes(i) for i in range(5)])
    assert sorted(epoch) == list(rows)  # a shuffled pass over the training rows
    shared = BatchPicker(rows, y, 4000, 0.25, np.random.default_rng(0))
    picked = shared(0)
    assert set(picked) <= set(rows) and abs(y[picked].mean() - 0.25) < 0.03
    assert BatchPicker(rows, np.zeros(1000, int), 100, 0.25, np.random.default_rng(0)).share is None  # no clicks: passes


def test_the_neural_package_flushes_denormals_in_torchs_threads_too():
    """A confident softmax head's gradients hold values below float32's normal range (1e-38);
    matrix products on them ran 190x slower. Importing the package flushes them to zero in the
    main thread, in torch's thread pool and in sampling threads (a fresh process: the pool starts
    after the import, as in a cell or the CLI)."""
    import subprocess
    import sys

    code = (
        "import threading, torch\n"
        "import clicksynth.generators.neural\n"
        "torch.set_num_threads(2)\n"
        "x = torch.full((512, 512), 1e-39)\n"  # a denormal: flushed to zero on input
        "main = (x @ torch.ones(512, 512)).abs().max().item()\n"
        "out = []\n"
        "t = threading.Thread(target=lambda: out.append((torch.full((4, 4), 1e-39) * 1.0).abs().max().item()))\n"
        "t.start(); t.join()\n"
        "print(main, out[0], torch.tensor(1e-39).item())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["0.0", "0.0", "0.0"]
    plain = subprocess.run([sys.executable, "-c", "import torch; print(torch.tensor(1e-39).item() > 0)"], capture_output=True, text=True)
    assert plain.stdout.strip() == "True"  # torch alone keeps them: the package is what flushes
